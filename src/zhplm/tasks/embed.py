"""Sentence embeddings: CLS, mean or pooler strategies, L2-normalised, batched by length.

A text longer than the model's window (``max_length`` tokens with its special tokens) is not cut short: its
tokens are split into overlapping windows (``stride`` tokens shared between neighbours), each window is
embedded like a text of its own, and the text's vector is the token-weighted mean of its windows' vectors
(normalised again). :attr:`Embeddings.windows` says which texts of the last call were windowed, and the
``zhplm embed`` command reports it."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zhplm.errors import ConversionError
from zhplm.tasks._heads import require_head
from zhplm.tasks._windows import PLAIN_INPUTS, can_window, framing
from zhplm.tasks.prompting import is_wordpiece

log = logging.getLogger(__name__)

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
        stride: int = 128,
    ) -> None:
        if pooling not in POOLING:
            raise ConversionError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLING)}")
        self.model = model
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.normalize = normalize
        self.batch_size = batch_size
        self.max_length = max_length
        self.stride = stride
        self.windows: dict[int, int] = {}  # last call: input index → number of windows, for windowed texts
        # a fast tokenizer's truncation/padding settings live in its Rust object and every call resets
        # them: two threads tokenising at once (``zhplm serve`` runs forwards concurrently) could feed
        # one another's settings (untruncated or unpadded batches). Tokenising is short; it is serialised.
        self._lock = threading.Lock()

    @classmethod
    def from_model(
        cls,
        model: str | Path,
        *,
        pooling: str = "cls",
        normalize: bool = True,
        batch_size: int = 32,
        max_length: int = 512,
        stride: int = 128,
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
            stride=stride,
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
        with self._lock:  # one tokenizer, mutable state: see __init__
            pieces, owners, weights, windows = self._pieces(texts)
            batches = self._encoded_batches(pieces)
        self.windows = windows
        # batches of similar lengths (restored to the input order at the end)
        rows: list[np.ndarray[Any, Any]] = [np.empty(0, np.float32)] * len(pieces)
        for idx, enc in batches:
            with torch.inference_mode():
                output = self.model(**enc)
            vectors = self._pool(output, enc["attention_mask"]).float()
            for i, v in zip(idx, vectors.numpy(), strict=True):
                rows[i] = v
            if progress is not None:
                progress(sum(1 for i in idx if weights[i] == 0 or _last_window(owners, i)))
        out = np.zeros((len(texts), rows[0].shape[-1]), np.float32)
        if windows:  # a windowed text: the token-weighted mean of its windows
            total = np.zeros(len(texts), np.float32)
            for row, owner, weight in zip(rows, owners, weights, strict=True):
                w = float(weight or 1)
                out[owner] += w * row
                total[owner] += w
            out /= total[:, None]
        else:
            out[:] = np.stack(rows)
        if self.normalize:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def _encoded_batches(self, pieces: list[Any]) -> list[tuple[list[int], dict[str, Any]]]:
        """Batches of similar token lengths (:func:`length_buckets`), each with its padded model inputs.
        Whole texts are tokenised once, here: the lengths that cut the batches come from the same encodings
        the model is fed. Whole texts and windows never share a batch."""
        batches: list[tuple[list[int], dict[str, Any]]] = []
        whole = [i for i, p in enumerate(pieces) if isinstance(p, str)]
        if whole:
            encoded = self.tokenizer([pieces[i] for i in whole], truncation=True, max_length=self.max_length)
            ids = encoded["input_ids"]
            for b in length_buckets([len(x) for x in ids], self.batch_size):
                batches.append(
                    ([whole[j] for j in b], self._pad({k: [v[j] for j in b] for k, v in encoded.items()}))
                )
        windows = [i for i, p in enumerate(pieces) if isinstance(p, list)]
        if windows:  # already token ids with their special tokens
            for b in length_buckets([len(pieces[i]) for i in windows], self.batch_size):
                batches.append(
                    ([windows[j] for j in b], self._pad({"input_ids": [pieces[windows[j]] for j in b]}))
                )
        return batches

    def _pad(self, features: dict[str, list[Any]]) -> dict[str, Any]:
        """Model inputs of one batch, padded to its longest member. Plain BERT-style inputs (ids, types,
        mask; padding on the right) are padded here in numpy, the tokenizer's own ``pad`` (Python, per row)
        does the rest: ZEN's n-grams, ChineseBERT's pinyin ids, left padding."""
        import torch

        pad_id = getattr(self.tokenizer, "pad_token_id", None)
        if (
            set(features) <= PLAIN_INPUTS
            and pad_id is not None
            and getattr(self.tokenizer, "padding_side", "right") == "right"
        ):
            ids = features["input_ids"]
            lengths = np.fromiter((len(x) for x in ids), np.int64, len(ids))
            mask = np.arange(int(lengths.max()))[None, :] < lengths[:, None]
            out: dict[str, Any] = {}
            for key, fill in (
                ("input_ids", pad_id),
                ("token_type_ids", getattr(self.tokenizer, "pad_token_type_id", 0)),
            ):
                if key in features:
                    array = np.full(mask.shape, fill, np.int64)
                    array[mask] = np.fromiter(itertools.chain.from_iterable(features[key]), np.int64)
                    out[key] = torch.from_numpy(array)
            if "attention_mask" in features or "attention_mask" in self.tokenizer.model_input_names:
                out["attention_mask"] = torch.from_numpy(mask.astype(np.int64))
            return out
        return dict(self.tokenizer.pad(features, return_tensors="pt"))

    def _pieces(self, texts: Sequence[str]) -> tuple[list[Any], list[int], list[int], dict[int, int]]:
        """What is fed to the model: each text as it is, or a long one as windows of token ids; the input
        index each piece belongs to, its weight (its token count; 0 for a whole text), and the windowed
        texts (index → windows)."""
        pieces: list[Any] = []
        owners: list[int] = []
        weights: list[int] = []
        windows: dict[int, int] = {}
        prefix, suffix = framing(self.tokenizer)
        room = self.max_length - len(prefix) - len(suffix)
        # a WordPiece token covers at least one character, so only texts this long can overflow; a byte-level
        # BPE may spend several tokens on one Chinese character, so every text is counted
        counted = not is_wordpiece(self.tokenizer)
        for n, text in enumerate(texts):
            ids = (
                self.tokenizer(text, add_special_tokens=False)["input_ids"]
                if counted or len(text) > room
                else []
            )
            if len(ids) <= room or not can_window(self.tokenizer):
                pieces.append(text)
                owners.append(n)
                weights.append(0)
                continue
            step = room - min(self.stride, room // 2)  # a stride too large for a small window: half of it
            starts = list(range(0, max(len(ids) - room, 0) + step, step))
            for start in starts:
                window = ids[start : start + room]
                pieces.append([*prefix, *window, *suffix])
                owners.append(n)
                weights.append(len(window))
            windows[n] = len(starts)
        if windows:
            log.info(
                "%d text(s) longer than %d tokens embedded as sliding windows (stride %d, token-weighted mean)",
                len(windows),
                self.max_length,
                self.stride,
            )
        return pieces, owners, weights, windows

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


def _last_window(owners: list[int], i: int) -> bool:
    """True for the last piece of its text (progress counts texts, not windows)."""
    return i + 1 == len(owners) or owners[i + 1] != owners[i]
