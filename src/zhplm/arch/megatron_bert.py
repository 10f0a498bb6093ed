"""MegatronBERT (IDEA-CCNL Erlangshen-MegatronBert) → transformers ``MegatronBertForPreTraining`` /
``MegatronBertForMaskedLM`` / ``MegatronBertModel``.

Erlangshen publishes Hugging Face PyTorch checkpoints already in transformers' MegatronBERT names
(pre-LN layers: ``attention.ln``, ``ln``, a final ``encoder.ln``; no embedding LayerNorm), so the
mapping is a checked rename: prefixes (``module.``, ``model.``, a bare ``embeddings.…`` state dict)
are normalised and the tied decoder is left to the model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from zhplm.arch._rules import Rule, Rules, Shape
from zhplm.arch._spec import Evidence, Head
from zhplm.arch.bert import BertSpec

_PREFIX = r"(?:module\.)?(?:model\.)?"

PYTORCH = Rules(
    Rule(rf"{_PREFIX}((?:bert|cls)\.(?!predictions\.decoder).*)", r"\1"),
    Rule(rf"{_PREFIX}((?:embeddings|encoder|pooler)\..*)", r"bert.\1"),
    ignore={
        rf"{_PREFIX}(?:bert\.)?embeddings\.position_ids": "buffer, recomputed by the model",
        rf"{_PREFIX}cls\.predictions\.decoder\.weight": "tied to bert.embeddings.word_embeddings.weight",
        rf"{_PREFIX}cls\.predictions\.decoder\.bias": "tied to cls.predictions.bias",
    },
    name="pytorch",
)

HEADS = (
    Head("pooler", (r"bert\.pooler\..*",), "pooler dense + tanh over [CLS]"),
    Head("mlm", (r"cls\.predictions\..*",), "masked-LM head (transform + tied decoder)"),
    Head("nsp", (r"cls\.seq_relationship\..*",), "next-sentence head"),
)

# A name only pre-LN MegatronBERT layers have: decisive against plain BERT, whose PyTorch scheme would
# also place every name.
_DISTINCT = (".attention.ln.", "encoder.ln.")


class MegatronBertSpec(BertSpec):
    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        cfg = super().build_config(original, shapes, plan_targets)
        cfg.setdefault("pad_token_id", 0)
        return cfg


SPEC = MegatronBertSpec(
    name="megatron_bert",
    description="MegatronBERT encoder (pre-LN BERT; IDEA-CCNL Erlangshen-MegatronBert)",
    model_type="megatron-bert",
    full_class="MegatronBertForPreTraining",
    schemes={"pytorch": PYTORCH},
    heads=HEADS,
    config_names=("config.json",),
    vocab_names=("vocab.txt",),
    classes=(
        (("mlm", "nsp"), "MegatronBertForPreTraining"),
        (("mlm",), "MegatronBertForMaskedLM"),
        ((), "MegatronBertModel"),
    ),
    evidence=Evidence(distinctive=(r".*\.attention\.ln\..*", r".*encoder\.ln\..*"), without_distinctive=0.5),
)
