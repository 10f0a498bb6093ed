"""RoBERTa proper (fairseq-style positions) → transformers ``RobertaForMaskedLM`` / ``RobertaModel``.

Only for checkpoints that really are RoBERTa-architecture: ethanyt/guwenbert (Hugging Face names
``roberta.…`` and ``lm_head.…``). Positions are offset by ``padding_idx + 1`` (``pad_token_id`` 1, so
``max_position_embeddings`` is 514 for 512 tokens) and ``type_vocab_size`` is 1. The list's other
"RoBERTa" rows (HFL roberta-wwm-ext, brightmart, UER) are BERT underneath and go through
:mod:`zhplm.arch.bert`.

guwenbert ships a WordPiece ``vocab.txt`` and is tokenised with ``BertTokenizer``; the converted
``config.json`` says so (``tokenizer_class``), and the tokenizer files are BERT's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from zhplm.arch._rules import Rule, Rules, Shape
from zhplm.arch._spec import ENCODER_CONFIG_KEYS, ArchSpec, Evidence, Head, copy_config, fill_encoder_sizes

_PREFIX = r"(?:module\.)?(?:model\.)?"

PYTORCH = Rules(
    Rule(rf"{_PREFIX}(roberta\.(?!pooler\.).*)", r"\1"),
    Rule(rf"{_PREFIX}(lm_head\.(?!decoder\.).*)", r"\1"),
    Rule(rf"{_PREFIX}((?:embeddings|encoder)\..*)", r"roberta.\1"),
    ignore={
        rf"{_PREFIX}(?:roberta\.)?embeddings\.position_ids": "buffer, recomputed by the model",
        rf"{_PREFIX}(?:roberta\.)?pooler\..*": "pooler: RobertaForMaskedLM has none",
        rf"{_PREFIX}lm_head\.decoder\.weight": "tied to roberta.embeddings.word_embeddings.weight",
        rf"{_PREFIX}lm_head\.decoder\.bias": "tied to lm_head.bias",
    },
    name="pytorch",
)

HEADS = (Head("mlm", (r"lm_head\..*",), "masked-LM head (dense + LayerNorm + tied decoder)"),)

_CONFIG_KEYS = (*ENCODER_CONFIG_KEYS, "bos_token_id", "eos_token_id")


class RobertaSpec(ArchSpec):
    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        cfg = copy_config(original, _CONFIG_KEYS)
        fill_encoder_sizes(cfg, shapes, "roberta")
        cfg.setdefault("hidden_act", "gelu")
        cfg.setdefault("layer_norm_eps", 1e-5)  # fairseq's LayerNorm default
        cfg.setdefault("pad_token_id", 1)
        cfg["tokenizer_class"] = "BertTokenizer"
        cfg["model_type"] = self.model_type
        return cfg


SPEC = RobertaSpec(
    name="roberta",
    description="RoBERTa encoder with fairseq position offset (ethanyt/guwenbert)",
    model_type="roberta",
    full_class="RobertaForMaskedLM",
    schemes={"pytorch": PYTORCH},
    heads=HEADS,
    config_names=("config.json",),
    vocab_names=("vocab.txt",),
    classes=((("mlm",), "RobertaForMaskedLM"), ((), "RobertaModel")),
    # bare ``embeddings.…`` dicts are BERT's unless the names carry RoBERTa's scope
    evidence=Evidence(distinctive=(r"(?:module\.)?roberta\..*", r"lm_head\..*"), without_distinctive=0.5),
)
