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
        if not (isinstance(size, (tuple, list)) and len(size) == 2):
            raise NotImplementedError("the stub implements Resize((h, w)) only, which is all cn_clip uses")
        self.size = (int(size[0]), int(size[1]))
        self.interpolation = interpolation

    def __call__(self, img: Image.Image) -> Image.Image:
        h, w = self.size
        return img.resize((w, h), _PIL[self.interpolation])


class ToTensor:
    def __call__(self, pic: Image.Image) -> torch.Tensor:
        if pic.mode != "RGB":
            raise NotImplementedError("the stub converts RGB images only (cn_clip converts before ToTensor)")
        arr = np.array(pic, dtype=np.uint8, copy=True)
        t = torch.from_numpy(arr).view(pic.size[1], pic.size[0], 3).permute((2, 0, 1)).contiguous()
        return t.to(dtype=torch.float32).div(255)


class Normalize:
    def __init__(self, mean: Any, std: Any) -> None:
        self.mean = torch.as_tensor(mean, dtype=torch.float32)
        self.std = torch.as_tensor(std, dtype=torch.float32)

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        return t.sub(self.mean[:, None, None]).div(self.std[:, None, None])


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
