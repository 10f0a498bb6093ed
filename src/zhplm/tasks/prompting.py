"""How each generative model is prompted, and how its output becomes text: one :class:`PromptFormat` per
way of prompting, found by name (a catalog row's ``prompt_format``, recorded in ``zhplm.json`` when the row
is converted).

The formats are read from the authors' own inference scripts:

* ``plain``: the text's tokens, nothing added (BLOOM, byte-level BPE models).
* ``gpt2-chinese``: GPT2-Chinese's own models (``generate.py``): the text as it is, newlines as ``[SEP]``
  (``train.py`` writes a line break as ``[SEP]``), every digit its own token (the repository's
  ``tokenization_bert.py`` splits digits like Chinese characters); ``[UNK]`` is never generated; ``[SEP]`` reads back as a
  newline, ``[CLS]`` (end of an article) as a blank line.
* ``cls-prefix``: UER-trained GPT-2 (GPT2-Chinese's poem and couplet models; the README: "[CLS]梅山如积翠，"):
  a leading ``[CLS]``; ``[SEP]`` ends the text.
* ``cdial``: CDial-GPT (``interact.py``): ``[CLS] [speaker1] u1 [speaker2] u2 … [speakerX]``, every
  character a token (spaces dropped), ``token_type_ids`` = the speaker token of each segment (``[CLS]`` for
  itself); the reply ends at any special token.
* ``chitchat``: GPT2-chitchat (``interact.py``): ``[CLS] u1 [SEP] u2 [SEP] …``, the reply ends at ``[SEP]``,
  ``[UNK]`` is never generated.
* ``sep-end``: gpt2-ml: the text's tokens, the sample ends at ``[SEP]``.
* ``nezha-gen`` / ``yuefu``: NEZHA-Gen general (``[CLS]`` + the last 100 tokens) and Yuefu poetry
  (``[CLS]`` + ``{体裁}(格式){标题}(诗歌标题)``).
* ``cls-prefix-period``: roformer-gpt: ``[CLS]`` + the text, ends at ``。``.
* ``unilm``: SimBERT / RoFormer-sim: ``[CLS] text [SEP]`` as segment 0, the reply as segment 1.
* ``unilm-s2s``: Yunwen's UniLM (``decode_seq2seq.py``): the same layout with token types 4 / 5.
* ``seq2seq``: encoder-decoders (T5, T5-PEGASUS, BART, CPT): the text with the tokenizer's specials goes to the
  encoder; the output ends at ``[SEP]`` / ``</s>``.
* ``ai-writer``: RWKV-1 / AI-Writer (``run.py``): each line of the text stripped of spaces and U+3000, the
  lines joined by newlines, one newline in front; one id per character; the unknown character is never
  generated and the text runs to the length asked for.
* ``glm-blank``: GLM (``generate_samples.py`` with ``--block-lm --task-mask``): ``[CLS] text [eos] <|startofpiece|>``;
  a text without ``[MASK]``/``[sMASK]``/``[gMASK]`` gets `` [gMASK]`` appended (and then no ``[eos]``); the
  generated piece fills the first blank and ends at ``<|endofpiece|>`` (or ``<|endoftext|>``).
* ``chitchat-mmi``: GPT2-chitchat's MMI model, the same layout over the reversed dialogue: ``[CLS] reply
  [SEP] u_n [SEP] … u_1 [SEP]`` (``interact_mmi.py``), scored by its loss to rerank candidate replies.

Nothing here imports torch: a format works on token ids through a tokenizer passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from zhplm.errors import ConversionError


@dataclass(frozen=True)
class Encoded:
    """A prompt as the model takes it; ``token_type_ids`` only where the format uses them."""

    input_ids: list[int]
    token_type_ids: list[int] | None = None


class PromptFormat:
    """Plain continuation: the text's tokens, decoded back with the tokenizer's own rules."""

    name: ClassVar[str] = "plain"
    dialogue: ClassVar[bool] = False  # builds a prompt from a dialogue history (``zhplm chat``)
    # sampling defaults of the authors' own chat scripts (``zhplm chat`` starts from them)
    chat_defaults: ClassVar[dict[str, Any]] = {}

    def tokens(self, tokenizer: Any, text: str) -> list[int]:
        ids: list[int] = tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids

    def encode(self, tokenizer: Any, text: str) -> Encoded:
        """A continuation prompt (a dialogue format reads it as one user turn)."""
        if self.dialogue:
            return self.encode_dialogue(tokenizer, [text])
        return Encoded(self.tokens(tokenizer, text))

    def encode_dialogue(self, tokenizer: Any, history: Sequence[str]) -> Encoded:
        """The prompt for the next reply after ``history`` (alternating turns, the user's first)."""
        raise ConversionError(
            f"the {self.name!r} prompt format is not a dialogue format: use generate, not chat"
        )

    def stop_ids(self, tokenizer: Any) -> list[int]:
        """Token ids that end a generation."""
        eos = tokenizer.eos_token_id
        return [eos] if eos is not None else []

    def banned_ids(self, tokenizer: Any) -> list[int]:
        """Token ids never generated."""
        return []

    def render(self, tokenizer: Any, ids: Sequence[int]) -> str:
        """The text of generated ids; a prefix of the ids renders as a prefix of the text (streaming
        relies on it)."""
        if is_wordpiece(tokenizer):
            return join_wordpieces(tokenizer, ids)
        text: str = tokenizer.decode(list(ids), skip_special_tokens=True)
        return text


class Gpt2ChineseFormat(PromptFormat):
    name = "gpt2-chinese"
    SHOWN: ClassVar[dict[str, str]] = {"[SEP]": "\n", "[CLS]": "\n\n", "[MASK]": ""}

    def tokens(self, tokenizer: Any, text: str) -> list[int]:
        ids: list[int] = []
        for n, line in enumerate(text.split("\n")):
            if n:
                ids.append(tokenizer.sep_token_id)
            ids += super().tokens(tokenizer, "".join(f" {c} " if c.isdigit() else c for c in line))
        return ids

    def stop_ids(self, tokenizer: Any) -> list[int]:
        return []  # generate.py writes until the length asked for

    def banned_ids(self, tokenizer: Any) -> list[int]:
        return [tokenizer.unk_token_id]

    def render(self, tokenizer: Any, ids: Sequence[int]) -> str:
        return join_wordpieces(tokenizer, ids, shown=self.SHOWN)


class ClsPrefixFormat(PromptFormat):
    name = "cls-prefix"

    def encode(self, tokenizer: Any, text: str) -> Encoded:
        return Encoded([tokenizer.cls_token_id, *self.tokens(tokenizer, text)])

    def stop_ids(self, tokenizer: Any) -> list[int]:
        return [tokenizer.sep_token_id]

    def banned_ids(self, tokenizer: Any) -> list[int]:
        return [tokenizer.unk_token_id]


class CdialFormat(PromptFormat):
    name = "cdial"
    dialogue = True
    SPEAKERS = ("[speaker1]", "[speaker2]")
    chat_defaults: ClassVar[dict[str, Any]] = {
        "sample": True,
        "temperature": 0.7,
        "top_p": 0.9,
        "max_new_tokens": 30,
    }

    def tokens(self, tokenizer: Any, text: str) -> list[int]:
        # interact.py: " ".join(list(text.replace(" ", ""))): every character is a token
        chars = " ".join(text.replace(" ", ""))
        return super().tokens(tokenizer, chars)

    def encode_dialogue(self, tokenizer: Any, history: Sequence[str]) -> Encoded:
        speakers = [_token_id(tokenizer, t) for t in self.SPEAKERS]
        ids = [tokenizer.cls_token_id]
        types = [tokenizer.cls_token_id]
        for n, turn in enumerate([*history, ""]):  # the last segment is the reply, begun by its speaker
            speaker = speakers[n % 2]
            segment = [speaker, *(self.tokens(tokenizer, turn) if turn else [])]
            ids += segment
            types += [speaker] * len(segment)
        return Encoded(ids, types)

    def stop_ids(self, tokenizer: Any) -> list[int]:
        specials = ["[CLS]", "[SEP]", "[PAD]", *self.SPEAKERS]
        return [_token_id(tokenizer, t) for t in specials]


class ChitchatFormat(PromptFormat):
    name = "chitchat"
    dialogue = True
    chat_defaults: ClassVar[dict[str, Any]] = {"sample": True, "top_k": 8, "max_new_tokens": 25}

    def encode_dialogue(self, tokenizer: Any, history: Sequence[str]) -> Encoded:
        ids = [tokenizer.cls_token_id]
        for turn in history:
            ids += [*self.tokens(tokenizer, turn), tokenizer.sep_token_id]
        return Encoded(ids)

    def stop_ids(self, tokenizer: Any) -> list[int]:
        return [tokenizer.sep_token_id]

    def banned_ids(self, tokenizer: Any) -> list[int]:
        return [tokenizer.unk_token_id]


class ChitchatMmiFormat(ChitchatFormat):
    """The reverse model: it reads a reply followed by the dialogue backwards."""

    name = "chitchat-mmi"

    def scoring_prompt(self, tokenizer: Any, history: Sequence[str], reply: str) -> Encoded:
        return self.encode_dialogue(tokenizer, [reply, *reversed(history)])


class SepEndFormat(PromptFormat):
    """gpt2-ml (``scripts/demo.py`` / ``train/modeling.py`` ``sample``): the text's tokens, no ``[CLS]``; the
    sample ends at ``[SEP]`` (id 102 in its BERT vocabularies)."""

    name = "sep-end"

    def stop_ids(self, tokenizer: Any) -> list[int]:
        return [tokenizer.sep_token_id]


class NezhaGenFormat(ClsPrefixFormat):
    """NEZHA-Gen general (``run_nezha_gen.py``): ``[CLS]`` + the last 100 tokens of the text."""

    name = "nezha-gen"
    CONTEXT = 100

    def encode(self, tokenizer: Any, text: str) -> Encoded:
        return Encoded([tokenizer.cls_token_id, *self.tokens(tokenizer, text)[-self.CONTEXT :]])


class YuefuFormat(ClsPrefixFormat):
    """NEZHA-Gen Yuefu poetry: ``[CLS]`` + ``{体裁}(格式){标题}(诗歌标题)``, 体裁 one of 五言绝句, 七言绝句,
    五言律诗, 七言律诗. The prompt is ``体裁|标题`` (e.g. ``七言绝句|春望``) or already in that template."""

    name = "yuefu"
    FORMS = ("五言绝句", "七言绝句", "五言律诗", "七言律诗")

    def encode(self, tokenizer: Any, text: str) -> Encoded:
        if "|" in text:
            form, _, title = (part.strip() for part in text.partition("|"))
            if form not in self.FORMS:
                raise ConversionError(f"Yuefu poems are one of {', '.join(self.FORMS)}, not {form!r}")
            text = f"{form}(格式){title}(诗歌标题)"
        return super().encode(tokenizer, text)


class ClsPrefixPeriodFormat(ClsPrefixFormat):
    """roformer-gpt (``test_roformer_gpt.py``): ``[CLS]`` + the text; a sentence ends at ``。`` or ``[SEP]``."""

    name = "cls-prefix-period"

    def stop_ids(self, tokenizer: Any) -> list[int]:
        return [tokenizer.sep_token_id, _token_id(tokenizer, "。")]


class UnilmFormat(PromptFormat):
    """SimBERT / RoFormer-sim / UniLM (bert4keras ``AutoRegressiveDecoder`` over ``[CLS] text [SEP]``): the
    source is segment 0, generated tokens are segment 1 (the model classes assign it); ``[SEP]`` ends."""

    name = "unilm"
    source_type: ClassVar[int] = 0

    def encode(self, tokenizer: Any, text: str) -> Encoded:
        ids = [tokenizer.cls_token_id, *self.tokens(tokenizer, text), tokenizer.sep_token_id]
        return Encoded(ids, [self.source_type] * len(ids))

    def stop_ids(self, tokenizer: Any) -> list[int]:
        return [tokenizer.sep_token_id]


class UnilmS2sFormat(UnilmFormat):
    """Yunwen's UniLM (``decode_seq2seq.py``): ``[CLS] text [SEP]`` as token type 4 (the model gives the
    generated tokens type 5 and predicts each at an appended ``[MASK]``); ``[SEP]`` ends the summary."""

    name = "unilm-s2s"
    source_type = 4


class Seq2SeqFormat(PromptFormat):
    """Encoder-decoders (T5, T5-PEGASUS, BART, CPT): the encoder reads the text with the tokenizer's own
    special tokens (``[CLS] … [SEP]`` for BERT vocabularies, ``… </s>`` for sentencepiece); the decoder's
    output ends at ``[SEP]`` (BERT vocabularies) or ``</s>``."""

    name = "seq2seq"

    def encode(self, tokenizer: Any, text: str) -> Encoded:
        return Encoded(list(tokenizer(text)["input_ids"]))

    def stop_ids(self, tokenizer: Any) -> list[int]:
        ids = [tokenizer.sep_token_id, tokenizer.eos_token_id]
        return list(dict.fromkeys(i for i in ids if i is not None))


class EvaFormat(PromptFormat):
    """EVA's dialogue layout (``src/eva_interactive.py``): every turn's tokens + ``<sep>``; the newest turns
    that fit 128 tokens (at most 8, newest first, a turn too long for what is left skipped) then ``<s_0>``;
    the decoder starts at ``<s_0>`` (the model config) and the reply ends at ``<sep>``; id 0 is never
    generated (``bad_words_ids=[[0]]``)."""

    name = "eva"
    dialogue = True
    MAX_CONTEXT, MAX_TURNS = 128, 8
    # src/scripts/eva_inference_interactive_no_beam.sh
    chat_defaults: ClassVar[dict[str, Any]] = {
        "sample": True,
        "temperature": 0.7,
        "top_p": 0.9,
        "repetition_penalty": 1.6,
        "max_new_tokens": 128,
    }

    REMEMBERED = 64  # replies whose ids are kept (a dialogue's window is 8 turns)

    def __init__(self) -> None:
        self._replies: dict[str, list[int]] = {}

    def encode_dialogue(self, tokenizer: Any, history: Sequence[str]) -> Encoded:
        sep = _token_id(tokenizer, "<sep>")
        # the original feeds a reply back as the ids it generated; its text may not read back to them (encoding
        # maps full-width punctuation to ASCII), so a turn this format rendered is taken as its ids
        turns = [[*self._replies.get(turn, self.tokens(tokenizer, turn)), sep] for turn in history]
        context: list[int] = []
        for turn in turns[: -self.MAX_TURNS - 1 : -1]:
            if len(context) + len(turn) + 1 <= self.MAX_CONTEXT:
                context = turn + context
        return Encoded([*context, _token_id(tokenizer, "<s_0>")])

    def stop_ids(self, tokenizer: Any) -> list[int]:
        return [_token_id(tokenizer, "<sep>")]

    def banned_ids(self, tokenizer: Any) -> list[int]:
        return [0]

    def render(self, tokenizer: Any, ids: Sequence[int]) -> str:
        text: str = tokenizer.decode(list(ids), skip_special_tokens=True)
        self._replies.pop(text, None)
        self._replies[text] = list(ids)
        while len(self._replies) > self.REMEMBERED:
            self._replies.pop(next(iter(self._replies)))
        return text


class Cpm2SpanFormat(PromptFormat):
    """CPM-2's span filling (its pre-training): the text then ``<s_0>`` in the encoder, the decoder starts
    at ``<s_0>`` (the model config) and the span ends at the next sentinel ``<s_1>`` or ``<eod>``."""

    name = "cpm2-span"

    def encode(self, tokenizer: Any, text: str) -> Encoded:
        return Encoded([*self.tokens(tokenizer, text), _token_id(tokenizer, "<s_0>")])

    def stop_ids(self, tokenizer: Any) -> list[int]:
        return [_token_id(tokenizer, "<s_1>"), _token_id(tokenizer, "<eod>")]

    def render(self, tokenizer: Any, ids: Sequence[int]) -> str:
        text: str = tokenizer.decode(list(ids), skip_special_tokens=True)
        return text


class AiWriterFormat(PromptFormat):
    """AI-Writer (``run.py``): the prompt cleaned line by line and begun with a newline, as the model was
    trained on novels' paragraphs; ``out[:, :, UNKNOWN_CHAR] = -inf`` before sampling; no end token."""

    name = "ai-writer"

    def encode(self, tokenizer: Any, text: str) -> Encoded:
        lines = [line.strip().strip("\u3000") for line in text.strip().split("\n")]
        return Encoded(self.tokens(tokenizer, "\n" + "\n".join(lines).strip()))

    def stop_ids(self, tokenizer: Any) -> list[int]:
        return []

    def banned_ids(self, tokenizer: Any) -> list[int]:
        return [tokenizer.unk_token_id]


class GlmBlankFormat(PromptFormat):
    """GLM's blank infilling, as ``generate_samples.py`` prompts it; the model derives the 2-D positions."""

    name = "glm-blank"

    def encode(self, tokenizer: Any, text: str) -> Encoded:
        if "MASK]" not in text:
            text += " [gMASK]"
        ids = [_token_id(tokenizer, "[CLS]"), *self.tokens(tokenizer, text)]
        if not text.endswith("[gMASK]"):
            ids.append(_token_id(tokenizer, "<|endoftext|>"))
        return Encoded([*ids, _token_id(tokenizer, "<|startofpiece|>")])

    def stop_ids(self, tokenizer: Any) -> list[int]:
        return [_token_id(tokenizer, "<|endofpiece|>"), _token_id(tokenizer, "<|endoftext|>")]


FORMATS: dict[str, type[PromptFormat]] = {
    cls.name: cls
    for cls in (
        PromptFormat,
        Gpt2ChineseFormat,
        ClsPrefixFormat,
        CdialFormat,
        ChitchatFormat,
        ChitchatMmiFormat,
        SepEndFormat,
        NezhaGenFormat,
        YuefuFormat,
        ClsPrefixPeriodFormat,
        UnilmFormat,
        UnilmS2sFormat,
        Seq2SeqFormat,
        EvaFormat,
        Cpm2SpanFormat,
        AiWriterFormat,
        GlmBlankFormat,
    )
}


def get_format(name: str | None) -> PromptFormat:
    """The format called ``name`` (``None``: plain continuation)."""
    cls = FORMATS.get(name or "plain")
    if cls is None:
        raise ConversionError(f"unknown prompt format {name!r}; known: {', '.join(FORMATS)}")
    return cls()


def _token_id(tokenizer: Any, token: str) -> int:
    tid = tokenizer.convert_tokens_to_ids(token)
    if tid is None or tid == tokenizer.unk_token_id:
        raise ConversionError(f"the tokenizer has no {token} token, which this model's prompt format needs")
    return int(tid)


# --------------------------------------------------------------------------- decoding WordPiece vocabularies


def is_wordpiece(tokenizer: Any) -> bool:
    return type(tokenizer).__name__.startswith("Bert")


def _is_word(token: str) -> bool:
    return token.isascii() and token.isalnum()


def join_wordpieces(tokenizer: Any, ids: Sequence[int], shown: dict[str, str] | None = None) -> str:
    """Chinese text from WordPiece ids: characters joined without spaces (``decode`` puts a space between
    every token), ``##`` pieces glued to the word before, one space between two Latin words or numbers
    (GPT2-Chinese's ``generate.py`` does the same). Special tokens are dropped unless ``shown`` maps them
    to text."""
    specials = set(tokenizer.all_special_tokens)
    shown = shown or {}
    out: list[str] = []
    previous = ""
    for token in tokenizer.convert_ids_to_tokens(list(ids)):
        if token in shown:
            out.append(shown[token])
            previous = ""
            continue
        if token in specials:
            continue
        if token.startswith("##"):
            out.append(token[2:])
            previous = previous + token[2:] if previous else ""
            continue
        if previous and _is_word(previous) and _is_word(token):
            out.append(" ")
        out.append(token)
        previous = token
    return "".join(out)


__all__ = ["FORMATS", "Encoded", "PromptFormat", "get_format", "is_wordpiece", "join_wordpieces"]
