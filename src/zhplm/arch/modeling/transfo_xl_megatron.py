# mypy: disable-error-code="no-untyped-call,misc"
"""Chinese-Transformer-XL (THUDM, 2021): Megatron GPT-2 with Transformer-XL relative attention and memory.

Forward (``mpu/transformer.py`` ``GPT2ParallelTransformer(relative_encoding=True)`` of
``THUDM/Chinese-Transformer-XL``)::

    h = E[ids]                               (no position table)
    R = [sin(p·f), cos(p·f)] for p = klen-1 … 0, f = 10000^(-2i/H)
    for each pre-LN layer, with its memory m (the layer's input at the last ``mem_length`` positions):
        x, xm = LN_1(h), LN_1(m);  q, k, v from cat(xm, x) (q at the current positions only)
        score = ((q + u)·kᵀ + shift((q + w)·(W_rel·R + b_rel)ᵀ)) / √d, masked × mask − 10000·(1 − mask)
        h = h + Dense(softmax(score)·v);  h = h + MLP(LN_2(h))      (MLP: 4×, tanh-GELU)
    logits = LN_final(h) · Eᵀ

``u``/``w`` are ``r_w_bias``/``r_r_bias`` (``[heads, head_dim]``, shared by every layer); ``shift`` is
Transformer-XL's pad-and-reshape relative shift. The cache (:class:`TransfoXLMemory`) *is* that memory: the
input of every layer at the last ``mem_length`` positions, so ``generate`` continues past any length as the
authors' ``generate_samples.py`` does, each token seeing at most ``mem_length`` earlier ones.

Parameter names (``P = "txl."`` inside :class:`TransfoXLMegatronForCausalLM`) keep the original's below
``transformer.``::

    P word_embeddings.weight                           [vocab, H]  (also the output projection)
    P r_w_bias, P r_r_bias                             [heads, H / heads]
    P layers.N.{input_layernorm,post_attention_layernorm}.{weight,bias}
    P layers.N.attention.query_key_value.{weight [3H, H], bias}   (q; k; v)
    P layers.N.attention.relative.{weight [H, H], bias}
    P layers.N.attention.dense.{weight [H, H], bias}
    P layers.N.mlp.dense_h_to_4h.{weight [4H, H], bias}, P layers.N.mlp.dense_4h_to_h.{weight [H, 4H], bias}
    P final_layernorm.{weight,bias}
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast

from zhplm.arch.modeling._causal_lm import (
    CausalLMHead,
    MegatronMLP,
    OwnMemory,
    PreLNLayer,
    TokenTableAccess,
    head_size,
    masked_softmax,
    memory_mask,
    reorder_rows,
    split_heads,
    stack_output,
    start_decoder,
)
from zhplm.arch.modeling.configuration_transfo_xl_megatron import TransfoXLMegatronConfig

_TIED_HEAD = {"lm_head.weight": "txl.word_embeddings.weight"}


class TransfoXLMemory:
    """The memory of a batch: each layer's input at the last ``mem_length`` positions (``[B, m, H]``)."""

    def __init__(self, num_layers: int) -> None:
        self.mems: list[torch.Tensor | None] = [None] * num_layers
        self.total = 0

    def memory_length(self) -> int:
        first = self.mems[0] if self.mems else None
        return 0 if first is None else int(first.shape[1])

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.total

    def reorder_cache(self, beam_idx: torch.Tensor) -> None:
        """Beam search: keep the rows of the beams chosen."""
        self.mems = reorder_rows(self.mems, beam_idx)


def _rel_shift(x: torch.Tensor) -> torch.Tensor:
    """Transformer-XL's relative shift of ``[B, heads, q, k]`` scores against distances ``k-1 … 0``."""
    *lead, q, k = x.shape
    padded = torch.cat([x.new_zeros(*lead, q, 1), x], dim=-1).view(*lead, k + 1, q)
    return padded[:, :, 1:].reshape(*lead, q, k)


class TransfoXLMegatronAttention(nn.Module):
    def __init__(self, config: TransfoXLMegatronConfig) -> None:
        super().__init__()
        hidden = config.hidden_size
        self.head_dim = head_size(hidden, config.num_attention_heads)
        self.query_key_value = nn.Linear(hidden, 3 * hidden)
        self.relative = nn.Linear(hidden, hidden)
        self.dense = nn.Linear(hidden, hidden)
        self.attention_dropout = nn.Dropout(config.attention_dropout)
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(
        self,
        x: torch.Tensor,
        mem: torch.Tensor | None,
        mask: torch.Tensor,
        pos: torch.Tensor,
        r_w_bias: torch.Tensor,
        r_r_bias: torch.Tensor,
    ) -> torch.Tensor:
        n = x.shape[1]
        both = x if mem is None else torch.cat([mem, x], dim=1)
        q, k, v = self.query_key_value(both).chunk(3, dim=-1)
        q, k, v = (split_heads(t, self.head_dim) for t in (q[:, -n:], k, v))
        r = split_heads(self.relative(pos), self.head_dim)  # [1, heads, klen, d]
        content = (q + r_w_bias[:, None]) @ k.transpose(-1, -2)
        position = _rel_shift((q + r_r_bias[:, None]) @ r.transpose(-1, -2))
        scores = (content + position) / self.head_dim**0.5
        probs = masked_softmax(scores, mask, self.attention_dropout)
        context = (probs @ v).transpose(1, 2).reshape(*x.shape[:-1], -1)
        out: torch.Tensor = self.dropout(self.dense(context))
        return out


