"""EVA 1.0 (thu-coai, 2.8B open-domain dialogue) DeepSpeed shards → transformers ``T5ForConditionalGeneration``.

The release is ``<iter>/mp_rank_00_model_states.pt`` (model parallel 1 as downloaded; the original
``change_mp.py`` re-splits it) + ``latest_checkpointed_iteration.txt``; the model config is the repository's
``src/configs/model/eva1.0_model_config.json`` (checked against the tensors when it lies beside the shards;
without it every size comes from the tensors), the vocabulary ``bpe_dialog_new/vocab.txt``. Naming and mapping are the CPM-2 lineage's
(:mod:`zhplm.arch._cpm2_family`); EVA adds ``role_embeds`` (2 speaker roles), which no original inference
script uses: it is left out of the model and listed as ignored in ``zhplm.json``.

Decoding follows ``src/eva_interactive.py`` + ``generation_utils.py``: the decoder starts at the sentinel
``<s_0>`` and a reply ends at ``<sep>`` (the ``eva`` prompt format builds the context).
"""

from __future__ import annotations

from zhplm.arch._cpm2_family import ROLE_EMBEDS, Cpm2LineageSpec, lineage_spec
from zhplm.arch._spec import Evidence


class EvaSpec(Cpm2LineageSpec):
    decoder_start = "<s_0>"
    end = "<sep>"
    tokenizer_class = "EvaTokenizer"


SPEC = lineage_spec(
    EvaSpec,
    "eva",
    "EVA dialogue encoder-decoder (CPM-2 lineage DeepSpeed shards, T5 v1.1-style, untied head) → T5",
    # EVA 2.0's configs (eva2.0_model_config.json, eva2.0_{base,large}_model_config.json) carry attn_scale
    config_names=(
        "eva1.0_model_config.json",
        "eva2.0*model_config.json",
        "eva_model_config.json",
        "config.json",
    ),
    # role_embeds is EVA's alone among the lineage
    evidence=Evidence(distinctive=(ROLE_EMBEDS,), without_distinctive=0.0),
)
