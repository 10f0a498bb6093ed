"""NEZHA / WoNEZHA (Huawei TF1, Zhuiyi bert4keras) → zhplm's own ``NezhaForPreTraining`` / ``NezhaForMaskedLM``.

The checkpoints use Google BERT names; NEZHA has no absolute position embeddings (relative positions are
computed, not stored), so a ``position_embeddings`` variable, where a release carries one, is ignored.
The model classes live in :mod:`zhplm.arch.modeling.nezha` and register with the transformers Auto
classes, so a converted folder loads with ``AutoModel*.from_pretrained`` once zhplm is imported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from zhplm.arch._rules import Rules, Shape
from zhplm.arch._spec import Evidence, own_model
from zhplm.arch.bert import GOOGLE_TF1, HEADS, PYTORCH, BertSpec

_NO_ABSOLUTE = {
    r"bert/embeddings/position_embeddings": "NEZHA uses functional relative positions, not this table",
    r"(?:module\.)?(?:bert\.)?embeddings\.position_embeddings\.weight": "NEZHA uses relative positions only",
}


def _without_positions(rules: Rules) -> Rules:
    kept = tuple(r for r in rules.rules if "position_embeddings" not in r.source)
    return Rules(*kept, ignore={**rules.ignore, **_NO_ABSOLUTE}, name=rules.name)


class NezhaSpec(BertSpec):
    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        cfg = super().build_config(original, shapes, plan_targets)
        cfg["max_relative_position"] = int((original or {}).get("max_relative_position", 64))
        cfg.setdefault("max_position_embeddings", int((original or {}).get("max_position_embeddings", 512)))
        return cfg


SPEC = NezhaSpec(
    name="nezha",
    description="NEZHA: BERT with functional relative positions on keys and values (zhplm's own model)",
    model_type="nezha",
    full_class="NezhaForPreTraining",
    schemes={"google-tf1": _without_positions(GOOGLE_TF1), "pytorch": _without_positions(PYTORCH)},
    heads=HEADS,
    config_names=("bert_config.json", "config.json"),
    vocab_names=("vocab.txt",),
    classes=((("mlm", "nsp"), "NezhaForPreTraining"), (("mlm",), "NezhaForMaskedLM"), ((), "NezhaModel")),
    evidence=Evidence(
        forbidden=(r"(?!.*relative).*position_embeddings.*",),  # an absolute table: BERT explains it
        # NEZHA releases say so in their config; without it, RoFormer's reading of the same names wins
        config=(("use_relative_position", True),),
        without_config=0.99,
    ),
    own_model=own_model("nezha", "Nezha", heads=("MaskedLM", "PreTraining")),
)
