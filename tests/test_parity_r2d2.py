"""R2D2 (arch ``r2d2``) against the authors' own code (yuxie11/R2D2 snapshot, run in .venv-ref).

R2D2's ``models/r2d2.py::R2D2`` (ViT-B config, shrunk config files: see tests/oracles/r2d2_original.py)
writes a release-style ``{"model": state_dict}`` checkpoint with seeded random weights; zhplm detects and
converts it to its own ``R2D2Model``. Token ids, preprocessing (the demo's ``preprocess``), normalised image
and text features, similarity logits, and the ITM heads' logits and scores of the demo's own ``evaluation``
must match within 1e-4; retrieval through ``zhplm.pipeline("image-text-similarity")`` re-ranks with them as
R2D2's ``compute_cross_score`` does (``itm + cosine`` over the dual encoder's candidates).

Stubbed (named): torchvision (``_torchvision_stub``: Resize/ToTensor/Normalize/InterpolationMode, which the
demo's ``preprocess`` composes).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import zhplm
from helpers_clip import make_images
from oracle import require_original, run_oracle
from zhplm.tasks.images import ImageTransform

TOL = 1e-4
TEXTS = ["一张猫的照片", "Hello 世界, MIXED case", "北京" * 40, "两名潜水员在水下遇到了一只海豚"]


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_original("yuxie11/R2D2")
    out = tmp_path_factory.mktemp("r2d2-release")
    run_oracle("r2d2_original.py", "write", "--out", out, "--seed", "5")
    return out


@pytest.fixture(scope="module")
def converted(release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("r2d2") / "model"
    zhplm.convert(release, out)  # detected, not named
    return out


@pytest.fixture(scope="module")
def reference(
    release: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[Path], dict[str, np.ndarray]]:
    tmp = tmp_path_factory.mktemp("r2d2-ref")
    images = make_images(tmp / "images")
    upright = [p for n, p in images.items() if n != "exif_rotated.jpg"][:4]
    spec = tmp / "in.json"
    spec.write_text(json.dumps({"texts": TEXTS, "images": [str(p) for p in upright]}), encoding="utf-8")
    run_oracle("r2d2_original.py", "forward", "--ckpt", release, "--inputs", spec, "--out", tmp / "ref.npz")
    with np.load(tmp / "ref.npz") as ref:
        return upright, {k: ref[k] for k in ref.files}


def test_conversion_reads_r2d2_config_files(converted: Path) -> None:
    cfg = json.loads((converted / "config.json").read_text(encoding="utf-8"))
    assert cfg["model_type"] == "r2d2" and cfg["architectures"] == ["R2D2Model"]
    # head counts come from R2D2's config files next to the checkpoint (no tensor stores them)
    assert cfg["vision_config"]["num_attention_heads"] == 4  # 192-wide heads, not the 64-wide default
    assert cfg["text_config"]["num_attention_heads"] == 4
    assert cfg["joint_config"]["num_attention_heads"] == 2
    assert cfg["joint_config"]["num_hidden_layers"] == 6  # R2D2 fixes 6 cross-encoder layers
    assert cfg["joint_config"]["encoder_hidden_size"] == 768
    pre = json.loads((converted / "preprocessor_config.json").read_text(encoding="utf-8"))
    assert pre["size"] == {"height": 32, "width": 32} and pre["context_length"] == 64


def test_preprocessing_equals_r2d2(
    converted: Path, reference: tuple[list[Path], dict[str, np.ndarray]]
) -> None:
    images, ref = reference
    ours = ImageTransform.from_folder(converted).batch(images)
    np.testing.assert_allclose(ours, ref["pixels"], atol=1e-6, rtol=0)


def test_features_and_itm_match_r2d2(
    converted: Path, reference: tuple[list[Path], dict[str, np.ndarray]]
) -> None:
    import torch

    images, ref = reference
    loaded = zhplm.load(converted)
    model = loaded.model
    enc = loaded.tokenizer(TEXTS, padding="max_length", truncation=True, max_length=64, return_tensors="pt")
    np.testing.assert_array_equal(enc["input_ids"].numpy(), ref["input_ids"])
    pixels = torch.from_numpy(ref["pixels"])
    with torch.inference_mode():
        out = model(pixel_values=pixels, **enc)
        n_img, n_txt = len(images), len(TEXTS)
        pairs = {k: v.repeat(n_img, 1) for k, v in enc.items()}
        match = model.match(pixel_values=pixels.repeat_interleave(n_txt, 0), **pairs)
    assert np.abs(ref["itm_scores"] - 0.5).max() > 0.01  # the heads really discriminate
    np.testing.assert_allclose(out.text_embeds.numpy(), ref["text_embeds"], atol=TOL, rtol=0)
    np.testing.assert_allclose(out.image_embeds.numpy(), ref["image_embeds"], atol=TOL, rtol=0)
    np.testing.assert_allclose(out.logits_per_image.numpy(), ref["sims"], atol=TOL * 20, rtol=0)  # ×1/temp
    shape = (n_img, n_txt, 2)
    np.testing.assert_allclose(
        match.text_itm_logits.numpy().reshape(shape), ref["text_itm_logits"], atol=TOL, rtol=0
    )
    np.testing.assert_allclose(
        match.image_itm_logits.numpy().reshape(shape), ref["image_itm_logits"], atol=TOL, rtol=0
    )
    np.testing.assert_allclose(
        match.scores.numpy().reshape(n_img, n_txt), ref["itm_scores"], atol=TOL, rtol=0
    )


def test_pipeline_reranks_like_r2d2(
    converted: Path, reference: tuple[list[Path], dict[str, np.ndarray]]
) -> None:
    images, ref = reference
    sim = zhplm.pipeline("image-text-similarity", converted)
    # the pipeline runs the ViT's QuickGELU MLPs folded into SiLU (zhplm.tasks._inference): compared here
    assert any(type(m).__name__ == "SiLU" for m in sim.encoder.model.visual_encoder.modules())
    # every pair through the cross-encoders: the demo's evaluation, with dynamic padding
    np.testing.assert_allclose(sim.itm(images, TEXTS), ref["itm_scores"], atol=TOL, rtol=0)
    cosine = ref["image_embeds"] @ ref["text_embeds"].T
    # image → text: all 4 texts are candidates (rerank 64); R2D2's score is itm + cosine
    expected = cosine[1] + ref["itm_scores"][1]
    got = sim.image_to_text(images[1], TEXTS, k=3)
    assert [m.item for m in got] == [TEXTS[i] for i in np.argsort(-expected, kind="stable")[:3]]
    np.testing.assert_allclose([m.score for m in got], np.sort(expected)[::-1][:3], atol=TOL)
    # text → image with 2 candidates: the 2 best by cosine come first, ordered by itm + cosine, then the
    # rest by cosine without ITM (R2D2 leaves them at -100)
    narrow = zhplm.pipeline("image-text-similarity", converted, rerank=2)
    got = narrow.text_to_image(TEXTS[0], images, k=4)
    by_cosine = np.argsort(-cosine[:, 0], kind="stable")
    assert {m.item for m in got[:2]} == {str(images[i]) for i in by_cosine[:2]}
    assert got[0].score >= got[1].score
    assert [m.item for m in got[2:]] == [str(images[i]) for i in by_cosine[2:]]
    assert [m.itm for m in got[2:]] == [None, None]
    for m in got[:2]:
        i = [str(p) for p in images].index(m.item)
        assert m.itm == pytest.approx(float(ref["itm_scores"][i, 0]), abs=TOL)
        assert m.score == pytest.approx(float(cosine[i, 0] + ref["itm_scores"][i, 0]), abs=TOL)
    # rerank=0: cosine only, no ITM
    plain = zhplm.pipeline("image-text-similarity", converted, rerank=0).text_to_image(TEXTS[0], images, k=4)
    assert all(m.itm is None for m in plain)
    assert [m.item for m in plain] == [str(images[i]) for i in np.argsort(-cosine[:, 0], kind="stable")]


def test_ranking_encodes_each_item_once(
    converted: Path, reference: tuple[list[Path], dict[str, np.ndarray]]
) -> None:
    """Re-ranking reuses the towers' states as R2D2's evaluation does: each image and text is encoded once per
    query (the ViT used to run again for every candidate text), and the scores stay R2D2's."""
    images, ref = reference
    sim = zhplm.pipeline("image-text-similarity", converted, rerank=3)
    model = sim.encoder.model
    rows = {"vit": 0, "text": 0}

    def count(tower: str) -> object:
        return lambda _m, inputs, _o: rows.__setitem__(tower, rows[tower] + int(inputs[0].shape[0]))

    hooks = [
        model.visual_encoder.register_forward_hook(count("vit")),
        model.text_encoder.register_forward_hook(count("text")),
    ]
    try:
        by_text = sim.image_to_text(images[1], TEXTS, k=3)
        assert rows == {"vit": 1, "text": len(TEXTS)}
        rows.update(vit=0, text=0)
        by_image = sim.text_to_image(TEXTS[2], images, k=3)
        assert rows == {"vit": len(images), "text": 1}
        rows.update(vit=0, text=0)
        sim.itm(images, TEXTS)
        assert rows == {"vit": len(images), "text": len(TEXTS)}
    finally:
        for hook in hooks:
            hook.remove()
    cosine = ref["image_embeds"] @ ref["text_embeds"].T
    for m in by_text:
        j = TEXTS.index(m.item)
        assert m.score == pytest.approx(float(cosine[1, j] + ref["itm_scores"][1, j]), abs=TOL)
    for m in by_image:
        i = [str(p) for p in images].index(m.item)
        assert m.score == pytest.approx(float(cosine[i, 2] + ref["itm_scores"][i, 2]), abs=TOL)


