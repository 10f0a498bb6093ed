"""T5 encoder-decoders published in Hugging Face layout (UER t5-small-chinese, v1.0 style with a BERT vocabulary
and ``extra{i}`` sentinels; Langboat Mengzi-T5-base, v1.1 with a sentencepiece vocabulary)
→ transformers ``T5ForConditionalGeneration``.

The releases are already in transformers' names; conversion is a checked rename. What matters is the head:

* v1.0 (``tie_word_embeddings`` true or absent): ``lm_head`` is the embedding, and the decoder output is
  scaled by ``d_model**-0.5`` before it. The checkpoint's ``lm_head.weight`` copy is left to the model.
* v1.1 (``tie_word_embeddings: false``): ``lm_head`` is a tensor of its own and nothing is scaled.
  transformers 5's ``T5Config`` forces ``tie_word_embeddings=True`` (turning the ``false`` into
  ``scale_decoder_outputs=False``); the head stays untied only because the folder carries a distinct
  ``lm_head.weight`` and is loaded with ``from_pretrained`` — so it is always written.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from zhplm.arch._rules import Plan, Rule, Rules, Shape
from zhplm.arch._spec import ArchSpec, Evidence, Head, count_layers
from zhplm.errors import ConversionError

_PREFIX = r"(?:module\.)?"
_TIED_EMBEDS = {rf"{_PREFIX}(?:encoder|decoder)\.embed_tokens\.weight": "tied to shared.weight"}

LM_HEAD = r"lm_head\.weight"


class _T5Rules(Rules):
    """The rename, with ``lm_head.weight`` kept only when the original config unties it (v1.1)."""

    def plan(
        self,
        shapes: Mapping[str, Shape],
        dtypes: Mapping[str, str],
        config: Mapping[str, Any] | None = None,
    ) -> Plan:
        if untied(config):
            return super().plan(shapes, dtypes, config)
        tied = Rules(
            *self.rules,
            ignore={**self.ignore, rf"{_PREFIX}{LM_HEAD}": "v1.0 head: tied to shared.weight"},
            name=self.name,
        )
        return tied.plan(shapes, dtypes, config)


def untied(config: Mapping[str, Any] | None) -> bool:
    """A T5 v1.1 / mT5 release: its config says ``tie_word_embeddings: false``."""
    return config is not None and config.get("tie_word_embeddings") is False


HF = _T5Rules(
    Rule(rf"{_PREFIX}((?:shared|encoder|decoder|lm_head)\..*)", r"\1"),
    ignore=_TIED_EMBEDS,
    name="hf",
)

# config keys the release's config.json carries that are not the model's (or are set here)
_DROP = ("architectures", "transformers_version", "_name_or_path", "model_type", "tie_word_embeddings")
TOKENIZER_FILES = ("spiece.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


class T5Spec(ArchSpec):
    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        if not original:
            raise ConversionError(
                "a T5 release needs its config.json (head count, feed-forward kind and the tied/untied "
                "head are not in the weights)"
            )
        cfg = {k: v for k, v in original.items() if k not in _DROP}
        vocab, d_model = shapes["shared.weight"]
        if cfg.get("vocab_size", vocab) != vocab or cfg.get("d_model", d_model) != d_model:
            raise ConversionError(
                f"config.json says vocab {cfg.get('vocab_size')} / d_model {cfg.get('d_model')}, "
                f"the weights are {vocab} × {d_model}"
            )
        for key, stack in (("num_layers", "encoder"), ("num_decoder_layers", "decoder")):
            have = count_layers(shapes, rf"{stack}\.block\.(\d+)\..*")
            want = cfg.get(key, cfg.get("num_layers", have))
            if want != have:  # checked before a model of that depth is built
                raise ConversionError(
                    f"config.json says {key}={want!r}, the checkpoint has {have} {stack} blocks"
                )
        if untied(original):
            if "lm_head.weight" not in shapes:
                raise ConversionError(
                    "config.json unties the LM head (T5 v1.1) but the checkpoint has no lm_head.weight: "
                    "the head cannot be recovered from the embedding; convert the complete release"
                )
            cfg["tie_word_embeddings"] = False  # T5Config reads it as scale_decoder_outputs=False
        cfg["model_type"] = self.model_type
        return cfg

    def write_tokenizer(self, vocab: Path | None, out: Path, config: Mapping[str, Any]) -> list[str]:
        if vocab is None:
            return ["no spiece.model or vocab.txt found: the tokenizer was not written"]
        if vocab.suffix == ".txt":  # UER: a BERT vocabulary whose extra{i} lines are the sentinels
            from zhplm.arch.tokenization.wordpiece import write_bert_tokenizer

            return write_bert_tokenizer(vocab, out, do_lower_case=True)
        for name in TOKENIZER_FILES:  # Mengzi: the sentencepiece model and its settings as published
            src = vocab.parent / name
            if src.exists():
                shutil.copyfile(src, out / name)
        if (out / "tokenizer_config.json").exists():
            json.loads((out / "tokenizer_config.json").read_text(encoding="utf-8"))  # must be valid JSON
        return []


SPEC = T5Spec(
    name="t5",
    description="T5 encoder-decoder in HF layout (v1.0 tied head or v1.1 untied, from config): UER T5, Mengzi-T5",
    model_type="t5",
    full_class="T5ForConditionalGeneration",
    schemes={"hf": HF},
    heads=(Head("lm", (LM_HEAD,), "language-model head (tied in v1.0, its own tensor in v1.1)"),),
    config_names=("config.json",),
    vocab_names=("spiece.model", "vocab.txt"),
    classes=(((), "T5ForConditionalGeneration"),),
    evidence=Evidence(
        distinctive=(rf"{_PREFIX}encoder\.block\.\d+\.layer\.0\.SelfAttention\.q\.weight",),
        without_distinctive=0.0,
        config=(("model_type", "t5"),),
        without_config=0.9,
    ),
)
