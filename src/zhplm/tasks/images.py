"""Reading images and turning them into model inputs with Pillow + numpy (never torchvision).

:func:`open_image` reads any format Pillow knows, turns it upright by its EXIF orientation and says which
file is unreadable and why (:class:`~zhplm.errors.ImageError`). :class:`ImageTransform` is the
preprocessing a converted folder's ``preprocessor_config.json`` describes, applied as Chinese-CLIP's
``cn_clip.clip.utils.image_transform`` applies it: resize the whole image to the input size in its own
mode (bicubic; Pillow itself resizes palette and 1-bit images with nearest neighbours), *then* convert to
RGB (an alpha channel is dropped, CMYK and grayscale are converted by Pillow), scale to [0, 1] and
normalise. There is no crop: cn_clip squashes the image to a square, and so do we.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zhplm.errors import ConversionError, ImageError, MissingDependencyError

Pixels = np.ndarray[Any, np.dtype[np.float32]]
ImageInput = str | os.PathLike[str] | Any  # a path, the bytes of an image file, or a PIL.Image.Image


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError as exc:
        raise MissingDependencyError("Pillow", "image", "read images") from exc
    return Image


def open_image(source: ImageInput, *, max_pixels: int | None = None) -> Any:
    """A decoded, upright ``PIL.Image`` from a path, the bytes of an image file, or an image (as is). Missing,
    truncated, corrupt and non-image inputs raise :class:`ImageError` naming the file; so does one over
    ``max_pixels`` (checked from the header, before decoding) or over Pillow's decompression-bomb limit."""
    Image = _pil()
    from PIL import ImageOps

    if isinstance(source, Image.Image):
        return ImageOps.exif_transpose(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _decode(io.BytesIO(source), "<image bytes>", max_pixels)
    path = Path(source)
    if not path.is_file():
        raise ImageError(str(path), "no such file" if not path.exists() else "not a file")
    return _decode(path, str(path), max_pixels)


def _decode(source: Path | io.BytesIO, name: str, max_pixels: int | None) -> Any:
    Image = _pil()
    from PIL import ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as img:
                width, height = img.size
                if max_pixels is not None and width * height > max_pixels:
                    raise ImageError(name, f"{width}x{height} is over the limit of {max_pixels:,} pixels")
                img.load()
                upright = ImageOps.exif_transpose(img)
                # exif_transpose returns a copy only when it turned the image; keep one that outlives the file
                return upright if upright is not img else img.copy()
    except Image.UnidentifiedImageError:
        raise ImageError(name, "not an image Pillow can identify") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(name, f"too many pixels ({exc})") from None
    except ImageError:  # over max_pixels (an ImageError is a ValueError: not "corrupt" below)
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # truncated or corrupt data
        raise ImageError(name, f"corrupt or truncated image data ({exc})") from None


@dataclass(frozen=True)
class ImageTransform:
    """``preprocessor_config.json`` → the pixels a model takes: float32 ``[3, size, size]``."""

    height: int
    width: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resample: int = 3  # PIL bicubic
    rescale: float = 1 / 255

    @classmethod
    def from_folder(cls, folder: Path) -> ImageTransform:
        path = folder / "preprocessor_config.json"
        try:
            cfg = json.loads(path.read_text(encoding="utf-8"))
            size = cfg["size"]
            if isinstance(size, dict) and "height" not in size:
                raise ConversionError(
                    f"{path} asks for a {sorted(size)} resize (transformers' shortest-edge + crop): zhplm applies "
                    "Chinese-CLIP's own transform (the whole image resized to a square); convert the original "
                    "release with zhplm, which writes that preprocessor_config.json"
                )
            height, width = (size, size) if isinstance(size, int) else (size["height"], size["width"])
            return cls(
                height=int(height),
                width=int(width),
                mean=tuple(float(v) for v in cfg["image_mean"]),  # type: ignore[arg-type]
                std=tuple(float(v) for v in cfg["image_std"]),  # type: ignore[arg-type]
                resample=int(cfg.get("resample", 3)),
                rescale=float(cfg.get("rescale_factor", 1 / 255)),
            )
        except ConversionError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConversionError(
                f"{folder} has no usable preprocessor_config.json ({exc!r}): convert the model again"
            ) from exc

    def __call__(self, image: ImageInput) -> Pixels:
        img = open_image(image)
        resized = img.resize((self.width, self.height), self.resample).convert("RGB")
        # divided, not multiplied by 1/255: the same float32 rounding as torchvision's ToTensor
        arr = np.asarray(resized, dtype=np.uint8).astype(np.float32) / np.float32(1 / self.rescale)
        mean = np.asarray(self.mean, np.float32)[:, None, None]
        std = np.asarray(self.std, np.float32)[:, None, None]
        out: Pixels = (arr.transpose(2, 0, 1) - mean) / std
        return out

    def batch(self, images: Sequence[ImageInput]) -> Pixels:
        """Several images, stacked (any unreadable one raises)."""
        if not images:
            return np.zeros((0, 3, self.height, self.width), np.float32)
        return np.stack([self(i) for i in images])
