"""RoFormer v1 conversion against transformers 4.46.3's ``load_tf_weights_in_roformer`` +
``RoFormerForMaskedLM`` (``rotary_value=False``), run on a TensorFlow-written bert4keras-style checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import zhplm
from helpers_parity import INPUTS, compare, oracle_checkpoint
from zhplm.converter import record_parity

TOL = 1e-4
MASK = np.array(INPUTS["attention_mask"])


@pytest.fixture(scope="module")
def roformer(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    return oracle_checkpoint("bert_family.py", "roformer", tmp_path_factory.mktemp("roformer"))


@pytest.mark.oracle
def test_roformer_v1_matches_transformers4(tmp_path: Path, roformer: tuple[Path, dict]) -> None:
    ckpt, ref = roformer
    result = zhplm.convert(ckpt, tmp_path / "out", arch="roformer")
    assert result.architectures == ["RoFormerForMaskedLM"] and result.heads == {"mlm": "trained"}
    cfg = result.config
    assert cfg["rotary_value"] is False and cfg["layer_norm_eps"] == 1e-7
    assert cfg["embedding_size"] == cfg["hidden_size"] == 32
    assert any("jieba" in n for n in result.notes)  # the oracle's RoFormer (word) vocabulary holds words
    model, tok, _prov, _ = zhplm.load(tmp_path / "out")  # no SDPA for RoFormer: load falls back to eager
    assert type(tok).__name__ == "JiebaWordPieceTokenizer"
    feed = {k: torch.tensor(v) for k, v in INPUTS.items()}
    with torch.inference_mode():
        o = model(**feed, output_hidden_states=True)
    ours = {
        "last_hidden_state": o.hidden_states[-1].numpy(),
        "hidden_states": torch.stack(o.hidden_states).numpy(),
        "mlm_logits": o.logits.numpy(),
    }
    diffs = compare(ours, ref, MASK)
    record_parity(
        tmp_path / "out",
        {"reference": "transformers 4.46.3 load_tf_weights_in_roformer", "max_abs_diff": diffs},
    )
    assert max(diffs.values()) < TOL


@pytest.mark.oracle
def test_written_sinusoid_is_what_transformers_builds(tmp_path: Path, roformer: tuple[Path, dict]) -> None:
    """The computed ``embed_positions`` table equals the one transformers' own module creates."""
    from safetensors.numpy import load_file
    from transformers.models.roformer.modeling_roformer import RoFormerSinusoidalPositionalEmbedding

    ckpt, _ = roformer
    zhplm.convert(ckpt, tmp_path / "out", arch="roformer")
    tensors: dict[str, np.ndarray] = {}
    for f in (tmp_path / "out").glob("*.safetensors"):
        tensors.update(load_file(str(f)))
    ours = tensors["roformer.encoder.embed_positions.weight"]
    theirs = RoFormerSinusoidalPositionalEmbedding(64, 8).create_weight().numpy()
    assert ours.shape == theirs.shape == (64, 8)
    assert np.abs(ours - theirs).max() < 1e-6
