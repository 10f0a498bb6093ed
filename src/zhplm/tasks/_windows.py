"""Texts longer than a model's window, shared by embeddings and fill-mask: the special tokens a tokenizer
frames a text with, and whether its inputs can be cut into windows of token ids at all."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

PLAIN_INPUTS = frozenset({"input_ids", "token_type_ids", "attention_mask"})


def framing(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The special tokens ``tokenizer`` puts before and after a text (``[CLS]`` … ``[SEP]``), read off a
    probe text: transformers 5's fast tokenizers no longer expose build_inputs_with_special_tokens."""
    framed: list[int] = tokenizer("中")["input_ids"]
    bare: list[int] = tokenizer("中", add_special_tokens=False)["input_ids"]
    for at in range(len(framed) - len(bare) + 1):
        if framed[at : at + len(bare)] == bare:
            return framed[:at], framed[at + len(bare) :]
    return [], []


def can_window(tokenizer: Any) -> bool:
    """Windows are token ids: a tokenizer that feeds the model more than ids and types (ChineseBERT's pinyin
    ids) cannot be windowed this way; its long texts are truncated, and a warning says so."""
    extra = set(getattr(tokenizer, "model_input_names", ())) - PLAIN_INPUTS
    if extra:
        log.warning("this model's inputs (%s) cannot be windowed: long texts are truncated", ", ".join(extra))
    return not extra


def window_limit(model: Any, tokenizer: Any, asked: int | None = None) -> int:
    """Tokens one forward may take: ``asked``, else the tokenizer's limit, else the position table's size."""
    if asked:
        return asked
    limit = int(getattr(tokenizer, "model_max_length", 0) or 0)
    positions = int(getattr(model.config, "max_position_embeddings", 0) or 0)
    if 0 < limit < 100_000:
        return min(limit, positions) if positions else limit
    return positions or 512
