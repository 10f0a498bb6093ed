"""The CPM-2 lineage's tokenizers: Python jieba words, then greedy longest-match pieces per word.

Two algorithms, as the authors' code has them:

* EVA (``src/tokenization_eva.py``, :class:`EvaTokenizer`): ``…`` → ``...``, full-width punctuation mapped
  to ASCII (its ``punct_translator``), ``jieba.cut(text)`` (dictionary + HMM), space/newline inside a word
  → U+2582/U+2583, then each word split into the longest vocabulary entries left to right (no ``##``
  continuation marks; an unmatched character is ``<unk>``). Decoding joins the pieces and turns
  U+2582/U+2583 back into space/newline.
* CPM-2 (CPM-2-Pretrain ``src/tokenization_enc_dec.py``, :class:`Cpm2Tokenizer`, vocabulary ``bpe_cn``): full-width → half-width (``Q2B``) except
  ``，。！（）？、；：``, the same jieba cut, pieces without Chinese characters after the first take ``##``;
  then the id ``10`` (``▂`` in ``bpe_cn``) between two non-Chinese tokens is dropped, and decoding puts it
  back between two non-Chinese tokens. CPM-2 zh-en (``bpe_cn_en``) has its own variant,
  :class:`Cpm2EnCnTokenizer` (CPM-2-Finetune ``tokenization_enc_dec_encn.py``). Quirks kept for parity: a text of one token encodes as that token
  twice, ``##`` marks stay in the decoded text.

Both read the vocabulary as the originals do (lines stripped; a later duplicate wins). Sentinels
``<s_i>`` are plain vocabulary entries (text spelling ``<s_0>`` is cut by jieba like any text, as in the
original); :meth:`EvaTokenizer.sentinel_id` gives their ids. No ``tokenizer.json`` can express jieba:
:func:`register` makes ``AutoTokenizer.from_pretrained(folder)`` find these classes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizer

from zhplm.arch.tokenization._vocab import kept_ids, register_tokenizer, write_vocab_lines
from zhplm.arch.tokenization.segment import cut

VOCAB_FILE = "vocab.txt"
MAX_WORD_CHARS = 200  # the originals' max_input_chars_per_word: a longer word is one <unk>
_VISIBLE = str.maketrans(" \n", "\u2582\u2583")
# EVA's punct_translator (full-width punctuation → ASCII), as src/tokenization_eva.py spells it
_EVA_PUNCT = str.maketrans(
    "！？＂〝〞“”‟＃＄％＆＇‘’‛（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～",
    '!?""""""#$%&\'\'\'\'()*+,-/:;<=>@[\\]^_`{|}~',
)
_Q2B_KEEP = frozenset("，。！（）？、；：")
_CPM2_SPACE_ID = 10  # tokenization_enc_dec.py hard-codes the id it filters and re-inserts


def load_vocab(path: str | os.PathLike[str]) -> dict[str, int]:
    """token → id as the originals' ``load_vocab`` reads it: universal newlines, each line stripped, a later
    duplicate overwrites an earlier one."""
    vocab: dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            vocab[line.strip()] = i
    return vocab


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def _q2b(ch: str) -> str:
    if ch in _Q2B_KEEP:
        return ch
    code = 0x20 if ord(ch) == 0x3000 else ord(ch) - 0xFEE0
    return ch if code < 0x20 or code > 0x7E else chr(code)


class EvaTokenizer(PreTrainedTokenizer):  # type: ignore[misc]
    """EVA's jieba + longest-match tokenizer (``<sep>`` ends a turn, ``<s_0>`` starts a reply)."""

    vocab_files_names = {"vocab_file": VOCAB_FILE}  # noqa: RUF012 (transformers declares it so)
    model_input_names = ["input_ids", "attention_mask"]  # noqa: RUF012
    continuation = ""  # prefix of a non-initial piece without Chinese characters (CPM-2: "##")

    def __init__(
        self,
        vocab_file: str | None = None,
        unk_token: str = "<unk>",
        pad_token: str = "<pad>",
        sep_token: str = "<sep>",
        eos_token: str = "<sep>",
        **kwargs: Any,
    ) -> None:
        if vocab_file is None or not os.path.isfile(vocab_file):
            raise ValueError(f"{type(self).__name__} needs its vocab.txt, got {vocab_file!r}")
        self.vocab_file = vocab_file
        self.vocab = load_vocab(vocab_file)
        self.ids_to_tokens = {i: t for t, i in self.vocab.items()}
        super().__init__(  # type: ignore[no-untyped-call]
            unk_token=unk_token, pad_token=pad_token, sep_token=sep_token, eos_token=eos_token, **kwargs
        )

    @property
    def vocab_size(self) -> int:
        return len(self.ids_to_tokens)

    def get_vocab(self) -> dict[str, int]:
        return {**self.vocab, **self.added_tokens_encoder}

    def sentinel_id(self, index: int) -> int:
        """Id of the span sentinel ``<s_index>`` (``<s_0>`` starts every reply / span)."""
        return self.vocab[f"<s_{index}>"]

    def normalize(self, text: str) -> str:
        return text.replace("…", "...").translate(_EVA_PUNCT)

    def is_chinese(self, text: str) -> bool:
        """The originals' ``is_contain_chinese`` (a CJK unified ideograph anywhere in ``text``)."""
        return _has_chinese(text)

    def pieces(self, word: str) -> list[str]:
        """Greedy longest match, left to right; an unmatched character is one ``<unk>``."""
        if len(word) > MAX_WORD_CHARS:
            return [str(self.unk_token)]
        out: list[str] = []
        start = 0
        while start < len(word):
            for end in range(len(word), start, -1):
                sub = word[start:end]
                if self.continuation and start > 0 and not self.is_chinese(sub):
                    sub = self.continuation + sub
                if sub in self.vocab:
                    out.append(sub)
                    start = end
                    break
            else:
                out.append(str(self.unk_token))
                start += 1
        return out

    def _tokenize(self, text: str, **kwargs: Any) -> list[str]:
        tokens: list[str] = []
        for word in cut(self.normalize(text), hmm=True):  # jieba.cut(text): dictionary + HMM
            tokens.extend(self.pieces(word.translate(_VISIBLE)))
        return tokens

    def _convert_token_to_id(self, token: str) -> int:
        return self.vocab.get(token, self.vocab[str(self.unk_token)])

    def _convert_id_to_token(self, index: int) -> str:
        return self.ids_to_tokens.get(index, str(self.unk_token))

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return "".join(tokens).replace("\u2582", " ").replace("\u2583", "\n")

    def build_inputs_with_special_tokens(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        """No special tokens are added: the prompt formats lay out ``<sep>`` / sentinels themselves."""
        return token_ids_0 + (token_ids_1 or [])

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str, ...]:
        lines = [self.ids_to_tokens.get(i, "") for i in range(max(self.ids_to_tokens) + 1)]
        return (write_vocab_lines(save_directory, filename_prefix, VOCAB_FILE, lines),)


