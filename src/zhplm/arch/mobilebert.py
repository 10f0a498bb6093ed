"""MobileBERT (google-research/mobilebert; ymcui's Chinese-MobileBERT) → ``MobileBertForPreTraining`` /
``MobileBertForMaskedLM`` / ``MobileBertModel``.

Google TF1 names: ``bert/embeddings/{word_embeddings, embedding_transformation, FakeLayerNorm}``,
``bert/encoder/layer_N/{bottleneck/{input,attention}, attention/…, ffn_layer_K/…, intermediate, output,
output/bottleneck}``; ``FakeLayerNorm`` (``no_norm``: an elementwise ``x·γ + β``) maps to transformers'
``NoNorm`` ``weight``/``bias`` like a LayerNorm does. The MLM head's ``extra_output_weights`` [V, H−E]
extend the tied decoder to H columns (``cls.predictions.dense``, empty when E = H).

The released checkpoints also carry the distillation teacher (``teacher/…``) and distillation-loss
variables: they are not part of the student and are ignored (with that reason in ``zhplm.json``).

Config pitfall: Google's defaults (``key_query_shared_bottleneck=False, use_bottleneck=False,
trigram_input=False, num_feedforward_networks=1, normalization_type="layer_norm",
classifier_activation=True``) differ from ``MobileBertConfig``'s, and base-f2 omits some keys: absent
keys take Google's defaults explicitly. Without any json, the structure is read off the shapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from zhplm.arch._rules import TRANSPOSE as T
from zhplm.arch._rules import Plan, Rule, Rules, Shape, Step, Transform
from zhplm.arch._spec import ENCODER_CONFIG_KEYS, TRAINING_LEFTOVERS, ArchSpec, Head, dense
from zhplm.errors import ConversionError

EXTRA = "cls.predictions.dense.weight"

# google-research/mobilebert modeling.py BertConfig defaults (NOT transformers' MobileBertConfig ones)
GOOGLE_DEFAULTS: dict[str, Any] = {
    "hidden_act": "gelu",
    "type_vocab_size": 16,
    "embedding_size": None,
    "trigram_input": False,
    "use_bottleneck": False,
    "intra_bottleneck_size": None,
    "use_bottleneck_attention": False,
    "key_query_shared_bottleneck": False,
    "num_feedforward_networks": 1,
    "normalization_type": "layer_norm",
    "classifier_activation": True,
}


def _norm(src: str, dst: str) -> tuple[Rule, Rule]:
    """``FakeLayerNorm`` (no_norm) or ``LayerNorm`` gamma/beta → ``dst.{weight,bias}``."""
    return (
        Rule(rf"{src}/(?:Fake)?LayerNorm/gamma", f"{dst}.LayerNorm.weight"),
        Rule(rf"{src}/(?:Fake)?LayerNorm/beta", f"{dst}.LayerNorm.bias"),
    )


L = r"bert/encoder/layer_(\d+)"
HL = r"mobilebert.encoder.layer.\1"


class _MobileBertRules(Rules):
    """Adds the empty ``cls.predictions.dense`` [0, V] that the model declares when E = H."""

    def plan(
        self,
        shapes: Mapping[str, Shape],
        dtypes: Mapping[str, str],
        config: Mapping[str, Any] | None = None,
    ) -> Plan:
        plan = super().plan(shapes, dtypes, config)
        targets = plan.targets
        bias = targets.get("cls.predictions.bias")
        if bias is not None and EXTRA not in targets:
            vocab = bias.shape[0]
            empty = Transform(
                "empty (E = H)", lambda _xs: np.zeros((0, vocab), np.float32), lambda _ss: (0, vocab)
            )
            plan.steps.append(Step(EXTRA, (), empty, (0, vocab), "float32"))
        return plan


GOOGLE_TF1 = _MobileBertRules(
    Rule(r"bert/embeddings/word_embeddings", "mobilebert.embeddings.word_embeddings.weight"),
    Rule(r"bert/embeddings/position_embeddings", "mobilebert.embeddings.position_embeddings.weight"),
    Rule(r"bert/embeddings/token_type_embeddings", "mobilebert.embeddings.token_type_embeddings.weight"),
    *dense("bert/embeddings/embedding_transformation", "mobilebert.embeddings.embedding_transformation"),
    *_norm("bert/embeddings", "mobilebert.embeddings"),
    *dense(rf"{L}/bottleneck/(input|attention)/dense", rf"{HL}.bottleneck.\2.dense"),
    *_norm(rf"{L}/bottleneck/(input|attention)", rf"{HL}.bottleneck.\2"),
    *dense(rf"{L}/attention/self/(query|key|value)", rf"{HL}.attention.self.\2"),
    *dense(rf"{L}/attention/output/dense", rf"{HL}.attention.output.dense"),
    *_norm(rf"{L}/attention/output", rf"{HL}.attention.output"),
    *dense(rf"{L}/ffn_layer_(\d+)/intermediate/dense", rf"{HL}.ffn.\2.intermediate.dense"),
    *dense(rf"{L}/ffn_layer_(\d+)/output/dense", rf"{HL}.ffn.\2.output.dense"),
    *_norm(rf"{L}/ffn_layer_(\d+)/output", rf"{HL}.ffn.\2.output"),
    *dense(rf"{L}/intermediate/dense", rf"{HL}.intermediate.dense"),
    *dense(rf"{L}/output/bottleneck/dense", rf"{HL}.output.bottleneck.dense"),
    *_norm(rf"{L}/output/bottleneck", rf"{HL}.output.bottleneck"),
    *dense(rf"{L}/output/dense", rf"{HL}.output.dense"),
    *_norm(rf"{L}/output", rf"{HL}.output"),
    *dense(r"bert/pooler/dense", "mobilebert.pooler.dense"),
    *dense(r"cls/predictions/transform/dense", "cls.predictions.transform.dense"),
    *_norm(r"cls/predictions/transform", "cls.predictions.transform"),
    Rule(r"cls/predictions/output_bias", "cls.predictions.bias"),
    Rule(r"cls/predictions/extra_output_weights", EXTRA, T),  # [V, H−E] → Linear(V, H−E).weight
    Rule(r"cls/seq_relationship/output_weights", "cls.seq_relationship.weight"),
    Rule(r"cls/seq_relationship/output_bias", "cls.seq_relationship.bias"),
    ignore={
        **TRAINING_LEFTOVERS,
        r"teacher/.*": "distillation teacher (IB-BERT), not part of the student",
        r".*distill.*": "distillation-loss variable, not part of the student",
    },
    name="google-tf1",
)

HEADS = (
    Head(
        "pooler",
        (r"mobilebert\.pooler\..*",),
        "pooler dense + tanh (absent when classifier_activation=false)",
    ),
    Head("mlm", (r"cls\.predictions\..*",), "masked-LM head (transform + tied decoder + extra columns)"),
    Head("nsp", (r"cls\.seq_relationship\..*",), "next-sentence head"),
)

# Google bert_config.json keys (no pad id: the converter sets it) plus MobileBERT's own
_CONFIG_KEYS = (
    *(k for k in ENCODER_CONFIG_KEYS if k != "pad_token_id"),
    "embedding_size",
    "trigram_input",
    "use_bottleneck",
    "intra_bottleneck_size",
    "use_bottleneck_attention",
    "key_query_shared_bottleneck",
    "num_feedforward_networks",
    "normalization_type",
    "classifier_activation",
    "pad_token_id",
)


def _from_shapes(shapes: Mapping[str, Shape], targets: set[str]) -> dict[str, Any]:
    """The structure a json-less checkpoint shows (sizes and switches)."""
    word = shapes.get("mobilebert.embeddings.word_embeddings.weight")
    types = shapes.get("mobilebert.embeddings.token_type_embeddings.weight")
    if word is None or types is None:
        raise ConversionError("the checkpoint has no MobileBERT embeddings: cannot infer the model size")
    hidden = types[1]
    out: dict[str, Any] = {"vocab_size": word[0], "embedding_size": word[1], "hidden_size": hidden}
    out["type_vocab_size"] = types[0]
    pos = shapes.get("mobilebert.embeddings.position_embeddings.weight")
    if pos:
        out["max_position_embeddings"] = pos[0]
    layers = {
        int(m.group(1)) for t in targets if (m := re.fullmatch(r"mobilebert\.encoder\.layer\.(\d+)\..*", t))
    }
    out["num_hidden_layers"] = max(layers) + 1 if layers else 0
    inter = shapes.get("mobilebert.encoder.layer.0.intermediate.dense.weight")
    if inter:
        out["intermediate_size"] = inter[0]
    proj = shapes.get("mobilebert.embeddings.embedding_transformation.weight")
    out["trigram_input"] = bool(proj and proj[1] == 3 * word[1])
    bottleneck = shapes.get("mobilebert.encoder.layer.0.bottleneck.input.dense.weight")
    out["use_bottleneck"] = bottleneck is not None
    if bottleneck:
        out["intra_bottleneck_size"] = bottleneck[0]
    out["key_query_shared_bottleneck"] = (
        "mobilebert.encoder.layer.0.bottleneck.attention.dense.weight" in targets
    )
    value = shapes.get("mobilebert.encoder.layer.0.attention.self.value.weight")
    out["use_bottleneck_attention"] = bool(
        bottleneck and value and value[1] == bottleneck[0] and not out["key_query_shared_bottleneck"]
    )
    ffn = {int(m.group(1)) for t in targets if (m := re.fullmatch(r".*\.layer\.0\.ffn\.(\d+)\..*", t))}
    out["num_feedforward_networks"] = len(ffn) + 1
    out["classifier_activation"] = "mobilebert.pooler.dense.weight" in targets
    out["num_attention_heads"] = max(1, (bottleneck[0] if bottleneck else hidden) // 32)
    return out


class MobileBertSpec(ArchSpec):
    def read_original_config(self, folder: Path | None) -> dict[str, Any] | None:
        cfg = super().read_original_config(folder)
        return None if cfg is None else {**GOOGLE_DEFAULTS, **cfg}

    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        targets = set(plan_targets)
        if original:
            # a json exists: absent keys are Google's defaults (read_original_config filled them in)
            cfg: dict[str, Any] = {k: original[k] for k in _CONFIG_KEYS if k in original}
            inferred = _from_shapes(shapes, targets)
            for key in ("vocab_size", "num_hidden_layers", "max_position_embeddings", "intermediate_size"):
                if key in inferred:
                    cfg.setdefault(key, inferred[key])
        else:
            cfg = {**GOOGLE_DEFAULTS, **_from_shapes(shapes, targets)}
            # ymcui's released models use no_norm; FakeLayerNorm names are not distinguishable by shape
            cfg["normalization_type"] = "no_norm"
        if cfg.get("embedding_size") is None:
            cfg["embedding_size"] = cfg["hidden_size"]
        if cfg.get("intra_bottleneck_size") is None:
            cfg["intra_bottleneck_size"] = cfg["hidden_size"]
        cfg["true_hidden_size"] = (
            cfg["intra_bottleneck_size"] if cfg["use_bottleneck"] else cfg["hidden_size"]
        )
        cfg.setdefault("layer_norm_eps", 1e-12)
        cfg["model_type"] = self.model_type
        return cfg


SPEC = MobileBertSpec(
    name="mobilebert",
    description="MobileBERT (bottlenecked, stacked-FFN BERT; Chinese-MobileBERT)",
    model_type="mobilebert",
    full_class="MobileBertForPreTraining",
    schemes={"google-tf1": GOOGLE_TF1},
    heads=HEADS,
    config_names=("bert_config.json", "config.json"),
    vocab_names=("vocab.txt",),
    classes=(
        (("mlm", "nsp"), "MobileBertForPreTraining"),
        (("mlm",), "MobileBertForMaskedLM"),
        ((), "MobileBertModel"),
    ),
)
