"""Fill-mask: the top-k tokens for every ``[MASK]`` in a text, from the model's trained MLM head."""

from __future__ import annotations

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
        from zhplm.loader import load

        loaded = load(model, task="fill-mask", **load_options)
        require_head(loaded.provenance, "mlm", "fill-mask")
        return cls(loaded.model, loaded.tokenizer, top_k=top_k)

    def __call__(self, text: str, *, top_k: int | None = None) -> list[list[Prediction]]:
        """One list of predictions per mask position, best first."""
        import torch

        k = top_k or self.top_k
        enc = self.tokenizer(text, return_tensors="pt", truncation=True)
        mask_id = self.tokenizer.mask_token_id
        positions = (enc["input_ids"][0] == mask_id).nonzero().flatten().tolist()
        if not positions:
            raise ConversionError(f"no {self.tokenizer.mask_token} in the text: {text!r}")
        with torch.inference_mode():
            logits = self.model(**enc).logits[0]
        results = []
        for pos in positions:
            probs = logits[pos].float().softmax(-1)
            scores, ids = probs.topk(k)
            preds = []
            for score, tid in zip(scores.tolist(), ids.tolist(), strict=True):
                token = self.tokenizer.convert_ids_to_tokens(tid)
                filled = enc["input_ids"][0].clone()
                filled[pos] = tid
                sequence = self.tokenizer.decode(filled, skip_special_tokens=True).replace(" ", "")
                preds.append(Prediction(token, tid, score, sequence))
            results.append(preds)
        return results
