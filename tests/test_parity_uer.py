"""Native UER-py checkpoints (the ``uer`` scheme) through ``zhplm.convert`` against UER-py's own code.

UER-py (git snapshot pinned in tests/oracles/SNAPSHOTS.txt) builds its BERT (``embedding [word, pos, seg]``,
``target [mlm, sp]``, tied weights) and saves it with its own ``save_model``; its own modules compute the
reference (tests/oracles/uer_original.py). UER's LayerNorm is ``gamma (x − mean) / (std_unbiased + 1e-6) +
beta``: zhplm folds the n/(n − 1) into gamma and keeps nn.LayerNorm's eps at 1e-12, the closest a
variance-side epsilon gets to 1e-6 added to the std. The embeddings have std 0.02 (BERT's init range), so
both details show: the last two tests show that eps 1e-6 or the unfolded gamma fail the tolerance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import zhplm
from helpers_parity import INPUTS, compare, oracle_checkpoint, with_config
from oracle import require_original
from zhplm.converter import record_parity

TOL = 1e-4
MASK = np.array(INPUTS["attention_mask"])
REFERENCE = "UER-py (dbiir/UER-py snapshot) build_model + its LayerNorm/MlmTarget/SpTarget modules"


def _per_token(arrays: dict[str, Any]) -> dict[str, np.ndarray]:
    """hidden_states as [B, T, L+1, H] so that padded positions are left out of the comparison (UER's
    padding segment row 0 and HF's token type 0 differ there, legitimately)."""
    out = {k: np.asarray(v) for k, v in arrays.items()}
    out["hidden_states"] = np.moveaxis(out["hidden_states"], 0, 2)
    return out


def _run(folder: Path, unfold_gamma: bool = False) -> dict[str, np.ndarray]:
    model, *_ = zhplm.load(folder)
    if unfold_gamma:  # what a plain rename (UER's own convert script) gives
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.endswith("LayerNorm.weight"):
                    p.div_(float(np.sqrt((p.shape[-1] - 1) / p.shape[-1])))
    feed = {k: torch.tensor(v) for k, v in INPUTS.items()}
    with torch.inference_mode():
        o = model(**feed, output_hidden_states=True)
        pooled = model.bert(**feed).pooler_output
    hs = torch.stack(o.hidden_states)
    return _per_token(
        {
            "hidden_states": hs.numpy(),
            "last_hidden_state": hs[-1].numpy(),
            "mlm_logits": o.prediction_logits.numpy(),
            "pooler_output": pooled.numpy(),
            "nsp_logits": o.seq_relationship_logits.numpy(),
        }
    )


@pytest.fixture(scope="module")
def uer(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray], Path]:
    require_original("dbiir/UER-py")
    tmp = tmp_path_factory.mktemp("uer")
    ckpt, ref = oracle_checkpoint("uer_original.py", "uer", tmp)
    result = zhplm.convert(ckpt, tmp / "out")
    assert result.format == "pytorch" and result.scheme == "uer"
    assert result.architectures == ["BertForPreTraining"]
    return ckpt, _per_token(ref), tmp / "out"


@pytest.mark.oracle
def test_uer_matches_uer_py(uer: tuple[Path, dict[str, np.ndarray], Path]) -> None:
    _, ref, out = uer
    config = json.loads((out / "config.json").read_text())
    assert config["num_attention_heads"] == 4  # from UER's heads_num (not the 64-wide default: 1)
    assert config["layer_norm_eps"] == 1e-12
    diffs = compare(_run(out), ref, MASK)
    assert set(diffs) == set(ref)
    record_parity(out, {"reference": REFERENCE, "max_abs_diff": diffs})
    assert max(diffs.values()) < TOL


@pytest.mark.oracle
def test_the_tolerance_catches_eps_1e6_on_the_variance(
    uer: tuple[Path, dict[str, np.ndarray], Path], tmp_path: Path
) -> None:
    _, ref, out = uer
    wrong = with_config(out, tmp_path / "wrong", layer_norm_eps=1e-6)
    assert compare(_run(wrong), ref, MASK)["hidden_states"] > 2 * TOL


@pytest.mark.oracle
def test_the_tolerance_catches_the_unbiased_std(uer: tuple[Path, dict[str, np.ndarray], Path]) -> None:
    _, ref, out = uer
    assert compare(_run(out, unfold_gamma=True), ref, MASK)["last_hidden_state"] > 10 * TOL
