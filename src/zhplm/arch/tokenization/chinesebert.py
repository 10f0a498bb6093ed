"""ChineseBERT's tokenizer: BERT WordPiece ids plus 8 pinyin ids per token, as ShannonAI computed them.

ShannonAI's ``datasets/bert_dataset.py`` tokenises with ``tokenizers``' ``BertWordPieceTokenizer`` (lower-case,
accents stripped, CJK characters apart) and reads each character's pinyin from ``pypinyin.pinyin(text,
style=TONE3, heteronym=True)`` (the first reading of each position; whole non-Chinese runs give no
pinyin). A token gets pinyin only when it covers exactly one character of the text: its pinyin string
(``"zhong1"``) becomes 8 ids, from ``pinyin2tensor.json`` when listed there, else letter by letter through
``pinyin_map.json``'s ``char2idx`` (any unknown letter → all zeros), zero-padded. Special tokens, padding,
``##`` pieces, latin words and ``[MASK]`` get 8 zeros. For a text pair each part is read on its own.

:class:`ChineseBertTokenizer` is transformers' (fast, ``tokenizers``-backed) ``BertTokenizer`` that adds
``pinyin_ids`` ``[L, 8]`` per sequence to every encoding (batched, truncated, padded alike), so that
``model(**tokenizer(texts, return_tensors="pt", padding=True))`` works. The pinyin readings depend on the
pypinyin version: ChineseBERT was trained with ``pypinyin==0.38.1`` (ShannonAI's requirements.txt);
newer versions read some characters differently (行 xing2→hang2 in 银行的行长, 地 de→di4, …), and then
pinyin_ids differ from the original's, so another version gets a warning.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from transformers import BertTokenizer, PretrainedConfig

from zhplm.errors import ConversionError, MissingDependencyError

log = logging.getLogger(__name__)

TOKENIZER_CLASS = "ChineseBertTokenizer"
PINYIN_MAP_FILE = "pinyin_map.json"
PINYIN2TENSOR_FILE = "pinyin2tensor.json"
SIDE_FILES = (PINYIN_MAP_FILE, PINYIN2TENSOR_FILE, "id2pinyin.json")
PINYIN_LOCS = 8
TRAINED_PYPINYIN = "0.38.1"
_NOT_CHINESE = "not chinese"
_warned_version: set[str] = set()


def _pinyin_fn() -> Any:
    try:
        import pypinyin
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MissingDependencyError("pypinyin", "torch", "tokenize for ChineseBERT") from exc
    version = str(getattr(pypinyin, "__version__", "?"))
    if version != TRAINED_PYPINYIN and version not in _warned_version:
        _warned_version.add(version)
        log.warning(
            "pypinyin %s is installed; ChineseBERT was trained with pypinyin==%s, and some characters read "
            "differently in other versions (pinyin_ids then differ from the original tokenizer's)",
            version,
            TRAINED_PYPINYIN,
        )
    return pypinyin


def _read_json(path: str | os.PathLike[str], what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{TOKENIZER_CLASS}: cannot read {what} {path}: {exc}") from exc


class PinyinReader:
    """Text → {character position: 8 pinyin ids}, the original's rules (see the module docstring)."""

    def __init__(self, pinyin_map: Mapping[str, Any], pinyin2tensor: Mapping[str, Sequence[int]]) -> None:
        char2idx = pinyin_map.get("char2idx") if isinstance(pinyin_map, Mapping) else None
        if not isinstance(char2idx, Mapping):
            raise ValueError(f"{TOKENIZER_CLASS}: {PINYIN_MAP_FILE} has no 'char2idx' table")
        self.char2idx: dict[str, int] = {str(k): int(v) for k, v in char2idx.items()}
        self.pinyin2tensor: dict[str, list[int]] = {}
        for key, ids in pinyin2tensor.items():
            row = [int(i) for i in ids]
            if len(row) != PINYIN_LOCS:
                raise ValueError(
                    f"{TOKENIZER_CLASS}: {PINYIN2TENSOR_FILE}[{key!r}] has {len(row)} ids, not 8"
                )
            self.pinyin2tensor[str(key)] = row
        self._pypinyin = _pinyin_fn()

    def ids_of(self, reading: str) -> list[int]:
        known = self.pinyin2tensor.get(reading)
        if known is not None:
            return list(known)
        ids = [0] * PINYIN_LOCS
        for i, letter in enumerate(reading):
            idx = self.char2idx.get(letter)
            if idx is None or i >= PINYIN_LOCS:
                return [0] * PINYIN_LOCS
            ids[i] = idx
        return ids

    def locations(self, text: str) -> dict[int, list[int]]:
        pp = self._pypinyin
        readings = pp.pinyin(
            text, style=pp.Style.TONE3, heteronym=True, errors=lambda x: [[_NOT_CHINESE] for _ in x]
        )
        return {i: self.ids_of(item[0]) for i, item in enumerate(readings) if item[0] != _NOT_CHINESE}


