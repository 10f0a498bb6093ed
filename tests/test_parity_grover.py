"""gpt2-ml (arch ``grover``) against the authors' own code.

imcaspar/gpt2-ml's ``train/modeling.py`` (git snapshot pinned in tests/oracles/SNAPSHOTS.txt, run on TF 2.15
graph mode; tests/oracles/gpt2ml_original.py names its one shim) builds the graph, TF's ``Saver`` writes the
TF1 checkpoint with the authors' ``newslm/...`` names, and the same code computes the logits and runs its
own cached decoding loop (``sample()`` with top-k = 1, i.e. greedy). zhplm converts the files and must
match the logits within 1e-4 and ``generate(do_sample=False)`` token for token.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import transformers

import zhplm
from helpers_parity import oracle_checkpoint
from oracle import require_original
from zhplm.converter import record_parity
from zhplm.errors import ConversionError
from zhplm.tasks.generate import make_options
from zhplm.tasks.prompting import Encoded

TOL = 1e-4
# no padding: the authors' model has no padding mask
INPUTS = {"input_ids": [[2, 10, 11, 4, 12, 13, 3], [2, 14, 15, 3, 16, 3, 20]]}


@pytest.fixture(scope="module")
def gpt2ml(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    require_original("imcaspar/gpt2-ml")
    return oracle_checkpoint("gpt2ml_original.py", "grover", tmp_path_factory.mktemp("gpt2ml"), inputs=INPUTS)


@pytest.mark.oracle
def test_gpt2ml_logits_and_greedy_match_the_authors_code(tmp_path: Path, gpt2ml: tuple[Path, dict]) -> None:
    ckpt, ref = gpt2ml
    out = tmp_path / "out"
    result = zhplm.convert(ckpt, out)  # detected from the newslm/ names
    assert result.arch == "grover" and result.scheme == "newslm-tf1"
    assert result.architectures == ["GroverForCausalLM"] and result.heads == {"lm": "trained"}
    assert result.config["num_attention_heads"] == 4  # from config.json: no tensor says it
    model = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    assert type(model).__name__ == "GroverForCausalLM"
    assert model.lm_head.weight is model.grover.embeddings.word_embeddings.weight
    ids = torch.tensor(INPUTS["input_ids"])
    with torch.inference_mode():
        logits = model(ids).logits.numpy()
    diff = float(np.abs(logits - ref["logits"]).max())
    model.generation_config.eos_token_id = None  # the oracle's loop runs on (its eos is -1)
    new = ref["greedy"].shape[1] - ids.shape[1]
    assert new >= 10
    greedy = model.generate(ids, max_new_tokens=new, do_sample=False)
    uncached = model.generate(ids, max_new_tokens=new, do_sample=False, use_cache=False)
    record_parity(
        out,
        {
            "reference": "imcaspar/gpt2-ml train/modeling.py (TF 2.15 compat.v1): logits, sample() top-1",
            "max_abs_diff": {"logits": diff},
            "greedy_tokens_equal": new,
        },
    )
    assert diff < TOL
    assert greedy.tolist() == ref["greedy"].astype(np.int64).tolist()
    assert torch.equal(greedy, uncached)  # the KV cache changes nothing
    assert (out / "vocab.txt").read_text(encoding="utf-8") == (ckpt / "vocab.txt").read_text(encoding="utf-8")
    # the same tokens through zhplm's text-generation pipeline (the catalog's gpt2-ml prompt format)
    writer = zhplm.pipeline("text-generation", out, prompt_format="sep-end")
    sep = writer.tokenizer.sep_token_id
    want = ref["greedy"].astype(np.int64)[0, ids.shape[1] :].tolist()
    want = want[: want.index(sep)] if sep in want else want
    got = writer.run([Encoded(ids[0].tolist())], [""], make_options(None, {"max_new_tokens": new}))[0][0]
    assert got.token_ids[: len(want)] == want


@pytest.mark.oracle
def test_a_bare_release_takes_the_catalog_rows_sizes(tmp_path: Path, gpt2ml: tuple[Path, dict]) -> None:
    """The download is the checkpoint alone: the catalog row's sizes are the config, and tensors that do not
    fit them are refused with both numbers instead of building a wrong model."""
    ckpt, _ = gpt2ml
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in ckpt.glob("model.ckpt-100000.*"):
        shutil.copy(f, bare / f.name)
    with pytest.raises(
        ConversionError, match="the config says vocab_size=8021 but the checkpoint's tensors say 120"
    ):
        zhplm.convert(bare, tmp_path / "out", model_id="gpt2-ml-1.5b-30g")
    assert not (tmp_path / "out").exists()
    alone = zhplm.convert(bare, tmp_path / "alone", arch="grover")  # no row: sized from the tensors
    assert alone.config["num_hidden_layers"] == 3 and any("no original config" in n for n in alone.notes)
    assert any("no vocabulary" in n for n in alone.notes)


@pytest.mark.oracle
def test_a_vocabulary_of_the_wrong_size_is_refused(tmp_path: Path, gpt2ml: tuple[Path, dict]) -> None:
    ckpt, _ = gpt2ml
    src = tmp_path / "src"
    shutil.copytree(ckpt, src)
    lines = (src / "vocab.txt").read_text(encoding="utf-8").splitlines()
    (src / "vocab.txt").write_text("\n".join(lines[:-5]) + "\n", encoding="utf-8")
    with pytest.raises(ConversionError, match="115 tokens but the model has 120"):
        zhplm.convert(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_authors_configs_become_the_model_config() -> None:
    """configs/mega.json (both released models) read with the GroverConfig keys."""
    spec = zhplm.arch.get_arch("grover")
    shapes = {
        "grover.embeddings.word_embeddings.weight": (8021, 1536),
        "grover.embeddings.position_embeddings.weight": (1024, 1536),
        **{f"grover.layer.{i}.mlp.intermediate.weight": (6144, 1536) for i in range(48)},
    }
    cfg = spec.build_config(MEGA, shapes, shapes)
    assert cfg["num_attention_heads"] == 24 and cfg["num_hidden_layers"] == 48
    assert cfg["layer_norm_eps"] == 1e-5 and cfg["hidden_act"] == "gelu"


MEGA = {  # imcaspar/gpt2-ml configs/mega.json
    "vocab_size": 8021,
    "hidden_size": 1536,
    "attention_probs_dropout_prob": 0.1,
    "hidden_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "initializer_range": 0.014142135623731,
    "intermediate_size": 6144,
    "max_position_embeddings": 1024,
    "num_attention_heads": 24,
    "num_hidden_layers": 48,
}
