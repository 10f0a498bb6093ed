"""Google ALBERT (the zh base/large/xlarge/xxlarge releases) → ``AlbertForPreTraining`` /
``AlbertForMaskedLM`` / ``AlbertModel``, with a BERT WordPiece tokenizer (``vocab_chinese.txt``).

Naming schemes:

* ``google-tf1``: Google's ``modeling.py`` names: ``bert/embeddings/*`` (E wide),
  ``bert/encoder/embedding_hidden_mapping_in``, ``bert/encoder/transformer/group_G/inner_group_I/…``,
  ``cls/predictions/*`` (transform H→E), ``cls/seq_relationship/*`` (the SOP head).
* ``pytorch``: transformers names (``albert.*``, ``predictions.*``, ``sop_classifier.*``).

brightmart's early "albert_zh" checkpoints are a different model (see :mod:`zhplm.arch.albert_brightmart`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from zhplm.arch._rules import Rule, Rules, Shape
from zhplm.arch._spec import TRAINING_LEFTOVERS, ArchSpec, Evidence, Head, dense, layer_norm
from zhplm.errors import ConversionError

G = r"bert/encoder/transformer/group_(\d+)/inner_group_(\d+)"
HG = r"albert.encoder.albert_layer_groups.\1.albert_layers.\2"

GOOGLE_TF1 = Rules(
    Rule(r"bert/embeddings/word_embeddings", "albert.embeddings.word_embeddings.weight"),
    Rule(r"bert/embeddings/position_embeddings", "albert.embeddings.position_embeddings.weight"),
    Rule(r"bert/embeddings/token_type_embeddings", "albert.embeddings.token_type_embeddings.weight"),
    *layer_norm("bert/embeddings/LayerNorm", "albert.embeddings.LayerNorm"),
    *dense("bert/encoder/embedding_hidden_mapping_in", "albert.encoder.embedding_hidden_mapping_in"),
    *dense(rf"{G}/attention_1/self/(query|key|value)", rf"{HG}.attention.\3"),
    *dense(rf"{G}/attention_1/output/dense", rf"{HG}.attention.dense"),
    *layer_norm(rf"{G}/LayerNorm", rf"{HG}.attention.LayerNorm"),
    *dense(rf"{G}/ffn_1/intermediate/dense", rf"{HG}.ffn"),
    *dense(rf"{G}/ffn_1/intermediate/output/dense", rf"{HG}.ffn_output"),
    *layer_norm(rf"{G}/LayerNorm_1", rf"{HG}.full_layer_layer_norm"),
    *dense("bert/pooler/dense", "albert.pooler"),
    *dense("cls/predictions/transform/dense", "predictions.dense"),
    *layer_norm("cls/predictions/transform/LayerNorm", "predictions.LayerNorm"),
    Rule("cls/predictions/output_bias", "predictions.bias"),
    # Google stores the SOP weight as [2, hidden] already: no transpose.
    Rule("cls/seq_relationship/output_weights", "sop_classifier.classifier.weight"),
    Rule("cls/seq_relationship/output_bias", "sop_classifier.classifier.bias"),
    ignore=TRAINING_LEFTOVERS,
    name="google-tf1",
)

_PREFIX = r"(?:module\.)?"
PYTORCH = Rules(
    Rule(rf"{_PREFIX}((?:albert|predictions|sop_classifier)\..*LayerNorm)\.gamma", r"\1.weight"),
    Rule(rf"{_PREFIX}((?:albert|predictions|sop_classifier)\..*LayerNorm)\.beta", r"\1.bias"),
    Rule(rf"{_PREFIX}((?:albert|sop_classifier)\..*|predictions\.(?!decoder\.).*)", r"\1"),
    ignore={
        rf"{_PREFIX}albert\.embeddings\.position_ids": "buffer, recomputed by the model",
        rf"{_PREFIX}predictions\.decoder\.weight": "tied to albert.embeddings.word_embeddings.weight",
        rf"{_PREFIX}predictions\.decoder\.bias": "tied to predictions.bias",
    },
    name="pytorch",
)

HEADS = (
    Head("pooler", (r"albert\.pooler\..*",), "pooler dense + tanh over [CLS]"),
    Head("mlm", (r"predictions\..*",), "masked-LM head (transform H→E + tied decoder)"),
    Head("sop", (r"sop_classifier\..*",), "sentence-order prediction head"),
)

# albert_config.json keys that AlbertConfig takes as they are.
_CONFIG_KEYS = (
    "vocab_size",
    "embedding_size",
    "hidden_size",
    "num_hidden_layers",
    "num_hidden_groups",
    "num_attention_heads",
    "intermediate_size",
    "inner_group_num",
    "hidden_act",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "max_position_embeddings",
    "type_vocab_size",
    "initializer_range",
    "layer_norm_eps",
    "pad_token_id",
)

# Names only Google ALBERT has: they settle detection against BERT, whose scheme also places
# ``bert/embeddings/*`` and ``cls/*``.
_DISTINCTIVE = ("bert/encoder/embedding_hidden_mapping_in/", "bert/encoder/transformer/group_")


def _count(targets: Iterable[str], pattern: str) -> int:
    import re

    rx = re.compile(pattern)
    found = {int(m.group(1)) for t in targets if (m := rx.fullmatch(t))}
    return max(found) + 1 if found else 0


class AlbertSpec(ArchSpec):
    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        targets = set(plan_targets)
        cfg: dict[str, Any] = {k: original[k] for k in _CONFIG_KEYS if original and k in original}
        if original and original.get("ln_type", "postln") != "postln":
            raise ConversionError(
                f"ALBERT config has ln_type={original['ln_type']!r}; only post-LN (Google's) is supported"
            )
        word = shapes.get("albert.embeddings.word_embeddings.weight")
        proj = shapes.get("albert.encoder.embedding_hidden_mapping_in.weight")
        if word is None or proj is None:
            raise ConversionError("the checkpoint has no ALBERT embeddings: cannot infer the model size")
        cfg.setdefault("vocab_size", word[0])
        cfg.setdefault("embedding_size", word[1])
        cfg.setdefault("hidden_size", proj[0])
        groups = _count(targets, r"albert\.encoder\.albert_layer_groups\.(\d+)\..*")
        inner = _count(targets, r"albert\.encoder\.albert_layer_groups\.\d+\.albert_layers\.(\d+)\..*")
        cfg.setdefault("num_hidden_groups", groups)
        cfg.setdefault("inner_group_num", inner)
        if "num_hidden_layers" not in cfg:
            # weights are shared across layers: their count is in the config only
            raise ConversionError(
                "ALBERT shares one layer across the stack, so the checkpoint does not tell how many layers "
                "to run: albert_config.json (num_hidden_layers) is needed"
            )
        ffn = shapes.get("albert.encoder.albert_layer_groups.0.albert_layers.0.ffn.weight")
        if ffn:
            cfg.setdefault("intermediate_size", ffn[0])
        pos = shapes.get("albert.embeddings.position_embeddings.weight")
        if pos:
            cfg.setdefault("max_position_embeddings", pos[0])
        types = shapes.get("albert.embeddings.token_type_embeddings.weight")
        if types:
            cfg.setdefault("type_vocab_size", types[0])
        cfg.setdefault("num_attention_heads", max(1, cfg["hidden_size"] // 64))
        # Google's zh configs say relu; a missing key is Google modeling.py's default (gelu, tanh form)
        cfg.setdefault("hidden_act", "gelu_new")
        cfg.setdefault("layer_norm_eps", 1e-12)
        cfg.setdefault("classifier_dropout_prob", 0.1)
        cfg["model_type"] = self.model_type
        return cfg


SPEC = AlbertSpec(
    name="albert",
    description="Google ALBERT (shared-layer BERT with factorised embeddings)",
    model_type="albert",
    full_class="AlbertForPreTraining",
    schemes={"google-tf1": GOOGLE_TF1, "pytorch": PYTORCH},
    heads=HEADS,
    config_names=("albert_config.json", "config.json"),
    vocab_names=("vocab_chinese.txt", "vocab.txt"),
    classes=((("mlm", "sop"), "AlbertForPreTraining"), (("mlm",), "AlbertForMaskedLM"), ((), "AlbertModel")),
    evidence=Evidence(
        distinctive=(r"bert/encoder/embedding_hidden_mapping_in/.*", r"bert/encoder/transformer/group_.*")
    ),
)
