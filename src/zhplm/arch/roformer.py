"""RoFormer v1 (ZhuiyiTechnology, bert4keras) → ``RoFormerForMaskedLM`` / ``RoFormerModel``.

v1 is BERT with rotary position embeddings on queries and keys (not values): the TF checkpoint has
Google BERT names without ``position_embeddings``, and ``embedding_size`` equals ``hidden_size``.
``RoFormerModel`` keeps its fixed sinusoid table as a parameter (``embed_positions``); the converter
writes it (it is computed, not read) so the folder is complete. Naming schemes:

* ``bert4keras-tf1``: ``bert/embeddings/*``, ``bert/encoder/layer_N/…``, ``cls/predictions/*``.
* ``pytorch``: junnyu's / transformers names (``roformer.*``, ``cls.predictions.*``).

LayerNorm epsilon: bert4keras used ``K.epsilon()`` = 1e-7 unless the config says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from zhplm.arch._rules import Array, Plan, Rule, Rules, Shape, Step, Transform
from zhplm.arch._spec import (
    TRAINING_LEFTOVERS,
    ArchSpec,
    Head,
    copy_config,
    dense,
    fill_encoder_sizes,
    layer_norm,
)

POSITIONS = "roformer.encoder.embed_positions.weight"
DEFAULT_MAX_POSITIONS = 1536  # RoFormerConfig's default, and the released v1 configs'
BERT4KERAS_EPS = 1e-7


def sinusoid_table(positions: int, dim: int) -> Array:
    """The non-interleaved sinusoid RoFormer rotates with: sin in the first half, cos in the second."""
    pos = np.arange(positions, dtype=np.float64)[:, None]
    inv = np.power(10000.0, -2.0 * (np.arange(dim, dtype=np.float64) // 2) / dim)[None, :]
    angle = pos * inv
    half = dim // 2 + dim % 2
    out = np.zeros((positions, dim), dtype=np.float32)
    out[:, :half] = np.sin(angle[:, 0::2])
    out[:, half:] = np.cos(angle[:, 1::2])
    return out


def _dims(config: Mapping[str, Any] | None, hidden: int) -> tuple[int, int]:
    """(max_position_embeddings, head size) exactly as :meth:`RoFormerSpec.build_config` chooses them."""
    cfg = config or {}
    heads = int(cfg.get("num_attention_heads") or max(1, hidden // 64))
    return int(cfg.get("max_position_embeddings") or DEFAULT_MAX_POSITIONS), hidden // heads


class _RulesWithSinusoid(Rules):
    """Rules plus one computed step: the fixed sinusoid table ``RoFormerModel`` stores as a parameter."""

    def plan(
        self,
        shapes: Mapping[str, Shape],
        dtypes: Mapping[str, str],
        config: Mapping[str, Any] | None = None,
    ) -> Plan:
        plan = super().plan(shapes, dtypes, config)
        word = plan.targets.get("roformer.embeddings.word_embeddings.weight")
        if word is not None:
            positions, dim = _dims(config, word.shape[1])
            table = Transform(
                "sinusoid (computed)",
                lambda _xs: sinusoid_table(positions, dim),
                lambda _ss: (positions, dim),
            )
            plan.steps.append(Step(POSITIONS, (), table, (positions, dim), "float32"))
        return plan


L = r"bert/encoder/layer_(\d+)"
HL = r"roformer.encoder.layer.\1"

BERT4KERAS_TF1 = _RulesWithSinusoid(
    Rule(r"bert/embeddings/word_embeddings", "roformer.embeddings.word_embeddings.weight"),
    Rule(r"bert/embeddings/token_type_embeddings", "roformer.embeddings.token_type_embeddings.weight"),
    *layer_norm("bert/embeddings/LayerNorm", "roformer.embeddings.LayerNorm"),
    *dense(rf"{L}/attention/self/(query|key|value)", rf"{HL}.attention.self.\2"),
    *dense(rf"{L}/attention/output/dense", rf"{HL}.attention.output.dense"),
    *layer_norm(rf"{L}/attention/output/LayerNorm", rf"{HL}.attention.output.LayerNorm"),
    *dense(rf"{L}/intermediate/dense", rf"{HL}.intermediate.dense"),
    *dense(rf"{L}/output/dense", rf"{HL}.output.dense"),
    *layer_norm(rf"{L}/output/LayerNorm", rf"{HL}.output.LayerNorm"),
    *dense(r"cls/predictions/transform/dense", "cls.predictions.transform.dense"),
    *layer_norm(r"cls/predictions/transform/LayerNorm", "cls.predictions.transform.LayerNorm"),
    Rule(r"cls/predictions/output_bias", "cls.predictions.bias"),
    ignore={
        **TRAINING_LEFTOVERS,
        r"bert/embeddings/position_embeddings": "RoFormer uses rotary positions: an absolute table is unused",
        r"bert/pooler/.*|cls/seq_relationship/.*": "RoFormerModel has no pooler / next-sentence head",
    },
    name="bert4keras-tf1",
)

_PREFIX = r"(?:module\.)?"
PYTORCH = _RulesWithSinusoid(
    Rule(rf"{_PREFIX}((?:roformer|cls)\..*LayerNorm)\.gamma", r"\1.weight"),
    Rule(rf"{_PREFIX}((?:roformer|cls)\..*LayerNorm)\.beta", r"\1.bias"),
    Rule(rf"{_PREFIX}((?:roformer|cls)\.(?!predictions\.decoder).*)", r"\1"),
    ignore={
        rf"{_PREFIX}roformer\.encoder\.embed_positions\.weight": "fixed sinusoid, recomputed on conversion",
        rf"{_PREFIX}roformer\.embeddings\.position_ids": "buffer, recomputed by the model",
        rf"{_PREFIX}cls\.predictions\.decoder\.weight": "tied to roformer.embeddings.word_embeddings.weight",
        rf"{_PREFIX}cls\.predictions\.decoder\.bias": "tied to cls.predictions.bias",
    },
    name="pytorch",
)

HEADS = (Head("mlm", (r"cls\.predictions\..*",), "masked-LM head (transform + tied decoder)"),)


class RoFormerSpec(ArchSpec):
    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        cfg = copy_config(original)
        fill_encoder_sizes(cfg, shapes, "roformer")
        word = shapes["roformer.embeddings.word_embeddings.weight"]
        cfg["embedding_size"] = cfg["hidden_size"]  # v1 has no factorised embedding
        positions, dim = _dims(original, int(word[1]))
        cfg["max_position_embeddings"] = positions
        cfg["num_attention_heads"] = int(word[1]) // dim
        cfg.setdefault("hidden_act", "gelu")
        cfg.setdefault("layer_norm_eps", BERT4KERAS_EPS)
        cfg["rotary_value"] = False  # v1 rotates queries and keys only
        cfg["model_type"] = self.model_type
        return cfg


SPEC = RoFormerSpec(
    name="roformer",
    description="RoFormer v1 (BERT with rotary position embeddings, bert4keras checkpoints)",
    model_type="roformer",
    full_class="RoFormerForMaskedLM",
    schemes={"bert4keras-tf1": BERT4KERAS_TF1, "pytorch": PYTORCH},
    heads=HEADS,
    config_names=("bert_config.json", "config.json"),
    vocab_names=("vocab.txt",),
    classes=((("mlm",), "RoFormerForMaskedLM"), ((), "RoFormerModel")),
    tokenizers=("zhplm.arch.tokenization.word",),
)
