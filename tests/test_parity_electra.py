"""ELECTRA conversions against transformers 4.46.3's ``load_tf_weights_in_electra`` (independent).

TensorFlow writes one TF1 checkpoint holding discriminator and generator (google-research/electra names,
``embeddings_project`` since E ≠ H); zhplm converts the discriminator by default (``arch="electra"``) and the generator with
``arch="electra_generator"``; both must match the reference outputs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import zhplm
from helpers_parity import INPUTS, compare, oracle_checkpoint, run_model
from zhplm.converter import record_parity

TOL = 1e-4
MASK = np.array(INPUTS["attention_mask"])
REFERENCE = "transformers 4.46.3 load_tf_weights_in_electra"


@pytest.fixture(scope="module")
def electra(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    return oracle_checkpoint("bert_family.py", "electra", tmp_path_factory.mktemp("electra"))


@pytest.mark.oracle
def test_discriminator_by_default(tmp_path: Path, electra: tuple[Path, dict]) -> None:
    ckpt, ref = electra
    result = zhplm.convert(ckpt, tmp_path / "out")
    assert result.arch == "electra" and result.architectures == ["ElectraForPreTraining"]
    assert result.heads == {"rtd": "trained"}
    assert result.config["hidden_size"] == 32 and result.config["num_attention_heads"] == 4
    ignored = dict(result.plan.ignored)
    assert any(n.startswith("generator/") for n in ignored) and "global_step" in ignored
    ours = run_model(
        tmp_path / "out",
        INPUTS,
        lambda o: {
            "last_hidden_state": o.hidden_states[-1],
            "hidden_states": torch.stack(o.hidden_states),
            "disc_logits": o.logits,
        },
    )
    diffs = compare(ours, ref, MASK)
    record_parity(tmp_path / "out", {"reference": REFERENCE, "max_abs_diff": diffs})
    assert max(diffs.values()) < TOL


@pytest.mark.oracle
def test_generator_on_request(tmp_path: Path, electra: tuple[Path, dict]) -> None:
    ckpt, ref = electra
    result = zhplm.convert(ckpt, tmp_path / "out", arch="electra_generator")
    assert result.architectures == ["ElectraForMaskedLM"] and result.heads == {"mlm": "trained"}
    assert result.config["hidden_size"] == 24 and result.config["num_attention_heads"] == 2  # generator json
    assert any(n.startswith("discriminator_predictions/") for n, _ in result.plan.ignored)
    ours = run_model(
        tmp_path / "out",
        INPUTS,
        lambda o: {
            "gen_last_hidden_state": o.hidden_states[-1],
            "gen_hidden_states": torch.stack(o.hidden_states),
            "gen_mlm_logits": o.logits,
        },
    )
    diffs = compare(ours, ref, MASK)
    record_parity(tmp_path / "out", {"reference": REFERENCE, "max_abs_diff": diffs})
    assert max(diffs.values()) < TOL


@pytest.mark.oracle
def test_without_json_the_sizes_come_from_the_shapes(tmp_path: Path, electra: tuple[Path, dict]) -> None:
    """Google's own ELECTRA releases ship no json: heads = hidden // 64 is the documented assumption."""
    ckpt, _ = electra
    bare = tmp_path / "bare"
    shutil.copytree(ckpt, bare)
    for f in bare.glob("*_config.json"):
        f.unlink()
    result = zhplm.convert(bare, tmp_path / "out", dry_run=True)
    cfg = result.config
    assert (cfg["vocab_size"], cfg["embedding_size"], cfg["hidden_size"]) == (120, 16, 32)
    assert (cfg["num_hidden_layers"], cfg["intermediate_size"], cfg["num_attention_heads"]) == (2, 64, 1)
    assert any("inferred" in n for n in result.notes)
