"""Text + image-region features (Oscar / Mengzi-oscar): ``feats(text, regions) -> RegionTextOutput``.

Oscar reads an image as the regions an object detector found (VinVL's X152-C4 for Mengzi-oscar: per
region a 2048-d appearance feature and 6 box numbers, 2054 in all). The detector is a separate project
(microsoft/scene_graph_benchmark, a GPU build of maskrcnn-benchmark) that zhplm does not run, so this task
takes the features precomputed: ``regions`` is an ``[N, img_feature_dim]`` array. The output is the
encoder's states of the text tokens then the regions, and the pooled ([CLS]) vector.

Image-text matching (``feats.match(text, regions)``) uses the head the release has: a fine-tuned retrieval
classifier (Mengzi-oscar-base-retrieval: ``softmax[1]``, as Oscar's ``run_retrieval.py``) or Oscar+'s
pre-training contrastive head (Mengzi-oscar-base: ``softmax[0]``, class 0 being "matched" in Oscar+'s
``random_sent``). ``tags`` is Oscar's second text segment: the detector's object labels (Oscar's
``--add_od_labels``; Mengzi gives ``chinese_label.json`` to translate them), or None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zhplm.errors import ConversionError

Array = np.ndarray[Any, np.dtype[np.float32]]


@dataclass
class RegionTextOutput:
    states: Array  # [text_tokens + regions, hidden]
    pooled: Array  # [hidden]
    text_tokens: int
    regions: int


class RegionTextFeatures:
    """A loaded Oscar model with its tokenizer; ``max_length`` caps the text tokens (Oscar trained on 35)."""

    def __init__(self, model: Any, tokenizer: Any, *, max_length: int = 128, batch_size: int = 16) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size

    @classmethod
    def from_model(
        cls, model: str | Path, *, max_length: int = 128, batch_size: int = 16, **load_options: Any
    ) -> RegionTextFeatures:
        from zhplm.loader import load

        loaded = load(model, **load_options)
        if getattr(loaded.model.config, "model_type", None) != "oscar":
            raise ConversionError(
                f"{model} is a {loaded.model.config.model_type} model: text + region features need an Oscar "
                "model (Mengzi-oscar)"
            )
        return cls(loaded.model, loaded.tokenizer, max_length=max_length, batch_size=batch_size)

    def __call__(self, text: str, regions: Any, *, tags: str | None = None) -> RegionTextOutput:
        """The states and pooled vector of one text (and ``tags``) with its ``[N, img_feature_dim]`` regions."""
        return self.batch([text], [regions], tags=None if tags is None else [tags])[0]

    def batch(
        self, texts: Sequence[str], regions: Sequence[Any], *, tags: Sequence[str] | None = None
    ) -> list[RegionTextOutput]:
        """:meth:`__call__` for many pairs, ``batch_size`` at a time (texts and regions padded and masked)."""
        out: list[RegionTextOutput] = []
        import torch

        for enc, feats, lengths in self._batches(texts, regions, tags):
            with torch.inference_mode():
                res = self.model.base_model(**enc, img_feats=feats)
            states = res.last_hidden_state.float().numpy()
            pooled = res.pooler_output.float().numpy()
            width = int(enc["input_ids"].shape[1])
            for row, (n_text, n_regions) in enumerate(lengths):
                keep = np.r_[0:n_text, width : width + n_regions]
                out.append(RegionTextOutput(states[row, keep], pooled[row], n_text, n_regions))
        return out

    @property
    def can_match(self) -> bool:
        """Whether the model has an image-text matching head (a retrieval classifier or Oscar+'s)."""
        return self._match_head() is not None

    def match(self, text: str, regions: Any, *, tags: str | None = None) -> float:
        """The probability that ``text`` describes the image the ``regions`` come from."""
        return float(self.match_batch([text], [regions], tags=None if tags is None else [tags])[0])

    def match_batch(
        self, texts: Sequence[str], regions: Sequence[Any], *, tags: Sequence[str] | None = None
    ) -> Array:
        """:meth:`match` for pairs ``(texts[i], regions[i])``: ``[len(texts)]`` probabilities."""
        import torch

        head = self._match_head()
        if head is None:
            raise ConversionError(
                "this Oscar model has no image-text matching head: use Mengzi-oscar-base (pre-training, "
                "contrastive head) or Mengzi-oscar-base-retrieval (classifier); features work with any"
            )
        scores: list[Array] = []
        for enc, feats, _ in self._batches(texts, regions, tags):
            with torch.inference_mode():
                logits = getattr(self.model(**enc, img_feats=feats), head[0])
            scores.append(logits.float().softmax(-1)[:, head[1]].numpy().astype(np.float32))
        return np.concatenate(scores) if scores else np.zeros((0,), np.float32)

    def _match_head(self) -> tuple[str, int] | None:
        """(output field, index of the "matched" class) of the model's matching head, or None."""
        cfg = self.model.config
        if getattr(self.model, "classifier", None) is not None and int(cfg.num_labels) == 2:
            return ("cls_logits", 1)  # Oscar's run_retrieval: probs[:, 1] is "a matched pair"
        cls = getattr(self.model, "cls", None)
        if cls is not None and getattr(cls, "seq_relationship", None) is not None:
            return ("itm_logits", 0)  # Oscar+'s random_sent: label 0 is the matched triple
        return None

    def _batches(self, texts: Sequence[str], regions: Sequence[Any], tags: Sequence[str] | None) -> Any:
        """``(encoded text + mask over text and regions, region features, [(text tokens, regions)])`` per
        batch: the regions padded with zeros to the batch's most, masked out."""
        import torch

        if len(texts) != len(regions) or (tags is not None and len(tags) != len(texts)):
            raise ConversionError(
                f"{len(texts)} texts, {len(regions)} region arrays"
                + ("" if tags is None else f" and {len(tags)} tag strings")
                + ": give one of each per pair"
            )
        arrays = [self._check(r) for r in regions]
        for start in range(0, len(texts), self.batch_size):
            stop = start + self.batch_size
            pair = None if tags is None else list(tags[start:stop])
            enc = self.tokenizer(
                list(texts[start:stop]),
                pair,
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            chunk = arrays[start:stop]
            n_max = max(a.shape[0] for a in chunk)
            feats = np.zeros((len(chunk), n_max, chunk[0].shape[1]), np.float32)
            region_mask = np.zeros((len(chunk), n_max), np.int64)
            for row, a in enumerate(chunk):
                feats[row, : a.shape[0]] = a
                region_mask[row, : a.shape[0]] = 1
            text_mask = enc["attention_mask"]
            lengths = [(int(m.sum()), a.shape[0]) for m, a in zip(text_mask, chunk, strict=True)]
            enc["attention_mask"] = torch.cat([text_mask, torch.from_numpy(region_mask)], dim=1)
            yield dict(enc), torch.from_numpy(feats).to(self.model.dtype), lengths

    def _check(self, regions: Any) -> Array:
        dim = int(self.model.config.img_feature_dim)
        feats = np.asarray(regions, dtype=np.float32)
        if feats.ndim != 2 or feats.shape[1] != dim or feats.shape[0] == 0:
            raise ConversionError(
                f"region features must be an [N, {dim}] array with N >= 1 (the detector's feature + box per "
                f"region), got shape {feats.shape}"
            )
        if not np.isfinite(feats).all():
            raise ConversionError("the region features contain NaN or infinite values")
        return feats
