"""Chinese-Transformer-XL's tokenizer: the plain sentencepiece ``cog-pretrain.model`` + ``<|endoftext|>``.

THUDM's ``data_utils/tokenization.py`` ``ChineseSPTokenizer`` encodes with ``sp_tokenizer.Encoder_SP``
(``SentencePieceProcessor.EncodeAsIds`` of ``chinese_sentencepiece/cog-pretrain.model``: no jieba, no
pre-processing) and decodes with ``DecodeIds``; its one command token, ``<|endoftext|>`` (both ``pad`` and
``eos``), takes the id after the 50000 pieces. The sentencepiece model is the whole vocabulary and no
``tokenizer.json`` is needed to run it, so this is a Python tokenizer over the ``.model`` file;
:func:`register` makes ``AutoTokenizer`` find it by the ``tokenizer_class`` of ``tokenizer_config.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizer

from zhplm.arch.tokenization._vocab import CopiedVocabFile, SentencePieceVocab, register_tokenizer
from zhplm.errors import MissingDependencyError

MODEL_FILE = "cog-pretrain.model"
END = "<|endoftext|>"


class CogSentencePieceTokenizer(CopiedVocabFile, SentencePieceVocab, PreTrainedTokenizer):  # type: ignore[misc]
    """``cog-pretrain.model`` as ``ChineseSPTokenizer`` uses it; ``<|endoftext|>`` is pad and end of text."""

    vocab_files_names = {"vocab_file": MODEL_FILE}  # noqa: RUF012 (transformers declares it so)
    model_input_names = ["input_ids", "attention_mask"]  # noqa: RUF012

    def __init__(
        self, vocab_file: str | None = None, eos_token: str = END, pad_token: str = END, **kwargs: Any
    ) -> None:
        if vocab_file is None:
            raise ValueError(f"CogSentencePieceTokenizer needs its {MODEL_FILE}")
        try:
            import sentencepiece as spm
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise MissingDependencyError(
                "sentencepiece", "torch", "tokenize Chinese-Transformer-XL text"
            ) from exc
        self.vocab_file = vocab_file
        self.sp = spm.SentencePieceProcessor(model_file=vocab_file)
        kwargs.setdefault("unk_token", str(self.sp.id_to_piece(self.sp.unk_id())))
        super().__init__(eos_token=eos_token, pad_token=pad_token, **kwargs)  # type: ignore[no-untyped-call]

    def _tokenize(self, text: str, **kwargs: Any) -> list[str]:
        return [str(p) for p in self.sp.encode(text, out_type=str)]

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return str(self.sp.decode_pieces(list(tokens)))

    def _decode(
        self,
        token_ids: int | list[int],
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
        **kwargs: Any,
    ) -> str:
        ids = [token_ids] if isinstance(token_ids, int) else list(token_ids)
        out: list[str] = []
        run: list[int] = []
        for i in (int(x) for x in ids):  # DecodeIds over the pieces; the end token as its text
            if i < self.vocab_size:
                run.append(i)
                continue
            out.append(str(self.sp.decode(run)))
            run = []
            if not skip_special_tokens:
                out.append(self.convert_ids_to_tokens(i))
        out.append(str(self.sp.decode(run)))
        return "".join(out)


def register() -> None:
    """Make ``AutoTokenizer`` resolve ``tokenizer_class: CogSentencePieceTokenizer`` (idempotent)."""
    register_tokenizer("zhplm-cog-sentencepiece", CogSentencePieceTokenizer)


def write_cog_tokenizer(model_file: Path, out: Path) -> list[str]:
    """Write ``cog-pretrain.model`` + ``tokenizer_config.json`` naming :class:`CogSentencePieceTokenizer`."""
    out.mkdir(parents=True, exist_ok=True)
    CogSentencePieceTokenizer(vocab_file=str(model_file)).save_pretrained(str(out))
    return [
        "tokenizer: sentencepiece cog-pretrain.model (Chinese-Transformer-XL's own); loading it needs zhplm"
    ]
