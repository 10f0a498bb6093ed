"""Fill-mask: the top-k tokens for every ``[MASK]`` in a text, from the model's trained MLM head.

A text longer than the model's window is not cut (which would lose the masks past the cut): each ``[MASK]``
is predicted from a window of the model's length centred on it, and :attr:`FillMask.windowed` says which
texts of the last call were read that way."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zhplm.errors import ConversionError
from zhplm.tasks._heads import require_head
from zhplm.tasks._windows import can_window, framing, window_limit
from zhplm.tasks.prompting import is_wordpiece

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    token: str
    token_id: int
    score: float
    sequence: str


class FillMask:
    def __init__(self, model: Any, tokenizer: Any, *, top_k: int = 5, max_length: int | None = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.top_k = top_k
        self.max_length = window_limit(model, tokenizer, max_length)
        self.windowed: set[int] = set()  # last call: indexes of the texts read in windows

    @classmethod
    def from_model(
        cls, model: str | Path, *, top_k: int = 5, max_length: int | None = None, **load_options: Any
    ) -> FillMask:
        """Refuse from ``zhplm.json`` before any weight is read: loading first would build a randomly
        initialised MLM head (and read the whole checkpoint) only to throw it away."""
        from zhplm.loader import load, read_provenance, resolve_model_dir

        folder = resolve_model_dir(model)
        require_head(read_provenance(folder), "mlm", "fill-mask")
        loaded = load(folder, task="fill-mask", **load_options)
        return cls(loaded.model, loaded.tokenizer, top_k=top_k, max_length=max_length)

    def __call__(self, text: str, *, top_k: int | None = None) -> list[list[Prediction]]:
        """One list of predictions per mask position of ``text``, best first."""
        return self.batch([text], top_k=top_k)[0]

    def batch(
        self, texts: Sequence[str], *, top_k: int | None = None, batch_size: int = 32
    ) -> list[list[list[Prediction]]]:
        """Fill the masks of many texts, ``batch_size`` at a time (sorted by length to pad little)."""
        import torch

        k = top_k or self.top_k
        mask_id = self.tokenizer.mask_token_id
        results: list[list[list[Prediction]]] = [[] for _ in texts]
        self.windowed = set()
        prefix, suffix = framing(self.tokenizer)
        room = self.max_length - len(prefix) - len(suffix)
        fits = []
        for i, text in enumerate(texts):
            long = len(text) > room or not is_wordpiece(self.tokenizer)  # see Embeddings._pieces
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"] if long else []
            if len(ids) > room and can_window(self.tokenizer):
                results[i] = self._windows(text, prefix, ids, suffix, room, k)
                self.windowed.add(i)
            else:
                fits.append(i)
        if self.windowed:
            log.info(
                "%d text(s) longer than %d tokens: each [MASK] predicted from a window centred on it",
                len(self.windowed),
                self.max_length,
            )
        order = sorted(fits, key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = self.tokenizer(
                [texts[i] for i in idx],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=self.max_length,
            )
            with torch.inference_mode():
                logits = self.model(**enc).logits
            for row, i in enumerate(idx):
                ids = enc["input_ids"][row]
                positions = (ids == mask_id).nonzero().flatten().tolist()
                if not positions:
                    raise ConversionError(f"no {self.tokenizer.mask_token} in the text: {texts[i]!r}")
                probs = logits[row, positions].float().softmax(-1)
                scores, best = probs.topk(k, dim=-1)
                results[i] = [
                    [
                        self._prediction(ids, pos, tid, score)
                        for score, tid in zip(scores[n].tolist(), best[n].tolist(), strict=True)
                    ]
                    for n, pos in enumerate(positions)
                ]
        return results

    def _windows(
        self, text: str, prefix: list[int], inner: list[int], suffix: list[int], room: int, k: int
    ) -> list[list[Prediction]]:
        """The masks of one long text (``inner``: its ids), each from a window of ``room`` tokens centred on
        it, framed by the text's own special tokens; the sequences show the whole text filled."""
        import torch

        mask_id = self.tokenizer.mask_token_id
        positions = [p for p, t in enumerate(inner) if t == mask_id]
        if not positions:
            raise ConversionError(f"no {self.tokenizer.mask_token} in the text: {text!r}")
        starts = [min(max(p - room // 2, 0), len(inner) - room) for p in positions]
        windows = torch.tensor([[*prefix, *inner[s : s + room], *suffix] for s in starts])
        with torch.inference_mode():
            logits = self.model(input_ids=windows, attention_mask=torch.ones_like(windows)).logits
        whole = torch.tensor([*prefix, *inner, *suffix])
        found = []
        for n, (p, s) in enumerate(zip(positions, starts, strict=True)):
            scores, best = logits[n, len(prefix) + p - s].float().softmax(-1).topk(k)
            found.append(
                [
                    self._prediction(whole, len(prefix) + p, tid, score)
                    for score, tid in zip(scores.tolist(), best.tolist(), strict=True)
                ]
            )
        return found

    def _prediction(self, ids: Any, pos: int, token_id: int, score: float) -> Prediction:
        filled = ids.clone()
        filled[pos] = token_id
        sequence = self.tokenizer.decode(filled, skip_special_tokens=True).replace(" ", "")
        return Prediction(self.tokenizer.convert_ids_to_tokens(token_id), token_id, score, sequence)
