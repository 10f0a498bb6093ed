"""NEZHA: Huawei-style TF1 checkpoint (written by TensorFlow) → zhplm's own NezhaForPreTraining,
against transformers 4.46.3's deprecated NezhaForPreTraining loaded with its own load_tf_weights_in_nezha."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import zhplm
from helpers_parity import INPUTS, compare, oracle_checkpoint, run_model
from zhplm.converter import record_parity

TOL = 1e-4


@pytest.fixture(scope="module")
def nezha_ckpt(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    return oracle_checkpoint("bert_family.py", "nezha", tmp_path_factory.mktemp("nezha"))


@pytest.mark.oracle
def test_nezha_tf1_matches_transformers4(tmp_path: Path, nezha_ckpt: tuple[Path, dict]) -> None:
    ckpt, ref = nezha_ckpt
    result = zhplm.convert(ckpt, tmp_path / "out")  # detected: the config says use_relative_position
    assert result.arch == "nezha" and result.architectures == ["NezhaForPreTraining"]
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    original = json.loads((ckpt / "bert_config.json").read_text())
    assert config["model_type"] == "nezha"
    assert config["max_relative_position"] == original["max_relative_position"]
    ours = run_model(
        tmp_path / "out",
        INPUTS,
        lambda o: {
            "last_hidden_state": o.hidden_states[-1],
            "mlm_logits": o.prediction_logits,
            "nsp_logits": o.seq_relationship_logits,
        },
    )
    diffs = compare(ours, ref, np.array(INPUTS["attention_mask"]))
    record_parity(
        tmp_path / "out", {"reference": "transformers 4.46.3 NezhaForPreTraining", "max_abs_diff": diffs}
    )
    assert max(diffs.values()) < TOL


@pytest.mark.oracle
def test_nezha_folder_loads_through_auto_classes(tmp_path: Path, nezha_ckpt: tuple[Path, dict]) -> None:
    from transformers import AutoModelForMaskedLM

    import zhplm.loader

    zhplm.convert(nezha_ckpt[0], tmp_path / "out")
    zhplm.loader.register_architectures()
    model = AutoModelForMaskedLM.from_pretrained(str(tmp_path / "out"))
    assert type(model).__name__ == "NezhaForMaskedLM"
