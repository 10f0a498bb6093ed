"""WoBERT through ``zhplm.convert`` against bert4keras 0.11.5 (the library WoBERT was made with).

TensorFlow writes the TF1 checkpoint in bert4keras' layout (no pooler, no NSP) with a jieba word
vocabulary and embeddings at a trained model's scale; bert4keras' ``build_transformer_model(model="bert")``
reads the same files and gives the reference, together with the LayerNorm epsilon it used: **1e-12**
(bert4keras 0.8.8, WoBERT's release, defaulted to ``epsilon or 1e-12``; 0.11.5 passes 1e-12 explicitly to
BERT — see ``WOBERT_EPS_NOTE`` in tests/oracles/bert_family.py). The small embedding scale makes the
embedding LayerNorm's epsilon visible: with 1e-7 instead the outputs move by ~1e-3, which the last test
shows the tolerance catches.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import zhplm
from helpers_parity import INPUTS, compare, oracle_checkpoint, run_model, with_config
from zhplm.converter import record_parity

TOL = 1e-4
MASK = np.array(INPUTS["attention_mask"])
REFERENCE = "bert4keras 0.11.5 build_transformer_model(model='bert', with_mlm='linear')"


def _outputs(o: Any) -> dict[str, Any]:
    hs = torch.stack(o.hidden_states)
    return {"last_hidden_state": hs[-1], "hidden_states": hs, "mlm_logits": o.logits}


@pytest.fixture(scope="module")
def wobert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray], Path]:
    tmp = tmp_path_factory.mktemp("wobert")
    ckpt, ref = oracle_checkpoint("bert_family.py", "wobert", tmp, flavor="trained_scale", impl="b4k")
    zhplm.convert(ckpt, tmp / "out")
    return ckpt, ref, tmp / "out"


@pytest.mark.oracle
def test_wobert_matches_bert4keras(wobert: tuple[Path, dict[str, np.ndarray], Path]) -> None:
    ckpt, ref, out = wobert
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["BertForMaskedLM"]  # bert4keras saved no pooler / NSP
    assert config["layer_norm_eps"] == 1e-12
    diffs = compare(run_model(out, INPUTS, _outputs), ref, MASK)
    assert set(diffs) == {"last_hidden_state", "hidden_states", "mlm_logits"}
    record_parity(out, {"reference": REFERENCE, "max_abs_diff": diffs})
    assert max(diffs.values()) < TOL
    # the jieba word vocabulary travels unchanged: words right after the specials
    vocab = (out / "vocab.txt").read_text(encoding="utf-8").split()
    assert vocab == (ckpt / "vocab.txt").read_text(encoding="utf-8").split() and vocab[5] == "中国"


@pytest.mark.oracle
def test_the_tolerance_catches_a_wrong_epsilon(
    wobert: tuple[Path, dict[str, np.ndarray], Path], tmp_path: Path
) -> None:
    """The same converted weights with eps 1e-7 (what the README used to claim) fail the comparison."""
    _, ref, out = wobert
    wrong = with_config(out, tmp_path / "wrong", layer_norm_eps=1e-7)
    diffs = compare(run_model(wrong, INPUTS, _outputs), ref, MASK)
    assert diffs["hidden_states"] > 5 * TOL
