"""Sentence embeddings: CLS, mean or pooler strategies, L2-normalised, batched by length."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zhplm.errors import ConversionError
from zhplm.tasks._heads import require_head

POOLING = ("cls", "mean", "pooler")


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
        # sort by length so each batch pads little; restore the input order at the end
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[np.ndarray[Any, Any]] = [np.empty(0, np.float32)] * len(texts)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
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
        if not texts:
            return np.zeros((0, int(self.model.config.hidden_size)), np.float32)
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
