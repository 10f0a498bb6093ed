"""AI-Writer's character table: one token per character, as the authors' ``run.py`` reads it.

The release ships ``<model>.json``, a UTF-16 JSON object ``{"id": "character"}``. ``run.py`` turns a text
into ids character by character with ``stoi.get(c, UNKNOWN_CHAR)``, where ``UNKNOWN_CHAR`` is the id of
U+E083 (a private-use character the table reserves for "unknown"), and never samples that id. The table is
kept as it is (``char_table.json``, UTF-16); :func:`register` makes ``AutoTokenizer`` find the class by the
``tokenizer_class`` of ``tokenizer_config.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizer

from zhplm.arch.tokenization._vocab import CopiedVocabFile, kept_ids, register_tokenizer

TOKENIZER_CLASS = "Rwkv1CharTokenizer"
TABLE_FILE = "char_table.json"
UNKNOWN_CHAR = "\ue083"


def read_table(path: str | os.PathLike[str]) -> dict[int, str]:
    """``{id: character}`` of an AI-Writer table (UTF-16 JSON, as ``run.py`` opens it)."""
    with open(path, encoding="utf-16") as fh:
        data = json.load(fh)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"{path} is not an AI-Writer character table ({{id: character}})")
    return {int(k): v for k, v in data.items()}


def is_char_table(path: Path) -> bool:
    """Whether ``path`` is an AI-Writer character table (UTF-16 with a byte-order mark, ``{id: char}``)."""
    try:
        with path.open("rb") as fh:
            if fh.read(2) not in (b"\xff\xfe", b"\xfe\xff"):
                return False
        table = read_table(path)
    except (OSError, ValueError, UnicodeError):
        return False
    return bool(table) and all(len(c) == 1 for c in table.values())


class Rwkv1CharTokenizer(CopiedVocabFile, PreTrainedTokenizer):  # type: ignore[misc]
    """One id per character from AI-Writer's table; unknown characters become U+E083's id."""

    vocab_files_names = {"vocab_file": TABLE_FILE}  # noqa: RUF012 (transformers declares it so)
    model_input_names = ["input_ids", "attention_mask"]  # noqa: RUF012

    def __init__(self, vocab_file: str | None = None, unk_token: Any = UNKNOWN_CHAR, **kwargs: Any) -> None:
        if vocab_file is None or not os.path.isfile(vocab_file):
            raise ValueError(f"{TOKENIZER_CLASS} needs its character table {TABLE_FILE}, got {vocab_file!r}")
        self.vocab_file = vocab_file
        self.itos = read_table(vocab_file)
        self.stoi = {c: i for i, c in self.itos.items()}  # as run.py: a repeated character keeps its last id
        if str(unk_token) not in self.stoi:
            raise ValueError(f"{vocab_file} has no {unk_token!r} entry, which stands for unknown characters")
        kwargs.setdefault("clean_up_tokenization_spaces", False)
        super().__init__(unk_token=unk_token, **kwargs)  # type: ignore[no-untyped-call]

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def get_vocab(self) -> dict[str, int]:
        return {**self.stoi, **self.added_tokens_encoder}

    def _tokenize(self, text: str, **kwargs: Any) -> list[str]:
        return list(text)

    def _convert_token_to_id(self, token: str) -> int:
        return self.stoi.get(token, self.stoi[str(self.unk_token)])

    def _convert_id_to_token(self, index: int) -> str:
        return self.itos.get(int(index), str(self.unk_token))

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return "".join(tokens)

    def _decode(
        self,
        token_ids: int | list[int],
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
        **kwargs: Any,
    ) -> str:
        return "".join(self._convert_id_to_token(i) for i in kept_ids(self, token_ids, skip_special_tokens))


def register() -> None:
    """Make ``AutoTokenizer`` resolve ``tokenizer_class: Rwkv1CharTokenizer`` (idempotent)."""
    register_tokenizer("zhplm-rwkv1-char", Rwkv1CharTokenizer)


def write_rwkv1_tokenizer(table: Path, out: Path) -> list[str]:
    """Write the release's table as ``char_table.json`` + ``tokenizer_config.json`` naming the class."""
    out.mkdir(parents=True, exist_ok=True)
    Rwkv1CharTokenizer(vocab_file=str(table)).save_pretrained(str(out))
    return ["tokenizer: AI-Writer's character table (one id per character, unknown ones as U+E083)"]