class Cpm2Tokenizer(EvaTokenizer):
    """CPM-2's variant: half-width normalisation, ``##`` continuations, the id-10 space filter."""

    continuation = "##"
    space_id = _CPM2_SPACE_ID

    def __init__(self, vocab_file: str | None = None, eos_token: str = "<eod>", **kwargs: Any) -> None:
        super().__init__(vocab_file=vocab_file, eos_token=eos_token, **kwargs)
        self._latin = {i: not self.is_chinese(t) for t, i in self.vocab.items()}
        self._latin[self.space_id] = False

    def normalize(self, text: str) -> str:
        return "".join(_q2b(ch) for ch in text)

    def _tokenize(self, text: str, **kwargs: Any) -> list[str]:
        tokens = super()._tokenize(text, **kwargs)
        if not tokens:
            return tokens
        ids = [self._convert_token_to_id(t) for t in tokens]
        keep = [tokens[0]]
        for i in range(1, len(tokens) - 1):
            if ids[i] == self.space_id and self._latin.get(ids[i - 1]) and self._latin.get(ids[i + 1]):
                continue
            keep.append(tokens[i])
        keep.append(tokens[-1])  # as the original: a one-token text keeps its token twice
        return keep

    def _decode(
        self,
        token_ids: int | list[int],
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
        **kwargs: Any,
    ) -> str:
        ids = kept_ids(self, token_ids, skip_special_tokens)
        spaced: list[int] = []
        for i, tid in enumerate(ids):
            spaced.append(tid)
            if i + 1 < len(ids) and self._latin.get(tid) and self._latin.get(ids[i + 1]):
                spaced.append(self.space_id)
        return self.convert_tokens_to_string([self._convert_id_to_token(i) for i in spaced])


