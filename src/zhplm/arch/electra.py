"""ELECTRA (google-research/electra TF1 checkpoints, HFL's Chinese ELECTRA) → the discriminator as
``ElectraForPreTraining`` (replaced-token-detection head), or the generator as ``ElectraForMaskedLM``.

One TF checkpoint holds both networks: ``electra/…`` (discriminator, and the embeddings both share),
``generator/…`` and ``generator_predictions/…`` (generator), ``discriminator_predictions/…``.
``zhplm.convert(src, out, arch="electra")`` converts the discriminator (the model everyone fine-tunes);
``arch="electra_generator"`` (:mod:`zhplm.arch.electra_generator`) converts the generator instead (the other network's variables are then
ignored, with that reason, in ``zhplm.json``).

Naming schemes per part: ``google-tf1`` (Google names) and ``pytorch`` (transformers names).
Releases without a json config get their sizes from the tensor shapes; the attention head count is then
``hidden_size // 64`` (every Google/HFL ELECTRA size, generators included, uses 64-wide heads).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from zhplm.arch._rules import TRANSPOSE as T
from zhplm.arch._rules import Rule, Rules, Shape
from zhplm.arch._spec import ENCODER_CONFIG_KEYS, TRAINING_LEFTOVERS, ArchSpec, Head, dense, layer_norm
from zhplm.errors import ConversionError

PARTS = ("discriminator", "generator")


def _encoder(scope: str) -> tuple[Rule, ...]:
    """Google BERT layer names under ``scope/encoder`` → ``electra.encoder.layer.N``."""
    L = rf"{scope}/encoder/layer_(\d+)"
    HL = r"electra.encoder.layer.\1"
    return (
        *dense(rf"{L}/attention/self/(query|key|value)", rf"{HL}.attention.self.\2"),
        *dense(rf"{L}/attention/output/dense", rf"{HL}.attention.output.dense"),
        *layer_norm(rf"{L}/attention/output/LayerNorm", rf"{HL}.attention.output.LayerNorm"),
        *dense(rf"{L}/intermediate/dense", rf"{HL}.intermediate.dense"),
        *dense(rf"{L}/output/dense", rf"{HL}.output.dense"),
        *layer_norm(rf"{L}/output/LayerNorm", rf"{HL}.output.LayerNorm"),
    )


def _embeddings(scope: str) -> tuple[Rule, ...]:
    return (
        Rule(rf"{scope}/embeddings/word_embeddings", "electra.embeddings.word_embeddings.weight"),
        Rule(rf"{scope}/embeddings/position_embeddings", "electra.embeddings.position_embeddings.weight"),
        Rule(rf"{scope}/embeddings/token_type_embeddings", "electra.embeddings.token_type_embeddings.weight"),
        *layer_norm(rf"{scope}/embeddings/LayerNorm", "electra.embeddings.LayerNorm"),
    )


_GEN_WHY = 'generator network (convert it with arch="electra_generator")'
_DISC_WHY = "discriminator network (the default part of arch electra)"

DISCRIMINATOR_TF1 = Rules(
    *_embeddings("electra"),
    *dense("electra/embeddings_project", "electra.embeddings_project"),
    *_encoder("electra"),
    *dense("discriminator_predictions/dense", "discriminator_predictions.dense"),
    # kernel [H, 1] → Linear(H, 1).weight [1, H]
    Rule("discriminator_predictions/dense_1/kernel", "discriminator_predictions.dense_prediction.weight", T),
    Rule("discriminator_predictions/dense_1/bias", "discriminator_predictions.dense_prediction.bias"),
    ignore={
        **TRAINING_LEFTOVERS,
        r"generator/.*|generator_predictions/.*": _GEN_WHY,
        r"electra/pooler/.*": "pooler built by BertModel but never trained by ELECTRA pre-training",
    },
    name="google-tf1",
)

GENERATOR_TF1 = Rules(
    # untied_generator_embeddings=True releases keep the generator's own table under generator/embeddings
    *_embeddings("(?:electra|generator)"),
    *dense("generator/embeddings_project", "electra.embeddings_project"),
    *_encoder("generator"),
    *dense("generator_predictions/dense", "generator_predictions.dense"),
    *layer_norm("generator_predictions/LayerNorm", "generator_predictions.LayerNorm"),
    Rule("generator_predictions/output_bias", "generator_lm_head.bias"),
    ignore={
        **TRAINING_LEFTOVERS,
        r"electra/encoder/.*|electra/embeddings_project/.*|discriminator_predictions/.*": _DISC_WHY,
        r"electra/pooler/.*|generator/pooler/.*": "pooler never trained by ELECTRA pre-training",
    },
    name="google-tf1",
)

_PREFIX = r"(?:module\.)?"
DISCRIMINATOR_PT = Rules(
    Rule(rf"{_PREFIX}((?:electra|discriminator_predictions)\..*)", r"\1"),
    ignore={
        rf"{_PREFIX}electra\.embeddings\.position_ids": "buffer, recomputed by the model",
        rf"{_PREFIX}(?:generator_predictions|generator_lm_head)\..*": _GEN_WHY,
    },
    name="pytorch",
)
GENERATOR_PT = Rules(
    Rule(rf"{_PREFIX}((?:electra|generator_predictions)\..*|generator_lm_head\.bias)", r"\1"),
    ignore={
        rf"{_PREFIX}electra\.embeddings\.position_ids": "buffer, recomputed by the model",
        rf"{_PREFIX}generator_lm_head\.weight": "tied to electra.embeddings.word_embeddings.weight",
        rf"{_PREFIX}discriminator_predictions\..*": _DISC_WHY,
    },
    name="pytorch",
)


_CONFIG_KEYS = (*ENCODER_CONFIG_KEYS, "embedding_size")


@dataclass
class ElectraSpec(ArchSpec):
    """One spec per network of the checkpoint (``part``: discriminator or generator)."""

    part: str = "discriminator"

    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        targets = set(plan_targets)
        cfg: dict[str, Any] = {k: original[k] for k in _CONFIG_KEYS if original and k in original}
        word = shapes.get("electra.embeddings.word_embeddings.weight")
        query = shapes.get("electra.encoder.layer.0.attention.self.query.weight")
        if word is None or query is None:
            raise ConversionError("the checkpoint has no ELECTRA embeddings/encoder: cannot infer the size")
        cfg.setdefault("vocab_size", word[0])
        cfg.setdefault("embedding_size", word[1])
        cfg.setdefault("hidden_size", query[0])
        layers = {
            int(m.group(1)) for t in targets if (m := re.fullmatch(r"electra\.encoder\.layer\.(\d+)\..*", t))
        }
        cfg.setdefault("num_hidden_layers", max(layers) + 1)
        inter = shapes.get("electra.encoder.layer.0.intermediate.dense.weight")
        if inter:
            cfg.setdefault("intermediate_size", inter[0])
        pos = shapes.get("electra.embeddings.position_embeddings.weight")
        if pos:
            cfg.setdefault("max_position_embeddings", pos[0])
        types = shapes.get("electra.embeddings.token_type_embeddings.weight")
        if types:
            cfg.setdefault("type_vocab_size", types[0])
        # assumption for json-less releases: 64-wide heads (true of every Google/HFL ELECTRA size)
        cfg.setdefault("num_attention_heads", max(1, cfg["hidden_size"] // 64))
        cfg.setdefault("hidden_act", "gelu")
        cfg.setdefault("layer_norm_eps", 1e-12)
        cfg["model_type"] = self.model_type
        return cfg


SPEC = ElectraSpec(
    name="electra",
    description="ELECTRA discriminator (replaced-token detection)",
    model_type="electra",
    full_class="ElectraForPreTraining",
    schemes={"google-tf1": DISCRIMINATOR_TF1, "pytorch": DISCRIMINATOR_PT},
    heads=(Head("rtd", (r"discriminator_predictions\..*",), "replaced-token-detection head"),),
    config_names=("*discriminator_config.json", "config.json"),
    vocab_names=("vocab.txt",),
    part="discriminator",
    classes=((("rtd",), "ElectraForPreTraining"), ((), "ElectraModel")),
)