def pinyin_rows(encoding: Any, texts: Sequence[str | None], reader: PinyinReader) -> list[list[int]]:
    """8 pinyin ids for each token of one ``tokenizers.Encoding`` of ``texts`` (one text, or a pair)."""
    locations = [reader.locations(t) if t else {} for t in texts]
    rows: list[list[int]] = []
    for seq, (start, end) in zip(encoding.sequence_ids, encoding.offsets, strict=True):
        if seq is None or end - start != 1 or seq >= len(locations):
            rows.append([0] * PINYIN_LOCS)
        else:
            rows.append(list(locations[seq].get(start, [0] * PINYIN_LOCS)))
    return rows


class ChineseBertTokenizer(BertTokenizer):  # type: ignore[misc]
    """BERT WordPiece + per-token pinyin ids (``pinyin_ids``) for zhplm's ChineseBERT."""

    vocab_files_names = {  # noqa: RUF012 (transformers declares it so)
        "vocab_file": "vocab.txt",
        "tokenizer_file": "tokenizer.json",
        "pinyin_map_file": PINYIN_MAP_FILE,
        "pinyin2tensor_file": PINYIN2TENSOR_FILE,
    }
    model_input_names = ["input_ids", "token_type_ids", "attention_mask", "pinyin_ids"]  # noqa: RUF012

    def __init__(
        self,
        vocab: str | dict[str, int] | None = None,
        pinyin_map_file: str | None = None,
        pinyin2tensor_file: str | None = None,
        **kwargs: Any,
    ) -> None:
        if pinyin_map_file is None or not os.path.isfile(pinyin_map_file):
            raise ValueError(f"{TOKENIZER_CLASS} needs {PINYIN_MAP_FILE}, got {pinyin_map_file!r}")
        table = (
            _read_json(pinyin2tensor_file, PINYIN2TENSOR_FILE)
            if pinyin2tensor_file is not None and os.path.isfile(pinyin2tensor_file)
            else {}
        )
        self.pinyin_map: dict[str, Any] = _read_json(pinyin_map_file, PINYIN_MAP_FILE)
        self.pinyin2tensor: dict[str, list[int]] = table
        self.pinyin = PinyinReader(self.pinyin_map, table)
        super().__init__(vocab=vocab, **kwargs)

    # -- encoding ----------------------------------------------------------------------------
    def _encode_plus(self, text: Any, text_pair: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        if kwargs.get("is_split_into_words"):
            raise ValueError(f"{TOKENIZER_CLASS} reads pinyin from the raw text: pass strings, not words")
        out = super()._encode_plus(text, text_pair, **kwargs)
        encodings = out.encodings
        if not encodings:  # e.g. a chat template: no offsets to read pinyin from
            return out
        samples = _samples(text, text_pair)
        mapping = out.get("overflow_to_sample_mapping")
        rows = [
            pinyin_rows(enc, samples[mapping[i] if mapping is not None else i], self.pinyin)
            for i, enc in enumerate(encodings)
        ]
        tensor_type = kwargs.get("return_tensors")
        if tensor_type is not None:
            from transformers import BatchEncoding

            out["pinyin_ids"] = BatchEncoding({"pinyin_ids": rows}, tensor_type=tensor_type)["pinyin_ids"]
        elif out["input_ids"] and isinstance(out["input_ids"][0], int):  # one text, batch axis dropped
            out["pinyin_ids"] = rows[0]
        else:
            out["pinyin_ids"] = rows
        return out

    def _pad(self, encoded_inputs: Any, max_length: int | None = None, *args: Any, **kwargs: Any) -> Any:
        before = len(encoded_inputs[self.model_input_names[0]])
        padded = super()._pad(encoded_inputs, max_length, *args, **kwargs)
        extra = len(padded[self.model_input_names[0]]) - before
        if extra > 0 and "pinyin_ids" in padded:
            rows = [list(r) for r in padded["pinyin_ids"]]
            pad = [[0] * PINYIN_LOCS for _ in range(extra)]
            side = kwargs.get("padding_side") or (args[2] if len(args) > 2 else None) or self.padding_side
            padded["pinyin_ids"] = pad + rows if side == "left" else rows + pad
        return padded

    # -- saving ------------------------------------------------------------------------------
    def _save_pretrained(
        self,
        save_directory: str | os.PathLike[str],
        file_names: tuple[str, ...],
        legacy_format: bool | None = None,
        filename_prefix: str | None = None,
    ) -> tuple[str, ...]:
        names: tuple[str, ...] = super()._save_pretrained(
            save_directory, file_names, legacy_format, filename_prefix
        )
        prefix = f"{filename_prefix}-" if filename_prefix else ""
        written = []
        for name, data in ((PINYIN_MAP_FILE, self.pinyin_map), (PINYIN2TENSOR_FILE, self.pinyin2tensor)):
            path = Path(save_directory) / (prefix + name)
            path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            written.append(str(path))
        return names + tuple(written)


def _samples(text: Any, text_pair: Any) -> list[tuple[str | None, ...]]:
    """(text, pair) per sample, as transformers' fast ``_encode_plus`` builds its batch."""
    if isinstance(text, (list, tuple)):
        if text_pair is not None:
            return [(a, b) for a, b in zip(text, text_pair, strict=True)]
        return [tuple(t) if isinstance(t, (list, tuple)) else (t,) for t in text]
    return [(text, text_pair)] if text_pair else [(text,)]


class _ChineseBertTokenizerAnchor(PretrainedConfig):  # type: ignore[misc,no-untyped-call]
    """Not a model: the config class AutoTokenizer.register needs to file the tokenizer under."""

    model_type = "zhplm-chinesebert-tokenizer"


def register() -> None:
    """Make ``AutoTokenizer`` resolve ``tokenizer_class: ChineseBertTokenizer`` (idempotent)."""
    from transformers import AutoTokenizer

    AutoTokenizer.register(  # type: ignore[no-untyped-call]
        _ChineseBertTokenizerAnchor, tokenizer_class=ChineseBertTokenizer, exist_ok=True
    )


def find_side_files(near: Path) -> dict[str, Path]:
    """The pinyin side files of a release: next to the vocab, in its ``config/`` folder, or below."""
    found: dict[str, Path] = {}
    for name in SIDE_FILES:
        for candidate in (near / name, near / "config" / name):
            if candidate.is_file():
                found[name] = candidate
                break
        else:
            deeper = sorted(near.rglob(name))
            if deeper:
                found[name] = deeper[0]
    return found


def write_chinesebert_tokenizer(vocab: Path, out: Path) -> list[str]:
    """``vocab.txt`` + ``tokenizer.json`` + the pinyin maps + ``tokenizer_config.json`` naming our class."""
    from zhplm.arch.tokenization.wordpiece import read_vocab

    side = find_side_files(vocab.parent)
    if PINYIN_MAP_FILE not in side:
        raise ConversionError(
            f"ChineseBERT needs {PINYIN_MAP_FILE} (the release's config/ folder) next to {vocab}; "
            "without it no pinyin_ids can be made"
        )
    out.mkdir(parents=True, exist_ok=True)
    for name, path in side.items():
        shutil.copyfile(path, out / name)
    tokens = read_vocab(vocab)
    clean = out / "vocab.txt"
    clean.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    tok = ChineseBertTokenizer(
        vocab=str(clean),
        pinyin_map_file=str(out / PINYIN_MAP_FILE),
        pinyin2tensor_file=str(out / PINYIN2TENSOR_FILE) if PINYIN2TENSOR_FILE in side else None,
        do_lower_case=True,
    )
    if len(tok.get_vocab()) != len(dict.fromkeys(tokens)):
        raise ConversionError(
            f"tokenizer built from {vocab} has {len(tok.get_vocab())} tokens, the file has {len(tokens)}"
        )
    tok.save_pretrained(str(out))
    notes = [f"tokenizer: WordPiece + pinyin ids ({', '.join(sorted(side))} copied); loading it needs zhplm"]
    if PINYIN2TENSOR_FILE not in side:
        notes.append(f"no {PINYIN2TENSOR_FILE}: every pinyin is spelled through {PINYIN_MAP_FILE}")
    return notes


__all__ = [
    "TOKENIZER_CLASS",
    "ChineseBertTokenizer",
    "PinyinReader",
    "find_side_files",
    "pinyin_rows",
    "register",
    "write_chinesebert_tokenizer",
]
