"""NEZHA-Gen (arch ``nezha_gen``) against the authors' own TF1 generation code.

huawei-noah's ``NEZHA-Gen-TensorFlow/interactive_conditional_generation.py`` (git snapshot pinned in
tests/oracles/SNAPSHOTS.txt, TF 2.15 compat.v1; tests/oracles/nezha_gen_original.py names its shims) builds
the graph, TF's ``Saver`` writes the checkpoint, the same code computes the logits and runs its own cached
decoding loop (temperature → 0: greedy). zhplm converts to ``BertLMHeadModel(is_decoder=True)``.
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
from oracle import require_original
from zhplm.converter import record_parity

TOL = 1e-4
INPUTS = {"input_ids": [[2, 10, 11, 4, 12, 13, 3], [2, 14, 15, 3, 16, 3, 20]]}


@pytest.fixture(scope="module")
def nezha_gen(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    require_original("huawei-noah/Pretrained-Language-Model")
    return oracle_checkpoint(
        "nezha_gen_original.py", "nezha_gen", tmp_path_factory.mktemp("ngen"), inputs=INPUTS
    )


@pytest.mark.oracle
def test_nezha_gen_matches_the_authors_generation_code(tmp_path: Path, nezha_gen: tuple[Path, dict]) -> None:
    ckpt, ref = nezha_gen
    out = tmp_path / "out"
    result = zhplm.convert(ckpt, out, model_id="nezha-gen-base")
    assert result.arch == "nezha_gen" and result.architectures == ["BertLMHeadModel"]
    assert result.heads == {"lm": "trained"}
    assert result.config["is_decoder"] is True and result.config["type_vocab_size"] == 1
    model = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    assert type(model).__name__ == "BertLMHeadModel"
    assert not model.bert.embeddings.token_type_embeddings.weight.any()  # the original adds no token type
    ids = torch.tensor(INPUTS["input_ids"])
    with torch.inference_mode():
        logits = model(ids).logits.numpy()
    diff = float(np.abs(logits - ref["logits"]).max())
    model.generation_config.eos_token_id = None  # the oracle's loop runs to 511 positions
    new = ref["greedy"].shape[1] - ids.shape[1]
    assert new >= 10
    greedy = model.generate(ids, max_new_tokens=new, do_sample=False)
    uncached = model.generate(ids, max_new_tokens=new, do_sample=False, use_cache=False)
    record_parity(
        out,
        {
            "reference": "huawei-noah NEZHA-Gen-TensorFlow interactive_conditional_generation.py (TF 2.15 compat.v1)",
            "max_abs_diff": {"logits": diff},
            "greedy_tokens_equal": new,
        },
    )
    assert diff < TOL
    assert greedy.tolist() == ref["greedy"].astype(np.int64).tolist()
    assert torch.equal(greedy, uncached)


@pytest.mark.oracle
def test_a_checkpoint_without_token_types_reads_as_nezha_gen(nezha_gen: tuple[Path, dict]) -> None:
    """Without a token-type table BERT cannot place the checkpoint, so detection reads NEZHA-Gen's graph; the
    catalog row names the arch for releases that carry one."""
    ckpt, _ = nezha_gen
    assert zhplm.convert(ckpt, dry_run=True).arch == "nezha_gen"
