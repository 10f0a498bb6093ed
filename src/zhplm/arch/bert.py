"""BERT-architecture encoders → transformers ``BertForPreTraining`` / ``BertForMaskedLM`` / ``BertModel``.

Covers Google BERT and every list row that is BERT underneath (Chinese "RoBERTa", MacBERT, PERT,
WoBERT, StructBERT, OpenCLaP, …). Naming schemes:

* ``google-tf1``: Google's TF1 names (``bert/encoder/layer_N/attention/self/query/kernel``); also what
  bert4keras saves (often without pooler / NSP).
* ``uer``: UER-py's native ``.bin`` names (``embedding.word.embedding``, ``encoder.transformer.N.self_attn.
  linear_layers.{0,1,2}``, ``layer_norm_{1,2}.{gamma,beta}``, ``target.mlm.*``, ``target.sp.*``); the 3-row
  segment table loses its padding row.
* ``pytorch``: HF and pytorch-pretrained-BERT names (``bert.encoder.layer.N…``; ``LayerNorm.gamma/beta``;
  ``module.`` prefixes; bare state dicts of ``model.bert`` without the ``bert.`` prefix).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from zhplm.arch._rules import COPY, Array, Rule, Rules, Shape, Transform, drop_rows
from zhplm.arch._spec import (
    TRAINING_LEFTOVERS,
    ArchSpec,
    Head,
    copy_config,
    dense,
    fill_encoder_sizes,
    layer_norm,
)

L = r"bert/encoder/layer_(\d+)"
HL = r"bert.encoder.layer.\1"

GOOGLE_TF1 = Rules(
    Rule(r"bert/embeddings/word_embeddings", "bert.embeddings.word_embeddings.weight"),
    Rule(r"bert/embeddings/position_embeddings", "bert.embeddings.position_embeddings.weight"),
    Rule(r"bert/embeddings/token_type_embeddings", "bert.embeddings.token_type_embeddings.weight"),
    *layer_norm("bert/embeddings/LayerNorm", "bert.embeddings.LayerNorm"),
    *dense(rf"{L}/attention/self/(query|key|value)", rf"{HL}.attention.self.\2"),
    *dense(rf"{L}/attention/output/dense", rf"{HL}.attention.output.dense"),
    *layer_norm(rf"{L}/attention/output/LayerNorm", rf"{HL}.attention.output.LayerNorm"),
    *dense(rf"{L}/intermediate/dense", rf"{HL}.intermediate.dense"),
    *dense(rf"{L}/output/dense", rf"{HL}.output.dense"),
    *layer_norm(rf"{L}/output/LayerNorm", rf"{HL}.output.LayerNorm"),
    *dense(r"bert/pooler/dense", "bert.pooler.dense"),
    *dense(r"cls/predictions/transform/dense", "cls.predictions.transform.dense"),
    *layer_norm(r"cls/predictions/transform/LayerNorm", "cls.predictions.transform.LayerNorm"),
    Rule(r"cls/predictions/output_bias", "cls.predictions.bias"),
    # Google stores the NSP weight already as [2, hidden]: no transpose.
    Rule(r"cls/seq_relationship/output_weights", "cls.seq_relationship.weight"),
    Rule(r"cls/seq_relationship/output_bias", "cls.seq_relationship.bias"),
    ignore=TRAINING_LEFTOVERS,
    name="google-tf1",
)

_PREFIX = r"(?:module\.)?(?:model\.)?"
PYTORCH = Rules(
    Rule(rf"{_PREFIX}((?:bert|cls)\..*LayerNorm)\.gamma", r"\1.weight"),
    Rule(rf"{_PREFIX}((?:bert|cls)\..*LayerNorm)\.beta", r"\1.bias"),
    Rule(rf"{_PREFIX}((?:embeddings|encoder|pooler)\..*LayerNorm)\.gamma", r"bert.\1.weight"),
    Rule(rf"{_PREFIX}((?:embeddings|encoder|pooler)\..*LayerNorm)\.beta", r"bert.\1.bias"),
    Rule(rf"{_PREFIX}((?:bert|cls)\.(?!predictions\.decoder).*)", r"\1"),
    Rule(rf"{_PREFIX}((?:embeddings|encoder|pooler)\..*)", r"bert.\1"),
    ignore={
        rf"{_PREFIX}(?:bert\.)?embeddings\.position_ids": "buffer, recomputed by the model",
        rf"{_PREFIX}cls\.predictions\.decoder\.weight": "tied to bert.embeddings.word_embeddings.weight",
        rf"{_PREFIX}cls\.predictions\.decoder\.bias": "tied to cls.predictions.bias",
    },
    name="pytorch",
)

_UL = r"encoder\.transformer\.(\d+)"
_UHL = r"bert.encoder.layer.\1"
_UER_ATTN = {"0": "query", "1": "key", "2": "value"}


def _biased_gamma(xs: Sequence[Array]) -> Array:
    n = xs[0].shape[-1]
    scaled: Array = (xs[0] * np.sqrt((n - 1) / n)).astype(xs[0].dtype)
    return scaled


# UER-py's LayerNorm is ``gamma · (x − mean) / (std + 1e-6) + beta`` with torch's *unbiased* std (n − 1);
# nn.LayerNorm divides by the biased one. Scaling gamma by sqrt((n − 1) / n) makes them equal up to the
# epsilon (added to the std there): 1.6 % of every normalised value at H = 32, 0.07 % at H = 768.
UER_GAMMA = Transform("gamma*sqrt((n-1)/n)", _biased_gamma, lambda ss: ss[0])


def _uer_ln(src: str, dst: str) -> tuple[Rule, Rule]:
    return (Rule(rf"{src}\.gamma", f"{dst}.weight", UER_GAMMA), Rule(rf"{src}\.beta", f"{dst}.bias"))


def _uer_linear(src: str, dst: str) -> tuple[Rule, Rule]:
    return (Rule(rf"{src}\.weight", f"{dst}.weight"), Rule(rf"{src}\.bias", f"{dst}.bias"))


# UER-py native names (new ``embedding.word.embedding`` and old ``embedding.word_embedding`` spellings).
# The segment table has 3 rows (0 = padding); BERT's token types are rows 1 and 2.
UER = Rules(
    Rule(r"embedding\.(?:word\.embedding|word_embedding)\.weight", "bert.embeddings.word_embeddings.weight"),
    Rule(
        r"embedding\.(?:pos\.embedding|position_embedding)\.weight",
        "bert.embeddings.position_embeddings.weight",
    ),
    Rule(
        r"embedding\.(?:seg\.embedding|segment_embedding)\.weight",
        "bert.embeddings.token_type_embeddings.weight",
        drop_rows(1),
    ),
    *_uer_ln(r"embedding\.layer_norm", "bert.embeddings.LayerNorm"),
    *(
        rule
        for idx, name in _UER_ATTN.items()
        for rule in _uer_linear(rf"{_UL}\.self_attn\.linear_layers\.{idx}", rf"{_UHL}.attention.self.{name}")
    ),
    *_uer_linear(rf"{_UL}\.self_attn\.final_linear", rf"{_UHL}.attention.output.dense"),
    *_uer_ln(rf"{_UL}\.layer_norm_1", rf"{_UHL}.attention.output.LayerNorm"),
    *_uer_linear(rf"{_UL}\.feed_forward\.linear_1", rf"{_UHL}.intermediate.dense"),
    *_uer_linear(rf"{_UL}\.feed_forward\.linear_2", rf"{_UHL}.output.dense"),
    *_uer_ln(rf"{_UL}\.layer_norm_2", rf"{_UHL}.output.LayerNorm"),
    *_uer_linear(r"target\.(?:mlm\.linear_1|mlm_linear_1)", "cls.predictions.transform.dense"),
    *_uer_ln(r"target\.(?:mlm\.layer_norm|layer_norm)", "cls.predictions.transform.LayerNorm"),
    Rule(r"target\.(?:mlm\.linear_2|mlm_linear_2)\.bias", "cls.predictions.bias"),
    *_uer_linear(r"target\.(?:sp\.linear_1|sp_linear_1|nsp\.linear_1)", "bert.pooler.dense"),
    *_uer_linear(r"target\.(?:sp\.linear_2|sp_linear_2|nsp\.linear_2)", "cls.seq_relationship"),
    ignore={
        r"target\.(?:mlm\.linear_2|mlm_linear_2)\.weight": "MLM decoder, tied to the word embedding",
    },
    name="uer",
)

# SDCUP (AliceMind, text-to-SQL table pre-training): the state dict of ``tableModel.TableTextPretraining``. Its
# ``pre_encoder`` is SDCUP's copy of UER (old ``embedding.word_embedding`` spellings), whose LayerNorm divides by
# the *biased* std + 1e-6: gamma is copied as is (no n/(n-1) fold), the 1e-6 outside the square root stays a
# ≤1e-6/σ relative difference. ``pre_encoder.target.*`` is the UER BERT target the table pre-training never
# used (its own MLM head sits at the top level), so no head of the release is trained for BERT's classes.
SDCUP = Rules(
    *(
        Rule(
            r"pre_encoder\." + r.source,
            r.target,
            COPY if r.transform is UER_GAMMA else r.transform,
        )
        for r in UER.rules
        if not r.source.startswith("target")
    ),
    ignore={
        r"pre_encoder\.target\..*": "UER's BERT target inside the encoder wrapper: not trained by SDCUP",
        r"(?:mlm_linear_[12]|layer_norm)\..*": "SDCUP's table MLM head (untied decoder): pre-training only",
        r"enc_[hn]\..*|mlp_all\..*|\w*biaffine\w*\..*|awl\..*": "SDCUP's schema-dependency heads (LSTMs, MLP, "
        "biaffine): pre-training only, text-to-SQL needs its fine-tuned sqlova decoder",
    },
    name="sdcup",
)

HEADS = (
    Head("pooler", (r"bert\.pooler\..*",), "pooler dense + tanh over [CLS]"),
    Head("mlm", (r"cls\.predictions\..*",), "masked-LM head (transform + tied decoder)"),
    Head("nsp", (r"cls\.seq_relationship\..*",), "next-sentence head"),
)

BERT_CLASSES = (
    (("mlm", "nsp"), "BertForPreTraining"),
    (("mlm",), "BertForMaskedLM"),
    ((), "BertModel"),
)


UER_CONFIG_KEYS = {
    "heads_num": "num_attention_heads",
    "layers_num": "num_hidden_layers",
    "feedforward_size": "intermediate_size",
}


class BertSpec(ArchSpec):
    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        cfg = copy_config(original)
        for uer_key, key in UER_CONFIG_KEYS.items():  # a UER-py config (models/bert/*_config.json)
            if original and uer_key in original:
                cfg.setdefault(key, original[uer_key])
        if cfg.get("hidden_act") == "gelu_fast":  # UER's name for the tanh approximation
            cfg["hidden_act"] = "gelu_new"
        fill_encoder_sizes(cfg, shapes, "bert")
        cfg.setdefault("hidden_act", "gelu")
        cfg.setdefault("layer_norm_eps", 1e-12)
        cfg["model_type"] = self.model_type
        return cfg


SPEC = BertSpec(
    name="bert",
    description="BERT encoder (Google BERT and every BERT-architecture Chinese model)",
    model_type="bert",
    full_class="BertForPreTraining",
    schemes={"google-tf1": GOOGLE_TF1, "pytorch": PYTORCH, "uer": UER, "sdcup": SDCUP},
    heads=HEADS,
    config_names=("bert_config.json", "config.json"),
    vocab_names=("vocab.txt", "google_zh_vocab.txt"),
    classes=BERT_CLASSES,
    tokenizers=("zhplm.arch.tokenization.word",),
)
