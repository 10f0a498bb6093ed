"""CogView's unified tokenizer: ``data_utils/unified_tokenizer.py`` ``UnifiedTokenizer`` of THUDM/CogView.

One id space for images and text: the VQ-VAE's image codes first (ids ``0 … image_tokens-1``; 8192 in the
release), then the ``cog-pretrain.model`` sentencepiece pieces shifted by ``image_tokens`` (50000 of them:
text id = ``EncodeAsIds`` + 8192), then the 27 command tokens in the original's order (``[PAD]`` 58192,
``[BOI1]`` 58193, ``[EOI1]`` 58196, ``[ROI1]`` 58199, ``[SEP]`` 58202, ``[MASK]`` 58203, ``[BASE]`` 58208,
``[POS0]`` 58210 …). CogView has no ``[EOS]``: a text-to-image prompt is ``[ROI1] text [BASE] [BOI1]``
followed by 1024 image codes.

Encoding is the original ``parse_query`` for text and command tokens: the input is split on single spaces; a
word that is a command token becomes its id, the other words are joined back with spaces and go through
sentencepiece. (The original's ``[MASK]*N`` and ``[Image]path`` prompt words are generation directives, not
tokens: the text-to-image pipeline builds those parts itself.) Image codes are tokens ``<image_N>`` that no
text encodes to; decoding renders text pieces with sentencepiece, command ids as their names and leaves
image codes out (``skip_special_tokens``-free decoding writes them as ``<image_N>``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizer

from zhplm.arch.tokenization._vocab import CopiedVocabFile, register_tokenizer
from zhplm.errors import MissingDependencyError

TOKENIZER_CLASS = "CogViewTokenizer"
MODEL_FILE = "cog-pretrain.model"
IMAGE_TOKENS = 8192  # the release's VQ-VAE codebook (vqvae_hard_biggerset_011.pt: quantize_t.n_embed)
# unified_tokenizer.py raw_command_tokens, in order (their offsets after the text pieces)
COMMANDS = (
    "[PAD]", "[BOI1]", "[BOI2]", "[BOI3]", "[EOI1]", "[EOI2]", "[EOI3]", "[ROI1]", "[ROI2]", "[ROI3]",
    "[SEP]", "[MASK]", "[CLS]", "[ENC]", "[TINY]", "[SMALL]", "[BASE]", "[BIG]",
    "[POS0]", "[POS1]", "[POS2]", "[POS3]", "[POS4]", "[POS5]", "[POS6]", "[POS7]", "[POS8]",
)  # fmt: skip
_IMAGE = re.compile(r"<image_(\d+)>")


class CogViewTokenizer(CopiedVocabFile, PreTrainedTokenizer):  # type: ignore[misc]
    """``UnifiedTokenizer`` ids: image codes, then cog-pretrain pieces, then CogView's command tokens."""

    vocab_files_names = {"vocab_file": MODEL_FILE}  # noqa: RUF012 (transformers declares it so)
    model_input_names = ["input_ids", "attention_mask"]  # noqa: RUF012

    def __init__(
        self, vocab_file: str | None = None, image_tokens: int = IMAGE_TOKENS, **kwargs: Any
    ) -> None:
        if vocab_file is None or not os.path.isfile(vocab_file):
            raise ValueError(
                f"CogViewTokenizer needs its sentencepiece model {MODEL_FILE}, got {vocab_file!r}"
            )
        try:
            import sentencepiece as spm
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise MissingDependencyError("sentencepiece", "torch", "tokenize CogView text") from exc
        if int(image_tokens) <= 0:
            raise ValueError(f"image_tokens must be positive, got {image_tokens}")
        self.vocab_file = vocab_file
        self.sp = spm.SentencePieceProcessor(model_file=vocab_file)
        self.image_tokens = int(image_tokens)
        self.text_tokens = int(self.sp.get_piece_size())
        first = self.image_tokens + self.text_tokens
        self.command_ids = {name: first + i for i, name in enumerate(COMMANDS)}
        self.id_commands = {i: name for name, i in self.command_ids.items()}
        kwargs.setdefault("pad_token", "[PAD]")
        kwargs.setdefault("sep_token", "[SEP]")
        kwargs.setdefault("cls_token", "[CLS]")
        kwargs.setdefault("mask_token", "[MASK]")
        kwargs.setdefault("unk_token", str(self.sp.id_to_piece(self.sp.unk_id())))
        kwargs.setdefault("clean_up_tokenization_spaces", False)
        super().__init__(image_tokens=self.image_tokens, **kwargs)  # type: ignore[no-untyped-call]

    # -- the id space ------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self.image_tokens + self.text_tokens + len(COMMANDS)

    def __len__(self) -> int:
        return self.vocab_size

    @property
    def image_id_range(self) -> range:
        """The ids of image codes (what the model may write between ``[BOI1]`` and the image's end)."""
        return range(self.image_tokens)

    def get_vocab(self) -> dict[str, int]:
        vocab = {f"<image_{i}>": i for i in range(self.image_tokens)}
        vocab.update({self.sp.id_to_piece(i): self.image_tokens + i for i in range(self.text_tokens)})
        return {**vocab, **self.command_ids}

    # -- encoding ----------------------------------------------------------------------------
    def tokenize(self, text: str, **kwargs: Any) -> list[str]:  # type: ignore[override]
        """``parse_query``'s split: space-separated command words stand alone, the rest is sentencepiece."""
        tokens: list[str] = []
        words: list[str] = []

        def dump() -> None:
            if words:
                tokens.extend(str(p) for p in self.sp.encode(" ".join(words), out_type=str))
                words.clear()

        for part in text.split(" "):
            if part in self.command_ids:
                dump()
                tokens.append(part)
            else:
                words.append(part)
        dump()
        return tokens

    def _tokenize(self, text: str, **kwargs: Any) -> list[str]:
        return self.tokenize(text)

    def _convert_token_to_id(self, token: str) -> int:
        if token in self.command_ids:
            return self.command_ids[token]
        image = _IMAGE.fullmatch(token)
        if image and int(image.group(1)) < self.image_tokens:
            return int(image.group(1))
        return self.image_tokens + int(self.sp.piece_to_id(token))

    def _convert_id_to_token(self, index: int) -> str:
        index = int(index)
        if index in self.id_commands:
            return self.id_commands[index]
        if 0 <= index < self.image_tokens:
            return f"<image_{index}>"
        if self.image_tokens <= index < self.image_tokens + self.text_tokens:
            return str(self.sp.id_to_piece(index - self.image_tokens))
        return str(self.unk_token)

    # -- decoding ----------------------------------------------------------------------------
    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return self._decode([self._convert_token_to_id(t) for t in tokens])

    def _decode(
        self,
        token_ids: int | list[int],
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
        **kwargs: Any,
    ) -> str:
        """The text part of the original ``DecodeIds``: text runs by sentencepiece, command ids by name."""
        ids = [token_ids] if isinstance(token_ids, int) else [int(i) for i in token_ids]
        out: list[str] = []
        run: list[int] = []
        for i in ids:
            if self.image_tokens <= i < self.image_tokens + self.text_tokens:
                run.append(i - self.image_tokens)
                continue
            if run:
                out.append(str(self.sp.decode(run)))
                run = []
            if not skip_special_tokens and (i in self.id_commands or 0 <= i < self.image_tokens):
                out.append(self._convert_id_to_token(i))
        if run:
            out.append(str(self.sp.decode(run)))
        return "".join(out)


def register() -> None:
    """Make ``AutoTokenizer`` resolve ``tokenizer_class: CogViewTokenizer`` (idempotent)."""
    register_tokenizer("zhplm-cogview-unified", CogViewTokenizer)


def write_cogview_tokenizer(model_file: Path, out: Path, image_tokens: int = IMAGE_TOKENS) -> list[str]:
    """Write ``cog-pretrain.model`` + ``tokenizer_config.json`` naming :class:`CogViewTokenizer`."""
    out.mkdir(parents=True, exist_ok=True)
    CogViewTokenizer(vocab_file=str(model_file), image_tokens=image_tokens).save_pretrained(str(out))
    return [
        f"tokenizer: CogView's unified ids ({image_tokens} image codes, cog-pretrain text pieces after them, "
        "command tokens such as [BOI1] last); loading it needs zhplm"
    ]
