"""GPT-2 (pre-LN decoder) releases in Hugging Face names → transformers ``GPT2LMHeadModel``.

CDial-GPT2 (LCCC), GPT2-chitchat (dialogue and MMI models), GPT2-Chinese (prose, poem, couplet): HF-era
``pytorch_model.bin`` + ``config.json`` (no ``model_type`` before 3.x; ``n_ctx`` beside ``n_positions``),
BERT WordPiece vocabularies. How each model is prompted (leading ``[CLS]``, ``[SEP]`` between turns, speaker
tokens) is recorded per catalog row (``prompt_format``), not here: one architecture serves all of them.
"""

from __future__ import annotations

from zhplm.arch._gpt import LM_HEAD, GptSpec, hf_rules
from zhplm.arch._spec import Evidence


class Gpt2Spec(GptSpec):
    config_keys = (
        "vocab_size",
        "n_embd",
        "n_head",
        "n_inner",
        "activation_function",
        "resid_pdrop",
        "embd_pdrop",
        "attn_pdrop",
        "layer_norm_epsilon",
        "initializer_range",
        "scale_attn_weights",
        "scale_attn_by_inverse_layer_idx",
        "reorder_and_upcast_attn",
        "bos_token_id",
        "eos_token_id",
    )
    token_table = "transformer.wte.weight"
    position_table = "transformer.wpe.weight"


SPEC = Gpt2Spec(
    name="gpt2",
    description="GPT-2 decoder (pre-LN): CDial-GPT2, GPT2-chitchat (+MMI), GPT2-Chinese; HF-era folders",
    model_type="gpt2",
    full_class="GPT2LMHeadModel",
    schemes={"hf": hf_rules(r"wte|wpe|h\.\d+|ln_f", "hf")},
    heads=(LM_HEAD,),
    config_names=("config.json", "model_config.json", "model_config_small.json"),
    vocab_names=("vocab.txt", "vocab_small.txt", "vocab.json"),
    classes=(((), "GPT2LMHeadModel"),),
    evidence=Evidence(distinctive=(r"(?:module\.)?(?:transformer\.)?wte\.weight",), without_distinctive=0.0),
)
