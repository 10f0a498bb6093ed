"""GAU-α (ZhuiyiTechnology/GAU-alpha, bert4keras TF1 checkpoint) → zhplm's own ``GAUAlphaForMaskedLM``.

GAU-α's ``variable_mapping`` names the embeddings as BERT does and each Gated Attention Unit under its
own scope::

    bert/embeddings/{word_embeddings, token_type_embeddings}
    GAU_alpha/encoder/layer_N/gau/i_dense/kernel          [H, 2e+s]   (u, v and the shared q/k base)
    GAU_alpha/encoder/layer_N/gau/o_dense/kernel          [e, H]
    GAU_alpha/encoder/layer_N/gau/{q,k}_scaleoffset/gamma [s]

No biases, no norm parameters (the norm is parameter-free), no position table (RoPE). The ``GAU_alpha/``
scope is GAU-α's alone, so detection is decisive. ``e`` (``intermediate_size``) and ``s``
(``attention_key_size``) are read from the tensors and checked against ``i_dense``; the activation comes
from ``bert_config.json`` (``swish`` in the release). Tokenizer and tied MLM head as RoFormerV2.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from zhplm.arch._rules import TRANSPOSE, Rule, Rules, Shape, Transform
from zhplm.arch._spec import TRAINING_LEFTOVERS, Evidence, copy_config, count_layers, own_model, shape_of
from zhplm.arch.roformer_v2 import BERT4KERAS_EPS, RoFormerV2Spec, check_embedding_size, tied_mlm_head
from zhplm.errors import ConversionError, MappingError


def _kernel_shape(shapes: Sequence[Shape]) -> Shape:
    if len(shapes[0]) != 2:
        raise MappingError(
            f"a GAU dense kernel has shape {shapes[0]}, not 2-D: the names are paired with the wrong "
            "weights (bert4keras >= 0.11.4 saving with GAU-alpha's variable_mapping does this)"
        )
    return TRANSPOSE.shape(shapes)


T = Transform("transpose", TRANSPOSE.fn, _kernel_shape)

_L = r"GAU_alpha/encoder/layer_(\d+)/gau"
_HL = r"gau_alpha.encoder.layer.\1.gau"

BERT4KERAS_TF1 = Rules(
    Rule(r"bert/embeddings/word_embeddings", "gau_alpha.embeddings.word_embeddings.weight"),
    Rule(r"bert/embeddings/token_type_embeddings", "gau_alpha.embeddings.token_type_embeddings.weight"),
    Rule(rf"{_L}/(i_dense|o_dense)/kernel", rf"{_HL}.\2.weight", T),
    Rule(rf"{_L}/(q|k)_scaleoffset/gamma", rf"{_HL}.\2_scaleoffset.gamma"),
    ignore=TRAINING_LEFTOVERS,
    name="bert4keras-tf1",
)

_CONFIG_KEYS = (
    "hidden_act",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "max_position_embeddings",
    "initializer_range",
    "layer_norm_eps",
)


class GAUAlphaSpec(RoFormerV2Spec):
    prefix = "gau_alpha"

    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        p = self.prefix
        cfg = copy_config(original, _CONFIG_KEYS)
        vocab, hidden = shape_of(shapes, f"{p}.embeddings.word_embeddings.weight")
        check_embedding_size(original, hidden)
        width = shape_of(shapes, f"{p}.encoder.layer.0.gau.o_dense.weight")[1]  # e
        key_size = shape_of(shapes, f"{p}.encoder.layer.0.gau.q_scaleoffset.gamma")[0]  # s
        i_dense = shape_of(shapes, f"{p}.encoder.layer.0.gau.i_dense.weight")
        if i_dense != (2 * width + key_size, hidden):
            raise ConversionError(
                f"GAU i_dense has shape {i_dense}; with intermediate_size {width} and attention_key_size "
                f"{key_size} it should be {(2 * width + key_size, hidden)}"
            )
        for key, value in (("intermediate_size", width), ("attention_key_size", key_size)):
            stated = (original or {}).get(key)
            if stated is not None and int(stated) != value:
                raise ConversionError(f"bert_config.json says {key}={stated}, the checkpoint has {value}")
        types = shapes.get(f"{p}.embeddings.token_type_embeddings.weight")
        cfg.update(
            vocab_size=vocab,
            hidden_size=hidden,
            num_hidden_layers=count_layers(plan_targets),
            intermediate_size=width,
            attention_key_size=key_size,
            type_vocab_size=types[0] if types else 0,
            use_bias=False,
        )
        cfg.setdefault("hidden_act", "swish")
        cfg.setdefault("layer_norm_eps", BERT4KERAS_EPS)
        cfg["pad_token_id"] = 0  # bert4keras masks token id 0 (mask_zero)
        cfg["model_type"] = self.model_type
        return cfg


SPEC = GAUAlphaSpec(
    name="gau_alpha",
    description="GAU-α: RoFormerV2 with single-head Gated Attention Units (zhplm's own model)",
    model_type="gau_alpha",
    full_class="GAUAlphaForMaskedLM",
    schemes={"bert4keras-tf1": BERT4KERAS_TF1},
    heads=(tied_mlm_head("gau_alpha"),),
    config_names=("bert_config.json", "config.json"),
    vocab_names=("vocab.txt",),
    classes=((("mlm",), "GAUAlphaForMaskedLM"), ((), "GAUAlphaModel")),
    evidence=Evidence(distinctive=(r"GAU_alpha/.*",)),
    own_model=own_model("gau_alpha", "GAUAlpha"),
)
