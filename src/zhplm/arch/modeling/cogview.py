# mypy: disable-error-code="no-untyped-call,misc"
"""CogView (THUDM, 2021): a Megatron GPT with sandwich LayerNorm and PB-relax, over text + VQ-VAE image codes.

Forward (``mpu/sparse_transformer.py`` ``GPT2ParallelTransformer`` of ``THUDM/CogView``, dense attention)::

    h = E[ids] + P[positions]
    for each layer:
        a = LN_3(Attn(LN_1(h)))                 (sandwich: a LayerNorm after the attention too)
        h = h + a
        h = h + LN_4(MLP(LN_2(h)))              (MLP: 4×, tanh-GELU)
    logits = LN_final(h) · Eᵀ

Every LayerNorm is PB-relax's: ``LN(x / (max|x| / 8))`` with the maximum over the *whole* tensor (batch and
positions), as the original's ``LayerNorm`` subclass computes it. Attention scores are ``(q/√d)·kᵀ``, masked
``× mask − 10000·(1 − mask)``. The cache (:class:`CogViewMemory`) holds every layer's keys and values. The
original's sampling re-normalises its ``mems`` (layer inputs) every step instead, and PB-relax's whole-tensor
maximum makes a LayerNorm's ``eps`` depend on which positions are normalised together, so cached and
recomputed logits differ at the ``eps`` level (below 1e-4 in the parity tests); projecting keys and values
once per token instead of once per token per step is what makes 1024 image tokens affordable.

Parameter names (``P = "cogview."`` inside :class:`CogViewForCausalLM`) keep the original's below
``transformer.`` (and ``word_embeddings`` beside it)::

    P word_embeddings.weight [vocab, H] (also the output projection), P position_embeddings.weight [1089, H]
    P layers.N.{input_layernorm,third_layernorm,post_attention_layernorm,fourth_layernorm}.{weight,bias}
    P layers.N.attention.query_key_value.{weight [3H, H], bias} (q; k; v), P layers.N.attention.dense.*
    P layers.N.mlp.dense_h_to_4h.{weight [4H, H], bias}, P layers.N.mlp.dense_4h_to_h.{weight [H, 4H], bias}
    P final_layernorm.{weight,bias}
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from transformers import GenerationMixin, PreTrainedModel
from transformers.activations import ACT2FN
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast

from zhplm.arch.modeling._causal_lm import (
    CausalLMHead,
    MegatronMLP,
    OwnMemory,
    TokenTableAccess,
    head_size,
    masked_softmax,
    memory_mask,
    reorder_rows,
    split_heads,
    stack_output,
    start_decoder,
)
from zhplm.arch.modeling.configuration_cogview import CogViewConfig

_TIED_HEAD = {"lm_head.weight": "cogview.word_embeddings.weight"}


class CogViewMemory:
    """The KV cache of a batch: each layer's keys and values at every position so far (``[B, heads, m, d]``)."""

    is_compileable = False  # what generate asks of a cache handed in (the several-samples draw prefills one)

    def __init__(self, num_layers: int) -> None:
        self.keys: list[torch.Tensor | None] = [None] * num_layers
        self.values: list[torch.Tensor | None] = [None] * num_layers

    def get_seq_length(self, layer_idx: int = 0) -> int:
        first = self.keys[0] if self.keys else None
        return 0 if first is None else int(first.shape[2])

    def reorder_cache(self, beam_idx: torch.Tensor) -> None:
        """Beam search: keep the rows of the beams chosen."""
        self.keys = reorder_rows(self.keys, beam_idx)
        self.values = reorder_rows(self.values, beam_idx)


