"""Image → text with CogView: captions (``zhplm.pipeline("image-to-text", ID)``, ``zhplm image-caption``) and
post-selection (:meth:`ImageToText.post_selection`, ``zhplm post-select``: rank images by how well they fit a text).

Both read the image the original's way (:mod:`zhplm.tasks.image_codes`: ``read_img`` + ``img2code``, 1024 codes)
and put it where ``generate_samples.py`` puts it:

* captioning (``image2text``): ``[BASE] [BOI1] <1024 codes> [EOI1] [ROI1]`` then 20 sampled tokens
  (``[MASK]*20``). ``filling_sequence`` forbids image codes and command tokens after ``[EOI1]`` (its
  ``invalid_slices``), so only text pieces are drawn; defaults of ``scripts/image2text.sh``: temperature 1, top-k
  200, no top-p. The draw is transformers' ``generate`` under :class:`TextTokensOnly`, as text-to-image draws, so a
  seed gives the original's tokens (several captions: the original's batch draw, :mod:`zhplm.tasks._cogview`);
  ``greedy=True`` is argmax (the original's ``--top_k 1``).
  The 20 tokens are decoded as the original's ``DecodeIds`` decodes text (no stop token: CogView has none).
* post-selection (``post_selection`` / ``inverse_prompt_score``): ``[BASE] [BOI1] <codes> [EOI1] [ROI1] text``;
  the score of an image is the sum of the log-probabilities of the text's tokens after ``[ROI1]`` under the
  model with image codes forbidden (``log(softmax)`` of the logits with ids ``0 … n_embed−1`` at ``-inf``). Higher
  fits better; the images are scored in batches of 12 (``--max-inference-batch-size``'s default) as there, since
  PB-relax LayerNorm normalises by a maximum over the whole batch.

The released ``cogview-caption`` checkpoint is the one trained for this (any CogView checkpoint runs it). At full
size a caption is one 1048-token pass of the 4B model (about 8 TFLOP: estimated, not measured, at one to a few
minutes on 2 CPU cores) plus 20 cached steps (about 80 s at the measured 4.1 s per token): minutes, not the
hour of text-to-image, so it is not refused.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zhplm.errors import ConversionError, ImageError
from zhplm.tasks import _cogview
from zhplm.tasks.image_codes import SIZE, CogViewImageTokenizer, load_vqvae
from zhplm.tasks.images import ImageInput

log = logging.getLogger(__name__)

CAPTION_TOKENS = 20  # generate_samples.py image2text: [MASK]*20
TOP_K = 200  # scripts/image2text.sh
TEMPERATURE = 1.0
SELECTION_BATCH = 12  # arguments.py --max-inference-batch-size


@dataclass
class Caption:
    """One sampled caption: its text and its token ids (unified vocabulary)."""

    text: str
    ids: list[int]


@dataclass
class Selection:
    """One candidate of a post-selection: its source, score (sum of log-probabilities), rank (0: best), or the
    reason it could not be read."""

    image: str
    score: float | None
    rank: int | None
    error: str | None = None


class TextTokensOnly:
    """``filling_sequence``'s ``invalid_slices`` after ``[EOI1]``: image codes and command tokens are ``-inf``."""

    def __init__(self, image_tokens: int, text_end: int) -> None:
        self.image_tokens, self.text_end = image_tokens, text_end

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        scores[..., : self.image_tokens] = -math.inf
        scores[..., self.text_end :] = -math.inf
        return scores


def _name(image: ImageInput) -> str:
    return str(image) if isinstance(image, (str, Path)) else f"<{type(image).__name__}>"


