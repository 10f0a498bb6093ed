# mypy: disable-error-code="no-untyped-call"
"""ZEN's tokenizer: BERT WordPiece for the characters plus the n-gram inputs of ZEN's n-gram encoder.

ZEN (sinovation/ZEN) reads an n-gram lexicon, ``ngram.txt`` (``ngram,freq`` lines; the n-gram on line k
has id k, id 0 is padding), tokenizes every n-gram with the same BERT tokenizer, and, for a tokenized
sentence (with ``[CLS]``/``[SEP]``), finds every span of 2..7 tokens whose token tuple is a lexicon
entry. Each match (n-gram id, start, length) becomes one n-gram slot: ``input_ngram_ids``, its
``ngram_token_type_ids`` (the token type of its first token: 0 in sentence A, 1 in B),
``ngram_attention_mask`` (1; 0 for padding slots) and a column of ``ngram_position_matrix [T, N]`` with
1 on the characters it covers. Where several lexicon lines tokenize to the same tuple, the last one's id
is used (as the original's dict does).

Two deliberate differences from the original example code: the slots are in matching order (length 2
first, left to right) where the original shuffles them (the model's output does not depend on the order:
n-gram attention has no positions and the fusion sums over slots), and when more than
``max_ngram_in_seq`` n-grams match, the first ones in that order are kept, where the original keeps a
random subset (its fine-tuning scripts cap at ``ceil(len/max_seq_length·128)``, pre-training at 128).
A batch pads the slots to its largest count (at least one slot, so the tensors never have a zero axis).

:class:`ZenTokenizer` is a transformers ``PreTrainedTokenizer`` (through ``BertTokenizerLegacy``, the
Python BERT tokenizer, so the character tokens are exactly BERT's); :func:`register` makes
``AutoTokenizer.from_pretrained(folder)`` resolve it. The matcher works on token ids (an n-gram's tokens
map one-to-one onto ids, unknown ones onto ``[UNK]``'s id, so this equals matching the token strings).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from transformers import PretrainedConfig
from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy
from transformers.utils.generic import to_py_obj

TOKENIZER_CLASS = "ZenTokenizer"
VOCAB_FILE = "vocab.txt"
NGRAM_FILE = "ngram.txt"
MIN_NGRAM_TOKENS = 2
MAX_NGRAM_TOKENS = 7
MAX_NGRAM_IN_SEQ = 128

NGRAM_KEYS = ("input_ngram_ids", "ngram_token_type_ids", "ngram_attention_mask")
MATRIX_KEY = "ngram_position_matrix"


def _plain_cjk(text: str) -> bool:
    """CJK ideographs that BERT's basic tokenizer leaves as they are (no case, no decomposition)."""
    return bool(text) and all(0x4E00 <= ord(c) <= 0x9FFF or 0x3400 <= ord(c) <= 0x4DBF for c in text)