class PBRelaxLayerNorm(nn.LayerNorm):
    """PB-relax LayerNorm: the input is first divided by an eighth of its largest magnitude (whole tensor).

    Mathematically a LayerNorm with ``eps`` scaled by that factor; kept as the original computes it so that
    fp16 runs and parity agree."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.abs().max().detach() / 8
        return F.layer_norm(x / scale, self.normalized_shape, self.weight, self.bias, self.eps)


class CogViewAttention(nn.Module):
    def __init__(self, config: CogViewConfig) -> None:
        super().__init__()
        hidden = config.hidden_size
        self.head_dim = head_size(hidden, config.num_attention_heads)
        self.query_key_value = nn.Linear(hidden, 3 * hidden)
        self.dense = nn.Linear(hidden, hidden)
        self.attention_dropout = nn.Dropout(config.attention_dropout)
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(
        self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None, mask: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        q, k, v = (split_heads(t, self.head_dim) for t in self.query_key_value(x).chunk(3, dim=-1))
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        probs = masked_softmax((q / self.head_dim**0.5) @ k.transpose(-1, -2), mask, self.attention_dropout)
        context = (probs @ v).transpose(1, 2).reshape(*x.shape[:-1], -1)
        out: torch.Tensor = self.dropout(self.dense(context))
        return out, (k, v)


class CogViewMLP(MegatronMLP):
    def __init__(self, config: CogViewConfig) -> None:
        hidden = config.hidden_size
        super().__init__(hidden, 4 * hidden, ACT2FN["gelu_new"], config.hidden_dropout)


class CogViewLayer(nn.Module):
    def __init__(self, config: CogViewConfig) -> None:
        super().__init__()
        hidden, eps = config.hidden_size, config.layer_norm_eps
        self.input_layernorm = PBRelaxLayerNorm(hidden, eps=eps)
        self.attention = CogViewAttention(config)
        self.third_layernorm = PBRelaxLayerNorm(hidden, eps=eps)
        self.post_attention_layernorm = PBRelaxLayerNorm(hidden, eps=eps)
        self.mlp = CogViewMLP(config)
        self.fourth_layernorm = PBRelaxLayerNorm(hidden, eps=eps)

    def forward(
        self, h: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None, mask: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        attended, kv = self.attention(self.input_layernorm(h), past, mask)
        x = h + self.third_layernorm(attended)
        out: torch.Tensor = x + self.fourth_layernorm(self.mlp(self.post_attention_layernorm(x)))
        return out, kv


# the outputs are transformers' own (the names stay importable)
CogViewOutput = BaseModelOutputWithPast
CogViewCausalLMOutput = CausalLMOutputWithPast


class CogViewPreTrainedModel(PreTrainedModel):
    config_class = CogViewConfig
    config: CogViewConfig
    base_model_prefix = "cogview"
    supports_gradient_checkpointing = False
    _no_split_modules = ["CogViewLayer"]  # noqa: RUF012 (transformers declares it so)


class CogViewModel(TokenTableAccess, CogViewPreTrainedModel):
    """The stack up to the final LayerNorm (``last_hidden_state``) and the KV cache."""

    def __init__(self, config: CogViewConfig) -> None:
        super().__init__(config)
        hidden = config.hidden_size
        self.word_embeddings = nn.Embedding(config.vocab_size, hidden)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, hidden)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layers = nn.ModuleList(CogViewLayer(config) for _ in range(config.num_layers))
        self.final_layernorm = PBRelaxLayerNorm(hidden, eps=config.layer_norm_eps)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: CogViewMemory | None = None,
        inputs_embeds: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        use_cache: bool | None = None,
        **kwargs: Any,
    ) -> CogViewOutput:
        h, cache, use_cache = start_decoder(
            self,
            self.word_embeddings,
            input_ids,
            inputs_embeds,
            cache,
            use_cache,
            lambda: CogViewMemory(self.config.num_layers),
        )
        batch, n = h.shape[:2]
        m = cache.get_seq_length() if cache is not None else 0
        if m + n > self.config.max_position_embeddings:
            raise ValueError(
                f"{m + n} positions is more than CogView's {self.config.max_position_embeddings}: "
                "give a shorter text or fewer new tokens"
            )
        mask, keys = memory_mask(attention_mask, batch, n, m, h)
        if position_ids is None:  # left padding: a row's text starts at position 0, as it would alone
            position_ids = (keys.cumsum(-1) - 1).clamp(min=0).long()[:, -n:]
        h = self.dropout(h + self.position_embeddings(position_ids))
        for i, layer in enumerate(self.layers):
            past = None
            if cache is not None:
                k, v = cache.keys[i], cache.values[i]
                past = None if k is None or v is None else (k, v)
            h, (k, v) = layer(h, past, mask)
            if cache is not None and use_cache:
                cache.keys[i], cache.values[i] = k.detach(), v.detach()
        return stack_output(self.final_layernorm(h), None, cache, use_cache, False)


class CogViewForCausalLM(OwnMemory, CausalLMHead, CogViewPreTrainedModel, GenerationMixin):
    """CogView with its tied output projection: next-token ``logits [B, L, vocab]`` over text and image codes."""

    _tied_weights_keys = _TIED_HEAD

    def __init__(self, config: CogViewConfig) -> None:
        super().__init__(config)
        self.cogview = CogViewModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()


__all__ = [
    "CogViewConfig",
    "CogViewForCausalLM",
    "CogViewMemory",
    "CogViewModel",
    "CogViewPreTrainedModel",
]
