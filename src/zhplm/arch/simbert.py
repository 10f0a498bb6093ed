"""SimBERT (ZhuiyiTechnology, bert4keras TF1) → zhplm's own ``SimBertForMaskedLM`` / ``SimBertModel``.

The checkpoints are BERT's Google names as bert4keras saves them for ``build_transformer_model(...,
with_pool='linear', application='unilm')``: encoder, ``bert/pooler/dense`` and ``cls/predictions``; no NSP.
What BERT alone would lose is behaviour, not names: the pooler has **no tanh** (the sentence vector the
authors rank by) and generation runs under the UniLM mask; both are in :mod:`zhplm.arch.modeling.simbert`.
The released ``vocab.txt`` is already the simplified one (``keep_tokens`` applied): used as it is.

A SimBERT checkpoint is indistinguishable from a bert4keras BERT by its names, so detection prefers
``bert``; the catalog rows name ``simbert`` (or pass ``arch='simbert'``).
"""

from __future__ import annotations

from zhplm.arch._rules import Rules
from zhplm.arch._spec import Evidence, Head, own_model
from zhplm.arch.bert import GOOGLE_TF1, PYTORCH, BertSpec

NSP_UNUSED = {
    r"cls/seq_relationship/.*": "SimBERT has no next-sentence head",
    r"(?:module\.)?cls\.seq_relationship\..*": "SimBERT has no next-sentence head",
}


def without_nsp(rules: Rules) -> Rules:
    """``rules`` minus the next-sentence head (UniLM releases have none; a stray one is ignored, not mapped)."""
    kept = tuple(r for r in rules.rules if "seq_relationship" not in r.source)
    return Rules(*kept, ignore={**rules.ignore, **NSP_UNUSED}, name=rules.name)


def unilm_heads(prefix: str) -> tuple[Head, ...]:
    return (
        Head(
            "pooler", (rf"{prefix}\.pooler\..*",), "linear pooler over [CLS] (no tanh): the sentence vector"
        ),
        Head(
            "mlm",
            (r"cls\.predictions\..*",),
            "masked-LM head (transform + tied decoder), used for generation",
        ),
    )


# detection never prefers these over the plain encoder reading of the same names, unless the config says so
def unilm_evidence(model_type: str) -> Evidence:
    return Evidence(config=(("model_type", model_type),), without_config=0.99)


SPEC = BertSpec(
    name="simbert",
    description="SimBERT: BERT + UniLM seq2seq mask + linear pooler (similarity and paraphrase; zhplm's own class)",
    model_type="simbert",
    full_class="SimBertForMaskedLM",
    schemes={"google-tf1": without_nsp(GOOGLE_TF1), "pytorch": without_nsp(PYTORCH)},
    heads=unilm_heads("bert"),
    config_names=("bert_config.json", "config.json"),
    vocab_names=("vocab.txt",),
    classes=((("mlm",), "SimBertForMaskedLM"), ((), "SimBertModel")),
    evidence=unilm_evidence("simbert"),
    own_model=own_model("simbert", "SimBert", heads=("MaskedLM", "CausalLM")),
)