class Cpm2EnCnTokenizer(Cpm2Tokenizer):
    """CPM-2 zh-en's variant (CPM-2-Finetune ``tokenization_enc_dec_encn.py``, vocabulary ``bpe_cn_en``): no
    half-width map, ``▂`` counts as Chinese, the space filter drops the id 11 (``▂`` there), an empty text is no
    tokens, and decoding glues ``##`` pieces to their word before spacing the non-Chinese words."""

    space_id = 11

    def normalize(self, text: str) -> str:
        return text

    def is_chinese(self, text: str) -> bool:
        return _has_chinese(text) or text == "\u2582"

    def _decode(
        self,
        token_ids: int | list[int],
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
        **kwargs: Any,
    ) -> str:
        ids = kept_ids(self, token_ids, skip_special_tokens)
        words: list[str] = []
        for token in (self._convert_id_to_token(i) for i in ids):
            if words and token.startswith("##"):
                words[-1] += token[2:]
            else:
                words.append(token)
        spaced: list[str] = []
        for i, word in enumerate(words):
            spaced.append(word)
            if i + 1 < len(words) and not self.is_chinese(word) and not self.is_chinese(words[i + 1]):
                spaced.append("\u2582")
        return self.convert_tokens_to_string(spaced)


CLASSES: dict[str, type[EvaTokenizer]] = {
    "EvaTokenizer": EvaTokenizer,
    "Cpm2Tokenizer": Cpm2Tokenizer,
    "Cpm2EnCnTokenizer": Cpm2EnCnTokenizer,
}


def register() -> None:
    """Make ``AutoTokenizer`` resolve ``tokenizer_class: EvaTokenizer`` / ``Cpm2Tokenizer`` (idempotent)."""
    register_tokenizer("zhplm-eva-tokenizer", EvaTokenizer)
    register_tokenizer("zhplm-cpm2-tokenizer", Cpm2Tokenizer)
    register_tokenizer("zhplm-cpm2-encn-tokenizer", Cpm2EnCnTokenizer)


def cpm2_class_for(vocab: Path) -> str:
    """``bpe_cn`` (``▂`` is id 10) → :class:`Cpm2Tokenizer`; ``bpe_cn_en`` (``▂`` is id 11) → :class:`Cpm2EnCnTokenizer`."""
    return "Cpm2EnCnTokenizer" if load_vocab(vocab).get("\u2582") == 11 else "Cpm2Tokenizer"


def write_tokenizer(vocab: Path, out: Path, class_name: str) -> list[str]:
    """Copy the release's vocab.txt and write a ``tokenizer_config.json`` naming ``class_name``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / VOCAB_FILE).write_bytes(vocab.read_bytes())
    tok = CLASSES[class_name](vocab_file=str(out / VOCAB_FILE))
    tok.save_pretrained(str(out))
    return [
        f"tokenizer: {class_name} (Python jieba + longest-match pieces); loading it needs zhplm and jieba"
    ]
