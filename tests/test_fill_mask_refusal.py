"""fill-mask refuses a model whose MLM head is absent from ``zhplm.json`` before it loads any weight (loading
first would build a random MLM head and read the whole checkpoint for nothing)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import transformers

import zhplm
from zhplm.cli.main import main
from zhplm.errors import ConversionError
from zhplm.tasks.fill_mask import FillMask

H, LAYERS, INTER, VOCAB = 16, 1, 32, 30


def _encoder_only_release(folder: Path) -> None:
    """An ERNIE-repository dygraph release with no MLM head (as ERNIE-Gram's): encoder and pooler only."""
    r = np.random.default_rng(0)
    names: dict[str, tuple[int, ...]] = {
        "word_emb.weight": (VOCAB, H),
        "pos_emb.weight": (16, H),
        "sent_emb.weight": (2, H),
        "ln.weight": (H,),
        "ln.bias": (H,),
        "pooler.weight": (H, H),
        "pooler.bias": (H,),
    }
    for i in range(LAYERS):
        p = f"encoder_stack.block.{i}"
        for n in ("q", "k", "v", "o"):
            names[f"{p}.attn.{n}.weight"], names[f"{p}.attn.{n}.bias"] = (H, H), (H,)
        names[f"{p}.ffn.i.weight"], names[f"{p}.ffn.i.bias"] = (H, INTER), (INTER,)
        names[f"{p}.ffn.o.weight"], names[f"{p}.ffn.o.bias"] = (INTER, H), (H,)
        for n in ("ln1", "ln2"):
            names[f"{p}.{n}.weight"], names[f"{p}.{n}.bias"] = (H,), (H,)
    folder.mkdir()
    state = {k: r.standard_normal(s).astype(np.float32) for k, s in names.items()}
    with open(folder / "saved_weights.pdparams", "wb") as fh:
        pickle.dump(state, fh, protocol=2)
    config = {"hidden_act": "gelu", "hidden_size": H, "num_attention_heads": 2, "num_hidden_layers": LAYERS}
    config.update({"max_position_embeddings": 16, "sent_type_vocab_size": 2, "vocab_size": VOCAB})
    (folder / "ernie_config.json").write_text(json.dumps(config), encoding="utf-8")
    vocab = ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]"] + [chr(0x4E00 + i) for i in range(VOCAB - 5)]
    (folder / "vocab.txt").write_text("".join(f"{t}\t{i}\n" for i, t in enumerate(vocab)), encoding="utf-8")


@pytest.fixture(scope="module")
def no_mlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("no-mlm")
    _encoder_only_release(tmp / "release")
    result = zhplm.convert(tmp / "release", tmp / "out")
    assert result.heads["mlm"] == "absent"
    assert json.loads((tmp / "out" / "zhplm.json").read_text(encoding="utf-8"))["heads"]["mlm"] == "absent"
    return tmp / "out"


@pytest.fixture
def no_weight_loading(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every way transformers would read the weights fails loudly (and is recorded)."""
    calls: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        calls.append(str(args[:2]))
        raise AssertionError("weights were loaded before the head check")

    for cls in (transformers.PreTrainedModel, transformers.AutoModelForMaskedLM, transformers.AutoModel):
        monkeypatch.setattr(cls, "from_pretrained", classmethod(refuse))
    return calls


def test_fill_mask_refuses_an_absent_mlm_head_before_loading(
    no_mlm: Path, no_weight_loading: list[str]
) -> None:
    with pytest.raises(ConversionError, match="fill-mask needs the mlm head, which is absent") as err:
        zhplm.pipeline("fill-mask", no_mlm)
    assert "embeddings" in str(err.value)  # says what to use instead
    with pytest.raises(ConversionError, match="mlm head, which is absent"):
        FillMask.from_model(no_mlm, top_k=3)
    assert no_weight_loading == []


def test_cli_fill_mask_refuses_before_loading(
    no_mlm: Path, no_weight_loading: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["fill-mask", str(no_mlm), "北[MASK]"])
    assert code != 0
    assert "mlm head, which is absent" in capsys.readouterr().err
    assert no_weight_loading == []


def test_the_patch_would_catch_a_load(no_mlm: Path, no_weight_loading: list[str]) -> None:
    """The guard above is real: the embeddings task on the same folder does reach from_pretrained."""
    with pytest.raises(AssertionError, match="weights were loaded"):
        zhplm.pipeline("embeddings", no_mlm)
    assert no_weight_loading
