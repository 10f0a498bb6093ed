"""What zhplm's own tokenizers share: saving their vocabulary files and filing them with ``AutoTokenizer``.

One copy instead of one per tokenizer module. The tokenizer modules travel into converted folders as
remote code (:mod:`zhplm.remote_code` copies this module beside them), so it imports nothing of zhplm and
only transformers inside :func:`register_tokenizer`.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def vocab_path(save_directory: str, filename_prefix: str | None, name: str) -> Path:
    """Where ``save_vocabulary`` writes ``name``: in ``save_directory``, after ``"<prefix>-"`` when given."""
    prefix = f"{filename_prefix}-" if filename_prefix else ""
    return Path(save_directory) / (prefix + name)


def copy_vocab_file(source: str, save_directory: str, filename_prefix: str | None, name: str) -> str:
    """Copy the vocabulary file ``source`` as it is (a sentencepiece model, a table) to its place; a tokenizer
    loaded from ``save_directory`` itself keeps its file."""
    path = vocab_path(save_directory, filename_prefix, name)
    if Path(source).resolve() != path.resolve():
        shutil.copyfile(source, path)
    return str(path)


def write_vocab_lines(
    save_directory: str, filename_prefix: str | None, name: str, lines: Iterable[str]
) -> str:
    """Write ``lines`` (one token per line, the line number its id) as UTF-8 to its place."""
    path = vocab_path(save_directory, filename_prefix, name)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


class CopiedVocabFile:
    """``save_vocabulary`` of a tokenizer whose whole vocabulary is the one file it was made from
    (``self.vocab_file``), saved under its ``vocab_files_names["vocab_file"]``."""

    vocab_file: str
    vocab_files_names: dict[str, str]

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str, ...]:
        return (
            copy_vocab_file(
                self.vocab_file, save_directory, filename_prefix, self.vocab_files_names["vocab_file"]
            ),
        )


class SentencePieceVocab:
    """The vocabulary of a tokenizer over a sentencepiece model ``self.sp``: the pieces, with their ids."""

    sp: Any
    added_tokens_encoder: dict[str, int]

    @property
    def vocab_size(self) -> int:
        return int(self.sp.get_piece_size())

    def get_vocab(self) -> dict[str, int]:
        vocab = {self.sp.id_to_piece(i): i for i in range(self.vocab_size)}
        return {**vocab, **self.added_tokens_encoder}

    def _convert_token_to_id(self, token: str) -> int:
        return int(self.sp.piece_to_id(token))

    def _convert_id_to_token(self, index: int) -> str:
        return str(self.sp.id_to_piece(int(index)))


def kept_ids(tokenizer: Any, token_ids: int | Iterable[int], skip_special_tokens: bool) -> list[int]:
    """The ids a ``_decode`` decodes: one id or many, as ints, without the special ones when asked."""
    ids = [int(i) for i in ([token_ids] if isinstance(token_ids, int) else token_ids)]
    special = set(tokenizer.all_special_ids) if skip_special_tokens else set()
    return [i for i in ids if i not in special]


@functools.cache
def _anchor(model_type: str) -> type:
    """The config class ``AutoTokenizer.register`` files a tokenizer under (not a model: only its
    ``model_type`` names it); one per type, so that registering again changes nothing."""
    from transformers import PretrainedConfig

    return type(f"ZhplmTokenizerAnchor[{model_type}]", (PretrainedConfig,), {"model_type": model_type})


def register_tokenizer(model_type: str, tokenizer_class: type, *, slow: bool = False) -> None:
    """Make ``AutoTokenizer`` resolve ``tokenizer_class: <tokenizer_class's name>`` (idempotent); ``slow``
    files it as the slow tokenizer of its type."""
    from transformers import AutoTokenizer

    key = "slow_tokenizer_class" if slow else "tokenizer_class"
    AutoTokenizer.register(_anchor(model_type), exist_ok=True, **{key: tokenizer_class})  # type: ignore[no-untyped-call]
