"""Chinese-CLIP (arch ``chinese_clip``) against the authors' package ``cn-clip`` 1.6.0 (in .venv-ref).

cn_clip's own ``CLIP`` class with a tiny config writes a release-style ``clip_cn_tiny.pt`` (``{"state_dict":
{"module.visual.*" (fused in_proj), "module.bert.*", "module.text_projection", "module.logit_scale"}}``);
zhplm detects and converts it to transformers' ``ChineseCLIPModel``; image features, text features and logits
must match cn_clip's ``encode_image`` / ``encode_text`` / ``get_similarity`` on the same inputs within 1e-4,
the token ids must equal ``cn_clip.clip.tokenize``'s, and zhplm's Pillow + numpy preprocessing must equal
cn_clip's ``image_transform`` on real files of several formats, sizes and modes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import zhplm
from helpers_clip import clip_model, clip_release, cn_clip_forward, cn_clip_pixels, make_images
from oracle import run_oracle
from zhplm.errors import ConversionError
from zhplm.tasks.images import ImageTransform

__all__ = ["clip_model", "clip_release"]  # session fixtures, shared with test_image_text.py

TOL = 1e-4
TEXTS = [
    "一张猫的照片",
    "Hello 世界, THIS is Mixed Case!",  # cn_clip lower-cases; English words go through WordPiece
    "北京" * 40,  # longer than the 52-token context: truncated to [CLS] + 50 + [SEP]
    "？！。，",
]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_images(tmp_path_factory.mktemp("images"))


def test_conversion_layout(clip_model: Path) -> None:
    import json

    cfg = json.loads((clip_model / "config.json").read_text(encoding="utf-8"))
    assert cfg["model_type"] == "chinese_clip"
    assert cfg["projection_dim"] == 32
    assert cfg["vision_config"]["num_attention_heads"] == 2  # 128 wide, cn_clip's 64-wide heads
    assert cfg["vision_config"]["image_size"] == 32
    pre = json.loads((clip_model / "preprocessor_config.json").read_text(encoding="utf-8"))
    assert pre["size"] == {"height": 32, "width": 32} and pre["do_center_crop"] is False
    assert (clip_model / "vocab.txt").exists()


def test_preprocessing_equals_cn_clip(clip_model: Path, images: dict[str, Path], tmp_path: Path) -> None:
    transform = ImageTransform.from_folder(clip_model)
    upright = [p for n, p in images.items() if n != "exif_rotated.jpg"]
    ref = cn_clip_pixels(upright, 32, tmp_path / "ref.npz")
    ours = transform.batch(upright)
    assert ours.shape == ref.shape == (len(upright), 3, 32, 32)
    for name, a, b in zip([p.name for p in upright], ours, ref, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=0, err_msg=name)
    # at another input size too (ViT-L-14-336's 336, scaled down)
    ref_48 = cn_clip_pixels(upright[:3], 48, tmp_path / "ref48.npz")
    np.testing.assert_allclose(
        ImageTransform(48, 48, transform.mean, transform.std).batch(upright[:3]), ref_48, atol=1e-6, rtol=0
    )


def test_exif_orientation_is_applied(clip_model: Path, images: dict[str, Path], tmp_path: Path) -> None:
    """cn_clip ignores EXIF orientation; zhplm turns the image upright first, then preprocesses as cn_clip."""
    rotated = images["exif_rotated.jpg"]
    ours = ImageTransform.from_folder(clip_model)(rotated)
    upright_ref = cn_clip_pixels([rotated], 32, tmp_path / "up.npz", exif_transpose=True)[0]
    raw_ref = cn_clip_pixels([rotated], 32, tmp_path / "raw.npz")[0]
    np.testing.assert_allclose(ours, upright_ref, atol=1e-6, rtol=0)
    assert np.abs(ours - raw_ref).max() > 0.5  # the orientation really changed the pixels


def test_features_and_logits_match_cn_clip(
    clip_release: Path, clip_model: Path, images: dict[str, Path], tmp_path: Path
) -> None:
    import torch

    loaded = zhplm.load(clip_model)
    pixels = ImageTransform.from_folder(clip_model).batch(list(images.values()))
    ref = cn_clip_forward(clip_release, pixels, TEXTS, tmp_path)
    enc = loaded.tokenizer(TEXTS, padding="max_length", truncation=True, max_length=52, return_tensors="pt")
    np.testing.assert_array_equal(enc["input_ids"].numpy(), ref["input_ids"])
    model = loaded.model
    with torch.inference_mode():
        pv = torch.from_numpy(pixels)
        image = model.get_image_features(pixel_values=pv).pooler_output.numpy()
        text = model.get_text_features(**enc).pooler_output.numpy()
        out = model(pixel_values=pv, **enc)
    # the features must be trained-scale different from each other (a mapping error would not hide here)
    assert np.abs(ref["image_features"]).max() > 0.1 and np.abs(ref["text_features"]).max() > 0.1
    np.testing.assert_allclose(image, ref["image_features"], atol=TOL, rtol=0)
    np.testing.assert_allclose(text, ref["text_features"], atol=TOL, rtol=0)
    np.testing.assert_allclose(out.logits_per_image.numpy(), ref["logits_per_image"], atol=TOL, rtol=0)
    np.testing.assert_allclose(model.logit_scale.exp().item(), ref["logit_scale"], rtol=1e-6)


def test_cn_clip_model_config_sets_head_width(tmp_path: Path) -> None:
    """Heads are not stored in tensors: cn_clip's vision config file (as ViT-H-14.json says 80) decides."""
    import json
    import shutil

    release = tmp_path / "release"
    run_oracle("cnclip_original.py", "write", "--out", release, "--seed", "3", "--head-width", "32")
    info = json.loads((release / "model_info.json").read_text(encoding="utf-8"))
    vision_keys = ("embed_dim", "image_resolution", "vision_layers", "vision_width", "vision_patch_size")
    vit = {k: info[k] for k in vision_keys} | {"vision_head_width": 32}
    (release / "ViT-tiny.json").write_text(json.dumps(vit), encoding="utf-8")
    out = tmp_path / "model"
    zhplm.convert(release, out, arch="chinese_clip")
    cfg = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert cfg["vision_config"]["num_attention_heads"] == 4
    pixels = np.random.default_rng(0).normal(size=(2, 3, 32, 32)).astype(np.float32)
    ref = cn_clip_forward(release, pixels, TEXTS[:1], tmp_path)
    import torch

    model = zhplm.load(out).model
    with torch.inference_mode():
        image = model.get_image_features(pixel_values=torch.from_numpy(pixels)).pooler_output.numpy()
    np.testing.assert_allclose(image, ref["image_features"], atol=TOL, rtol=0)
    shutil.rmtree(out)


def test_rn50_is_refused_with_the_reason(tmp_path: Path) -> None:
    release = tmp_path / "rn50"
    run_oracle("cnclip_original.py", "write", "--out", release, "--flavor", "rn50", "--vision-width", "32")
    with pytest.raises(ConversionError, match=r"RN50.*ModifiedResNet.*ViT"):
        zhplm.convert(release / "clip_cn_tiny.pt", tmp_path / "out", arch="chinese_clip")
    assert not (tmp_path / "out").exists()
