"""GLM's Chinese tokenizer: ``ChineseSPTokenizer`` of THUDM/GLM ``data_utils/tokenization.py``.

The text pieces are plain sentencepiece (``chinese_sentencepiece/cog-pretrain.model``, 50000 pieces, ids as
the model's). The command tokens come after them, with the ids the original assigns (``--block-lm
--task-mask``; :func:`zhplm.arch.glm.special_ids`): ``<|endoftext|>`` 50000 (pad and end of document),
``[SEP]`` 50001, ``[CLS]`` 50002, ``[MASK]`` 50003, ``[UNK]`` 50004, ``<|startofpiece|>`` 50006,
``<|endofpiece|>`` 50007, then ``[sMASK]``/``[gMASK]`` 50008/50009 with ``--fix-command-token`` (large-chinese)
or ``[gMASK]``/``[sMASK]`` 50007/50008 without it (10B-chinese: ``[gMASK]`` shares ``<|endofpiece|>``'s id, and
that id decodes as ``[gMASK]``, as the original's id map keeps the later token).

Encoding splits the text on the command tokens (in the original's order); the mask tokens strip the
whitespace before them (``lstrip=True``); every other span goes to sentencepiece alone. Decoding renders a
command id as its token text and the spans between them with sentencepiece. A prompt is
``[CLS] text [eos]`` (``generate_samples.py``; no ``[eos]`` after a trailing ``[gMASK]``):
:meth:`GLMChineseTokenizer.build_inputs_with_special_tokens` adds ``[CLS]`` and the PromptFormat adds the rest.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizer

from zhplm.arch.tokenization._vocab import CopiedVocabFile, register_tokenizer
from zhplm.errors import MissingDependencyError

TOKENIZER_CLASS = "GLMChineseTokenizer"
MODEL_FILE = "cog-pretrain.model"
# (name, text, lstrip) in the original's order; ids from special_ids()
_COMMANDS = (
    ("pad", "<|endoftext|>", False),
    ("eos", "<|endoftext|>", False),
    ("sep", "[SEP]", False),
    ("cls", "[CLS]", False),
    ("mask", "[MASK]", True),
    ("unk", "[UNK]", False),
    ("sop", "<|startofpiece|>", False),
    ("eop", "<|endofpiece|>", False),
)


def _sentencepiece(model_file: str) -> Any:
    try:
        import sentencepiece as spm
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MissingDependencyError("sentencepiece", "torch", "tokenize GLM text") from exc
    return spm.SentencePieceProcessor(model_file=model_file)


class GLMChineseTokenizer(CopiedVocabFile, PreTrainedTokenizer):  # type: ignore[misc]
    """cog-pretrain sentencepiece + GLM's command tokens at the original ids."""

    vocab_files_names = {"vocab_file": MODEL_FILE}  # noqa: RUF012 (transformers declares it so)
    model_input_names = ["input_ids", "attention_mask"]  # noqa: RUF012

    def __init__(self, vocab_file: str | None = None, fix_command_token: bool = True, **kwargs: Any) -> None:
        if vocab_file is None or not os.path.isfile(vocab_file):
            raise ValueError(
                f"GLMChineseTokenizer needs its sentencepiece model {MODEL_FILE}, got {vocab_file!r}"
            )
        from zhplm.arch.glm import special_ids

        self.vocab_file = vocab_file
        self.fix_command_token = bool(fix_command_token)
        self.sp = _sentencepiece(vocab_file)
        ids = special_ids(self.fix_command_token, int(self.sp.get_piece_size()))
        commands = [*_COMMANDS]
        task = [("smask", "[sMASK]", True), ("gmask", "[gMASK]", True)]
        commands += task if self.fix_command_token else task[::-1]
        self.commands = [(text, ids[name], lstrip) for name, text, lstrip in commands]
        self.command_ids = {text: i for text, i, _ in self.commands}
        self.id_commands = {i: text for text, i, _ in self.commands}  # later wins, as the original's map
        for key, text in (("eos_token", "<|endoftext|>"), ("pad_token", "<|endoftext|>"),
                          ("unk_token", "[UNK]"), ("mask_token", "[MASK]"), ("cls_token", "[CLS]"),
                          ("sep_token", "[SEP]")):  # fmt: skip
            kwargs.setdefault(key, text)
        kwargs.setdefault("clean_up_tokenization_spaces", False)
        super().__init__(fix_command_token=self.fix_command_token, **kwargs)  # type: ignore[no-untyped-call]

    @property
    def vocab_size(self) -> int:
        return int(self.sp.get_piece_size())

    def __len__(self) -> int:
        return max(self.id_commands) + 1

    def get_vocab(self) -> dict[str, int]:
        vocab = {self.sp.id_to_piece(i): i for i in range(self.vocab_size)}
        return {**vocab, **self.command_ids}

    def tokenize(self, text: str, **kwargs: Any) -> list[str]:  # type: ignore[override]
        """The original ``EncodeAsIds`` split: command tokens out (the mask ones eating the spaces before
        them), the rest through sentencepiece."""
        if not text.strip():
            return []
        spans = [text]
        for command, _, lstrip in self.commands:
            out: list[str] = []
            for span in spans:
                if span in self.command_ids:
                    out.append(span)
                    continue
                parts = span.split(command)
                for i, part in enumerate(parts):
                    if lstrip and i < len(parts) - 1:
                        part = part.rstrip()
                    if part:
                        out.append(part)
                    if i < len(parts) - 1:
                        out.append(command)
            spans = out
        tokens: list[str] = []
        for span in spans:
            tokens += (
                [span] if span in self.command_ids else [str(p) for p in self.sp.encode(span, out_type=str)]
            )
        return tokens

    def _tokenize(self, text: str, **kwargs: Any) -> list[str]:
        return self.tokenize(text)

    def _convert_token_to_id(self, token: str) -> int:
        if token in self.command_ids:
            return self.command_ids[token]
        return int(self.sp.piece_to_id(token))

    def _convert_id_to_token(self, index: int) -> str:
        index = int(index)
        if index in self.id_commands:
            return self.id_commands[index]
        if index >= self.vocab_size:
            return "[UNK]"
        return str(self.sp.id_to_piece(index))

    def build_inputs_with_special_tokens(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        """``[CLS]`` first, as ``generate_samples.py`` and GLM's fine-tuning data start every text."""
        out = [self.command_ids["[CLS]"], *token_ids_0]
        return out if token_ids_1 is None else [*out, *token_ids_1]

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return self._decode([self._convert_token_to_id(t) for t in tokens])

    def _decode(
        self,
        token_ids: int | list[int],
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
        **kwargs: Any,
    ) -> str:
        """The original ``DecodeIds``: command ids as their text, the spans between them by sentencepiece."""
        ids = [token_ids] if isinstance(token_ids, int) else [int(i) for i in token_ids]
        text = ""
        span: list[int] = []
        for i in ids:
            if i in self.id_commands:
                if span:
                    text += str(self.sp.decode(span))
                span = []
                if not skip_special_tokens:
                    text += self.id_commands[i]
            elif i < self.vocab_size:
                span.append(i)
        if span:
            text += str(self.sp.decode(span))
        return text


def register() -> None:
    """Make ``AutoTokenizer`` resolve ``tokenizer_class: GLMChineseTokenizer`` (idempotent)."""
    register_tokenizer("zhplm-glm-chinese-sp", GLMChineseTokenizer)


def write_glm_tokenizer(model_file: Path, out: Path, fix_command_token: bool = True) -> list[str]:
    """Write ``cog-pretrain.model`` + ``tokenizer_config.json`` naming :class:`GLMChineseTokenizer`."""
    out.mkdir(parents=True, exist_ok=True)
    GLMChineseTokenizer(vocab_file=str(model_file), fix_command_token=fix_command_token).save_pretrained(
        str(out)
    )
    return ["tokenizer: cog-pretrain sentencepiece + GLM's command tokens (ChineseSPTokenizer); needs zhplm"]
