"""Fill-mask: the top-k tokens for every ``[MASK]`` in a text, from the model's trained MLM head."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zhplm.errors import ConversionError
from zhplm.tasks._heads import require_head


@dataclass(frozen=True)
class Prediction:
    token: str
    token_id: int
    score: float
    sequence: str


class FillMask:
    def __init__(self, model: Any, tokenizer: Any, *, top_k: int = 5) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.top_k = top_k

    @classmethod
    def from_model(cls, model: str | Path, *, top_k: int = 5, **load_options: Any) -> FillMask:
        """Refuse from ``zhplm.json`` before any weight is read: loading first would build a randomly
        initialised MLM head (and read the whole checkpoint) only to throw it away."""
        from zhplm.loader import load, read_provenance, resolve_model_dir

        folder = resolve_model_dir(model)
        require_head(read_provenance(folder), "mlm", "fill-mask")
        loaded = load(folder, task="fill-mask", **load_options)
        return cls(loaded.model, loaded.tokenizer, top_k=top_k)

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
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = self.tokenizer([texts[i] for i in idx], return_tensors="pt", padding=True, truncation=True)
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

    def _prediction(self, ids: Any, pos: int, token_id: int, score: float) -> Prediction:
        filled = ids.clone()
        filled[pos] = token_id
        sequence = self.tokenizer.decode(filled, skip_special_tokens=True).replace(" ", "")
        return Prediction(self.tokenizer.convert_ids_to_tokens(token_id), token_id, score, sequence)
