"""Mengzi-oscar (arch ``oscar``) against Oscar's own ``BertImgModel`` (microsoft/Oscar snapshot, .venv-ref).

Oscar's retrieval model class (``ImageBertForSequenceClassification``: ``bert.*`` + ``classifier``) and its
Oscar+ pre-training class (``BertImgForPreTraining``: ``bert.*`` + the MLM head + the 3-way contrastive head,
what Mengzi-oscar-base is), tiny and seeded random, are saved as ``save_pretrained`` does; zhplm detects and
converts them with their heads (recorded in zhplm.json). States, pooled output and every head's logits on
text + 2054-d region features, with padding in both the text and the regions, must match Oscar's within
1e-4; the task ``zhplm.pipeline("image-text-features", ...)`` must give the same features from
``(text, regions)``, and its matching probability must be Oscar's (retrieval: ``softmax[1]`` of the
classifier, as ``run_retrieval.py``; pre-training: ``softmax[0]`` of the contrastive head), batched too.

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
    assert result.arch == "oscar" and not result.plan.ignored
    assert result.heads == {"mlm": "absent", "itm": "absent", "classifier": "trained"}
    return out


@pytest.fixture(scope="module")
def pretraining(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Oscar+'s pre-training class (Mengzi-oscar-base's) and its conversion."""
    require_original("microsoft/Oscar")
    release = tmp_path_factory.mktemp("oscar-pretrain-release")
    run_oracle("oscar_original.py", "write", "--out", release, "--seed", "11", "--model", "pretrain")
    out = tmp_path_factory.mktemp("oscar-pretrain") / "model"
    result = zhplm.convert(release, out)
    assert result.heads == {"mlm": "trained", "itm": "trained", "classifier": "absent"}
    return release, out


def _oracle(
    release: Path, tmp: Path, inputs: dict[str, np.ndarray], model: str = "retrieval"
) -> dict[str, np.ndarray]:
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
        "--model",
        model,
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
    assert type(model).__name__ == "OscarForSequenceClassification"
    np.testing.assert_allclose(out.last_hidden_state.numpy(), ref["last_hidden_state"], atol=TOL, rtol=0)
    np.testing.assert_allclose(out.pooler_output.numpy(), ref["pooler_output"], atol=TOL, rtol=0)
    np.testing.assert_allclose(out.cls_logits.numpy(), ref["cls_logits"], atol=TOL, rtol=0)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _pairs(
    feats: object, texts: list[str], tags: list[str], regions: list[np.ndarray]
) -> dict[str, np.ndarray]:
    """Oscar's input for a batch, laid out as its ``tensorize_example`` does: ``[CLS] text [SEP] tags [SEP]``
    (types 0 then 1) padded to the longest, then the regions zero-padded to the most, masked."""
    enc = feats.tokenizer(texts, tags, padding=True)  # type: ignore[attr-defined]
    ids = np.asarray(enc["input_ids"])
    n_max = max(len(r) for r in regions)
    img = np.zeros((len(regions), n_max, 2054), np.float32)
    region_mask = np.zeros((len(regions), n_max), np.int64)
    for i, r in enumerate(regions):
        img[i, : len(r)] = r
        region_mask[i, : len(r)] = 1
    return {
        "input_ids": ids,
        "token_type_ids": np.asarray(enc["token_type_ids"]),
        "attention_mask": np.concatenate([np.asarray(enc["attention_mask"]), region_mask], axis=1),
        "img_feats": img,
    }


REGIONS = [np.random.default_rng(s).normal(size=(n, 2054)).astype(np.float32) for s, n in ((21, 5), (22, 2))]
PAIR_TEXTS = ["两个人在草地上骑马", "一只猫"]
TAGS = ["人 马 草地", "猫 沙发 窗户 灯"]


