"""Table + question input as SDCUP formats it, and its contextual vectors from a converted SDCUP encoder.

SDCUP (``sqlova/utils/utils_wikisql.py``: ``get_bert_output`` → ``generate_inputs``) feeds its encoder
``[CLS] q₁ … qₙ [SEP] header₁ [SEP] header₂ [SEP] … 空列 [SEP]``: the question as given tokens (CBANK's
``question_tok``: one per character), each header WordPiece-tokenized, an extra ``空列`` ("empty column")
header appended, segment 1 for the question part and 2 for the headers (UER ids; BERT token types 0 and 1),
padding masked. The text-to-SQL decoder (sqlova) is fine-tuned per dataset and is not part of the release:
this gives the encoder's vectors for the question tokens and for each column, which is what that decoder reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zhplm.errors import ConversionError

EMPTY_COLUMN = "空列"


@dataclass(frozen=True)
class TableInput:
    """One formatted row: the tokens and ids, and where the question and each header sit (end exclusive)."""

    tokens: list[str]
    input_ids: list[int]
    token_type_ids: list[int]
    question_span: tuple[int, int]
    header_spans: list[tuple[int, int]]


def format_table_question(
    tokenizer: Any,
    question: str | Sequence[str],
    headers: Sequence[str],
    *,
    add_empty_column: bool = True,
    max_length: int = 512,
) -> TableInput:
    """``question`` (a string is split into characters, as CBANK's ``question_tok``; or give the tokens) and the
    table's ``headers`` → SDCUP's encoder input. A character missing from the vocabulary becomes ``[UNK]`` (the
    original raises ``KeyError``)."""
    q_tokens = [c for c in question if not c.isspace()] if isinstance(question, str) else list(question)
    if not q_tokens:
        raise ConversionError("the question is empty")
    if not headers:
        raise ConversionError("the table has no headers")
    tokens = ["[CLS]", *q_tokens, "[SEP]"]
    question_span = (1, 1 + len(q_tokens))
    first_header = len(tokens)
    spans: list[tuple[int, int]] = []
    for header in [*headers, *([EMPTY_COLUMN] if add_empty_column else [])]:
        pieces = tokenizer.tokenize(str(header))
        spans.append((len(tokens), len(tokens) + len(pieces)))
        tokens += [*pieces, "[SEP]"]
    if len(tokens) > max_length:
        raise ConversionError(
            f"question + headers are {len(tokens)} tokens, more than {max_length}: shorten the question or "
            "pass fewer columns"
        )
    ids = [int(i) for i in tokenizer.convert_tokens_to_ids(tokens)]
    types = [0 if i < first_header else 1 for i in range(len(tokens))]
    return TableInput(tokens, ids, types, question_span, spans)


@dataclass
class TableVectors:
    """Contextual vectors of one row: every token, the question tokens and each header's tokens."""

    inputs: TableInput
    hidden: np.ndarray[Any, np.dtype[np.float32]]  # [tokens, hidden]

    @property
    def question(self) -> np.ndarray[Any, np.dtype[np.float32]]:
        start, end = self.inputs.question_span
        return self.hidden[start:end]

    @property
    def headers(self) -> list[np.ndarray[Any, np.dtype[np.float32]]]:
        return [self.hidden[s:e] for s, e in self.inputs.header_spans]


class TableEncoder:
    """``enc(question, headers)`` over a converted SDCUP folder (any BERT encoder folder works the same way)."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer

    @classmethod
    def from_model(cls, model: str | Path, **load_options: Any) -> TableEncoder:
        from zhplm.loader import load

        loaded = load(model, task="embeddings", **load_options)
        return cls(loaded.model, loaded.tokenizer)

    def __call__(self, question: str | Sequence[str], headers: Sequence[str]) -> TableVectors:
        return self.batch([(question, headers)])[0]

    def batch(self, rows: Sequence[tuple[str | Sequence[str], Sequence[str]]]) -> list[TableVectors]:
        import torch

        limit = int(getattr(self.model.config, "max_position_embeddings", 512))
        inputs = [format_table_question(self.tokenizer, q, h, max_length=limit) for q, h in rows]
        if not inputs:
            return []
        width = max(len(x.input_ids) for x in inputs)
        ids = torch.zeros((len(inputs), width), dtype=torch.long)
        types = torch.zeros_like(ids)
        mask = torch.zeros_like(ids)
        for b, x in enumerate(inputs):
            n = len(x.input_ids)
            ids[b, :n] = torch.tensor(x.input_ids)
            types[b, :n] = torch.tensor(x.token_type_ids)
            mask[b, :n] = 1
        with torch.inference_mode():
            hidden = self.model(input_ids=ids, token_type_ids=types, attention_mask=mask).last_hidden_state
        return [TableVectors(x, hidden[b, : len(x.input_ids)].float().numpy()) for b, x in enumerate(inputs)]
