"""brightmart's early albert_zh checkpoints (tiny / base / large / xlarge) → ``BertForPreTraining`` /
``BertForMaskedLM`` / ``BertModel``, exactly.

This layout is not Google ALBERT: the V×E word table is projected by ``word_embeddings_2`` (E×H)
*before* the H-wide position and type embeddings are added and normalised, and one post-LN BERT layer
(``bert/encoder/layer_shared``) runs ``num_hidden_layers`` times. So it is a BERT whose word table is
``W_E @ W_2`` (folded on conversion) and whose layers are all the same (the shared layer is unrolled).
The MLM head (transform H→H, LayerNorm, logits ``t · W_2ᵀ · W_Eᵀ + b``) is then BERT's with the decoder
tied to the folded table: ``t · (W_E W_2)ᵀ`` is the same product.

brightmart's ``modeling.py`` ``gelu`` is the tanh approximation: a config ``gelu`` becomes ``gelu_new``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from zhplm.arch._rules import Array, Plan, Rule, Rules, Shape, Transform
from zhplm.arch._spec import TRAINING_LEFTOVERS, Evidence, dense, layer_norm
from zhplm.arch.bert import BERT_CLASSES, HEADS, BertSpec
from zhplm.errors import ConversionError


def _fold(xs: list[Array] | Any) -> Array:
    table, proj = xs[0], xs[1]
    return (table.astype(np.float64) @ proj.astype(np.float64)).astype(table.dtype)


def _fold_shape(ss: list[Shape] | Any) -> Shape:
    (v, e), (e2, h) = ss[0], ss[1]
    if e != e2:
        raise ValueError(f"word_embeddings {ss[0]} and word_embeddings_2 {ss[1]} do not chain")
    return (v, h)


FOLD = Transform("word_embeddings @ word_embeddings_2", _fold, _fold_shape)


class _SharedLayerRules(Rules):
    """Rules whose shared layer is unrolled ``num_hidden_layers`` times: the count must be in the config."""

    def plan(
        self,
        shapes: Mapping[str, Shape],
        dtypes: Mapping[str, str],
        config: Mapping[str, Any] | None = None,
    ) -> Plan:
        if any(n.startswith("bert/encoder/layer_shared/") for n in shapes) and not (config or {}).get(
            "num_hidden_layers"
        ):
            raise ConversionError(
                "brightmart ALBERT shares one layer across the stack, so the checkpoint does not tell how "
                "many layers to run: its albert_config*.json (num_hidden_layers) is needed"
            )
        return super().plan(shapes, dtypes, config)


S = "bert/encoder/layer_shared"
HL = "bert.encoder.layer.{i}"


def _shared(src: str, dst: str, *, kind: str) -> tuple[Rule, ...]:
    rules = dense(src, dst) if kind == "dense" else layer_norm(src, dst)
    return tuple(Rule(r.source, r.target, r.transform, repeat="num_hidden_layers") for r in rules)


BRIGHTMART_TF1 = _SharedLayerRules(
    Rule(
        r"bert/embeddings/word_embeddings",
        "bert.embeddings.word_embeddings.weight",
        FOLD,
        extra=("bert/embeddings/word_embeddings_2",),
    ),
    Rule(r"bert/embeddings/position_embeddings", "bert.embeddings.position_embeddings.weight"),
    Rule(r"bert/embeddings/token_type_embeddings", "bert.embeddings.token_type_embeddings.weight"),
    *layer_norm("bert/embeddings/LayerNorm", "bert.embeddings.LayerNorm"),
    *_shared(rf"{S}/attention/self/query", f"{HL}.attention.self.query", kind="dense"),
    *_shared(rf"{S}/attention/self/key", f"{HL}.attention.self.key", kind="dense"),
    *_shared(rf"{S}/attention/self/value", f"{HL}.attention.self.value", kind="dense"),
    *_shared(rf"{S}/attention/output/dense", f"{HL}.attention.output.dense", kind="dense"),
    *_shared(rf"{S}/attention/output/LayerNorm", f"{HL}.attention.output.LayerNorm", kind="ln"),
    *_shared(rf"{S}/intermediate/dense", f"{HL}.intermediate.dense", kind="dense"),
    *_shared(rf"{S}/output/dense", f"{HL}.output.dense", kind="dense"),
    *_shared(rf"{S}/output/LayerNorm", f"{HL}.output.LayerNorm", kind="ln"),
    *dense(r"bert/pooler/dense", "bert.pooler.dense"),
    *dense(r"cls/predictions/transform/dense", "cls.predictions.transform.dense"),
    *layer_norm(r"cls/predictions/transform/LayerNorm", "cls.predictions.transform.LayerNorm"),
    Rule(r"cls/predictions/output_bias", "cls.predictions.bias"),
    Rule(r"cls/seq_relationship/output_weights", "cls.seq_relationship.weight"),
    Rule(r"cls/seq_relationship/output_bias", "cls.seq_relationship.bias"),
    ignore=TRAINING_LEFTOVERS,
    name="brightmart-tf1",
)

_DISTINCTIVE = ("bert/embeddings/word_embeddings_2", "bert/encoder/layer_shared/")


class BrightmartAlbertSpec(BertSpec):
    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        if original and original.get("ln_type", "postln") != "postln":
            raise ConversionError(
                f"brightmart config has ln_type={original['ln_type']!r}; only postln is known"
            )
        cfg = super().build_config(original, shapes, plan_targets)
        # brightmart's modeling.py gelu is the tanh approximation
        if cfg.get("hidden_act") == "gelu":
            cfg["hidden_act"] = "gelu_new"
        cfg.setdefault("hidden_act", "gelu_new")
        return cfg


SPEC = BrightmartAlbertSpec(
    name="albert_brightmart",
    description="brightmart albert_zh (early layout), folded and unrolled into BERT",
    model_type="bert",
    full_class="BertForPreTraining",
    schemes={"brightmart-tf1": BRIGHTMART_TF1},
    heads=HEADS,
    config_names=("albert_config*.json", "bert_config.json", "config.json"),
    vocab_names=("vocab.txt",),
    classes=BERT_CLASSES,
    evidence=Evidence(distinctive=(r"bert/embeddings/word_embeddings_2", r"bert/encoder/layer_shared/.*")),
)
