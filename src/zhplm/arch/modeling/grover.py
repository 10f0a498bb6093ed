# mypy: disable-error-code="no-untyped-call,misc"
"""Grover, the block of gpt2-ml (imcaspar/gpt2-ml ``train/modeling.py``, after Zellers' Grover): a causal LM
that is neither GPT-2 (pre-LN) nor BERT (post-LN on both sub-layers).

Per layer, with ``h`` the layer input::

    x  = h + Attn(h)                          # no LayerNorm before or after the attention
    h' = LN_ln1(x + W_out · gelu(W_in · LN_ln0(x)))

The embeddings are ``LN_embed(E[ids] + P[pos])``; there is no final LayerNorm and the logits are ``h · Eᵀ``
(tied, no bias). GELU is the erf form, LayerNorm epsilon 1e-5. Attention, masks and the KV cache are
transformers' own (``ALL_ATTENTION_FUNCTIONS``, ``create_causal_mask``, ``DynamicCache``), so ``generate``
works with every decoding strategy it has.

Parameter names (``P = "grover."`` inside :class:`GroverForCausalLM`, ``""`` in :class:`GroverModel`)::

    P embeddings.word_embeddings.weight        [vocab, H]   (also the output projection)
    P embeddings.position_embeddings.weight    [max_positions, H]
    P embeddings.LayerNorm.{weight,bias}
    P layer.N.attention.{query,key,value,dense}.{weight [H, H], bias [H]}
    P layer.N.mlp.ln0.{weight,bias}
    P layer.N.mlp.intermediate.{weight [I, H], bias [I]}
    P layer.N.mlp.output.{weight [H, I], bias [H]}
    P layer.N.mlp.ln1.{weight,bias}
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
from zhplm.arch.modeling.configuration_grover import GroverConfig

# the output projection is the word embedding (transformers 5 ties what this names)
_TIED_HEAD = {"lm_head.weight": "grover.embeddings.word_embeddings.weight"}


class GroverEmbeddings(nn.Module):
    def __init__(self, config: GroverConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, inputs_embeds: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.dropout(
            self.LayerNorm(inputs_embeds + self.position_embeddings(position_ids))
        )
        return out


class GroverAttention(nn.Module):
    """Multi-head self-attention over the un-normalised layer input; keys and values go to the cache."""

    def __init__(self, config: GroverConfig, layer_idx: int) -> None:
        super().__init__()
        if config.hidden_size % config.num_attention_heads:
            raise ValueError(
                f"hidden_size {config.hidden_size} is not a multiple of num_attention_heads "
                f"{config.num_attention_heads}"
            )
        self.config = config
        self.layer_idx = layer_idx
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scaling = self.head_dim**-0.5
        self.is_causal = True
        self.dropout_p = config.attention_probs_dropout_prob
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self, hidden: torch.Tensor, mask: torch.Tensor | None, cache: Cache | None, **kwargs: Any
    ) -> torch.Tensor:
        shape = (*hidden.shape[:-1], -1, self.head_dim)
        q = self.query(hidden).view(shape).transpose(1, 2)
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
            dropout=self.dropout_p if self.training else 0.0,
            scaling=self.scaling,
            **kwargs,
        )
        out: torch.Tensor = self.dropout(self.dense(context.reshape(*hidden.shape[:-1], -1)))
        return out


class GroverMLP(nn.Module):
    """``LN_ln1(x + W_out · act(W_in · LN_ln0(x)))``: the residual bypasses ``ln0`` (gpt2-ml's
    ``residual_mlp_layer``)."""

    def __init__(self, config: GroverConfig) -> None:
        super().__init__()
        self.ln0 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.intermediate = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = ACT2FN[config.hidden_act]
        self.output = nn.Linear(config.intermediate_size, config.hidden_size)
        self.ln1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        update = self.dropout(self.output(self.act(self.intermediate(self.ln0(x)))))
        out: torch.Tensor = self.ln1(x + update)
        return out


class GroverLayer(nn.Module):
    def __init__(self, config: GroverConfig, layer_idx: int) -> None:
        super().__init__()
        self.attention = GroverAttention(config, layer_idx)
        self.mlp = GroverMLP(config)

    def forward(
        self, hidden: torch.Tensor, mask: torch.Tensor | None, cache: Cache | None, **kwargs: Any
    ) -> torch.Tensor:
        out: torch.Tensor = self.mlp(hidden + self.attention(hidden, mask, cache, **kwargs))
        return out


class GroverPreTrainedModel(PreTrainedModel):  # type: ignore[misc]
    config_class = GroverConfig
    config: GroverConfig
    base_model_prefix = "grover"
    supports_gradient_checkpointing = False
    _no_split_modules = ["GroverLayer"]  # noqa: RUF012 (transformers declares it so)
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True


class GroverModel(GroverPreTrainedModel):
    """The Grover stack: ``last_hidden_state`` (no final LayerNorm) and the KV cache."""

    def __init__(self, config: GroverConfig) -> None:
        super().__init__(config)
        self.embeddings = GroverEmbeddings(config)
        self.layer = nn.ModuleList(GroverLayer(config, i) for i in range(config.num_hidden_layers))
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Module) -> None:
        if not isinstance(value, nn.Embedding):
            raise TypeError(f"input embeddings must be an nn.Embedding, got {type(value).__name__}")
        self.embeddings.word_embeddings = value

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
            self.embeddings.word_embeddings,
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
        kwargs.pop("output_attentions", None)
        hidden = self.embeddings(inputs_embeds, position_ids)
        all_hidden = [hidden]
        for layer in self.layer:
            hidden = layer(hidden, mask, cache, **kwargs)
            all_hidden.append(hidden)
        return BaseModelOutputWithPast(
            last_hidden_state=hidden,
            cache=cache if use_cache else None,
            hidden_states=tuple(all_hidden) if want_hidden else None,
        )


class GroverForCausalLM(LMHeadAccess, GroverPreTrainedModel, GenerationMixin):
    """Grover with its tied output projection (no bias): next-token ``logits [B, L, vocab]``."""

    _tied_weights_keys = _TIED_HEAD

    def __init__(self, config: GroverConfig) -> None:
        super().__init__(config)
        self.grover = GroverModel(config)
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
        base = self.grover(
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


__all__ = ["GroverConfig", "GroverForCausalLM", "GroverModel", "GroverPreTrainedModel"]