class TransfoXLMegatronMLP(MegatronMLP):
    def __init__(self, config: TransfoXLMegatronConfig) -> None:
        hidden = config.hidden_size
        super().__init__(hidden, 4 * hidden, ACT2FN["gelu_new"], config.hidden_dropout)


class TransfoXLMegatronLayer(PreLNLayer):
    def __init__(self, config: TransfoXLMegatronConfig) -> None:
        attention = TransfoXLMegatronAttention(config)
        super().__init__(config.hidden_size, config.layer_norm_eps, attention, TransfoXLMegatronMLP(config))

    def forward(  # type: ignore[override]
        self,
        h: torch.Tensor,
        mem: torch.Tensor | None,
        mask: torch.Tensor,
        pos: torch.Tensor,
        r_w_bias: torch.Tensor,
        r_r_bias: torch.Tensor,
    ) -> torch.Tensor:
        """The memory (this layer's earlier inputs) is normalised by the same ``input_layernorm``."""
        normed_mem = None if mem is None else self.input_layernorm(mem)
        return super().forward(h, normed_mem, mask, pos, r_w_bias, r_r_bias)


# the outputs are transformers' own (the names stay importable)
TransfoXLMegatronOutput = BaseModelOutputWithPast
TransfoXLMegatronCausalLMOutput = CausalLMOutputWithPast


class TransfoXLMegatronPreTrainedModel(PreTrainedModel):
    config_class = TransfoXLMegatronConfig
    config: TransfoXLMegatronConfig
    base_model_prefix = "txl"
    supports_gradient_checkpointing = False
    _no_split_modules = ["TransfoXLMegatronLayer"]  # noqa: RUF012 (transformers declares it so)

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, TransfoXLMegatronModel):  # the original starts both biases at zero
            init.zeros_(module.r_w_bias)
            init.zeros_(module.r_r_bias)


class TransfoXLMegatronModel(TokenTableAccess, TransfoXLMegatronPreTrainedModel):
    """The stack up to the final LayerNorm (``last_hidden_state``) and the memory (``cache``)."""

    def __init__(self, config: TransfoXLMegatronConfig) -> None:
        super().__init__(config)
        hidden, heads = config.hidden_size, config.num_attention_heads
        self.word_embeddings = nn.Embedding(config.vocab_size, hidden)
        self.r_w_bias = nn.Parameter(torch.zeros(heads, hidden // heads))
        self.r_r_bias = nn.Parameter(torch.zeros(heads, hidden // heads))
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layers = nn.ModuleList(TransfoXLMegatronLayer(config) for _ in range(config.num_layers))
        self.final_layernorm = nn.LayerNorm(hidden, eps=config.layer_norm_eps)
        self.post_init()

    def _positions(self, klen: int, like: torch.Tensor) -> torch.Tensor:
        """Sinusoids of the distances ``klen-1 … 0`` (``[1, klen, H]``)."""
        hidden = self.config.hidden_size
        inv_freq = 1 / (10000 ** (torch.arange(0.0, hidden, 2.0, device=like.device) / hidden))
        dist = torch.arange(klen - 1, -1, -1.0, device=like.device)
        angles = torch.outer(dist, inv_freq)
        return torch.cat([angles.sin(), angles.cos()], dim=-1)[None].to(like.dtype)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: TransfoXLMemory | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        **kwargs: Any,
    ) -> TransfoXLMegatronOutput:
        h, cache, use_cache = start_decoder(
            self,
            self.word_embeddings,
            input_ids,
            inputs_embeds,
            cache,
            use_cache,
            lambda: TransfoXLMemory(self.config.num_layers),
        )
        mems = cache.mems if cache is not None else [None] * len(self.layers)
        n = h.shape[1]
        m = cache.memory_length() if cache is not None else 0
        # each position sees the whole memory and the positions up to itself (as the original), not padding
        mask, _ = memory_mask(attention_mask, h.shape[0], n, m, h)
        pos = self.dropout(self._positions(m + n, h))
        h = self.dropout(h)
        inputs = [h]
        for layer, mem in zip(self.layers, mems, strict=True):
            h = layer(h, mem, mask, pos, self.r_w_bias, self.r_r_bias)
            inputs.append(h)
        if cache is not None and use_cache:
            keep = self.config.mem_length
            cache.mems = [
                (x if mem is None else torch.cat([mem, x], dim=1))[:, -keep:].detach() if keep > 0 else None
                for x, mem in zip(inputs[:-1], mems, strict=True)
            ]
            cache.total += n
        return stack_output(self.final_layernorm(h), None, cache, use_cache, False)


class TransfoXLMegatronForCausalLM(
    OwnMemory, CausalLMHead, TransfoXLMegatronPreTrainedModel, GenerationMixin
):
    """Chinese-Transformer-XL with its tied output projection: next-token ``logits [B, L, vocab]``."""

    _tied_weights_keys = _TIED_HEAD

    def __init__(self, config: TransfoXLMegatronConfig) -> None:
        super().__init__(config)
        self.txl = TransfoXLMegatronModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()


__all__ = [
    "TransfoXLMegatronConfig",
    "TransfoXLMegatronForCausalLM",
    "TransfoXLMegatronModel",
    "TransfoXLMegatronPreTrainedModel",
    "TransfoXLMemory",
]
