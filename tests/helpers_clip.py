"""Shared by the Chinese-CLIP tests: a tiny release written by cn_clip itself (once per session), its converted
folder, and real image files in many modes, sizes and formats (made here with Pillow)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

import zhplm
from oracle import run_oracle


@pytest.fixture(scope="session")
def clip_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``clip_cn_tiny.pt`` (cn_clip's CLIP, ViT 128 wide × 2 layers, 32 px, patch 8; text 128 × 2, cn_clip's real
    21128-token vocab) + ``vocab.txt`` + ``model_info.json``, as the oracle writes them."""
    out = tmp_path_factory.mktemp("cnclip") / "release"
    run_oracle("cnclip_original.py", "write", "--out", out, "--seed", "7")
    return out


@pytest.fixture(scope="session")
def clip_model(clip_release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cnclip-out") / "model"
    result = zhplm.convert(clip_release, out)  # detected, no config: sized from the tensors
    assert result.arch == "chinese_clip", result.notes
    assert result.architectures == ["ChineseCLIPModel"]
    return out


def _pattern(h: int, w: int, seed: int) -> np.ndarray:
    """An image with structure (gradients + noise + a bright square off-centre) so a wrong resize, crop,
    rotation or channel order changes the pixels."""
    r = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([255 * x / max(w - 1, 1), 255 * y / max(h - 1, 1), 128 + 60 * np.sin(x / 3.0)], -1)
    img = img + r.normal(0, 20, img.shape)
    img[h // 5 : h // 5 + h // 4, w // 6 : w // 6 + w // 3] = [250, 30, 40]
    return np.clip(img, 0, 255).astype(np.uint8)


def make_images(folder: Path) -> dict[str, Path]:
    """Real files of different formats, sizes and modes; ``exif_rotated.jpg`` carries orientation 6."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rgb = Image.fromarray(_pattern(48, 64, 1))
    files: dict[str, Path] = {}

    def save(name: str, img: Image.Image, **kw: object) -> None:
        files[name] = folder / name
        img.save(files[name], **kw)

    save("rgb.jpg", rgb, quality=90)
    save("small_rgb.png", Image.fromarray(_pattern(17, 23, 2)))
    save("wide.webp", Image.fromarray(_pattern(30, 120, 3)), quality=95)
    save("gray.png", Image.fromarray(_pattern(50, 20, 4)).convert("L"))
    save("cmyk.jpg", Image.fromarray(_pattern(40, 40, 5)).convert("CMYK"), quality=92)
    rgba = Image.fromarray(_pattern(36, 52, 6)).convert("RGBA")
    alpha = np.full((36, 52), 255, np.uint8)
    alpha[:, :20] = 0
    alpha[10:20, 30:40] = 128
    rgba.putalpha(Image.fromarray(alpha))
    save("alpha.png", rgba)
    save("palette.gif", Image.fromarray(_pattern(33, 45, 7)).convert("P", palette=Image.Palette.ADAPTIVE))
    save("big.bmp", Image.fromarray(_pattern(300, 200, 8)))
    save("gray16.tif", Image.fromarray(_pattern(45, 30, 11)[..., 0].astype(np.uint16) * 257))
    save("bilevel.png", Image.fromarray(_pattern(29, 41, 12)).convert("1"))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    save("exif_rotated.jpg", Image.fromarray(_pattern(40, 70, 9)), exif=exif.tobytes(), quality=90)
    return files


def write_broken(folder: Path) -> dict[str, Path]:
    """A text file named like an image, a truncated JPEG and an empty PNG."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    notes = folder / "notes.jpg"
    notes.write_text("这不是图片", encoding="utf-8")
    buf = io.BytesIO()
    Image.fromarray(_pattern(64, 64, 10)).save(buf, format="JPEG")
    truncated = folder / "truncated.jpg"
    truncated.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    empty = folder / "empty.png"
    empty.write_bytes(b"")
    return {"notes.jpg": notes, "truncated.jpg": truncated, "empty.png": empty}


def cn_clip_pixels(files: list[Path], size: int, out: Path, *, exif_transpose: bool = False) -> np.ndarray:
    """cn_clip's ``image_transform(size)`` on the files (in .venv-ref)."""
    args: list[str | Path] = ["preprocess", "--size", str(size), "--out", out]
    if exif_transpose:
        args.append("--exif-transpose")
    run_oracle("cnclip_original.py", *args, *files)
    with np.load(out) as data:
        return np.asarray(data["pixels"])


def cn_clip_forward(ckpt: Path, pixels: np.ndarray, texts: list[str], tmp: Path) -> dict[str, np.ndarray]:
    """cn_clip's features and logits for ``pixels`` and ``texts`` (tokenized by ``cn_clip.clip.tokenize``)."""
    np.save(tmp / "pixels.npy", pixels.astype(np.float32))
    spec = {"texts": texts, "pixels": str(tmp / "pixels.npy")}
    (tmp / "in.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    run_oracle(
        "cnclip_original.py", "forward", "--ckpt", ckpt, "--inputs", tmp / "in.json", "--out", tmp / "ref.npz"
    )
    with np.load(tmp / "ref.npz") as data:
        return {k: np.asarray(data[k]) for k in data.files}


def cn_clip_reference(release: Path, files: list[Path], texts: list[str], tmp: Path) -> dict[str, np.ndarray]:
    """cn_clip end to end: its transform of ``files`` (32 px, the tiny release's size), then its forward."""
    return cn_clip_forward(release, cn_clip_pixels(files, 32, tmp / "pix.npz"), texts, tmp)
