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
    run_layers,
    split_heads,
)
from zhplm.arch.modeling._layers import DecoderInputs, WordEmbeddingAccess
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


class GroverAttention(KernelAttention):
    """Multi-head self-attention over the un-normalised layer input; keys and values go to the cache."""

    def __init__(self, config: GroverConfig, layer_idx: int) -> None:
        super().__init__(config, layer_idx, config.hidden_size, config.num_attention_heads)
        self.dropout_p = config.attention_probs_dropout_prob
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self, hidden: torch.Tensor, mask: torch.Tensor | None, cache: Cache | None, **kwargs: Any
    ) -> torch.Tensor:
        q, k, v = (split_heads(proj(hidden), self.head_dim) for proj in (self.query, self.key, self.value))
        context = self.attend(q, k, v, mask, cache, self.dropout_p, **kwargs)
        out: torch.Tensor = self.dropout(self.dense(context))
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


class GroverPreTrainedModel(KernelFlags, PreTrainedModel):  # type: ignore[misc]
    config_class = GroverConfig
    config: GroverConfig
    base_model_prefix = "grover"
    supports_gradient_checkpointing = False
    _no_split_modules = ["GroverLayer"]  # noqa: RUF012 (transformers declares it so)


class GroverModel(WordEmbeddingAccess, KernelDecoder, GroverPreTrainedModel):
    """The Grover stack: ``last_hidden_state`` (no final LayerNorm) and the KV cache."""

    def __init__(self, config: GroverConfig) -> None:
        super().__init__(config)
        self.embeddings = GroverEmbeddings(config)
        self.layer = nn.ModuleList(GroverLayer(config, i) for i in range(config.num_hidden_layers))
        self.post_init()

    def run_stack(self, inputs: DecoderInputs, **kwargs: Any) -> tuple[torch.Tensor, list[torch.Tensor]]:
        hidden = self.embeddings(inputs.embeds, inputs.position_ids)
        return run_layers(self.layer, hidden, inputs.mask, inputs.cache, **kwargs)


class GroverForCausalLM(CausalLMHead, GroverPreTrainedModel, GenerationMixin):
    """Grover with its tied output projection (no bias): next-token ``logits [B, L, vocab]``."""

    _tied_weights_keys = _TIED_HEAD

    def __init__(self, config: GroverConfig) -> None:
        super().__init__(config)
        self.grover = GroverModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()


__all__ = ["GroverConfig", "GroverForCausalLM", "GroverModel", "GroverPreTrainedModel"]
