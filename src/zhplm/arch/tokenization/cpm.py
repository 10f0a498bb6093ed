"""CPM-1's and PanGu-α's tokenizer: jieba words, spaces and newlines made visible, then sentencepiece.

CPM-Generate's ``data_utils/tokenization_gpt2.py`` (its ``GPT2Tokenizer``, the one the model was trained and
sampled with) cuts the text with Python jieba (``jieba.cut(text, cut_all=False)``: dictionary + HMM), maps
``" "`` → U+2582 ``▂`` and ``"\\n"`` → U+2583 ``▃`` inside every word, joins the words with a space (which
sentencepiece turns into its ``▁`` word boundary) and encodes with ``bpe_3w_new/chinese_vocab.model``.
Decoding is sentencepiece's, then every space is dropped and ``▂``/``▃`` become space/newline again.

transformers' ``CpmTokenizer`` does the same with ``rjieba`` (jieba-rs), whose segmentation differs from
Python jieba on some texts, and so would feed the model other ids than it was trained on: this class uses
Python jieba. No ``tokenizer.json`` can express jieba, so it is a Python tokenizer; :func:`register` makes
``AutoTokenizer.from_pretrained(folder)`` find it by the ``tokenizer_class`` of ``tokenizer_config.json``.

PanGu-α's ``tokenization_jieba.py`` (``JIEBATokenizer``) is the same procedure over its own 40k
``tokenizer/vocab.model`` (ids are the model's pieces, which ``vocab.vocab`` lists in the same order);
:class:`PanguJiebaTokenizer` differs only in the file name and the special pieces (``<eot>`` ends a text).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizer

from zhplm.arch.tokenization._vocab import CopiedVocabFile, SentencePieceVocab, kept_ids, register_tokenizer
from zhplm.arch.tokenization.segment import cut
from zhplm.errors import MissingDependencyError

TOKENIZER_CLASS = "CpmJiebaTokenizer"
MODEL_FILE = "chinese_vocab.model"
# the release's special pieces (bpe_3w_new/vocab.json): <eod> ends a document, <pad> fills a batch
EOD, PAD, UNK = "<eod>", "<pad>", "<unk>"
_TO_VISIBLE = str.maketrans(" \n", "\u2582\u2583")


def _sentencepiece(model_file: str) -> Any:
    try:
        import sentencepiece as spm
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MissingDependencyError("sentencepiece", "torch", "tokenize CPM-1 text") from exc
    return spm.SentencePieceProcessor(model_file=model_file)


def segment(text: str) -> str:
    """The text sentencepiece sees: jieba words with spaces/newlines made visible, joined by spaces."""
    return " ".join(word.translate(_TO_VISIBLE) for word in cut(text, hmm=True))


def restore(decoded: str) -> str:
    """sentencepiece's decoded text back to the original: word-boundary spaces dropped, ▂ ▃ → space, newline."""
    return decoded.replace(" ", "").replace("\u2582", " ").replace("\u2583", "\n")


class CpmJiebaTokenizer(CopiedVocabFile, SentencePieceVocab, PreTrainedTokenizer):  # type: ignore[misc]
    """jieba + sentencepiece with the U+2582/U+2583 space/newline mapping, as CPM-1 was trained."""

    release = "CPM-1"

    vocab_files_names = {"vocab_file": MODEL_FILE}  # noqa: RUF012 (transformers declares it so)
    model_input_names = ["input_ids", "attention_mask"]  # noqa: RUF012

    def __init__(
        self,
        vocab_file: str | None = None,
        eos_token: str = EOD,
        pad_token: str = PAD,
        unk_token: str = UNK,
        **kwargs: Any,
    ) -> None:
        if vocab_file is None or not os.path.isfile(vocab_file):
            raise ValueError(
                f"{type(self).__name__} needs its sentencepiece model {self.vocab_files_names['vocab_file']}, "
                f"got {vocab_file!r}"
            )
        self.vocab_file = vocab_file
        self.sp = _sentencepiece(vocab_file)
        kwargs.setdefault("clean_up_tokenization_spaces", False)
        super().__init__(  # type: ignore[no-untyped-call]
            eos_token=eos_token, pad_token=pad_token, unk_token=unk_token, **kwargs
        )

    def _tokenize(self, text: str, **kwargs: Any) -> list[str]:
        return [str(p) for p in self.sp.encode(segment(text), out_type=str)]

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return restore(str(self.sp.decode_pieces(list(tokens))))

    def _decode(
        self,
        token_ids: int | list[int],
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
        **kwargs: Any,
    ) -> str:
        ids = kept_ids(self, token_ids, skip_special_tokens)
        return restore(str(self.sp.decode(ids)))  # as the original: from the ids


class PanguJiebaTokenizer(CpmJiebaTokenizer):
    """PanGu-α's ``JIEBATokenizer``: the CPM-1 procedure over ``vocab.model``; ``<eot>`` ends a text."""

    release = "PanGu-α"
    vocab_files_names = {"vocab_file": "vocab.model"}  # noqa: RUF012 (transformers declares it so)

    def __init__(
        self,
        vocab_file: str | None = None,
        eos_token: str = "<eot>",
        pad_token: str = PAD,
        unk_token: str = UNK,
        **kwargs: Any,
    ) -> None:
        super().__init__(vocab_file, eos_token=eos_token, pad_token=pad_token, unk_token=unk_token, **kwargs)


def register() -> None:
    """Make ``AutoTokenizer`` resolve ``tokenizer_class: CpmJiebaTokenizer`` / ``PanguJiebaTokenizer``
    (idempotent)."""
    register_tokenizer("zhplm-cpm-jieba", CpmJiebaTokenizer)
    register_tokenizer("zhplm-pangu-jieba", PanguJiebaTokenizer)


def write_cpm_tokenizer(
    model_file: Path, out: Path, cls: type[CpmJiebaTokenizer] = CpmJiebaTokenizer
) -> list[str]:
    """Write the sentencepiece model + ``tokenizer_config.json`` naming ``cls`` (CPM-1's by default)."""
    out.mkdir(parents=True, exist_ok=True)
    cls(vocab_file=str(model_file)).save_pretrained(str(out))
    return [
        f"tokenizer: Python jieba + sentencepiece ({cls.release}'s own); loading it needs zhplm and jieba"
    ]
