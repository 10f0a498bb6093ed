"""Chat with a dialogue model: the history kept and fed back in the model's own format (CDial-GPT's speaker
tokens, GPT2-chitchat's ``[SEP]`` turns), optionally reranked by a reverse model (GPT2-chitchat's MMI:
several candidate replies, the one whose reversed dialogue the MMI model finds likeliest wins, as in the
authors' ``interact_mmi.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from zhplm.errors import ConversionError
from zhplm.tasks.generate import Generation, Options, TextGeneration, make_options
from zhplm.tasks.prompting import ChitchatMmiFormat, Encoded

log = logging.getLogger(__name__)


class Chat:
    """``chat.say(text)`` → the model's reply; ``reset()`` forgets the dialogue."""

    def __init__(
        self,
        generator: TextGeneration,
        *,
        reranker: TextGeneration | None = None,
        candidates: int = 5,
        max_history: int = 5,
    ) -> None:
        if not generator.format.dialogue:
            raise ConversionError(
                f"{generator.provenance.get('model_id') or 'this model'} has no dialogue format "
                f"(prompt format {generator.format.name!r}): use generate instead of chat"
            )
        if candidates < 1:
            raise ConversionError(f"candidates must be at least 1, got {candidates}")
        self.generator = generator
        self.reranker = reranker
        self.candidates = candidates if reranker is not None else 1
        self.max_history = max_history
        self.history: list[str] = []

    @classmethod
    def from_model(
        cls,
        model: str | Path,
        *,
        reranker: str | Path | None = None,
        use_reranker: bool = True,
        candidates: int = 5,
        max_history: int = 5,
        options: Options | None = None,
        prompt_format: str | None = None,
        **load_options: Any,
    ) -> Chat:
        """The dialogue model, its format's sampling defaults (``options`` overrides them), and its
        reranker: ``reranker`` if given, else the one its catalog row names (when that one is converted)."""
        generator = TextGeneration.from_model(model, prompt_format=prompt_format, **load_options)
        defaults = make_options(None, dict(generator.format.chat_defaults))
        generator.options = options or defaults
        if reranker is None and use_reranker:
            reranker = _catalog_reranker(generator.provenance.get("model_id"))
        mmi = None
        if reranker is not None and use_reranker:
            mmi = TextGeneration.from_model(reranker, prompt_format="chitchat-mmi", **load_options)
        return cls(generator, reranker=mmi, candidates=candidates, max_history=max_history)

    def reset(self) -> None:
        self.history.clear()

    def say(self, text: str, **options: Any) -> Generation:
        """Add the user's turn, generate the reply, keep both in the history."""
        text = text.strip()
        if not text:
            raise ConversionError("an empty message: say something")
        opts = make_options(self.generator.options, options)
        turns = [*self.history, text][-(2 * self.max_history + 1) :]
        encoded = self.prompt(turns)
        if self.candidates > 1 and not opts.sample and opts.num_beams < self.candidates:
            opts = replace(opts, num_beams=self.candidates)  # distinct greedy candidates: beam search
        rows = self.generator.run([encoded], [text], opts, num_return=self.candidates)[0]
        best = rows[0] if self.reranker is None else self._rerank(turns, rows)
        self.history += [text, best.text]
        return best

    def prompt(self, turns: Sequence[str]) -> Encoded:
        """The model's prompt for the next reply after ``turns`` (alternating, the user's first and last),
        the oldest exchanges dropped past ``max_history`` (the server builds its prompts here too)."""
        if len(turns) % 2 == 0:
            raise ConversionError(
                "a dialogue to reply to alternates user and assistant turns and ends with the user's"
            )
        kept = list(turns)[-(2 * self.max_history + 1) :]
        return self.generator.format.encode_dialogue(self.generator.tokenizer, kept)

    def _rerank(self, turns: list[str], rows: list[Generation]) -> Generation:
        import torch

        assert self.reranker is not None
        fmt = ChitchatMmiFormat()
        losses = []
        for row in rows:
            ids = fmt.scoring_prompt(self.reranker.tokenizer, turns, row.text).input_ids
            tensor = torch.tensor([ids])
            with torch.inference_mode():
                losses.append(float(self.reranker.model(input_ids=tensor, labels=tensor).loss))
        best = rows[min(range(len(rows)), key=losses.__getitem__)]
        return replace(best, candidates=[r.text for r in rows])


def _catalog_reranker(model_id: str | None) -> str | None:
    if not model_id:
        return None
    from zhplm.catalog import get_catalog
    from zhplm.errors import UnknownModelError

    try:
        record = get_catalog().get(model_id)
    except UnknownModelError:
        return None
    if record.reranker is None:
        return None
    from zhplm.loader import resolve_model_dir

    if not (resolve_model_dir(record.reranker) / "config.json").exists():
        log.warning(
            "%s reranks its replies with %s, which is not converted: replies are not reranked "
            "(zhplm download %s, then zhplm convert %s)",
            model_id,
            record.reranker,
            record.reranker,
            record.reranker,
        )
        return None
    return record.reranker


__all__ = ["Chat"]
