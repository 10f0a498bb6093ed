"""MobileBERT conversion against transformers 4.46.3's ``load_tf_weights_in_mobilebert`` +
``MobileBertForPreTraining`` (independent), on a TensorFlow-written checkpoint shaped like
Chinese-MobileBERT base-f2: trigram input, bottleneck attention, 2 FFNs, ``no_norm`` (FakeLayerNorm), no
pooler dense, no ``key_query_shared_bottleneck`` key in the json, and the distillation teacher inside."""

from __future__ import annotations

import json
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


@pytest.fixture(scope="module")
def mobilebert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    return oracle_checkpoint("bert_family.py", "mobilebert", tmp_path_factory.mktemp("mobilebert"))


@pytest.mark.oracle
def test_mobilebert_matches_transformers4(tmp_path: Path, mobilebert: tuple[Path, dict]) -> None:
    ckpt, ref = mobilebert
    assert "key_query_shared_bottleneck" not in json.loads((ckpt / "bert_config.json").read_text())
    result = zhplm.convert(ckpt, tmp_path / "out")
    assert result.arch == "mobilebert" and result.architectures == ["MobileBertForPreTraining"]
    assert result.heads == {"pooler": "absent", "mlm": "trained", "nsp": "trained"}
    cfg = result.config
    # Google's default where the json is silent (transformers' MobileBertConfig would say True)
    assert cfg["key_query_shared_bottleneck"] is False
    assert cfg["normalization_type"] == "no_norm" and cfg["num_feedforward_networks"] == 2
    reasons = {why for name, why in result.plan.ignored if name.startswith("teacher/")}
    assert reasons and all("teacher" in why for why in reasons)
    ours = run_model(
        tmp_path / "out",
        INPUTS,
        lambda o: {
            "last_hidden_state": o.hidden_states[-1],
            "hidden_states": torch.stack(o.hidden_states),
            "mlm_logits": o.prediction_logits,
            "nsp_logits": o.seq_relationship_logits,
        },
    )
    diffs = compare(ours, ref, MASK)
    record_parity(
        tmp_path / "out",
        {"reference": "transformers 4.46.3 load_tf_weights_in_mobilebert", "max_abs_diff": diffs},
    )
    assert max(diffs.values()) < TOL


@pytest.mark.oracle
def test_without_json_the_structure_comes_from_the_shapes(
    tmp_path: Path, mobilebert: tuple[Path, dict]
) -> None:
    ckpt, _ = mobilebert
    bare = tmp_path / "bare"
    shutil.copytree(ckpt, bare)
    original = json.loads((bare / "bert_config.json").read_text())
    (bare / "bert_config.json").unlink()
    cfg = zhplm.convert(bare, tmp_path / "out", arch="mobilebert", dry_run=True).config
    for key in (
        "vocab_size",
        "hidden_size",
        "embedding_size",
        "intermediate_size",
        "intra_bottleneck_size",
        "trigram_input",
        "use_bottleneck",
        "use_bottleneck_attention",
        "num_feedforward_networks",
        "classifier_activation",
        "num_hidden_layers",
        "normalization_type",
    ):
        assert cfg[key] == original[key], key
    assert cfg["key_query_shared_bottleneck"] is False