def read_ngram_lines(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """``(ngram, freq)`` per non-empty line of ``ngram.txt``; the frequency is kept as text.

    Lines are ``ngram,freq``; the frequency is what follows the last comma (the original splits on
    every comma and cannot read an n-gram holding one). Blank lines (the original's ``save`` writes one
    after every entry) are skipped and do not count as ids.
    """
    entries: list[tuple[str, str]] = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        ngram, sep, freq = line.rpartition(",")
        if not sep or not ngram:
            raise ValueError(f"{path}:{number}: expected 'ngram,frequency', got {line!r}")
        entries.append((ngram, freq.strip()))
    return entries


class ZenTokenizer(BertTokenizerLegacy):  # type: ignore[misc]
    """BERT WordPiece + ZEN's n-gram matcher: returns the character inputs and the n-gram inputs."""

    vocab_files_names = {"vocab_file": VOCAB_FILE, "ngram_file": NGRAM_FILE}  # noqa: RUF012
    model_input_names = [  # noqa: RUF012 (transformers declares it so)
        "input_ids",
        "token_type_ids",
        "attention_mask",
        "input_ngram_ids",
        "ngram_position_matrix",
        "ngram_token_type_ids",
        "ngram_attention_mask",
    ]

    def __init__(
        self,
        vocab_file: str | None = None,
        ngram_file: str | None = None,
        do_lower_case: bool = True,
        max_ngram_in_seq: int = MAX_NGRAM_IN_SEQ,
        **kwargs: Any,
    ) -> None:
        if vocab_file is None or not os.path.isfile(vocab_file):
            raise ValueError(f"{TOKENIZER_CLASS} needs its vocab.txt, got {vocab_file!r}")
        if ngram_file is None or not os.path.isfile(ngram_file):
            raise ValueError(f"{TOKENIZER_CLASS} needs the n-gram lexicon ngram.txt, got {ngram_file!r}")
        if max_ngram_in_seq < 1:
            raise ValueError(f"max_ngram_in_seq must be at least 1, got {max_ngram_in_seq}")
        super().__init__(vocab_file, do_lower_case=do_lower_case, max_ngram_in_seq=max_ngram_in_seq, **kwargs)
        self.ngram_file = ngram_file
        self.max_ngram_in_seq = max_ngram_in_seq
        self.ngram_entries = read_ngram_lines(ngram_file)
        self.ngram_ids = self._index_ngrams(self.ngram_entries)

    # -- the lexicon ---------------------------------------------------------------------------
    def _index_ngrams(self, entries: Sequence[tuple[str, str]]) -> dict[tuple[int, ...], int]:
        """token-id tuple -> n-gram id (line number among the entries, from 1; the last line wins)."""
        unk = self.vocab[str(self.unk_token)]
        index: dict[tuple[int, ...], int] = {}
        for number, (ngram, _freq) in enumerate(entries, 1):
            if _plain_cjk(ngram):  # the common case, without the full BERT pipeline
                key = tuple(self.vocab.get(c, unk) for c in ngram)
            else:
                key = tuple(self.vocab.get(t, unk) for t in self._tokenize(ngram))
            if MIN_NGRAM_TOKENS <= len(key) <= MAX_NGRAM_TOKENS:
                index[key] = number
        return index

    @property
    def ngram_vocab_size(self) -> int:
        """Rows the model's n-gram embedding needs (entries + the padding row 0)."""
        return len(self.ngram_entries) + 1

    def match_ngrams(self, input_ids: Sequence[int]) -> list[tuple[int, int, int]]:
        """``(ngram_id, start, length)`` for every lexicon n-gram in ``input_ids`` (2..7 tokens), in the
        original's matching order (shorter first, left to right), at most ``max_ngram_in_seq``."""
        ids = tuple(input_ids)
        found: list[tuple[int, int, int]] = []
        for length in range(MIN_NGRAM_TOKENS, MAX_NGRAM_TOKENS + 1):
            for start in range(len(ids) - length + 1):
                ngram = self.ngram_ids.get(ids[start : start + length])
                if ngram is not None:
                    found.append((ngram, start, length))
        return found[: self.max_ngram_in_seq]

    def ngram_features(self, input_ids: Sequence[int], token_type_ids: Sequence[int]) -> dict[str, Any]:
        """The n-gram inputs of one unpadded sequence (the slot count is the number of matches)."""
        matches = self.match_ngrams(input_ids)
        matrix = [[0] * len(matches) for _ in input_ids]
        for slot, (_ngram, start, length) in enumerate(matches):
            for row in range(start, start + length):
                matrix[row][slot] = 1
        return {
            "input_ngram_ids": [m[0] for m in matches],
            "ngram_token_type_ids": [token_type_ids[m[1]] for m in matches],
            "ngram_attention_mask": [1] * len(matches),
            MATRIX_KEY: matrix,
        }

    # -- encoding ------------------------------------------------------------------------------
    def prepare_for_model(
        self,
        ids: list[int],
        pair_ids: list[int] | None = None,
        add_special_tokens: bool = True,
        padding: Any = False,
        truncation: Any = False,
        max_length: int | None = None,
        stride: int = 0,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: Any = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_length: bool = False,
        verbose: bool = True,
        prepend_batch_axis: bool = False,
        **kwargs: Any,
    ) -> Any:
        """BERT's ``prepare_for_model`` (special tokens, truncation), then the n-gram inputs, then padding."""
        from transformers import BatchEncoding

        encoded = super().prepare_for_model(
            ids,
            pair_ids=pair_ids,
            add_special_tokens=add_special_tokens,
            padding=False,
            truncation=truncation,
            max_length=max_length,
            stride=stride,
            return_tensors=None,
            return_token_type_ids=True,
            return_attention_mask=False,
            return_overflowing_tokens=return_overflowing_tokens,
            return_special_tokens_mask=return_special_tokens_mask,
            return_length=False,
            verbose=verbose,
            prepend_batch_axis=False,
            **kwargs,
        )
        data = dict(encoded)
        data.update(self.ngram_features(data["input_ids"], data["token_type_ids"]))
        if return_token_type_ids is False:
            data.pop("token_type_ids")
        data = dict(
            self.pad(
                data,
                padding=padding,
                max_length=max_length,
                pad_to_multiple_of=pad_to_multiple_of,
                padding_side=padding_side,
                return_attention_mask=return_attention_mask,
                verbose=verbose,
            )
        )
        if return_length:
            data["length"] = len(data["input_ids"])
        return BatchEncoding(data, tensor_type=return_tensors, prepend_batch_axis=prepend_batch_axis)

    def pad(self, encoded_inputs: Any, *args: Any, **kwargs: Any) -> Any:
        """transformers' padding of the character inputs, after the n-gram slots of every sequence are
        padded to the batch's largest count (≥ 1): id 0, type 0, mask 0, an empty matrix column."""
        if (
            isinstance(encoded_inputs, (list, tuple))
            and encoded_inputs
            and isinstance(encoded_inputs[0], Mapping)
        ):
            encoded_inputs = {k: [example[k] for example in encoded_inputs] for k in encoded_inputs[0]}
        if isinstance(encoded_inputs, Mapping) and "input_ngram_ids" in encoded_inputs:
            encoded_inputs = _pad_ngram_slots(dict(encoded_inputs))
        return super().pad(encoded_inputs, *args, **kwargs)

    def _pad(self, encoded_inputs: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Pad one sequence (transformers), then give the matrix zero rows where padding went."""
        padded: dict[str, Any] = super()._pad(encoded_inputs, *args, **kwargs)
        matrix = padded.get(MATRIX_KEY)
        if matrix is None:
            return padded
        missing = len(padded["input_ids"]) - len(matrix)
        if missing > 0:
            width = len(padded["input_ngram_ids"])
            rows = [[0] * width for _ in range(missing)]
            side = kwargs.get("padding_side") or self.padding_side
            padded[MATRIX_KEY] = rows + list(matrix) if side == "left" else list(matrix) + rows
        return padded

    # -- saving --------------------------------------------------------------------------------
    def save_vocabulary(  # type: ignore[override]
        self, save_directory: str, filename_prefix: str | None = None
    ) -> tuple[str, ...]:
        (vocab,) = super().save_vocabulary(save_directory, filename_prefix)
        prefix = f"{filename_prefix}-" if filename_prefix else ""
        ngram_path = Path(save_directory) / (prefix + NGRAM_FILE)
        ngram_path.write_text("".join(f"{g},{f}\n" for g, f in self.ngram_entries), encoding="utf-8")
        return (vocab, str(ngram_path))


def _pad_ngram_slots(data: dict[str, Any]) -> dict[str, Any]:
    """Pad the n-gram slot axis of one sequence or of a batch (dict of lists) to a common count ≥ 1."""
    ids = to_py_obj(data["input_ngram_ids"])
    batched = bool(ids) and isinstance(ids[0], (list, tuple))
    rows: list[list[int]] = ids if batched else [ids]
    width = max([1, *(len(r) for r in rows)])
    columns: dict[str, list[Any]] = {}
    for key in NGRAM_KEYS:
        if key in data:
            values = to_py_obj(data[key])
            seqs = values if batched else [values]
            columns[key] = [list(s) + [0] * (width - len(s)) for s in seqs]
    if MATRIX_KEY in data:
        matrices = to_py_obj(data[MATRIX_KEY])
        mats = matrices if batched else [matrices]
        columns[MATRIX_KEY] = [[list(r) + [0] * (width - len(r)) for r in m] for m in mats]
    for key, value in columns.items():
        data[key] = value if batched else value[0]
    return data


class _ZenTokenizerAnchor(PretrainedConfig):  # type: ignore[misc,no-untyped-call]
    """Not a model: the config class ``AutoTokenizer.register`` needs to file the tokenizer under."""

    model_type = "zhplm-zen-tokenizer"


def register() -> None:
    """Make ``AutoTokenizer`` resolve ``tokenizer_class: ZenTokenizer`` (idempotent)."""
    from transformers import AutoTokenizer

    AutoTokenizer.register(  # type: ignore[no-untyped-call]
        _ZenTokenizerAnchor, slow_tokenizer_class=ZenTokenizer, exist_ok=True
    )


def write_zen_tokenizer(
    vocab: Path, ngram: Path | None, out: Path, *, do_lower_case: bool = True
) -> list[str]:
    """Write ``vocab.txt`` + ``ngram.txt`` + ``tokenizer_config.json`` naming :class:`ZenTokenizer`."""
    from zhplm.arch.tokenization.wordpiece import read_vocab

    if ngram is None:
        return [
            "no ngram.txt found: the ZEN tokenizer was not written (without the n-gram lexicon the "
            "n-gram encoder gets no input)"
        ]
    out.mkdir(parents=True, exist_ok=True)
    clean_vocab = out / VOCAB_FILE
    clean_vocab.write_text("\n".join(read_vocab(vocab)) + "\n", encoding="utf-8")
    entries = read_ngram_lines(ngram)
    clean_ngram = out / NGRAM_FILE
    clean_ngram.write_text("".join(f"{g},{f}\n" for g, f in entries), encoding="utf-8")
    tok = ZenTokenizer(vocab_file=str(clean_vocab), ngram_file=str(clean_ngram), do_lower_case=do_lower_case)
    tok.save_pretrained(str(out))
    return [
        f"tokenizer: BERT WordPiece + ZEN n-gram matcher over {len(entries)} n-grams; loading it needs zhplm"
    ]


def ngram_spans(
    input_ngram_ids: Iterable[int], matrix: Sequence[Sequence[int]]
) -> list[tuple[int, int, int]]:
    """``(ngram_id, start, length)`` of each real slot, read back from a position matrix (for checks)."""
    spans = []
    for slot, ngram in enumerate(input_ngram_ids):
        rows = [t for t, row in enumerate(matrix) if row[slot]]
        if ngram and rows:
            spans.append((int(ngram), rows[0], len(rows)))
    return spans


__all__ = ["ZenTokenizer", "ngram_spans", "read_ngram_lines", "register", "write_zen_tokenizer"]
