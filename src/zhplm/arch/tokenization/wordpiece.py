"""Tokenizer files for converted folders (fast ``tokenizer.json`` wherever it can represent the tokenizer)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from zhplm.errors import ConversionError, MissingDependencyError


def read_vocab(path: Path) -> list[str]:
    """Read a WordPiece vocab; accepts ERNIE's ``token<TAB>id`` lines (keeps the token)."""
    tokens = []
    # one token per "\n"-ended line, as BERT's own load_vocab reads it: str.splitlines() would also split at
    # U+2028/U+2029/U+0085, which Google's Chinese vocab.txt holds as tokens, and shift every later id
    for line in path.read_text(encoding="utf-8").split("\n"):
        token = line.rstrip("\r")
        if "\t" in token:
            token = token.split("\t", 1)[0]
        tokens.append(token)
    while tokens and tokens[-1] == "":
        tokens.pop()
    if not tokens:
        raise ConversionError(f"vocabulary {path} is empty")
    return tokens


def _is_cjk_word(token: str) -> bool:
    return len(token) >= 2 and all("\u4e00" <= ch <= "\u9fff" for ch in token)


def is_word_vocab(path: Path) -> bool:
    """A WordPiece vocabulary with many multi-character Chinese words (WoBERT, RoFormer-word, WoNEZHA,
    T5-PEGASUS): such models were trained on jieba-segmented text and need the word tokenizer."""
    tokens = read_vocab(path)
    words = sum(1 for t in tokens if _is_cjk_word(t))
    return words >= 100 or words > 0.01 * len(tokens)


_SPECIALS = {
    "unk_token": "[UNK]",
    "sep_token": "[SEP]",
    "pad_token": "[PAD]",
    "cls_token": "[CLS]",
    "mask_token": "[MASK]",
}


def write_bert_tokenizer(
    vocab: Path,
    out: Path,
    *,
    do_lower_case: bool = True,
    extra_special: tuple[str, ...] = (),
    max_word_chars: int = 100,
    controls: Literal["C", "Cc,Cf"] = "C",
) -> list[str]:
    """A BERT WordPiece tokenizer: ``vocab.txt`` + ``tokenizer.json`` + ``tokenizer_config.json``.

    ``max_word_chars``: a longer whitespace-separated word becomes ``[UNK]`` (transformers: 100; Google's own
    ``tokenization.py``, which the TF1 releases were tokenized with: 200). ``controls``: the Unicode categories
    whose characters are dropped before splitting (transformers and Google: every ``C*``; gpt2-ml's copy only
    ``Cc`` and ``Cf``, so a private-use or unassigned character stays and becomes ``[UNK]``). A tokenizer that
    differs from transformers' ``BertTokenizer`` in either is written as ``PreTrainedTokenizerFast``, whose
    ``tokenizer.json`` is loaded as is (``BertTokenizer`` rebuilds its pipeline from its arguments).

    A special token the vocabulary lacks (CDial-GPT has no ``[MASK]``) is left unset rather than added as
    a new id the model has no embedding for; ``extra_special`` tokens of the vocabulary (CDial-GPT's
    ``[speaker1]``/``[speaker2]``) are kept whole in text and skipped when decoding."""
    try:
        from transformers import BertTokenizer
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MissingDependencyError("transformers", "torch", "write the tokenizer") from exc
    tokens = read_vocab(vocab)
    out.mkdir(parents=True, exist_ok=True)
    clean = out / "vocab.txt"
    clean.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    notes = []
    known = set(tokens)
    missing = {key: tok for key, tok in _SPECIALS.items() if tok not in known}
    if missing:
        notes.append(f"vocabulary lacks special tokens {', '.join(missing.values())}")
    specials: dict[str, Any] = {key: None for key in missing if key != "unk_token"}
    extra = [t for t in extra_special if t in known]
    if extra:
        specials["additional_special_tokens"] = extra
    # transformers 5: pass vocab=<path>; vocab_file=<path> silently builds a 5-token vocab.
    tok = BertTokenizer(
        vocab=str(clean), do_lower_case=do_lower_case, tokenize_chinese_chars=True, **specials
    )
    if len(tok.get_vocab()) != len(dict.fromkeys(tokens)):
        raise ConversionError(
            f"tokenizer built from {vocab} has {len(tok.get_vocab())} tokens, the file has {len(tokens)}"
        )
    tok.save_pretrained(str(out))
    if max_word_chars != 100 or controls != "C":
        _customise(tok, out, max_word_chars, controls)
    return notes


def keep_case(out: Path) -> None:
    """Make the BERT WordPiece tokenizer written in ``out`` cased (no lower-casing, no accent stripping): for a
    catalog row whose original tokenizer ran with ``do_lower_case=False`` (NEZHA-Gen's general model), whatever
    else its architecture's tokenizer writer chose."""
    config_path, json_path = out / "tokenizer_config.json", out / "tokenizer.json"
    if not config_path.is_file() or not json_path.is_file():
        raise ConversionError(f"no BERT tokenizer in {out} to make cased")
    pipeline = json.loads(json_path.read_text(encoding="utf-8"))
    norm = pipeline.get("normalizer") or {}
    found = [n for n in (norm.get("normalizers") or [norm]) if n.get("type") == "BertNormalizer"]
    if not found:
        raise ConversionError(f"the tokenizer in {out} is not a BERT WordPiece one: it cannot be made cased")
    for n in found:
        n["lowercase"], n["strip_accents"] = False, False
    json_path.write_text(json.dumps(pipeline, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["do_lower_case"], config["strip_accents"] = False, False
    config_path.write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _customise(tok: Any, out: Path, max_word_chars: int, controls: str) -> None:
    from tokenizers import Regex, normalizers

    backend = tok.backend_tokenizer
    backend.model.max_input_chars_per_word = max_word_chars
    if controls == "Cc,Cf":
        # BertNormalizer's clean_text drops every C* character; keep Co/Cn, drop NUL, U+FFFD, Cc (not \t\n\r), Cf
        drop = normalizers.Replace(Regex(r"[\p{Cf}\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]"), "")
        bert = normalizers.BertNormalizer(
            clean_text=False, handle_chinese_chars=True, strip_accents=None, lowercase=tok.do_lower_case
        )
        backend.normalizer = normalizers.Sequence([drop, bert])
    backend.save(str(out / "tokenizer.json"))
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config["model_input_names"] = list(tok.model_input_names)
    config_path.write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
