# mypy: disable-error-code="no-untyped-call"
"""Lattice-BERT's tokenizer: BERT characters plus every lexicon word found in them, with positions.

The original (``alibaba/AliceMind``, ``LatticeBERT/tokenization_labert.py``, class
``LatticeTokenizerWithMapping``, what ``--use_named_lexicon=true`` selects and what
``port_labert_checkpoint.py`` reads the released ``lexicon.txt`` with) works like this:

* the characters come from a BERT WordPiece tokenizer (``vocab.txt``, lower-cased);
* ``lexicon.txt`` has one word per line, ``surface`` or ``surface<TAB>cluster``; every distinct cluster
  (the surface itself when there is no tab) gets the id ``len(char vocab) + k``, k counting first
  appearances from line 1 (so several surfaces can share one embedding row). Each surface is tokenized
  with the same BERT tokenizer; its token sequence is a trie key (a later line with the same tokens wins);
* a text's lattice is its tokens, each ``(token, start=i, length=1)``, plus ``(cluster, i, n)`` for every
  lexicon key equal to the n tokens from i (any n ≥ 1, so a one-character word adds a second token over
  that character), sorted by end, then by length (stable);
* model inputs (``run_classifier_labert.convert_single_example``): ``[CLS]`` (position 0), the first text's
  lattice shifted by 1, ``[SEP]`` at the next free position, for a pair the second text's lattice and
  ``[SEP]`` likewise; ``start_position_ids`` = start, ``end_position_ids`` = start + length − 1; token types
  0 up to the first ``[SEP]``, 1 after. A token whose string equals a cluster name gets the cluster's id
  (the original's token→id table is the char vocabulary overwritten by the clusters).

Matching here works on token ids (a char token maps one-to-one onto its id, unknown characters onto
``[UNK]``'s, exactly as the original's token strings). Two deliberate differences: the original truncates
a PAIR that is too long by popping a lattice token from the front or the back of the longer text at random
(``rng.random() < 0.5``); here ``truncation_side`` decides (back by default) — for a single text (always
popped at the back there) the result is the same. And ``decode`` leaves the lexicon words out (they repeat
characters the text already has). Padding is on the right only: the model's [CLS] reset rows need
``[CLS]`` at index 0.

:class:`LatticeTokenizer` is a transformers ``PreTrainedTokenizer`` (through ``BertTokenizerLegacy``, the
Python BERT tokenizer); :func:`register` makes ``AutoTokenizer.from_pretrained(folder)`` resolve it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import PretrainedConfig
from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

TOKENIZER_CLASS = "LatticeTokenizer"
VOCAB_FILE = "vocab.txt"
LEXICON_FILE = "lexicon.txt"
POSITION_KEYS = ("start_position_ids", "end_position_ids")


def read_lexicon_lines(path: str | os.PathLike[str]) -> list[str]:
    """The lines of ``lexicon.txt`` as the original iterates them (universal newlines, blank lines kept:
    a blank line still takes a cluster id)."""
    with open(path, encoding="utf-8") as reader:
        return [line[:-1] if line.endswith("\n") else line for line in reader]


def _plain_cjk(text: str) -> bool:
    """CJK ideographs that BERT's basic tokenizer leaves as they are (one token each)."""
    return bool(text) and all(0x4E00 <= ord(c) <= 0x9FFF or 0x3400 <= ord(c) <= 0x4DBF for c in text)


@dataclass
class Lattice:
    """One text's lattice: token ids with the start and length (in characters) of each."""

    ids: list[int] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def pop_back(self) -> None:
        for values in (self.ids, self.starts, self.lengths):
            values.pop()

    def pop_front(self) -> None:
        """Drop the first token and re-base the positions on the smallest start left (as the original)."""
        for values in (self.ids, self.starts, self.lengths):
            values.pop(0)
        if self.starts:
            low = min(self.starts)
            self.starts = [s - low for s in self.starts]

    def extend(self, other: Lattice) -> None:
        """Append ``other`` after the last character covered so far (the original ``extend``)."""
        offset = max((s + n for s, n in zip(self.starts, self.lengths, strict=True)), default=0)
        self.ids.extend(other.ids)
        self.starts.extend(s + offset for s in other.starts)
        self.lengths.extend(other.lengths)


