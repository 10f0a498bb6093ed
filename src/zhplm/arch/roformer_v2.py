"""RoFormerV2 (ZhuiyiTechnology, bert4keras TF1 checkpoints) → zhplm's own ``RoFormerV2ForMaskedLM``.

RoFormerV2 is RoFormer without biases and with a parameter-free RMS norm, so its checkpoint is Google
BERT's names **minus every bias, gamma and beta** and without ``position_embeddings`` (bert4keras'
``RoFormerV2.variable_mapping``): token and segment embeddings, then per layer the q/k/v/output
kernels and the two feed-forward kernels. No BERT-family checkpoint lacks every bias and norm, which makes
the layout recognisable on its own (:meth:`RoFormerV2Spec.matches`). The MLM head is the token embedding
transposed (no transform, no bias), so it is present whenever the embedding is. Norm epsilon: bert4keras'
``K.epsilon()`` = 1e-7 unless the config names ``layer_norm_eps``. The model class lives in
:mod:`zhplm.arch.modeling.roformer_v2` and registers with the transformers Auto classes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from zhplm.arch._rules import TRANSPOSE as T
from zhplm.arch._rules import Rule, Rules, Shape
from zhplm.arch._spec import (
    ENCODER_CONFIG_KEYS,
    TRAINING_LEFTOVERS,
    ArchSpec,
    Evidence,
    Head,
    copy_config,
    count_layers,
    own_model,
    shape_of,
)
from zhplm.errors import ConversionError

BERT4KERAS_EPS = 1e-7  # bert4keras LayerNormalization: epsilon or K.epsilon()

_L = r"bert/encoder/layer_(\d+)"
_HL = r"roformer.encoder.layer.\1"

BERT4KERAS_TF1 = Rules(
    Rule(r"bert/embeddings/word_embeddings", "roformer.embeddings.word_embeddings.weight"),
    Rule(r"bert/embeddings/token_type_embeddings", "roformer.embeddings.token_type_embeddings.weight"),
    Rule(rf"{_L}/attention/self/(query|key|value)/kernel", rf"{_HL}.attention.self.\2.weight", T),
    Rule(rf"{_L}/attention/output/dense/kernel", rf"{_HL}.attention.output.dense.weight", T),
    Rule(rf"{_L}/intermediate/dense/kernel", rf"{_HL}.intermediate.dense.weight", T),
    Rule(rf"{_L}/output/dense/kernel", rf"{_HL}.output.dense.weight", T),
    ignore=TRAINING_LEFTOVERS,
    name="bert4keras-tf1",
)

# Variables a RoFormerV2 never has; any of them means another BERT-family layout.
_NOT_V2 = re.compile(r".*(?:/bias|/beta|/gamma|LayerNorm.*|/output_bias|/output_weights|position_embeddings)")

# Google bert_config.json keys the config takes as they are.
# bert4keras masks token id 0 itself; the pad id is not taken from the config
_CONFIG_KEYS = tuple(k for k in ENCODER_CONFIG_KEYS if k != "pad_token_id")


def check_embedding_size(original: Mapping[str, Any] | None, hidden: int) -> None:
    embedding = (original or {}).get("embedding_size")
    if embedding is not None and int(embedding) != hidden:
        raise ConversionError(
            f"embedding_size {embedding} differs from hidden_size {hidden}: RoFormerV2/GAU-α checkpoints "
            "with an embedding projection are not supported"
        )


class RoFormerV2Spec(ArchSpec):
    """bert4keras RoFormerV2; also the base of GAU-α (same embeddings, tokenizer and tied MLM head)."""

    prefix = "roformer"

    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        targets = set(plan_targets)
        p = self.prefix
        cfg = copy_config(original, _CONFIG_KEYS)
        vocab, hidden = shape_of(shapes, f"{p}.embeddings.word_embeddings.weight")
        check_embedding_size(original, hidden)
        cfg["vocab_size"], cfg["hidden_size"] = vocab, hidden  # the tensors are the truth
        cfg["num_hidden_layers"] = count_layers(targets)
        cfg["intermediate_size"] = shape_of(shapes, f"{p}.encoder.layer.0.intermediate.dense.weight")[0]
        types = shapes.get(f"{p}.embeddings.token_type_embeddings.weight")
        cfg["type_vocab_size"] = types[0] if types else 0
        cfg.setdefault("num_attention_heads", max(1, hidden // 64))
        heads = int(cfg["num_attention_heads"])
        if hidden % heads or (hidden // heads) % 2:
            raise ConversionError(
                f"num_attention_heads {heads} does not split hidden_size {hidden} into even-sized heads "
                "(RoPE rotates pairs)"
            )
        cfg.setdefault("hidden_act", "relu")
        cfg.setdefault("layer_norm_eps", BERT4KERAS_EPS)
        cfg["pad_token_id"] = 0  # bert4keras masks token id 0 (mask_zero)
        cfg["model_type"] = self.model_type
        return cfg


def tied_mlm_head(prefix: str) -> Head:
    """The MLM decoder is the token embedding transposed: trained whenever the embedding is."""
    return Head(
        "mlm",
        (r"cls\..*", rf"{prefix}\.embeddings\.word_embeddings\.weight"),
        "masked-LM logits = hidden · token embeddingᵀ (tied, no transform, no bias)",
    )


SPEC = RoFormerV2Spec(
    name="roformer_v2",
    description="RoFormerV2: RoFormer without biases, parameter-free RMS norm (zhplm's own model)",
    model_type="roformer_v2",
    full_class="RoFormerV2ForMaskedLM",
    schemes={"bert4keras-tf1": BERT4KERAS_TF1},
    heads=(tied_mlm_head("roformer"),),
    config_names=("bert_config.json", "config.json"),
    vocab_names=("vocab.txt",),
    classes=((("mlm",), "RoFormerV2ForMaskedLM"), ((), "RoFormerV2Model")),
    # no BERT-family checkpoint lacks every bias and norm: that absence identifies RoFormerV2
    evidence=Evidence(forbidden=(_NOT_V2.pattern,), distinctive=(r"bert/encoder/layer_.*",)),
    own_model=own_model("roformer_v2", "RoFormerV2"),
)
