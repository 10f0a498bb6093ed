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
from pathlib import Path
from typing import Any

import numpy as np

from zhplm.arch._rules import Array, Plan, Rule, Rules, Shape, Step, Transform
from zhplm.arch._spec import TRAINING_LEFTOVERS, ArchSpec, Head, dense, layer_norm
from zhplm.errors import ConversionError

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

_CONFIG_KEYS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "max_position_embeddings",
    "type_vocab_size",
    "initializer_range",
    "layer_norm_eps",
    "pad_token_id",
)


class RoFormerSpec(ArchSpec):
    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        from zhplm.arch.bert import count_layers

        cfg: dict[str, Any] = {k: original[k] for k in _CONFIG_KEYS if original and k in original}
        word = shapes.get("roformer.embeddings.word_embeddings.weight")
        if word is None:
            raise ConversionError("the checkpoint has no RoFormer word embeddings: cannot infer the size")
        cfg.setdefault("vocab_size", word[0])
        cfg.setdefault("hidden_size", word[1])
        cfg["embedding_size"] = cfg["hidden_size"]  # v1 has no factorised embedding
        cfg.setdefault("num_hidden_layers", count_layers(plan_targets))
        inter = shapes.get("roformer.encoder.layer.0.intermediate.dense.weight")
        if inter:
            cfg.setdefault("intermediate_size", inter[0])
        types = shapes.get("roformer.embeddings.token_type_embeddings.weight")
        if types:
            cfg.setdefault("type_vocab_size", types[0])
        positions, dim = _dims(original, int(word[1]))
        cfg["max_position_embeddings"] = positions
        cfg["num_attention_heads"] = int(word[1]) // dim
        cfg.setdefault("hidden_act", "gelu")
        cfg.setdefault("layer_norm_eps", BERT4KERAS_EPS)
        cfg["rotary_value"] = False  # v1 rotates queries and keys only
        cfg["model_type"] = self.model_type
        return cfg

    def architectures(self, present_heads: set[str]) -> list[str]:
        return ["RoFormerForMaskedLM"] if "mlm" in present_heads else ["RoFormerModel"]

    def write_tokenizer(self, vocab: Path | None, out: Path, config: Mapping[str, Any]) -> list[str]:
        if vocab is None:
            return super().write_tokenizer(vocab, out, config)
        from zhplm.arch.tokenizers import write_bert_tokenizer

        notes = write_bert_tokenizer(vocab, out, do_lower_case=True)
        notes.append(
            "RoFormer v1 pre-tokenizes words with jieba (HMM off); this tokenizer splits characters "
            "only, so multi-character vocabulary words are never produced"
        )
        return notes


SPEC = RoFormerSpec(
    name="roformer",
    description="RoFormer v1 (BERT with rotary position embeddings, bert4keras checkpoints)",
    model_type="roformer",
    full_class="RoFormerForMaskedLM",
    schemes={"bert4keras-tf1": BERT4KERAS_TF1, "pytorch": PYTORCH},
    heads=HEADS,
    config_names=("bert_config.json", "config.json"),
    vocab_names=("vocab.txt",),
)
