"""Mengzi-oscar (arch ``oscar``) against Oscar's own ``BertImgModel`` (microsoft/Oscar snapshot, .venv-ref).

Oscar's retrieval model class (``ImageBertForSequenceClassification``: ``bert.*`` + ``classifier``), tiny and
seeded random, is saved as ``save_pretrained`` does; zhplm detects and converts the region-feature encoder
(the classifier is reported as ignored). Its states and pooled output on text + 2054-d region features, with
padding in both the text and the regions, must match Oscar's within 1e-4, and the task
``zhplm.pipeline("image-text-features", ...)`` must give the same features from ``(text, regions)``.

Stubbed (named, see tests/oracles/oscar_original.py): Oscar's ``transformers.pytorch_transformers`` submodule
(absent from the snapshot) is given transformers 4.46's BERT blocks under the old names.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import zhplm
from oracle import require_original, run_oracle
from zhplm.errors import ConversionError

TOL = 1e-4


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_original("microsoft/Oscar")
    out = tmp_path_factory.mktemp("oscar-release")
    run_oracle("oscar_original.py", "write", "--out", out, "--seed", "7")
    return out


@pytest.fixture(scope="module")
def converted(release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("oscar") / "model"
    result = zhplm.convert(release, out)  # detected, not named
    assert result.arch == "oscar"
    assert {name for name, _ in result.plan.ignored} == {"classifier.weight", "classifier.bias"}
    return out


def _oracle(release: Path, tmp: Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    np.savez(tmp / "in.npz", **inputs)
    run_oracle(
        "oscar_original.py",
        "forward",
        "--ckpt",
        release,
        "--inputs",
        tmp / "in.npz",
        "--out",
        tmp / "ref.npz",
    )
    with np.load(tmp / "ref.npz") as ref:
        return {k: ref[k] for k in ref.files}


def test_states_match_oscar(converted: Path, release: Path, tmp_path: Path) -> None:
    import torch

    cfg = json.loads((converted / "config.json").read_text(encoding="utf-8"))
    assert (
        cfg["model_type"] == "oscar" and cfg["img_feature_dim"] == 2054 and cfg["use_img_layernorm"] is True
    )
    assert cfg["num_attention_heads"] == 4  # from Oscar's config.json, not the 64-wide default
    rng = np.random.default_rng(3)
    ids = rng.integers(5, 120, size=(2, 6))
    mask = np.ones((2, 6 + 4), np.int64)
    mask[0, 4:6] = 0  # padded text
    mask[1, 8:] = 0  # padded regions
    inputs = {
        "input_ids": ids,
        "token_type_ids": np.array([[0, 0, 0, 1, 1, 1]] * 2),
        "attention_mask": mask,
        "img_feats": rng.normal(size=(2, 4, 2054)).astype(np.float32),
    }
    ref = _oracle(release, tmp_path, inputs)
    model = zhplm.load(converted).model
    with torch.inference_mode():
        out = model(
            torch.from_numpy(ids),
            img_feats=torch.from_numpy(inputs["img_feats"]),
            attention_mask=torch.from_numpy(mask),
            token_type_ids=torch.from_numpy(inputs["token_type_ids"]),
        )
    assert ref["last_hidden_state"].shape == (2, 10, 64)
    np.testing.assert_allclose(out.last_hidden_state.numpy(), ref["last_hidden_state"], atol=TOL, rtol=0)
    np.testing.assert_allclose(out.pooler_output.numpy(), ref["pooler_output"], atol=TOL, rtol=0)


def test_task_takes_text_and_region_features(converted: Path, release: Path, tmp_path: Path) -> None:
    feats = zhplm.pipeline("image-text-features", converted)
    regions = np.random.default_rng(5).normal(size=(3, 2054)).astype(np.float32)
    got = feats("两个人在骑马", regions)
    enc = feats.tokenizer(["两个人在骑马"])
    ids = np.asarray(enc["input_ids"])
    ref = _oracle(
        release,
        tmp_path,
        {
            "input_ids": ids,
            "token_type_ids": np.zeros_like(ids),
            "attention_mask": np.ones((1, ids.shape[1] + 3), np.int64),
            "img_feats": regions[None],
        },
    )
    assert got.text_tokens == ids.shape[1] and got.regions == 3
    np.testing.assert_allclose(got.states, ref["last_hidden_state"][0], atol=TOL, rtol=0)
    np.testing.assert_allclose(got.pooled, ref["pooler_output"][0], atol=TOL, rtol=0)
    with pytest.raises(ConversionError, match="2054"):
        feats("文本", np.zeros((3, 2048), np.float32))
    with pytest.raises(ConversionError, match="region"):
        feats("文本", np.full((2, 2054), np.nan, np.float32))
