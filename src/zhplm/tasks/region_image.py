"""An image read as detector boxes (BriVL): its pixels and its boxes, prepared as BriVL's dataset prepares them.

BriVL's image tower pools the EfficientNet feature map over the boxes of an external object detector (BUA,
Bottom-Up-Attention, run by the authors before feature extraction; zhplm does not ship a detector). So an
image input is a :class:`BoxedImage`: the image and its boxes ``[[x1, y1, x2, y2], ...]`` in the pixels of
the upright image as read (the detector's own coordinates). :class:`RegionImageTransform` then does what
``dataset/xybDataset.py`` does: RGB, ``[0, 1]``, a bilinear resize of that tensor to the square input size
without antialiasing (torchvision 0.9's tensor ``Resize``), ImageNet mean/std; the first ``max_boxes - 1``
boxes scaled by ``size / width`` and ``size / height``, and the whole image ``[0, 0, size, size]`` appended.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zhplm.errors import ConversionError
from zhplm.tasks.images import ImageInput, Pixels, open_image

Boxes = Sequence[Sequence[float]] | np.ndarray[Any, np.dtype[Any]]


@dataclass(frozen=True)
class BoxedImage:
    """An image (a path or a ``PIL.Image``) with its detector boxes ``[[x1, y1, x2, y2], ...]``, in pixels of
    the upright image. BriVL was trained on BUA's boxes (up to 36 a picture); an empty list is allowed
    (the whole image alone is then the only region)."""

    image: ImageInput
    boxes: Boxes

    def __str__(self) -> str:
        image = self.image
        return str(image) if isinstance(image, (str, os.PathLike)) else f"<{type(image).__name__}>"


def as_boxed(item: Any) -> BoxedImage:
    """``item`` as a :class:`BoxedImage` (also from an ``(image, boxes)`` pair); a bare image is refused."""
    if isinstance(item, BoxedImage):
        return item
    if isinstance(item, tuple) and len(item) == 2:
        return BoxedImage(item[0], item[1])
    raise ConversionError(
        f"BriVL reads an image as the boxes an object detector found in it, and {item!r} comes without boxes: "
        "pass BoxedImage(image, boxes) or (image, [[x1, y1, x2, y2], ...]) with the boxes of a detector "
        "(BriVL used BUA, Bottom-Up-Attention, which zhplm does not ship)"
    )


def bilinear_resize(arr: Pixels, height: int, width: int) -> Pixels:
    """``[C, H, W]`` float32 → ``[C, height, width]``: torch's ``interpolate(mode="bilinear",
    align_corners=False)`` without antialiasing (half-pixel centres, edges clamped), in its float32 order."""

    def _axis(size_in: int, size_out: int) -> tuple[Any, Any, Any, Any]:
        scale = np.float32(size_in) / np.float32(size_out)
        src = np.maximum(
            scale * (np.arange(size_out, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5), 0
        )
        i0 = src.astype(np.int64)
        i1 = np.minimum(i0 + 1, size_in - 1)
        w1 = np.clip(src - i0.astype(np.float32), 0, 1).astype(np.float32)
        return i0, i1, (np.float32(1) - w1).astype(np.float32), w1

    h0, h1, hw0, hw1 = _axis(arr.shape[1], height)
    x0, x1, ww0, ww1 = _axis(arr.shape[2], width)
    top, bottom = arr[:, h0], arr[:, h1]
    rows0 = ww0 * top[:, :, x0] + ww1 * top[:, :, x1]
    rows1 = ww0 * bottom[:, :, x0] + ww1 * bottom[:, :, x1]
    out: Pixels = (hw0[:, None] * rows0 + hw1[:, None] * rows1).astype(np.float32)
    return out


def check_boxes(boxes: Boxes, where: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    """``[N, 4]`` finite boxes with ``x1 <= x2`` and ``y1 <= y2``, or a :class:`ConversionError` saying which."""
    try:
        arr = np.asarray(boxes, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConversionError(f"the boxes of {where} are not numbers: {exc}") from None
    if arr.size == 0:
        return np.zeros((0, 4))
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ConversionError(f"the boxes of {where} must be [[x1, y1, x2, y2], ...], got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ConversionError(f"the boxes of {where} contain NaN or infinite values")
    bad = np.nonzero((arr[:, 2] < arr[:, 0]) | (arr[:, 3] < arr[:, 1]))[0]
    if len(bad):
        raise ConversionError(
            f"box {int(bad[0])} of {where} ({arr[bad[0]].tolist()}) is not [x1, y1, x2, y2] with x1 <= x2, y1 <= y2"
        )
    return arr


@dataclass(frozen=True)
class RegionImageTransform:
    """``preprocessor_config.json`` of a BriVL folder → ``(pixels [3, size, size], boxes [n, 4])``."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    max_boxes: int

    @classmethod
    def from_folder(cls, folder: Path) -> RegionImageTransform:
        path = folder / "preprocessor_config.json"
        try:
            cfg = json.loads(path.read_text(encoding="utf-8"))
            size = cfg["size"]
            return cls(
                size=int(size["height"] if isinstance(size, dict) else size),
                mean=tuple(float(v) for v in cfg["image_mean"]),  # type: ignore[arg-type]
                std=tuple(float(v) for v in cfg["image_std"]),  # type: ignore[arg-type]
                max_boxes=int(cfg["max_boxes"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConversionError(
                f"{folder} has no usable BriVL preprocessor_config.json ({exc!r}): convert the model again"
            ) from exc

    def __call__(self, item: Any) -> tuple[Pixels, Pixels]:
        boxed = as_boxed(item)
        boxes = check_boxes(boxed.boxes, str(boxed))
        img = open_image(boxed.image).convert("RGB")
        width, height = img.size
        # ToTensor divides: the same float32 rounding
        arr = np.asarray(img, dtype=np.uint8).astype(np.float32).transpose(2, 0, 1) / np.float32(255)
        resized = bilinear_resize(np.ascontiguousarray(arr), self.size, self.size)
        mean = np.asarray(self.mean, np.float32)[:, None, None]
        std = np.asarray(self.std, np.float32)[:, None, None]
        pixels: Pixels = (resized - mean) / std
        kept = boxes[: self.max_boxes - 1]
        scale = np.asarray([self.size / width, self.size / height] * 2)
        scaled = np.concatenate([kept * scale, [[0.0, 0.0, self.size, self.size]]]).astype(np.float32)
        return pixels, scaled


def pad_boxes(boxes: Sequence[Pixels]) -> tuple[Pixels, np.ndarray[Any, np.dtype[np.int64]]]:
    """Boxes of several images → ``[B, R, 4]`` zero-padded (as BriVL pads) and the ``[B, R]`` mask of real ones."""
    most = max((len(b) for b in boxes), default=1)
    out = np.zeros((len(boxes), most, 4), np.float32)
    mask = np.zeros((len(boxes), most), np.int64)
    for i, b in enumerate(boxes):
        out[i, : len(b)] = b
        mask[i, : len(b)] = 1
    return out, mask


__all__ = ["BoxedImage", "RegionImageTransform", "as_boxed", "bilinear_resize", "check_boxes", "pad_boxes"]