def test_image_search_reranks_with_itm(
    converted: Path,
    reference: tuple[list[Path], dict[str, np.ndarray]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``zhplm image-search`` on an R2D2 folder: the cached index's search re-ranks like the pipeline."""
    import shutil

    from zhplm.cli.main import main

    images, ref = reference
    folder = tmp_path / "photos"
    folder.mkdir()
    for p in images:
        shutil.copy(p, folder / p.name)
    argv = ["image-search", str(converted), TEXTS[3], "--images", str(folder), "-k", "3"]
    argv += ["--cache-dir", str(tmp_path / "cache"), "--json"]
    assert main([*argv, "--rerank", "2"]) == 0
    got = json.loads(capsys.readouterr().out)["matches"]
    by_name = {p.name: i for i, p in enumerate(images)}
    cosine = ref["image_embeds"] @ ref["text_embeds"][3]
    top2 = np.argsort(-cosine, kind="stable")[:2]
    expected = sorted(top2, key=lambda i: -(cosine[i] + ref["itm_scores"][i, 3]))
    assert [by_name[Path(m["item"]).name] for m in got[:2]] == list(expected)
    for m in got[:2]:
        i = by_name[Path(m["item"]).name]
        assert m["itm"] == pytest.approx(float(ref["itm_scores"][i, 3]), abs=TOL)
    assert got[2]["itm"] is None
    assert main([*argv, "--rerank", "0"]) == 0  # cosine only, from the cache
    plain = json.loads(capsys.readouterr().out)
    assert plain["encoded"] == 0 and all(m["itm"] is None for m in plain["matches"])


def test_prd2_towers_match_prd2(tmp_path: Path) -> None:
    """PRD2 (``models/prd2.py``): R2D2's towers under the same names, no cross-encoders. Detected as r2d2,
    converted with ``joint_config`` null; features and logits as PRD2's own; re-ranking is off, ITM refused."""
    import torch

    from zhplm.errors import ConversionError

    release = tmp_path / "prd2"
    run_oracle("r2d2_original.py", "write", "--out", release, "--seed", "9", "--model", "prd2")
    out = tmp_path / "model"
    zhplm.convert(release, out)
    cfg = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert cfg["joint_config"] is None and cfg["vision_config"]["num_attention_heads"] == 4
    images = list(make_images(tmp_path / "images").values())[:3]
    spec = tmp_path / "in.json"
    spec.write_text(json.dumps({"texts": TEXTS, "images": [str(p) for p in images]}), encoding="utf-8")
    run_oracle(
        "r2d2_original.py",
        "forward",
        "--ckpt",
        release,
        "--inputs",
        spec,
        "--out",
        tmp_path / "ref.npz",
        "--model",
        "prd2",
    )
    with np.load(tmp_path / "ref.npz") as npz:
        ref = {k: npz[k] for k in npz.files}
    np.testing.assert_allclose(
        ImageTransform.from_folder(out).batch(images), ref["pixels"], atol=1e-6, rtol=0
    )
    loaded = zhplm.load(out)
    enc = loaded.tokenizer(TEXTS, padding="max_length", truncation=True, max_length=64, return_tensors="pt")
    np.testing.assert_array_equal(enc["input_ids"].numpy(), ref["input_ids"])
    with torch.inference_mode():
        got = loaded.model(pixel_values=torch.from_numpy(ref["pixels"]), **enc)
    np.testing.assert_allclose(got.text_embeds.numpy(), ref["text_embeds"], atol=TOL, rtol=0)
    np.testing.assert_allclose(got.image_embeds.numpy(), ref["image_embeds"], atol=TOL, rtol=0)
    np.testing.assert_allclose(got.logits_per_image.numpy(), ref["sims"], atol=TOL * 20, rtol=0)
    sim = zhplm.pipeline("image-text-similarity", out)
    assert sim.rerank == 0 and all(m.itm is None for m in sim.text_to_image(TEXTS[0], images, k=2))
    with pytest.raises(ConversionError, match="matching"):
        sim.itm(images, TEXTS)


def test_zero_shot_probabilities_are_r2d2_softmax(
    converted: Path, reference: tuple[list[Path], dict[str, np.ndarray]]
) -> None:
    """Zero-shot classification: softmax over ``cos / temp`` (PRD2's demo prints exactly this)."""
    images, ref = reference
    clf = zhplm.pipeline("zero-shot-image-classification", converted, template="{}")
    results = clf(images, TEXTS)
    expected = np.exp(ref["sims"] - ref["sims"].max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    for row, result in zip(expected, results, strict=True):
        got = {s.label: s.score for s in result.labels}
        np.testing.assert_allclose([got[t] for t in TEXTS], row, atol=1e-4)
