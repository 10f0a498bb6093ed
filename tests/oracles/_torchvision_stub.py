"""A minimal stand-in for ``torchvision.transforms`` (oracle processes only; torchvision is never installed).

``cn_clip.clip.utils`` imports ``Compose, ToTensor, Normalize, Resize, InterpolationMode`` at module level
and builds its ``image_transform`` from them. Installing torchvision would pull a CUDA build, so
:func:`install` puts this module in ``sys.modules`` under that name before cn_clip is imported. It
implements only what cn_clip calls, for PIL inputs, with torchvision 0.2x's semantics:

* ``Resize((h, w), interpolation=BICUBIC)`` on a PIL image is ``img.resize((w, h), Image.BICUBIC)``
  (``torchvision.transforms.functional_pil.resize``; antialias does not apply to PIL);
* ``ToTensor`` on a uint8 image is ``HWC → CHW``, ``float32 / 255``;
* ``Normalize(mean, std)`` is ``(x − mean) / std`` per channel, in float32.

cn_clip's own composition (the order: resize *before* RGB conversion, no crop, its mean/std) is what the
parity tests check; these three primitives are the only part that is not the authors' code.

CogView's ``VQVAETokenizer.read_img`` also uses, on PIL images of any mode:

* ``Resize(size)`` with an int (``functional_pil.resize`` of torchvision 0.8–0.9, CogView's era, and
  ``_compute_resized_output_size`` since): the shorter side becomes ``size``, the longer ``int(size · long /
  short)``, bilinear; an image whose shorter side already is ``size`` is returned as is;
* ``CenterCrop(size)``: ``crop_top = int(round((h − size) / 2.0))``, the same for the left (no padding needed
  after such a resize);
* ``ToTensor`` on any 8-bit mode: the bytes viewed as ``[h, w, len(bands)]`` (so RGBA and CMYK give four
  channels, L one), ``CHW``, ``/ 255``;
* ``Normalize`` in place (``tensor.sub_(mean).div_(std)``), so a one-channel tensor fails against three means
  as it fails in torchvision.
"""

from __future__ import annotations

import enum
import sys
import types
from typing import Any

import numpy as np
import torch
from PIL import Image


class InterpolationMode(enum.Enum):
    NEAREST = "nearest"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"


_PIL = {
    InterpolationMode.NEAREST: Image.NEAREST,
    InterpolationMode.BILINEAR: Image.BILINEAR,
    InterpolationMode.BICUBIC: Image.BICUBIC,
}


class Compose:
    def __init__(self, transforms: list[Any]) -> None:
        self.transforms = transforms

    def __call__(self, x: Any) -> Any:
        for t in self.transforms:
            x = t(x)
        return x


class Resize:
    def __init__(self, size: Any, interpolation: InterpolationMode = InterpolationMode.BILINEAR) -> None:
        if isinstance(size, int):
            self.size: Any = size
        elif isinstance(size, (tuple, list)) and len(size) == 2:
            self.size = (int(size[0]), int(size[1]))
        else:
            raise NotImplementedError("the stub implements Resize(int) and Resize((h, w))")
        self.interpolation = interpolation

    def __call__(self, img: Image.Image) -> Image.Image:
        if isinstance(self.size, int):
            w, h = img.size
            if (w <= h and w == self.size) or (h <= w and h == self.size):
                return img
            if w < h:
                ow, oh = self.size, int(self.size * h / w)
            else:
                oh, ow = self.size, int(self.size * w / h)
            return img.resize((ow, oh), _PIL[self.interpolation])
        h, w = self.size
        return img.resize((w, h), _PIL[self.interpolation])


class CenterCrop:
    def __init__(self, size: int) -> None:
        if not isinstance(size, int):
            raise NotImplementedError("the stub implements CenterCrop(int) only, which is all CogView uses")
        self.size = size

    def __call__(self, img: Image.Image) -> Image.Image:
        w, h = img.size
        if w < self.size or h < self.size:
            raise NotImplementedError("the stub does not pad (CogView crops after resizing to the size)")
        top = round((h - self.size) / 2.0)  # torchvision: int(round(…)), the same
        left = round((w - self.size) / 2.0)
        return img.crop((left, top, left + self.size, top + self.size))


class ToTensor:
    def __call__(self, pic: Image.Image) -> torch.Tensor:
        if pic.mode in ("I", "I;16", "F", "1"):
            raise NotImplementedError(f"the stub converts 8-bit modes only, not {pic.mode}")
        bands = len(pic.getbands())
        arr = np.frombuffer(pic.tobytes(), dtype=np.uint8).copy()
        t = torch.from_numpy(arr).view(pic.size[1], pic.size[0], bands).permute((2, 0, 1)).contiguous()
        return t.to(dtype=torch.float32).div(255)


class Normalize:
    def __init__(self, mean: Any, std: Any) -> None:
        self.mean = torch.as_tensor(mean, dtype=torch.float32)
        self.std = torch.as_tensor(std, dtype=torch.float32)

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        return t.clone().sub_(self.mean[:, None, None]).div_(self.std[:, None, None])


def install() -> None:
    """Register ``torchvision`` and ``torchvision.transforms`` (this module) in ``sys.modules``."""
    if "torchvision" in sys.modules:
        return
    package = types.ModuleType("torchvision")
    package.__path__ = []  # a package, so ``from torchvision.transforms import …`` resolves
    transforms = sys.modules[__name__]
    package.transforms = transforms  # type: ignore[attr-defined]
    sys.modules["torchvision"] = package
    sys.modules["torchvision.transforms"] = transforms
    # R2D2's demo: ``from torchvision.transforms.functional import InterpolationMode``
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.InterpolationMode = InterpolationMode  # type: ignore[attr-defined]
    sys.modules["torchvision.transforms.functional"] = functional