class ImageToText:
    """CogView captioning and post-selection over a converted folder (model, tokenizer, VQ-VAE with encoder)."""

    def __init__(self, model: Any, tokenizer: Any, images: CogViewImageTokenizer) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.images = images
        self.image_tokens = int(images.vqvae.n_embed)
        if int(getattr(tokenizer, "image_tokens", self.image_tokens)) != self.image_tokens:
            raise ConversionError(
                f"the tokenizer counts {tokenizer.image_tokens} image codes, the VQ-VAE {self.image_tokens}: "
                "convert the model again with its own VQ-VAE"
            )
        self.text_end = self.image_tokens + int(tokenizer.text_tokens)

    @classmethod
    def from_model(
        cls, model: str | Path, *, vqvae: str | Path | None = None, size: int = SIZE, **load_options: Any
    ) -> ImageToText:
        """Check the folder and its VQ-VAE encoder first (small), then load the model."""
        folder, config = _cogview.open_folder(model, "image-to-text")
        need = (size // 8) ** 2 + 4 + 1
        if need > int(config.get("max_position_embeddings", 0)):
            raise ConversionError(
                f"a {size}-pixel image is {(size // 8) ** 2} codes: with the query around it that is more than "
                f"this model's {config.get('max_position_embeddings')} positions"
            )
        path = Path(vqvae) if vqvae is not None else folder / "vqvae.safetensors"
        images = CogViewImageTokenizer(load_vqvae(path, encoder=True), size=size)
        loaded = _cogview.load_model(folder, **load_options)
        images.vqvae.to(loaded.model.device)
        return cls(loaded.model, loaded.tokenizer, images)

    # -- queries -----------------------------------------------------------------------------
    def _command(self, name: str) -> int:
        return int(self.tokenizer.command_ids[name])

    def image_query(self, codes: Sequence[int]) -> list[int]:
        """``[BASE] [BOI1] codes [EOI1] [ROI1]``: the image part of both tasks' templates."""
        head = [self._command("[BASE]"), self._command("[BOI1]")]
        return [*head, *(int(c) for c in codes), self._command("[EOI1]"), self._command("[ROI1]")]

    def text_ids(self, text: str) -> list[int]:
        """The text after ``[ROI1]`` as ``parse_query`` encodes it (space-separated command words stay commands)."""
        if not text.strip():
            raise ConversionError("the text is empty: give the text to score the images against")
        return list(self.tokenizer(text.replace("\t", " "), add_special_tokens=False)["input_ids"])

    # -- captions ----------------------------------------------------------------------------
    def caption_ids(
        self,
        image: ImageInput,
        *,
        num_captions: int = 1,
        seed: int | None = None,
        top_k: int = TOP_K,
        temperature: float = TEMPERATURE,
        greedy: bool = False,
        max_new_tokens: int = CAPTION_TOKENS,
    ) -> Any:
        """Caption token ids ``[num_captions, max_new_tokens]`` sampled by ``generate`` (text pieces only)."""
        import torch
        from transformers import LogitsProcessorList

        if isinstance(image, (list, tuple)):
            raise ConversionError("give one image per call (a path or a PIL image); loop over several")
        if temperature <= 0 or top_k < 0 or num_captions < 1 or max_new_tokens < 1:
            raise ConversionError(
                "give temperature > 0, top_k ≥ 0 (0: no top-k), num_captions ≥ 1, max_new_tokens ≥ 1"
            )
        (codes,) = self.images([image])
        ids = torch.tensor([self.image_query(codes)], device=self.model.device)
        positions = int(self.model.config.max_position_embeddings)
        if ids.shape[1] + max_new_tokens > positions:
            raise ConversionError(
                f"{ids.shape[1]} query + {max_new_tokens} new tokens exceed {positions} positions"
            )
        if seed is not None:
            torch.manual_seed(seed)  # generate draws from torch's global generator, as the original's loop
        only_text = TextTokensOnly(self.image_tokens, self.text_end)
        with torch.inference_mode():
            if not greedy:  # several captions: the original's batch draw (zhplm.tasks._cogview)
                return _cogview.sample(
                    self.model, ids, only_text, max_new_tokens, num_captions,
                    top_k=top_k, temperature=temperature, pad_token_id=self.tokenizer.pad_token_id,
                )  # fmt: skip
            out = self.model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                do_sample=False,
                max_new_tokens=max_new_tokens,
                min_new_tokens=max_new_tokens,
                num_return_sequences=num_captions,
                logits_processor=LogitsProcessorList([only_text]),
                eos_token_id=None,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        return out[:, ids.shape[1] :]

    def __call__(self, image: ImageInput, **options: Any) -> list[Caption]:
        """Captions of one image (options as :meth:`caption_ids`)."""
        rows = self.caption_ids(image, **options).tolist()
        return [Caption(self.tokenizer.decode(row), [int(i) for i in row]) for row in rows]

    # -- post-selection ----------------------------------------------------------------------
    def scores(self, text: str, images: Sequence[ImageInput]) -> list[float]:
        """``inverse_prompt_score`` of each image for ``text`` (sum of the text tokens' log-probabilities); an
        unreadable image raises :class:`~zhplm.errors.ImageError` naming it."""
        return self._scores(self.text_ids(text), self.images(list(images)))

    def _scores(self, text_ids: list[int], codes: list[list[int]]) -> list[float]:
        import torch

        if not codes:
            return []
        rows = [self.image_query(c) + text_ids for c in codes]
        start = len(rows[0]) - len(text_ids) - 1  # botext: the [ROI1] position
        positions = int(self.model.config.max_position_embeddings)
        if len(rows[0]) > positions:
            raise ConversionError(
                f"the query is {len(rows[0])} tokens, more than the model's {positions} positions: shorten the text"
            )
        device = self.model.device
        keep = torch.arange(start, len(rows[0]) - 1, device=device)  # only the text's predictions
        out: list[float] = []
        with torch.inference_mode():
            for first in range(0, len(rows), SELECTION_BATCH):
                ids = torch.tensor(rows[first : first + SELECTION_BATCH], device=device)
                logits = self.model(ids, use_cache=False, logits_to_keep=keep).logits.float()
                logits[..., : self.image_tokens] = -math.inf
                log_probs = torch.log(torch.softmax(logits, dim=-1))
                target = ids[:, start + 1 :].unsqueeze(-1)
                out += torch.gather(log_probs, 2, target).squeeze(-1).sum(-1).tolist()
        return out

    def post_selection(self, text: str, images: Sequence[ImageInput]) -> list[Selection]:
        """The images ranked for ``text``, best first (CogView's post-selection of generated candidates). An
        unreadable image is reported last with its ``error`` (the original prints it and goes on)."""
        text_ids = self.text_ids(text)
        readable: list[tuple[str, list[int]]] = []
        failed: list[Selection] = []
        for image in images:
            try:
                readable.append((_name(image), self.images([image])[0]))
            except ImageError as exc:
                failed.append(Selection(_name(image), None, None, str(exc)))
        scores = self._scores(text_ids, [codes for _, codes in readable])
        order = sorted(range(len(scores)), key=lambda i: -scores[i])
        return [Selection(readable[i][0], scores[i], rank) for rank, i in enumerate(order)] + failed


__all__ = ["CAPTION_TOKENS", "Caption", "ImageToText", "Selection", "TextTokensOnly"]
