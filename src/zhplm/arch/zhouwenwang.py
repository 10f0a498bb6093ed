"""Zhouwenwang (IDEA-CCNL Zhouwenwang-Unified-110M / -1.3B) → zhplm's own ``ZhouwenwangForMaskedLM``.

The releases are Hugging Face folders of fengshen's own ``RoFormer`` classes (``fengshen/models/roformer``):
Megatron-BERT's pre-LN names (``encoder.layer.N.attention.ln``, ``…ln``, ``encoder.ln``) under ``bert.`` (the
classes' ``base_model_prefix``; a ``roformer.`` prefix is read too), word and token-type embeddings only
(rotary positions), and fengshen's persistent buffers (``embeddings.position_ids``, each layer's
``rope_emb.div_term``: recomputed, not weights). Heads: ``cls.predictions`` (MLM) and the LM head of the
authors' generation example, the tied word embedding.
"""

from __future__ import annotations

from zhplm.arch._rules import Rule, Rules
from zhplm.arch._spec import Evidence, Head, own_model
from zhplm.arch.megatron_bert import MegatronBertSpec

_P = r"(?:module\.)?(?:model\.)?"
PYTORCH = Rules(
    Rule(rf"{_P}(?:bert|roformer)\.((?:embeddings|encoder)\..*)", r"bert.\1"),
    Rule(rf"{_P}((?:embeddings|encoder)\..*)", r"bert.\1"),
    Rule(rf"{_P}(cls\.predictions\.(?!decoder\.).*)", r"\1"),
    ignore={
        rf"{_P}(?:(?:bert|roformer)\.)?embeddings\.position_ids": "buffer, recomputed by the model",
        rf"{_P}(?:(?:bert|roformer)\.)?encoder\.layer\.\d+\.attention\.self\.rope_emb\.div_term": (
            "rotary frequencies (a buffer), recomputed by the model"
        ),
        rf"{_P}cls\.predictions\.decoder\.weight": "tied to bert.embeddings.word_embeddings.weight",
        rf"{_P}cls\.predictions\.decoder\.bias": "tied to cls.predictions.bias",
        rf"{_P}(?:(?:bert|roformer)\.)?pooler\..*": "pooler of fengshen's pre-training class: no task uses it",
        rf"{_P}cls\.seq_relationship\..*": "next-sentence head of fengshen's pre-training class: not used",
    },
    name="pytorch",
)

SPEC = MegatronBertSpec(
    name="zhouwenwang",
    description="Zhouwenwang (pre-LN Megatron-BERT with rotary positions, MLM + LM heads; zhplm's own class)",
    model_type="zhouwenwang",
    full_class="ZhouwenwangForMaskedLM",
    schemes={"pytorch": PYTORCH},
    heads=(
        Head("mlm", (r"cls\.predictions\..*",), "masked-LM head (transform + tied decoder): fill-mask"),
        Head(
            "lm",
            (r"bert\.embeddings\.word_embeddings\.weight",),
            "LM head: the tied word embedding without bias (the authors' generation example)",
        ),
    ),
    config_names=("config.json",),
    vocab_names=("vocab.txt",),
    classes=((("mlm",), "ZhouwenwangForMaskedLM"), ((), "ZhouwenwangModel")),
    # fengshen's rotary buffer is in every release saved by its classes; Megatron-BERT has position embeddings
    evidence=Evidence(
        distinctive=(r".*\.attention\.self\.rope_emb\.div_term",),
        forbidden=(r".*position_embeddings.*",),
        without_distinctive=0.5,
    ),
    own_model=own_model("zhouwenwang", "Zhouwenwang", heads=("MaskedLM", "CausalLM")),
)
