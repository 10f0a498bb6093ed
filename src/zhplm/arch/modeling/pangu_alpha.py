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

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.gpt2.modeling_gpt2 import eager_attention_forward

from zhplm.arch.modeling._layers import LMHeadAccess, causal_lm_output, decoder_inputs
from zhplm.arch.modeling.configuration_pangu_alpha import PanguAlphaConfig

_TIED_HEAD = {"lm_head.weight": "pangu.word_embeddings.weight"}


class PanguAlphaAttention(nn.Module):
    """Multi-head attention; the query comes from ``query_source`` when given (the top query layer)."""

    def __init__(self, config: PanguAlphaConfig, layer_idx: int) -> None:
        super().__init__()
        hidden, heads = config.hidden_size, config.num_attention_heads
        if hidden % heads:
            raise ValueError(f"hidden_size {hidden} is not a multiple of num_attention_heads {heads}")
        self.config = config
        self.layer_idx = layer_idx
        self.head_dim = hidden // heads
        self.scaling = self.head_dim**-0.5
        self.is_causal = True
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
        shape = (*hidden.shape[:-1], -1, self.head_dim)
        q = self.query(hidden if query_source is None else query_source).view(shape).transpose(1, 2)
        k = self.key(hidden).view(shape).transpose(1, 2)
        v = self.value(hidden).view(shape).transpose(1, 2)
        if cache is not None:
            k, v = cache.update(k, v, self.layer_idx)
        attend: Callable[..., tuple[torch.Tensor, Any]] = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        context, _ = attend(
            self,
            q,
            k,
            v,
            mask,
            dropout=self.config.attention_dropout if self.training else 0.0,
            scaling=self.scaling,
            **kwargs,
        )
        out: torch.Tensor = self.dropout(self.dense(context.reshape(*hidden.shape[:-1], -1)))
        return out


class PanguAlphaMLP(nn.Module):
    def __init__(self, config: PanguAlphaConfig) -> None:
        super().__init__()
        inner = config.intermediate_size or 4 * config.hidden_size
        self.dense_h_to_4h = nn.Linear(config.hidden_size, inner)
        self.act = ACT2FN[config.activation_function]
        self.dense_4h_to_h = nn.Linear(inner, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.dropout(self.dense_4h_to_h(self.act(self.dense_h_to_4h(x))))
        return out


class PanguAlphaLayer(nn.Module):
    """A pre-LN block; as the top query layer it is given ``query_source`` (the top query embedding)."""

    def __init__(self, config: PanguAlphaConfig, layer_idx: int) -> None:
        super().__init__()
        self.input_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = PanguAlphaAttention(config, layer_idx)
        self.post_attention_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = PanguAlphaMLP(config)

    def forward(
        self,
        hidden: torch.Tensor,
        mask: torch.Tensor | None,
        cache: Cache | None,
        query_source: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        x = hidden + self.attention(self.input_layernorm(hidden), mask, cache, query_source, **kwargs)
        out: torch.Tensor = x + self.mlp(self.post_attention_layernorm(x))
        return out


class PanguAlphaPreTrainedModel(PreTrainedModel):  # type: ignore[misc]
    config_class = PanguAlphaConfig
    config: PanguAlphaConfig
    base_model_prefix = "pangu"
    supports_gradient_checkpointing = False
    _no_split_modules = ["PanguAlphaLayer"]  # noqa: RUF012 (transformers declares it so)
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True


class PanguAlphaModel(PanguAlphaPreTrainedModel):
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

    def get_input_embeddings(self) -> nn.Embedding:
        return self.word_embeddings

    def set_input_embeddings(self, value: nn.Module) -> None:
        if not isinstance(value, nn.Embedding):
            raise TypeError(f"input embeddings must be an nn.Embedding, got {type(value).__name__}")
        self.word_embeddings = value

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        **kwargs: Any,
    ) -> BaseModelOutputWithPast:
        inputs = decoder_inputs(
            self,
            self.word_embeddings,
            input_ids,
            inputs_embeds,
            attention_mask,
            position_ids,
            cache,
            use_cache,
            output_hidden_states,
        )
        inputs_embeds, cache, position_ids, mask = (
            inputs.embeds,
            inputs.cache,
            inputs.position_ids,
            inputs.mask,
        )
        use_cache, want_hidden = inputs.use_cache, inputs.want_hidden
        if int(position_ids.max()) >= self.config.max_position_embeddings:
            raise ValueError(
                f"position {int(position_ids.max())} is past the model's {self.config.max_position_embeddings} "
                "positions: shorten the prompt or max_new_tokens"
            )
        kwargs.pop("output_attentions", None)
        hidden = self.dropout(inputs_embeds + self.position_embeddings(position_ids))
        all_hidden = [hidden]
        for layer in self.layers:
            hidden = layer(hidden, mask, cache, **kwargs)
            all_hidden.append(hidden)
        query = self.top_query_embeddings(position_ids).to(hidden.dtype).expand_as(hidden)
        hidden = self.top_query_layer(self.final_layernorm(hidden), mask, cache, query, **kwargs)
        all_hidden.append(hidden)
        return BaseModelOutputWithPast(
            last_hidden_state=hidden,
            cache=cache if use_cache else None,
            hidden_states=tuple(all_hidden) if want_hidden else None,
        )


class PanguAlphaForCausalLM(LMHeadAccess, PanguAlphaPreTrainedModel, GenerationMixin):
    """PanGu-α with its tied output projection (no bias): next-token ``logits [B, L, vocab]``."""

    _tied_weights_keys = _TIED_HEAD

    def __init__(self, config: PanguAlphaConfig) -> None:
        super().__init__(config)
        self.pangu = PanguAlphaModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast:
        base = self.pangu(
            input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            output_hidden_states=output_hidden_states,
            **kwargs,
        )
        return causal_lm_output(self, base, labels, logits_to_keep, **kwargs)


__all__ = ["PanguAlphaConfig", "PanguAlphaForCausalLM", "PanguAlphaModel", "PanguAlphaPreTrainedModel"]
