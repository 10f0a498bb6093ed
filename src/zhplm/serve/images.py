"""Images over HTTP: image-text models (texts and images embedded into one space, zero-shot classification)
and CogView's text-to-image (OpenAI's ``/v1/images/generations``, images returned inline as base64 PNG).

An image travels as a ``data:image/<type>;base64,<data>`` string wherever the routes take strings (OpenAI's
embeddings API has no image field), so one ``/v1/embeddings`` request can hold texts and images and
``/v1/similarity`` can rank images for a text. Images are never fetched from URLs (the server makes no
outbound requests). Each image is decoded, checked against the pixel limit from its header before decoding,
and reduced to the model's input size at once, so a request holds at most one full-size image at a time.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zhplm.errors import ImageError, RequestError, ZhplmError

DATA_URL = re.compile(r"data:image/[A-Za-z0-9.+-]{1,32};base64,", re.ASCII)
IMAGE_PREFIX = "data:image/"


def is_image(item: str) -> bool:
    """Whether an input string is an image (a ``data:image/…`` URL) rather than a text."""
    return item[: len(IMAGE_PREFIX)].lower() == IMAGE_PREFIX


def image_bytes(item: str, where: str) -> bytes:
    """The file bytes of a ``data:image/<type>;base64,<data>`` string; 422 naming ``where`` otherwise."""
    match = DATA_URL.match(item)
    if match is None:
        raise RequestError(422, f"{where}: an image is sent as 'data:image/<type>;base64,<data>'")
    try:
        return base64.b64decode(item[match.end() :], validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(422, f"{where}: the image's base64 data is not valid base64") from None


@dataclass
class ImageTextModel:
    """The resident of an image-text model (``zhplm.tasks.image_text.ClipEncoder``): every vector it returns
    is L2-normalised, texts and images alike, so a dot product is their cosine."""

    encoder: Any
    max_pixels: int
    max_images: int

    @property
    def takes_images(self) -> bool:
        """BriVL reads images as detector boxes, which a data URL does not carry: texts only."""
        return not self.encoder.needs_boxes

    def pixels(self, item: str, where: str) -> Any:
        """One image string → the model's input pixels (422 naming ``where`` when it cannot be read)."""
        from zhplm.tasks.images import open_image

        if not self.takes_images:
            raise RequestError(
                422,
                f"{where}: this model reads images as detector boxes (BriVL): the server embeds its texts only; "
                "use zhplm.pipeline('image-text-similarity', …) with BoxedImage inputs",
            )
        data = image_bytes(item, where)
        try:
            return self.encoder.transform(open_image(data, max_pixels=self.max_pixels))
        except ImageError as exc:
            raise RequestError(422, f"{where}: {exc.reason}") from None

    def embed(self, items: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        """Texts and image strings → one normalised row each, in input order."""
        images = [i for i, item in enumerate(items) if is_image(item)]
        if len(images) > self.max_images:
            raise RequestError(422, f"{len(images)} images; the limit is {self.max_images} per request")
        pixels = [self.pixels(items[i], f"input {i}") for i in images]  # every image checked before a forward
        texts = sorted(set(range(len(items))) - set(images))
        try:
            text_rows = self.encoder.text_features([items[i] for i in texts])
            image_rows = self.encoder.pixel_features(np.stack(pixels)) if pixels else None
        except ZhplmError as exc:
            raise RequestError(422, str(exc)) from None
        rows = np.zeros((len(items), text_rows.shape[1]), np.float32)
        rows[texts] = text_rows
        if image_rows is not None:
            rows[images] = image_rows
        return rows

    def classify(self, image: str, labels: Sequence[str], template: str | None) -> list[tuple[str, float]]:
        """``(label, probability)`` best first: softmax over ``logit_scale · cos`` of the label prompts."""
        from zhplm.tasks.image_text import ZeroShotImageClassification

        pixels = self.pixels(image, "image")
        try:
            clf = ZeroShotImageClassification(self.encoder, **({"template": template} if template else {}))
            result = clf.scores(pixels[None], labels)
        except ZhplmError as exc:
            raise RequestError(422, str(exc)) from None
        return [(s.label, s.score) for s in result[0]]


SIZE = re.compile(r"(\d{1,5})x(\d{1,5})", re.ASCII)
CODE_PIXELS = 8  # CogView's VQ-VAE: one code per 8×8 pixels


@dataclass
class ImageGenerator:
    """The resident of a CogView model (``zhplm.tasks.text_to_image.TextToImage``, loaded at the largest image
    its positions hold, up to the release's 256×256); ``size`` may ask for a smaller square."""

    pipeline: Any

    @classmethod
    def load(cls, folder: Path, *, allow_slow: bool, **load_options: Any) -> ImageGenerator:
        from zhplm.tasks.text_to_image import TextToImage

        return cls(TextToImage.from_model(folder, grid=None, allow_slow=allow_slow, **load_options))

    def grid_for(self, size: str | None) -> int:
        """``"WxH"`` → codes per side: square, a multiple of 8 pixels, at most the loaded size (every smaller
        grid fits too); 422 otherwise."""
        loaded = int(self.pipeline.grid)
        if size is None:
            return loaded
        match = SIZE.fullmatch(size)
        side = int(match.group(1)) if match and match.group(1) == match.group(2) else 0
        if side % CODE_PIXELS or not 0 < side // CODE_PIXELS <= loaded:
            largest = loaded * CODE_PIXELS
            raise RequestError(
                422,
                f"size {size[:20]!r}: this model draws squares of a multiple of 8 pixels up to {largest}x{largest}",
            )
        return side // CODE_PIXELS

    def generate(self, prompt: str, n: int, grid: int, seed: int | None) -> list[str]:
        """``n`` images for ``prompt`` as base64 PNG (seeded: the original's draw for that seed)."""
        try:
            images = self.pipeline.with_grid(grid)(prompt, num_images=n, seed=seed)
        except ZhplmError as exc:
            raise RequestError(422, str(exc)) from None
        encoded = []
        for item in images:
            buf = io.BytesIO()
            item.image.save(buf, format="PNG")
            encoded.append(base64.b64encode(buf.getvalue()).decode())
        return encoded
