"""RoFormer-sim v1/v2 (SimBERTv2, ZhuiyiTechnology, bert4keras TF1) → zhplm's own ``RoFormerSimForMaskedLM``.

RoFormer v1's bert4keras names (no position table) plus ``bert/pooler/dense``: the linear pooler
(``with_pool='linear'``, no tanh) that transformers' RoFormer lacks. Generation runs under the UniLM mask
(:mod:`zhplm.arch.modeling.roformer_sim`). The vocabularies are character-level (``-char``): the plain
BERT WordPiece tokenizer, not RoFormer v1's jieba word tokenizer. LayerNorm epsilon 1e-12 (bert4keras
0.10.x, which the release was trained with) unless the config says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from zhplm.arch._rules import Rule, Shape
from zhplm.arch._spec import dense, own_model
from zhplm.arch.roformer import BERT4KERAS_TF1, PYTORCH, RoFormerSpec, _RulesWithSinusoid
from zhplm.arch.simbert import NSP_UNUSED, unilm_evidence, unilm_heads

B4K_EPS = 1e-12

_POOLER_IGNORED = r"bert/pooler/.*|cls/seq_relationship/.*"

TF1 = _RulesWithSinusoid(
    *BERT4KERAS_TF1.rules,
    *dense(r"bert/pooler/dense", "roformer.pooler.dense"),
    ignore={k: v for k, v in BERT4KERAS_TF1.ignore.items() if k != _POOLER_IGNORED} | NSP_UNUSED,
    name="bert4keras-tf1",
)

TORCH = _RulesWithSinusoid(
    Rule(r"(?:module\.)?(?:roformer\.)?pooler\.dense\.(weight|bias)", r"roformer.pooler.dense.\1"),
    *PYTORCH.rules,
    ignore={**PYTORCH.ignore, **NSP_UNUSED},
    name="pytorch",
)


class RoFormerSimSpec(RoFormerSpec):
    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        cfg = super().build_config(original, shapes, plan_targets)
        cfg["layer_norm_eps"] = float((original or {}).get("layer_norm_eps", B4K_EPS))
        return cfg


SPEC = RoFormerSimSpec(
    name="roformer_sim",
    description="RoFormer-sim (SimBERTv2): RoFormer + UniLM seq2seq mask + linear pooler (zhplm's own class)",
    model_type="roformer_sim",
    full_class="RoFormerSimForMaskedLM",
    schemes={"bert4keras-tf1": TF1, "pytorch": TORCH},
    heads=unilm_heads("roformer"),
    config_names=("bert_config.json", "config.json"),
    vocab_names=("vocab.txt",),
    classes=((("mlm",), "RoFormerSimForMaskedLM"), ((), "RoFormerSimModel")),
    evidence=unilm_evidence("roformer_sim"),
    own_model=own_model("roformer_sim", "RoFormerSim", heads=("MaskedLM", "CausalLM")),
)
