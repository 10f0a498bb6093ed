"""Sentence embeddings: CLS, mean or pooler strategies, L2-normalised, batched by length."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zhplm.errors import ConversionError
from zhplm.tasks._heads import require_head

POOLING = ("cls", "mean", "pooler")


def length_buckets(lengths: Sequence[int], batch_size: int, waste: float = 0.2) -> list[list[int]]:
    """Indices in batches of at most ``batch_size``, shortest first; a batch is cut where padding it to its
    longest member would make over ``waste`` of its tokens padding (a mixed batch costs the longest
    member's time for every row)."""
    batches: list[list[int]] = []
    current: list[int] = []
    real = 0
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        padded = lengths[i] * (len(current) + 1)
        if current and (len(current) == batch_size or padded - real - lengths[i] > waste * padded):
            batches.append(current)
            current, real = [], 0
        current.append(i)
        real += lengths[i]
    if current:
        batches.append(current)
    return batches


class Embeddings:
    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        pooling: str = "cls",
        normalize: bool = True,
        batch_size: int = 32,
        max_length: int = 512,
    ) -> None:
        if pooling not in POOLING:
            raise ConversionError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLING)}")
        self.model = model
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.normalize = normalize
        self.batch_size = batch_size
        self.max_length = max_length

    @classmethod
    def from_model(
        cls,
        model: str | Path,
        *,
        pooling: str = "cls",
        normalize: bool = True,
        batch_size: int = 32,
        max_length: int = 512,
        **load_options: Any,
    ) -> Embeddings:
        from zhplm.loader import load

        loaded = load(model, task="embeddings", **load_options)
        if pooling == "pooler":
            require_head(loaded.provenance, "pooler", "pooler embeddings")
        return cls(
            loaded.model,
            loaded.tokenizer,
            pooling=pooling,
            normalize=normalize,
            batch_size=batch_size,
            max_length=max_length,
        )

    def __call__(
        self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None
    ) -> np.ndarray[Any, Any]:
        """Embed ``texts`` → float32 array ``(len(texts), hidden)``; rows in input order."""
        import torch

        if isinstance(texts, str):
            texts = [texts]
        if not texts:
            return np.zeros((0, int(self.model.config.hidden_size)), np.float32)
        # batches of similar token lengths (sorted, cut where padding would waste over 20 %); each batch
        # is tokenised again with padding, so tokenisers with extra inputs (ChineseBERT's pinyin) pad their own way
        lengths = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        out: list[np.ndarray[Any, Any]] = [np.empty(0, np.float32)] * len(texts)
        for idx in length_buckets([len(ids) for ids in lengths], self.batch_size):
            enc = self.tokenizer(
                [texts[i] for i in idx],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=self.max_length,
            )
            with torch.inference_mode():
                output = self.model(**enc)
            vectors = self._pool(output, enc["attention_mask"]).float()
            if self.normalize:
                vectors = torch.nn.functional.normalize(vectors, dim=-1)
            for i, v in zip(idx, vectors.numpy(), strict=True):
                out[i] = v
            if progress is not None:
                progress(len(idx))
        return np.stack(out).astype(np.float32)

    def _pool(self, output: Any, mask: Any) -> Any:
        hidden = output.last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        if self.pooling == "mean":
            m = mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * m).sum(1) / m.sum(1).clamp(min=1)
        pooled = getattr(output, "pooler_output", None)
        if pooled is None:
            raise ConversionError("this model has no pooler; use pooling='cls' or 'mean'")
        return pooled
