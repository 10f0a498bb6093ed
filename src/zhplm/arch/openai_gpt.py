"""OpenAI-GPT (post-LN decoder) releases in Hugging Face names → zhplm's ``OpenAIGPTCachedForCausalLM``.

CDial-GPT (LCCC base and large): HF-era ``pytorch_model.bin`` + a config of transformers 2.x's keys
(``afn``, ``n_special``, ``n_ctx``), a 13088-character vocabulary ending in ``[speaker1]``/``[speaker2]``
and without ``[MASK]``. The speakers are fed as ``token_type_ids`` through the token embedding
(transformers' OpenAIGPT still does this); the chat format lives with the catalog row (``prompt_format``).

The target is transformers' ``OpenAIGPTLMHeadModel`` network under its own parameter names, with a KV cache
(:mod:`zhplm.arch.modeling.openai_gpt`): transformers' class has none and recomputes the whole sequence for
every generated token. The folder's weights load into transformers' class as well.
"""

from __future__ import annotations

from zhplm.arch._gpt import LM_HEAD, GptSpec, hf_rules
from zhplm.arch._spec import Evidence, own_model


class OpenAiGptSpec(GptSpec):
    config_keys = (
        "vocab_size",
        "n_embd",
        "n_head",
        "afn",
        "resid_pdrop",
        "embd_pdrop",
        "attn_pdrop",
        "layer_norm_epsilon",
        "initializer_range",
    )
    token_table = "transformer.tokens_embed.weight"
    position_table = "transformer.positions_embed.weight"


SPEC = OpenAiGptSpec(
    name="openai_gpt",
    description="OpenAI GPT decoder (post-LN): CDial-GPT LCCC base/large; HF-era folders",
    model_type="openai_gpt_cached",
    full_class="OpenAIGPTCachedForCausalLM",
    schemes={"hf": hf_rules(r"tokens_embed|positions_embed|h\.\d+", "hf")},
    heads=(LM_HEAD,),
    config_names=("config.json",),
    vocab_names=("vocab.txt",),
    classes=(((), "OpenAIGPTCachedForCausalLM"),),
    evidence=Evidence(
        distinctive=(r"(?:module\.)?(?:transformer\.)?tokens_embed\.weight",), without_distinctive=0.0
    ),
    own_model=own_model("openai_gpt", "OpenAIGPTCached", heads=("CausalLM",)),
)
