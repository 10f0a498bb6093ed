"""RoFormerV2: a TF1 checkpoint written by bert4keras 0.11.5's own ``save_weights_as_checkpoint`` (the
release layout: BERT names without any bias, norm or position variable) → zhplm's RoFormerV2ForMaskedLM,
against bert4keras itself loading the same files (``build_transformer_model(config, checkpoint,
model='roformer_v2')``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import zhplm
from helpers_parity import compare, oracle_checkpoint
from oracle import run_oracle
from zhplm.arch import score
from zhplm.converter import record_parity
from zhplm.errors import ConversionError

TOL = 1e-4
ORACLE = "bert4keras_ckpt.py"


def padded_inputs(
    lengths: tuple[int, ...] = (24, 20, 10), width: int = 24, vocab: int = 64
) -> dict[str, Any]:
    """[CLS] tokens… [SEP] then id 0 (bert4keras masks id 0): rows above and below softmax_plus' 16-key
    floor, segment B in the second half of each row."""
    rng = np.random.default_rng(7)
    ids = np.zeros((len(lengths), width), dtype=np.int64)
    types = np.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, :n] = [2, *rng.integers(5, vocab, n - 2), 3]
        types[row, n // 2 : n] = 1
    return {
        "input_ids": ids.tolist(),
        "token_type_ids": types.tolist(),
        "attention_mask": (ids != 0).astype(np.int64).tolist(),
    }


INPUTS = padded_inputs()


def run_ours(folder: Path) -> dict[str, np.ndarray]:
    import torch

    model, _tok, _prov, _ = zhplm.load(folder)
    feed = {k: torch.tensor(v) for k, v in INPUTS.items()}
    with torch.inference_mode():
        out = model(**feed, output_hidden_states=True)
    return {
        "hidden_states": torch.stack(out.hidden_states).numpy(),
        "last_hidden_state": out.hidden_states[-1].numpy(),
        "mlm_logits": out.logits.numpy(),
        "mlm_probs": out.logits.softmax(-1).numpy(),  # bert4keras' MLM output is softmaxed
    }


def masked_compare(ours: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> dict[str, float]:
    mask = np.array(INPUTS["attention_mask"])
    diffs = compare({k: v for k, v in ours.items() if k != "hidden_states"}, ref, mask)
    # hidden_states is [L+1, B, T, H]: compare the real tokens of every layer
    delta = np.abs(ours["hidden_states"].astype(np.float64) - ref["hidden_states"])[:, mask.astype(bool)]
    diffs["hidden_states"] = float(delta.max())
    print("hidden_states max abs diff:", diffs["hidden_states"])
    return diffs


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    return oracle_checkpoint(ORACLE, "roformer_v2", tmp_path_factory.mktemp("rv2"), inputs=INPUTS)


@pytest.fixture(scope="module")
def converted(ckpt: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    out = tmp_path_factory.mktemp("rv2-out") / "model"
    return out, zhplm.convert(ckpt[0], out)  # no arch: detected from the names


@pytest.mark.oracle
def test_roformer_v2_matches_bert4keras(ckpt: tuple[Path, dict], converted: tuple[Path, Any]) -> None:
    src, ref = ckpt
    out, result = converted
    assert result.arch == "roformer_v2" and result.scheme == "bert4keras-tf1"
    assert result.architectures == ["RoFormerV2ForMaskedLM"] and result.heads == {"mlm": "trained"}
    assert result.plan.unmatched == [] and result.plan.ignored == []
    original = json.loads((src / "bert_config.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "roformer_v2"
    for key in ("hidden_act", "num_attention_heads", "intermediate_size", "num_hidden_layers", "vocab_size"):
        assert config[key] == original[key], key
    assert config["layer_norm_eps"] == pytest.approx(1e-7)  # bert4keras' K.epsilon()

    diffs = masked_compare(run_ours(out), ref)
    record_parity(out, {"reference": "bert4keras 0.11.5 RoFormerV2 (TF 2.15)", "max_abs_diff": diffs})
    assert json.loads((out / "zhplm.json").read_text())["parity"]["max_abs_diff"] == diffs
    assert max(diffs.values()) < TOL


@pytest.mark.oracle
def test_roformer_v2_folder_loads_through_auto_classes(converted: tuple[Path, Any]) -> None:
    from transformers import AutoModelForMaskedLM

    import zhplm.loader

    zhplm.loader.register_architectures()
    model = AutoModelForMaskedLM.from_pretrained(str(converted[0]))
    assert type(model).__name__ == "RoFormerV2ForMaskedLM"
    decoder = model.get_output_embeddings().weight
    assert decoder.data_ptr() == model.get_input_embeddings().weight.data_ptr()  # tied, not random


@pytest.mark.oracle
def test_roformer_v2_tokenizer_matches_bert4keras(
    ckpt: tuple[Path, dict], converted: tuple[Path, Any], tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    texts = ["一丁七", "A一b，丁Cs。", "一x丁 bs 1", "丁丁  七。"]
    (tmp_path / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    args = ["tokenize", "--vocab", ckpt[0] / "vocab.txt", "--texts", tmp_path / "texts.json"]
    run_oracle(ORACLE, *args, "--out", tmp_path / "ref.json")
    ref = json.loads((tmp_path / "ref.json").read_text(encoding="utf-8"))
    tok = AutoTokenizer.from_pretrained(str(converted[0]))
    assert [tok(t)["input_ids"] for t in texts] == [r["ids"] for r in ref]


def _copy_with_config(src: Path, dst: Path, **changes: Any) -> Path:
    shutil.copytree(src, dst)
    config = json.loads((dst / "bert_config.json").read_text())
    (dst / "bert_config.json").write_text(json.dumps({**config, **changes}))
    return dst


@pytest.mark.oracle
def test_roformer_v2_embedding_projection_is_refused(ckpt: tuple[Path, dict], tmp_path: Path) -> None:
    src = _copy_with_config(ckpt[0], tmp_path / "src", embedding_size=16)
    with pytest.raises(ConversionError, match="embedding_size 16"):
        zhplm.convert(src, tmp_path / "out", arch="roformer_v2")
    assert not (tmp_path / "out").exists()


@pytest.mark.oracle
def test_roformer_v2_heads_must_split_evenly(ckpt: tuple[Path, dict], tmp_path: Path) -> None:
    src = _copy_with_config(ckpt[0], tmp_path / "src", num_attention_heads=3)
    with pytest.raises(ConversionError, match="num_attention_heads 3"):
        zhplm.convert(src, tmp_path / "out", arch="roformer_v2")
    assert not (tmp_path / "out").exists()


def test_bert_names_are_not_taken_for_roformer_v2() -> None:
    from zhplm.arch import get_arch

    layer = "bert/encoder/layer_0/"
    v2 = ["bert/embeddings/word_embeddings", "bert/embeddings/token_type_embeddings"] + [
        layer + n
        for n in (
            "attention/self/query/kernel",
            "attention/self/key/kernel",
            "attention/self/value/kernel",
            "attention/output/dense/kernel",
            "intermediate/dense/kernel",
            "output/dense/kernel",
        )
    ]
    bert = [*v2, layer + "attention/self/query/bias", layer + "output/LayerNorm/gamma"]
    spec, others = get_arch("roformer_v2"), [get_arch(a) for a in ("bert", "roformer", "nezha")]
    assert score(spec, v2) > max(score(o, v2) for o in others)
    assert score(spec, bert) < 1.0
    # optimizer slots do not hide a V2 layout
    assert score(spec, [*v2, "global_step", layer + "output/dense/kernel/adam_m"]) > 1.0