class LatticeTokenizer(BertTokenizerLegacy):  # type: ignore[misc]
    """BERT WordPiece characters + the lexicon words matched in them, with start/end positions."""

    vocab_files_names = {"vocab_file": VOCAB_FILE, "lexicon_file": LEXICON_FILE}  # noqa: RUF012
    model_input_names = [  # noqa: RUF012 (transformers declares it so)
        "input_ids",
        "token_type_ids",
        "attention_mask",
        "start_position_ids",
        "end_position_ids",
    ]
    padding_side = "right"

    def __init__(
        self,
        vocab_file: str | None = None,
        lexicon_file: str | None = None,
        do_lower_case: bool = True,
        **kwargs: Any,
    ) -> None:
        if vocab_file is None or not os.path.isfile(vocab_file):
            raise ValueError(f"{TOKENIZER_CLASS} needs its vocab.txt, got {vocab_file!r}")
        if lexicon_file is None or not os.path.isfile(lexicon_file):
            raise ValueError(f"{TOKENIZER_CLASS} needs the word lexicon lexicon.txt, got {lexicon_file!r}")
        if kwargs.get("padding_side", "right") != "right":
            raise ValueError("Lattice-BERT pads on the right only (the model needs [CLS] at index 0)")
        super().__init__(vocab_file, do_lower_case=do_lower_case, **kwargs)
        self.vocab_file = vocab_file
        self.lexicon_file = lexicon_file
        self.lexicon_lines = read_lexicon_lines(lexicon_file)
        self.char_vocab_size = len(self.vocab)
        clusters: dict[str, int] = {}
        for line in self.lexicon_lines:
            clusters.setdefault(line.strip().split("\t")[-1], self.char_vocab_size + len(clusters))
        self.cluster_ids = clusters
        self.cluster_names = {i: name for name, i in clusters.items()}
        self.word_ids: dict[tuple[int, ...], int] = {}
        for line in self.lexicon_lines:
            fields = line.strip().split("\t")
            key = self._key(fields[0])
            if key:
                self.word_ids[key] = clusters[fields[-1]]
        self._prefixes = {key[:n] for key in self.word_ids for n in range(1, len(key) + 1)}

    # -- the lexicon ---------------------------------------------------------------------------
    def _key(self, surface: str) -> tuple[int, ...]:
        if _plain_cjk(surface):  # the common case, without the full BERT pipeline
            return tuple(self._convert_token_to_id(c) for c in surface)
        return tuple(self._convert_token_to_id(t) for t in self.tokenize(surface))

    @property
    def vocab_size(self) -> int:
        """Rows of the model's embedding: the characters, then one per lexicon cluster."""
        return len(self.vocab) + len(getattr(self, "cluster_ids", {}))

    def get_vocab(self) -> dict[str, int]:
        vocab: dict[str, int] = dict(super().get_vocab())
        vocab.update(getattr(self, "cluster_ids", {}))
        return vocab

    def _convert_token_to_id(self, token: str) -> int:
        cluster = getattr(self, "cluster_ids", {}).get(token)
        if cluster is not None:
            return int(cluster)
        return int(super()._convert_token_to_id(token))

    def _convert_id_to_token(self, index: int) -> str:
        name = getattr(self, "cluster_names", {}).get(index)
        return str(name) if name is not None else str(super()._convert_id_to_token(index))

    def is_word(self, token_id: int) -> bool:
        """Whether an id is a lexicon word (cluster), not a character."""
        return token_id in self.cluster_names

    def lattice(self, ids: Sequence[int]) -> Lattice:
        """The lattice of one text's character ids: the characters and every lexicon word in them,
        sorted by end position, then by length."""
        found = [(token, i, 1) for i, token in enumerate(ids)]
        for i in range(len(ids)):
            for n in range(1, len(ids) - i + 1):
                key = tuple(ids[i : i + n])
                if key not in self._prefixes:
                    break
                word = self.word_ids.get(key)
                if word is not None:
                    found.append((word, i, n))
        found.sort(key=lambda t: (t[1] + t[2], t[2]))
        return Lattice([t[0] for t in found], [t[1] for t in found], [t[2] for t in found])

    # -- encoding ------------------------------------------------------------------------------
    def _truncate(self, first: Lattice, second: Lattice | None, budget: int, strategy: str) -> None:
        """Drop lattice tokens until both fit ``budget`` (the original's ``lazy_pop_*`` loop)."""
        pop_front = self.truncation_side == "left"
        while len(first) + (len(second) if second is not None else 0) > budget:
            if second is None or strategy == "only_first":
                victim = first
            elif strategy == "only_second":
                victim = second
            else:  # longest_first: the longer one; the second on a tie, as the original
                victim = first if len(first) > len(second) else second
            if not len(victim):
                raise ValueError(
                    f"cannot truncate to {budget} lattice tokens with truncation={strategy!r}: "
                    "the text to shorten is already empty"
                )
            victim.pop_front() if pop_front else victim.pop_back()

    def _special(self, token: str | None) -> Lattice:
        return Lattice([self._convert_token_to_id(str(token))], [0], [1])

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
        """Lattices of the character ids, truncated in lattice tokens, [CLS]/[SEP] added, positions, padding."""
        from transformers import BatchEncoding
        from transformers.tokenization_utils_base import TruncationStrategy

        if return_overflowing_tokens:
            raise ValueError(f"{TOKENIZER_CLASS} does not return overflowing tokens")
        _, strategy, max_length, _ = self._get_padding_truncation_strategies(
            padding=padding,
            truncation=truncation,
            max_length=max_length,
            pad_to_multiple_of=pad_to_multiple_of,
            verbose=verbose,
        )
        first = self.lattice(ids)
        second = self.lattice(pair_ids) if pair_ids is not None else None
        specials = (3 if second is not None else 2) if add_special_tokens else 0
        if strategy != TruncationStrategy.DO_NOT_TRUNCATE and max_length is not None:
            self._truncate(first, second, max_length - specials, TruncationStrategy(strategy).value)

        encoding, types, special = Lattice(), [], []
        parts: list[tuple[Lattice, int, int]] = []
        if add_special_tokens:
            parts.append((self._special(self.cls_token), 0, 1))
        parts.append((first, 0, 0))
        if add_special_tokens:
            parts.append((self._special(self.sep_token), 0, 1))
        if second is not None:
            parts.append((second, 1, 0))
            if add_special_tokens:
                parts.append((self._special(self.sep_token), 1, 1))
        for part, token_type, is_special in parts:
            encoding.extend(part)
            types += [token_type] * len(part)
            special += [is_special] * len(part)

        data: dict[str, Any] = {
            "input_ids": encoding.ids,
            "start_position_ids": encoding.starts,
            "end_position_ids": [s + n - 1 for s, n in zip(encoding.starts, encoding.lengths, strict=True)],
        }
        if return_token_type_ids is not False:
            data["token_type_ids"] = types
        if return_special_tokens_mask:
            data["special_tokens_mask"] = special
        self._eventual_warn_about_too_long_sequence(data["input_ids"], max_length, verbose)
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

    def _pad(self, encoded_inputs: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """transformers' padding, plus position 0 for the padded slots; on the right only."""
        side = kwargs.get("padding_side") or self.padding_side
        before = len(encoded_inputs["input_ids"])
        padded: dict[str, Any] = super()._pad(encoded_inputs, *args, **kwargs)
        missing = len(padded["input_ids"]) - before
        if missing > 0:
            if side != "right":
                raise ValueError("Lattice-BERT pads on the right only (the model needs [CLS] at index 0)")
            for key in POSITION_KEYS:
                if key in padded:
                    padded[key] = list(padded[key]) + [0] * missing
        return padded

    def _decode(
        self,
        token_ids: int | list[int],
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
        **kwargs: Any,
    ) -> str:
        """The characters: lexicon words are left out (they repeat characters the text already has).

        A word spelled like a character token (a one-character word, or a Latin word in the vocabulary)
        shares that token's id, as in the original; such an id is kept once per run of repeats."""
        from transformers.utils.generic import to_py_obj

        ids = to_py_obj(token_ids)
        if isinstance(ids, list):
            kept: list[int] = []
            for i in map(int, ids):
                if self.is_word(i) and (self.cluster_names[i] not in self.vocab or kept[-1:] == [i]):
                    continue
                kept.append(i)
            ids = kept
        text: str = super()._decode(
            ids,
            skip_special_tokens=skip_special_tokens,
            clean_up_tokenization_spaces=clean_up_tokenization_spaces,
            **kwargs,
        )
        return text

    # -- saving --------------------------------------------------------------------------------
    def save_vocabulary(  # type: ignore[override]
        self, save_directory: str, filename_prefix: str | None = None
    ) -> tuple[str, ...]:
        (vocab,) = super().save_vocabulary(save_directory, filename_prefix)
        prefix = f"{filename_prefix}-" if filename_prefix else ""
        lexicon = Path(save_directory) / (prefix + LEXICON_FILE)
        lexicon.write_text("".join(line + "\n" for line in self.lexicon_lines), encoding="utf-8")
        return (vocab, str(lexicon))


class _LatticeTokenizerAnchor(PretrainedConfig):  # type: ignore[misc]
    """Not a model: the config class ``AutoTokenizer.register`` needs to file the tokenizer under."""

    model_type = "zhplm-lattice-tokenizer"


def register() -> None:
    """Make ``AutoTokenizer`` resolve ``tokenizer_class: LatticeTokenizer`` (idempotent)."""
    from transformers import AutoTokenizer

    AutoTokenizer.register(_LatticeTokenizerAnchor, slow_tokenizer_class=LatticeTokenizer, exist_ok=True)


def write_lattice_tokenizer(
    vocab: Path, lexicon: Path | None, out: Path, *, max_length: int = 512, do_lower_case: bool = True
) -> list[str]:
    """Copy ``vocab.txt`` + ``lexicon.txt`` as they are (their line order gives the ids) and write the
    ``tokenizer_config.json`` naming :class:`LatticeTokenizer`."""
    if lexicon is None:
        return [
            "no lexicon.txt found: the Lattice-BERT tokenizer was not written (without the lexicon the "
            "word ids and the lattice positions cannot be built)"
        ]
    out.mkdir(parents=True, exist_ok=True)
    if vocab.resolve() != (out / VOCAB_FILE).resolve():
        shutil.copyfile(vocab, out / VOCAB_FILE)
    if lexicon.resolve() != (out / LEXICON_FILE).resolve():
        shutil.copyfile(lexicon, out / LEXICON_FILE)
    tok = LatticeTokenizer(
        vocab_file=str(out / VOCAB_FILE),
        lexicon_file=str(out / LEXICON_FILE),
        do_lower_case=do_lower_case,
        model_max_length=max_length,
    )
    tok.save_pretrained(str(out))
    return [
        f"tokenizer: BERT characters + Lattice-BERT lexicon matcher ({len(tok.word_ids)} words, "
        f"{len(tok.cluster_ids)} word ids); loading it needs zhplm"
    ]


__all__ = ["Lattice", "LatticeTokenizer", "read_lexicon_lines", "register", "write_lattice_tokenizer"]
