"""Images → CogView image codes: the original's ``VQVAETokenizer.read_img`` + ``api.img2code``, without torchvision.

``read_img`` (``data_utils/vqvae_tokenizer.py`` of THUDM/CogView) is ``Resize(256)`` (the shorter side to 256,
bilinear, the longer side ``int(256 · long / short)``), ``CenterCrop(256)`` (offsets ``round((side − 256) / 2)``),
``ToTensor`` (÷ 255), the fourth channel dropped, then ``Normalize`` with the VQ-VAE's mean/std. Here it is
done with Pillow + numpy in the same order and float32 arithmetic, so the codes are the original's.

Two things the original does not do, both before its steps (which then run unchanged): the image is turned
upright by its EXIF orientation (the original encodes a phone photo sideways), and an image whose mode is not
RGB or RGBA is converted to RGB first (the original cannot read grayscale, palette or 16-bit images — one
channel fails its three-channel ``Normalize`` — and takes CMYK's C, M, Y as R, G, B). RGBA is resized with
its alpha as the original resizes it, then the alpha is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zhplm.errors import ConversionError, ImageError
from zhplm.tasks.images import ImageInput, Pixels, _pil, open_image

SIZE = 256  # generate_samples.py: img_size 256 for every task but low-level super-resolution
MEAN = (0.79093, 0.76271, 0.75340)  # vqvae_tokenizer.read_img's Normalize
STD = (0.30379, 0.32279, 0.32800)
MAX_RESIZED_PIXELS = 1 << 24  # a 1×100000 strip would be resized to 256×25.6M pixels: refuse, not swap


def cogview_pixels(image: ImageInput, size: int = SIZE) -> Pixels:
    """One image as the VQ-VAE reads it: float32 ``[3, size, size]``, normalised (see the module)."""
    Image = _pil()
    img = open_image(image)
    name = str(image) if isinstance(image, (str, Path)) else "the image"
    if img.mode not in ("RGB", "RGBA"):
        try:
            img = img.convert("RGB")
        except ValueError as exc:  # modes Pillow has no RGB conversion for (e.g. "La")
            raise ImageError(name, f"its {img.mode} pixels have no RGB conversion ({exc})") from None
    w, h = img.size
    # torchvision Resize(int) on a PIL image: the shorter side to ``size``, the longer one truncated
    ow, oh = (size, int(size * h / w)) if w <= h else (int(size * w / h), size)
    if ow * oh > MAX_RESIZED_PIXELS:
        raise ImageError(
            name, f"its {w}×{h} aspect ratio would be resized to {ow}×{oh} pixels: crop it first"
        )
    if (ow, oh) != (w, h):
        img = img.resize((ow, oh), Image.BILINEAR)
    left, top = round((ow - size) / 2.0), round((oh - size) / 2.0)  # CenterCrop's offsets
    img = img.crop((left, top, left + size, top + size))
    arr = np.asarray(img, dtype=np.uint8)[..., :3].astype(np.float32) / np.float32(255)
    mean = np.asarray(MEAN, np.float32)[:, None, None]
    std = np.asarray(STD, np.float32)[:, None, None]
    out: Pixels = (arr.transpose(2, 0, 1) - mean) / std
    return out


class CogViewImageTokenizer:
    """Images → CogView's image tokens (ids ``0 … n_embed−1`` of the unified vocabulary, 32×32 = 1024 each).

    ``zhplm.tasks.image_codes.CogViewImageTokenizer.from_model("cogview")(["cat.jpg"])`` → ``[[code, …]]``."""

    def __init__(self, vqvae: Any, *, size: int = SIZE) -> None:
        if not vqvae.has_encoder:
            raise ConversionError(
                "this VQ-VAE holds the decoder half only (a folder converted by an older zhplm): convert the "
                "model again with vqvae_hard_biggerset_011.pt beside it"
            )
        if size <= 0 or size % 8:
            raise ConversionError(f"the image size must be a positive multiple of 8, got {size}")
        self.vqvae = vqvae
        self.size = size

    @classmethod
    def from_model(cls, model: str | Path, *, vqvae: str | Path | None = None, size: int = SIZE) -> Any:
        """From a converted CogView folder (or catalog id); ``vqvae=`` a ``.pt``/``.safetensors`` instead."""
        from zhplm.loader import resolve_model_dir

        path = Path(vqvae) if vqvae is not None else resolve_model_dir(model) / "vqvae.safetensors"
        return cls(load_vqvae(path, encoder=True), size=size)

    @property
    def side(self) -> int:
        """Codes per image side (32 for 256 pixels)."""
        return self.size // 8

    def pixels(self, images: Sequence[ImageInput]) -> Pixels:
        """The normalised pixels ``[B, 3, size, size]`` (an unreadable image raises :class:`ImageError`)."""
        if not images:
            return np.zeros((0, 3, self.size, self.size), np.float32)
        return np.stack([cogview_pixels(i, self.size) for i in images])

    def codes(self, pixels: Pixels) -> Any:
        """Normalised pixels → codes ``[B, side·side]`` (a ``torch.LongTensor``, row-major as img2code's).

        One image per pass, as ``parse_query`` encodes them: a batch could take other kernels whose last-bit
        differences move near-tie codes."""
        import torch

        param = next(self.vqvae.parameters())
        x = torch.from_numpy(np.ascontiguousarray(pixels)).to(param.device, param.dtype)
        with torch.inference_mode():
            rows = [self.vqvae.encode(x[i : i + 1]).reshape(1, -1) for i in range(x.shape[0])]
        return torch.cat(rows) if rows else torch.zeros(0, self.side * self.side, dtype=torch.long)

    def __call__(self, images: Sequence[ImageInput] | ImageInput) -> list[list[int]]:
        """Image files (or PIL images) → one list of codes per image."""
        batch = list(images) if isinstance(images, (list, tuple)) else [images]
        out: list[list[int]] = self.codes(self.pixels(batch)).tolist()
        return out


def load_vqvae(path: Path, *, encoder: bool | None = None) -> Any:
    """``vqvae.safetensors`` of a converted folder, or the authors' ``.pt`` (read without unpickling code)."""
    from zhplm.arch.modeling.cogview_vqvae import CogViewVQVAE

    if not path.is_file():
        raise ConversionError(
            f"no VQ-VAE at {path}: copy the authors' vqvae_hard_biggerset_011.pt beside the weights and "
            "convert again, or pass vqvae=PATH (--vqvae) to the .pt file"
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            import torch

            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # damaged or hostile files
        raise ConversionError(f"{path} is not a readable VQ-VAE checkpoint ({exc})") from exc
    if not isinstance(state, dict):
        raise ConversionError(f"{path} holds a {type(state).__name__}, not a VQ-VAE state dict")
    return CogViewVQVAE.from_state_dict(state, encoder=encoder)


__all__ = ["MEAN", "SIZE", "STD", "CogViewImageTokenizer", "cogview_pixels", "load_vqvae"]
