"""Text → image with CogView: ``zhplm.pipeline("text-to-image", ID)`` and ``zhplm text-to-image``.

The prompt is CogView's own text-to-image template (``generate_samples.py``: ``[ROI1] {text} [BASE] [BOI1]``
followed by the ``[MASK]*1024`` image to fill). The image codes are sampled by transformers' ``generate``
with the original ``filling_sequence`` defaults and order (``scripts/text2image.sh``: temperature 1, top-k
200, no top-p): logits / temperature, every non-image id forbidden while the image is written (the original's
``invalid_slices``: ids from the VQ-VAE's codebook size up), top-k, softmax, one multinomial draw per step.
This draws the same random numbers as the original's loop, so a seed gives the original's tokens (several
images: the original's batch draw, :mod:`zhplm.tasks._cogview`). The codes go through the VQ-VAE decoder (``vqvae.safetensors`` written at conversion) to pixels, and
to a PIL image as the original's ``save_image(…, normalize=True)`` scales each image: min–max to 0–255.

At full size this is 1024 sequential steps of a 4B model: about 70 minutes per image on a 2-core CPU (the
catalog row's measurement). :meth:`TextToImage.from_model` says the expected time before any weight is read
and refuses models that would take longer than :data:`SLOW_SECONDS` unless ``allow_slow=True``.

Dense attention throughout, as every released inference script runs (``--is-sparse 0``; sparse attention is a
pretraining option). CogView's super-resolution (its ``[ROI2]`` position restart and
9-window ``magnify`` loop) is not implemented; image2text and post-selection are :mod:`zhplm.tasks.image_to_text`.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zhplm.errors import ConversionError, TooSlowError
from zhplm.tasks import _cogview
from zhplm.tasks.image_codes import load_vqvae

log = logging.getLogger(__name__)

TEMPLATE = "[ROI1] {} [BASE] [BOI1]"  # generate_samples.py text2image, before its [MASK]*1024
GRID = 32  # the release writes 32×32 codes (256×256 pixels)
TOP_K = 200  # scripts/text2image.sh
TEMPERATURE = 1.0
# measured: 4.1 s per cached token for the 4B model (48 layers, width 2560), fp32, 2 shared AMD EPYC cores
SECONDS_PER_PARAMETER_TOKEN = 4.1 / 3.8e9
SLOW_SECONDS = 120.0


def expected_seconds(config: dict[str, Any], tokens: int) -> float:
    """CPU time one image should take: parameters (12·layers·width² + embeddings) × tokens × measured rate."""
    layers, hidden = int(config.get("num_layers", 0)), int(config.get("hidden_size", 0))
    params = 12 * layers * hidden * hidden + int(config.get("vocab_size", 0)) * hidden
    return params * tokens * SECONDS_PER_PARAMETER_TOKEN


def fits(config: dict[str, Any], grid: int) -> bool:
    """Whether a ``grid``×``grid`` image (and its prompt's command tokens) fits the model's positions."""
    return grid > 0 and grid * grid + 8 <= int(config.get("max_position_embeddings", 0))


def largest_grid(config: dict[str, Any], most: int = GRID) -> int:
    """The largest grid up to ``most`` (the release's 32) that fits the model; 0 if none does."""
    return next((g for g in range(most, 0, -1) if fits(config, g)), 0)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} minutes" if seconds >= 90 else f"{seconds:.0f} seconds"


@dataclass
class GeneratedImage:
    """One sampled image: the PIL image, its VQ-VAE codes (``[side, side]``) and the float pixels (0–1-ish)."""

    image: Any
    codes: list[list[int]]
    pixels: Any = field(repr=False)


class TextToImage:
    """CogView text-to-image over a converted folder (model, unified tokenizer, VQ-VAE decoder)."""

    def __init__(self, model: Any, tokenizer: Any, decoder: Any, *, grid: int = GRID) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.decoder = decoder
        self.grid = grid
        self.image_tokens = int(decoder.n_embed)
        if int(getattr(tokenizer, "image_tokens", self.image_tokens)) != self.image_tokens:
            raise ConversionError(
                f"the tokenizer counts {tokenizer.image_tokens} image codes, the VQ-VAE {self.image_tokens}: "
                "convert the model again with its own VQ-VAE"
            )

    @classmethod
    def from_model(
        cls,
        model: str | Path,
        *,
        vqvae: str | Path | None = None,
        grid: int | None = GRID,
        allow_slow: bool = False,
        **load_options: Any,
    ) -> TextToImage:
        """Check the folder and the expected time first (no weights read), then load model and VQ-VAE.
        ``grid=None``: the largest image the model's positions hold, up to the release's 32×32 codes."""
        folder, config = _cogview.open_folder(model, "text-to-image")
        grid = largest_grid(config) if grid is None else grid
        if not fits(config, grid):
            raise ConversionError(
                f"a {grid}×{grid} image does not fit CogView's {config.get('max_position_embeddings')} "
                "positions: give a smaller grid"
            )
        seconds = expected_seconds(config, grid * grid)
        device = str(load_options.get("device") or "cpu")
        if seconds > SLOW_SECONDS and device.startswith("cpu") and not allow_slow:
            raise TooSlowError(
                f"one {grid * 8}×{grid * 8} image from this model is {grid * grid} sequential steps of a "
                f"{config.get('num_layers')}-layer, {config.get('hidden_size')}-wide GPT: expect about "
                f"{_minutes(seconds)} on this CPU (measured 4.1 s per token for the 4B release on 2 cores) and "
                "about 16 GB of memory. Run it on a GPU (device='cuda'), or pass allow_slow=True "
                "(--allow-slow) to start anyway"
            )
        if seconds > SLOW_SECONDS:
            log.warning("text-to-image: expect about %s per image on %s", _minutes(seconds), device)
        path = Path(vqvae) if vqvae is not None else folder / "vqvae.safetensors"
        decoder = load_vqvae(path)
        loaded = _cogview.load_model(folder, **load_options)
        decoder = decoder.to(loaded.model.device)
        return cls(loaded.model, loaded.tokenizer, decoder, grid=grid)

    def with_grid(self, grid: int) -> TextToImage:
        """The same loaded model and VQ-VAE drawing ``grid``×``grid`` codes (the caller checked it fits)."""
        return self if grid == self.grid else TextToImage(self.model, self.tokenizer, self.decoder, grid=grid)

    def prompt_ids(self, text: str) -> list[int]:
        """``[ROI1] text [BASE] [BOI1]`` as the original's ``parse_query`` encodes it."""
        if not text.strip():
            raise ConversionError("the text-to-image prompt is empty: describe the image, e.g. 一只猫")
        return list(self.tokenizer(TEMPLATE.format(text.replace("\t", " ")))["input_ids"])

    def sample_codes(
        self,
        text: str,
        *,
        num_images: int = 1,
        seed: int | None = None,
        top_k: int = TOP_K,
        temperature: float = TEMPERATURE,
    ) -> Any:
        """Image codes ``[num_images, grid·grid]`` sampled by ``generate`` under the image-only constraint."""
        import torch

        if temperature <= 0 or top_k < 0 or num_images < 1:
            raise ConversionError("give temperature > 0, top_k ≥ 0 (0: no top-k) and num_images ≥ 1")
        ids = torch.tensor([self.prompt_ids(text)], device=self.model.device)
        steps = self.grid * self.grid
        if seed is not None:
            torch.manual_seed(seed)  # generate draws from torch's global generator, as the original's loop
        start = time.perf_counter()
        with torch.inference_mode():
            out = _cogview.sample(
                self.model, ids, ImageCodesOnly(self.image_tokens), steps, num_images,
                top_k=top_k, temperature=temperature, pad_token_id=self.tokenizer.pad_token_id,
                extra=[_Progress(steps)],
            )  # fmt: skip
        log.info("text-to-image: %d codes in %.1f s", steps * num_images, time.perf_counter() - start)
        return out

    def __call__(self, text: str, **options: Any) -> list[GeneratedImage]:
        """Sample ``num_images`` images for ``text`` (options as :meth:`sample_codes`)."""
        import torch

        codes = self.sample_codes(text, **options)
        grid = codes.view(codes.shape[0], self.grid, self.grid)
        with torch.inference_mode():
            pixels = self.decoder(grid).float().cpu()
        return [
            GeneratedImage(to_pil(pixels[i]), grid[i].tolist(), pixels[i]) for i in range(pixels.shape[0])
        ]


class ImageCodesOnly:
    """The original's ``invalid_slices`` inside an image: every id from the codebook size up is ``-inf``."""

    def __init__(self, image_tokens: int) -> None:
        self.image_tokens = image_tokens

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        scores[..., self.image_tokens :] = -math.inf
        return scores


class _Progress:
    """Logs the measured time per image token and the time left, every 64 tokens (a full image is 1024)."""

    def __init__(self, steps: int, every: int = 64) -> None:
        self.steps, self.every, self.done = steps, every, 0
        self.start = time.perf_counter()

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        self.done += 1
        if self.done % self.every == 0 and self.done < self.steps:
            per = (time.perf_counter() - self.start) / self.done
            log.info(
                "text-to-image: %d/%d codes, %.2f s per code, about %s left",
                self.done, self.steps, per, _minutes(per * (self.steps - self.done)),
            )  # fmt: skip
        return scores


def to_pil(pixels: Any) -> Any:
    """``[3, H, W]`` floats → RGB image, scaled as ``save_image(normalize=True)``: min–max, ×255 + 0.5, clamp."""
    from PIL import Image

    x = pixels.detach().float().clone()
    low, high = float(x.min()), float(x.max())
    x = x.clamp(low, high).sub(low).div(max(high - low, 1e-5))
    arr = x.mul(255).add(0.5).clamp(0, 255).permute(1, 2, 0).to("cpu").byte().numpy()
    return Image.fromarray(arr, mode="RGB")


__all__ = ["GeneratedImage", "ImageCodesOnly", "TextToImage", "expected_seconds", "to_pil"]
