# mypy: disable-error-code="no-untyped-call,misc"
"""PanGu-α (PCL/Huawei, 2021): a pre-LN GPT whose last layer takes its query from a learned position table.

Forward (``huawei-noah/Pretrained-Language-Model`` ``PanGu-α/pangu_alpha.py``; the PyTorch port and CodeGeeX
compute the same)::

    h = E[ids] + P[pos]
    h = Block_i(h)                     for the num_layers - 1 ordinary pre-LN blocks
    x = LN_final(h)
    x = TopQueryLayer(x, Q[pos])       # a pre-LN block whose attention query is Wq · Q[pos] (not normalised);
                                       # keys and values come from LN_1(x)
    logits = x · Eᵀ                    # no LayerNorm after the top layer; tied output

Attention is scaled by 1/√d; the MLP is 4× wide. Attention, masks and the KV cache are transformers' own
(``ALL_ATTENTION_FUNCTIONS``, ``create_causal_mask``, ``DynamicCache``: the top layer is cache layer
``num_layers - 1``), so ``generate`` works with every decoding strategy it has.

Parameter names (``P = "pangu."`` inside :class:`PanguAlphaForCausalLM`, ``""`` in :class:`PanguAlphaModel`;
the PyTorch port's names without its ``language_model.`` / ``embedding.`` / ``transformer.`` levels)::

    P word_embeddings.weight         [vocab, H]   (also the output projection)
    P position_embeddings.weight     [positions, H]
    P top_query_embeddings.weight    [positions, H]
    P layers.N.{input_layernorm,post_attention_layernorm}.{weight,bias}
    P layers.N.attention.{query,key,value,dense}.{weight [H, H], bias}
    P layers.N.mlp.dense_h_to_4h.{weight [I, H], bias}, P layers.N.mlp.dense_4h_to_h.{weight [H, I], bias}
    P top_query_layer.*               (the same names as a block)
    P final_layernorm.{weight,bias}
"""

from typing import Any

import torch
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache

from zhplm.arch.modeling._causal_lm import (
    CausalLMHead,
    KernelAttention,
    KernelDecoder,
    KernelFlags,
    MegatronMLP,
    PreLNLayer,
    TokenTableAccess,
    run_layers,
    split_heads,
)
from zhplm.arch.modeling._layers import DecoderInputs
from zhplm.arch.modeling.configuration_pangu_alpha import PanguAlphaConfig

_TIED_HEAD = {"lm_head.weight": "pangu.word_embeddings.weight"}


class PanguAlphaAttention(KernelAttention):
    """Multi-head attention; the query comes from ``query_source`` when given (the top query layer)."""

    def __init__(self, config: PanguAlphaConfig, layer_idx: int) -> None:
        super().__init__(config, layer_idx, config.hidden_size, config.num_attention_heads)
        hidden = config.hidden_size
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.dense = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(
        self,
        hidden: torch.Tensor,
        mask: torch.Tensor | None,
        cache: Cache | None,
        query_source: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        q = split_heads(self.query(hidden if query_source is None else query_source), self.head_dim)
        k = split_heads(self.key(hidden), self.head_dim)
        v = split_heads(self.value(hidden), self.head_dim)
        context = self.attend(q, k, v, mask, cache, self.config.attention_dropout, **kwargs)
        out: torch.Tensor = self.dropout(self.dense(context))
        return out


class PanguAlphaMLP(MegatronMLP):
    def __init__(self, config: PanguAlphaConfig) -> None:
        inner = config.intermediate_size or 4 * config.hidden_size
        super().__init__(config.hidden_size, inner, ACT2FN[config.activation_function], config.hidden_dropout)


class PanguAlphaLayer(PreLNLayer):
    """A pre-LN block; as the top query layer it is given ``query_source`` (the top query embedding) after the
    mask and the cache."""

    def __init__(self, config: PanguAlphaConfig, layer_idx: int) -> None:
        attention = PanguAlphaAttention(config, layer_idx)
        super().__init__(config.hidden_size, config.layer_norm_eps, attention, PanguAlphaMLP(config))


class PanguAlphaPreTrainedModel(KernelFlags, PreTrainedModel):  # type: ignore[misc]
    config_class = PanguAlphaConfig
    config: PanguAlphaConfig
    base_model_prefix = "pangu"
    supports_gradient_checkpointing = False
    _no_split_modules = ["PanguAlphaLayer"]  # noqa: RUF012 (transformers declares it so)


class PanguAlphaModel(TokenTableAccess, KernelDecoder, PanguAlphaPreTrainedModel):
    """The PanGu-α stack up to the top query layer's output (``last_hidden_state``) and the KV cache."""

    def __init__(self, config: PanguAlphaConfig) -> None:
        super().__init__(config)
        if config.num_layers < 1:
            raise ValueError(
                f"num_layers counts the top query layer too: it is at least 1, got {config.num_layers}"
            )
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.top_query_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout)
        blocks = config.num_layers - 1
        self.layers = nn.ModuleList(PanguAlphaLayer(config, i) for i in range(blocks))
        self.final_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.top_query_layer = PanguAlphaLayer(config, blocks)
        self.post_init()

    def run_stack(self, inputs: DecoderInputs, **kwargs: Any) -> tuple[torch.Tensor, list[torch.Tensor]]:
        position_ids = inputs.position_ids
        if int(position_ids.max()) >= self.config.max_position_embeddings:
            raise ValueError(
                f"position {int(position_ids.max())} is past the model's {self.config.max_position_embeddings} "
                "positions: shorten the prompt or max_new_tokens"
            )
        hidden = self.dropout(inputs.embeds + self.position_embeddings(position_ids))
        hidden, all_hidden = run_layers(self.layers, hidden, inputs.mask, inputs.cache, **kwargs)
        query = self.top_query_embeddings(position_ids).to(hidden.dtype).expand_as(hidden)
        hidden = self.top_query_layer(
            self.final_layernorm(hidden), inputs.mask, inputs.cache, query, **kwargs
        )
        all_hidden.append(hidden)
        return hidden, all_hidden


class PanguAlphaForCausalLM(CausalLMHead, PanguAlphaPreTrainedModel, GenerationMixin):
    """PanGu-α with its tied output projection (no bias): next-token ``logits [B, L, vocab]``."""

    _tied_weights_keys = _TIED_HEAD

    def __init__(self, config: PanguAlphaConfig) -> None:
        super().__init__(config)
        self.pangu = PanguAlphaModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()


__all__ = ["PanguAlphaConfig", "PanguAlphaForCausalLM", "PanguAlphaModel", "PanguAlphaPreTrainedModel"]
