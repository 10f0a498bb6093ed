"""roformer-gpt (arch ``roformer_gpt``) against bert4keras 0.11.5, the library it was released with.

bert4keras builds ``model="roformer", application="lm"`` (as the authors' ``test_roformer_gpt.py`` does),
its own ``save_weights_as_checkpoint`` writes the TF1 checkpoint, and its loader computes the logits and runs
its own decoding loop (``AutoRegressiveDecoder.beam_search`` with beam 1: greedy) on the same files
(tests/oracles/bert4keras_lm.py). zhplm converts them to ``RoFormerForCausalLM(is_decoder=True)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import transformers

import zhplm
from helpers_parity import oracle_checkpoint
from zhplm.converter import record_parity

TOL = 1e-4
INPUTS = {"input_ids": [[2, 10, 11, 4, 12, 13, 3], [2, 14, 15, 3, 16, 3, 20]]}  # bert4keras masks id 0


@pytest.fixture(scope="module")
def roformer_gpt(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    return oracle_checkpoint(
        "bert4keras_lm.py", "roformer_gpt", tmp_path_factory.mktemp("rgpt"), inputs=INPUTS
    )


@pytest.mark.oracle
def test_roformer_gpt_matches_bert4keras_lm(tmp_path: Path, roformer_gpt: tuple[Path, dict]) -> None:
    ckpt, ref = roformer_gpt
    out = tmp_path / "out"
    result = zhplm.convert(ckpt, out, model_id="roformer-gpt-base")  # the catalog row names the arch
    assert result.arch == "roformer_gpt" and result.architectures == ["RoFormerForCausalLM"]
    assert result.heads == {"lm": "trained"}
    assert result.config["is_decoder"] is True and result.config["layer_norm_eps"] == 1e-12
    model = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    assert type(model).__name__ == "RoFormerForCausalLM"
    ids = torch.tensor(INPUTS["input_ids"])
    with torch.inference_mode():
        logits = model(ids).logits.numpy()
    diff = float(np.abs(logits - ref["logits"]).max())
    model.generation_config.eos_token_id = None  # the oracle's loop runs maxlen steps
    new = ref["greedy"].shape[1] - ids.shape[1]
    assert new >= 10
    greedy = model.generate(ids, max_new_tokens=new, do_sample=False)
    uncached = model.generate(ids, max_new_tokens=new, do_sample=False, use_cache=False)
    record_parity(
        out,
        {
            "reference": "bert4keras 0.11.5 roformer application=lm: logits, beam_search(topk=1)",
            "max_abs_diff": {"logits": diff},
            "greedy_tokens_equal": new,
        },
    )
    assert diff < TOL
    assert greedy.tolist() == ref["greedy"].astype(np.int64).tolist()
    assert torch.equal(greedy, uncached)  # the KV cache (rotary positions offset by it) changes nothing


@pytest.mark.oracle
def test_without_the_catalog_row_the_names_read_as_roformer(roformer_gpt: tuple[Path, dict]) -> None:
    """Names alone cannot tell an LM release from an MLM one: undirected detection keeps RoFormer's reading."""
    ckpt, _ = roformer_gpt
    assert zhplm.convert(ckpt, dry_run=True).arch == "roformer"
    assert zhplm.convert(ckpt, dry_run=True, arch="roformer_gpt").architectures == ["RoFormerForCausalLM"]
