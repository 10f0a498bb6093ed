"""CPM-2 (TsinghuaAI / BAAI, 11B Chinese and 11B Chinese-English) model-parallel shards →
transformers ``T5ForConditionalGeneration``.

The release is ``<iter>/mp_rank_0[0-3]_model_states.pt`` (4 model-parallel ranks) +
``latest_checkpointed_iteration.txt``; :mod:`zhplm.formats.megatron` joins the ranks (fused ``project`` rank
by rank as [Q; K; V], ``project_kv`` as [K; V], vocab-parallel embeddings and head, the row-parallel
``dense``/``wo`` along dim 1, the per-rank heads of ``relative_attention_bias`` along dim 1) and the
conversion streams one tensor at a time into sharded safetensors. The mapping is the lineage's
(:mod:`zhplm.arch._cpm2_family`, shared with EVA); the model config ``cpm2_config.json`` beside the shards
is checked against the tensors (which alone size the model); the vocabulary ``bpe_cn/vocab.txt`` (or ``bpe_cn_en``).

Pre-training was span corruption: a masked span reads ``<s_0>`` in the encoder, the decoder starts at
``<s_0>`` and the span ends where the next sentinel begins (``cpm2-span`` prompt format); ``<eod>`` ends a
document. At 11B (44 GB in fp32, 22 GB in bf16) it converts on a small machine but does not run on one:
``zhplm.load`` refuses before reading weights and says how much memory it needs.
"""

from __future__ import annotations

from zhplm.arch._cpm2_family import EVIDENCE_NAMES, ROLE_EMBEDS, Cpm2LineageSpec, lineage_spec
from zhplm.arch._spec import Evidence


class Cpm2Spec(Cpm2LineageSpec):
    decoder_start = "<s_0>"
    end = "<eod>"
    tokenizer_class = "Cpm2Tokenizer"


SPEC = lineage_spec(
    Cpm2Spec,
    "cpm2",
    "CPM-2 encoder-decoder (Megatron model-parallel shards, T5 v1.1-style, untied head) → T5",
    config_names=("cpm2_config.json", "enc_dec_xlarge_config.json", "config.json"),
    evidence=Evidence(distinctive=EVIDENCE_NAMES, without_distinctive=0.0, forbidden=(ROLE_EMBEDS,)),
)
