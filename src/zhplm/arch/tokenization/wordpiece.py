"""Tokenizer files for converted folders (fast ``tokenizer.json`` wherever it can represent the tokenizer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    vocab: Path, out: Path, *, do_lower_case: bool = True, extra_special: tuple[str, ...] = ()
) -> list[str]:
    """A BERT WordPiece tokenizer: ``vocab.txt`` + ``tokenizer.json`` + ``tokenizer_config.json``.

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
    return notes
