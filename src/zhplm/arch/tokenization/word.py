"""Word-level Chinese WordPiece: jieba pre-segmentation, then BERT WordPiece for words not in the vocab.

WoBERT, WoBERT-plus, RoFormer (word) and WoNEZHA were trained with bert4keras'
``Tokenizer(vocab, do_lower_case=True, pre_tokenize=lambda s: jieba.cut(s, HMM=False))``: the text is
lower-cased and accent-stripped, cut into words by jieba (dictionary only, no HMM), each word found in
the vocabulary is one token, and every other word is split the BERT way (punctuation and CJK characters
apart, then greedy longest-match WordPiece; an unsplittable word stays whole and reads as ``[UNK]``).

No ``tokenizer.json`` can express jieba, so this is a Python :class:`JiebaWordPieceTokenizer`. A
converted folder names it in ``tokenizer_config.json``; :func:`register` (called by zhplm's loader) makes
``AutoTokenizer.from_pretrained(folder)`` find it without ``trust_remote_code``.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizer

from zhplm.arch.tokenization._vocab import register_tokenizer, write_vocab_lines

TOKENIZER_CLASS = "JiebaWordPieceTokenizer"
VOCAB_FILE = "vocab.txt"
MAX_WORD_CHARS = 200  # bert4keras word_maxlen: longer words are kept whole (and read as [UNK])

_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return any(lo <= code <= hi for lo, hi in _CJK_RANGES)


def _is_punct(ch: str) -> bool:
    code = ord(ch)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_space(ch: str) -> bool:
    return ch in " \n\r\t" or unicodedata.category(ch) == "Zs"


def _is_dropped(ch: str) -> bool:
    return ord(ch) in (0, 0xFFFD) or unicodedata.category(ch) in ("Cc", "Cf")


def normalize(text: str) -> str:
    """Lower-case, NFD, drop combining marks (bert4keras ``lowercase_and_normalize``)."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


def _jieba_cut() -> Callable[[str], Iterable[str]]:
    """``jieba.cut(text, HMM=False)``, through zhplm's identical, faster segmenter."""
    from zhplm.arch.tokenization.segment import cut

    def words(text: str) -> Iterable[str]:
        return cut(text, hmm=False)

    return words


class WordPieceCore:
    """The tokenisation rules, independent of transformers' tokenizer machinery."""

    def __init__(self, vocab: dict[str, int], lowercase: bool = True) -> None:
        self.vocab = vocab
        self.lowercase = lowercase
        self._cut = _jieba_cut()

    def tokenize(self, text: str) -> list[str]:
        if self.lowercase:
            text = normalize(text)
        tokens: list[str] = []
        for word in self._cut(text):
            if word in self.vocab:
                tokens.append(word)
            else:
                tokens.extend(self.basic(word))
        return tokens

    def basic(self, text: str) -> list[str]:
        pieces: list[str] = []
        current: list[str] = []
        for ch in text:
            if _is_punct(ch) or _is_cjk(ch):
                pieces.append("".join(current))
                pieces.append(ch)
                current = []
            elif _is_space(ch):
                pieces.append("".join(current))
                current = []
            elif _is_dropped(ch):
                continue
            else:
                current.append(ch)
        pieces.append("".join(current))
        out: list[str] = []
        for piece in pieces:
            if piece:
                out.extend(self.wordpiece(piece))
        return out

    def wordpiece(self, word: str) -> list[str]:
        if len(word) > MAX_WORD_CHARS:
            return [word]
        out: list[str] = []
        start = 0
        while start < len(word):
            for end in range(len(word), start, -1):
                sub = word[start:end] if start == 0 else "##" + word[start:end]
                if sub in self.vocab:
                    out.append(sub)
                    start = end
                    break
            else:
                return [word]
        return out


def read_vocab_file(path: str | os.PathLike[str]) -> dict[str, int]:
    from zhplm.arch.tokenization.wordpiece import read_vocab

    vocab: dict[str, int] = {}
    for i, token in enumerate(read_vocab(Path(path))):
        vocab.setdefault(token, i)
    return vocab


class JiebaWordPieceTokenizer(PreTrainedTokenizer):  # type: ignore[misc]
    """jieba + WordPiece, as WoBERT / RoFormer-word were trained; BERT special tokens and layout."""

    vocab_files_names = {"vocab_file": VOCAB_FILE}  # noqa: RUF012 (transformers declares it so)
    model_input_names = ["input_ids", "token_type_ids", "attention_mask"]  # noqa: RUF012

    def __init__(
        self,
        vocab_file: str | None = None,
        do_lower_case: bool = True,
        unk_token: str = "[UNK]",
        sep_token: str = "[SEP]",
        pad_token: str = "[PAD]",
        cls_token: str = "[CLS]",
        mask_token: str = "[MASK]",
        **kwargs: Any,
    ) -> None:
        if vocab_file is None or not os.path.isfile(vocab_file):
            raise ValueError(f"{TOKENIZER_CLASS} needs its vocab.txt, got {vocab_file!r}")
        self.vocab_file = vocab_file
        self.vocab = read_vocab_file(vocab_file)
        self.ids_to_tokens = {i: t for t, i in self.vocab.items()}
        self.do_lower_case = do_lower_case
        self.core = WordPieceCore(self.vocab, lowercase=do_lower_case)
        kwargs.setdefault("special_tokens_pattern", "cls_sep")
        super().__init__(  # type: ignore[no-untyped-call]
            do_lower_case=do_lower_case,
            unk_token=unk_token,
            sep_token=sep_token,
            pad_token=pad_token,
            cls_token=cls_token,
            mask_token=mask_token,
            **kwargs,
        )

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def get_vocab(self) -> dict[str, int]:
        return {**self.vocab, **self.added_tokens_encoder}

    def _tokenize(self, text: str, **kwargs: Any) -> list[str]:
        return self.core.tokenize(text)

    def _convert_token_to_id(self, token: str) -> int:
        # unk_token read only when missing: each read goes through transformers' slow __getattr__
        found = self.vocab.get(token)
        return found if found is not None else self.vocab[str(self.unk_token)]

    def _convert_id_to_token(self, index: int) -> str:
        return self.ids_to_tokens.get(index, str(self.unk_token))

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        text = ""
        for token in tokens:
            text += token[2:] if token.startswith("##") else token
        return text

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str, ...]:
        ordered = sorted(self.vocab.items(), key=lambda kv: kv[1])
        return (write_vocab_lines(save_directory, filename_prefix, VOCAB_FILE, (t for t, _ in ordered)),)


def register() -> None:
    """Make ``AutoTokenizer`` resolve ``tokenizer_class: JiebaWordPieceTokenizer`` (idempotent)."""
    register_tokenizer("zhplm-jieba-wordpiece", JiebaWordPieceTokenizer)


def write_word_tokenizer(vocab: Path, out: Path, *, do_lower_case: bool = True) -> list[str]:
    """Write ``vocab.txt`` + ``tokenizer_config.json`` naming :class:`JiebaWordPieceTokenizer`."""
    from zhplm.arch.tokenization.wordpiece import read_vocab

    out.mkdir(parents=True, exist_ok=True)
    clean = out / VOCAB_FILE
    clean.write_text("\n".join(read_vocab(vocab)) + "\n", encoding="utf-8")
    tok = JiebaWordPieceTokenizer(vocab_file=str(clean), do_lower_case=do_lower_case)
    tok.save_pretrained(str(out))
    return ["tokenizer: jieba (HMM off) + WordPiece; loading it needs zhplm installed (and jieba)"]