def test_retrieval_match_is_oscars_softmax(converted: Path, release: Path, tmp_path: Path) -> None:
    """Mengzi-oscar-base-retrieval's head: P(match) = softmax(classifier)[1], batched with padding."""
    feats = zhplm.pipeline("image-text-features", converted)
    assert feats.can_match
    ref = _oracle(release, tmp_path, _pairs(feats, PAIR_TEXTS, TAGS, REGIONS))
    expected = _softmax(ref["cls_logits"])[:, 1]
    assert np.abs(expected - 0.5).max() > 0.01  # the head really discriminates
    np.testing.assert_allclose(feats.match_batch(PAIR_TEXTS, REGIONS, tags=TAGS), expected, atol=TOL, rtol=0)
    assert feats.match(PAIR_TEXTS[1], REGIONS[1], tags=TAGS[1]) == pytest.approx(float(expected[1]), abs=TOL)
    got = feats.batch(PAIR_TEXTS, REGIONS, tags=TAGS)
    width = ref["last_hidden_state"].shape[1] - 5  # text positions (padded to the longer pair)
    n_text = got[1].text_tokens
    np.testing.assert_allclose(got[1].states[:n_text], ref["last_hidden_state"][1, :n_text], atol=TOL, rtol=0)
    np.testing.assert_allclose(
        got[1].states[n_text:], ref["last_hidden_state"][1, width : width + 2], atol=TOL, rtol=0
    )
    np.testing.assert_allclose(got[0].pooled, ref["pooler_output"][0], atol=TOL, rtol=0)
    with pytest.raises(ConversionError, match="one of each"):
        feats.match_batch(PAIR_TEXTS, REGIONS[:1])


def test_pretraining_heads_match_oscar(pretraining: tuple[Path, Path], tmp_path: Path) -> None:
    """Mengzi-oscar-base's class: MLM and contrastive logits as Oscar's; P(match) = softmax(itm)[0]."""
    import torch

    release, converted = pretraining
    provenance = json.loads((converted / "zhplm.json").read_text(encoding="utf-8"))
    assert provenance["heads"] == {"mlm": "trained", "itm": "trained", "classifier": "absent"}
    feats = zhplm.pipeline("image-text-features", converted)
    inputs = _pairs(feats, PAIR_TEXTS, TAGS, REGIONS)
    ref = _oracle(release, tmp_path, inputs, model="pretrain")
    assert ref["itm_logits"].shape == (2, 3)
    model = feats.model
    assert type(model).__name__ == "OscarForPreTraining" and model.classifier is None
    with torch.inference_mode():
        out = model(**{k: torch.from_numpy(v) for k, v in inputs.items()})
    np.testing.assert_allclose(out.logits.numpy(), ref["mlm_logits"], atol=TOL, rtol=0)
    np.testing.assert_allclose(out.itm_logits.numpy(), ref["itm_logits"], atol=TOL, rtol=0)
    expected = _softmax(ref["itm_logits"])[:, 0]
    np.testing.assert_allclose(feats.match_batch(PAIR_TEXTS, REGIONS, tags=TAGS), expected, atol=TOL, rtol=0)


def test_encoder_only_release_refuses_matching(release: Path, tmp_path: Path) -> None:
    """A release with the encoder only (no head): features work, matching says which releases have a head."""
    import torch

    state = torch.load(release / "pytorch_model.bin", weights_only=True)
    bare = tmp_path / "bare"
    bare.mkdir()
    torch.save({k: v for k, v in state.items() if k.startswith("bert.")}, bare / "pytorch_model.bin")
    for name in ("config.json", "vocab.txt"):
        (bare / name).write_bytes((release / name).read_bytes())
    result = zhplm.convert(bare, tmp_path / "model")
    assert result.heads == {"mlm": "absent", "itm": "absent", "classifier": "absent"}
    feats = zhplm.pipeline("image-text-features", tmp_path / "model")
    assert type(feats.model).__name__ == "OscarModel" and not feats.can_match
    assert feats("文本", REGIONS[0]).regions == 5
    with pytest.raises(ConversionError, match="no image-text matching head"):
        feats.match("文本", REGIONS[0])


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
