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

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.utils.generic import ModelOutput

from zhplm.arch.modeling._layers import LMHeadAccess
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
        self.mems = [None if m is None else m.index_select(0, beam_idx.to(m.device)) for m in self.mems]


def _rel_shift(x: torch.Tensor) -> torch.Tensor:
    """Transformer-XL's relative shift of ``[B, heads, q, k]`` scores against distances ``k-1 … 0``."""
    *lead, q, k = x.shape
    padded = torch.cat([x.new_zeros(*lead, q, 1), x], dim=-1).view(*lead, k + 1, q)
    return padded[:, :, 1:].reshape(*lead, q, k)


class TransfoXLMegatronAttention(nn.Module):
    def __init__(self, config: TransfoXLMegatronConfig) -> None:
        super().__init__()
        hidden, heads = config.hidden_size, config.num_attention_heads
        if hidden % heads:
            raise ValueError(f"hidden_size {hidden} is not a multiple of num_attention_heads {heads}")
        self.heads, self.head_dim = heads, hidden // heads
        self.query_key_value = nn.Linear(hidden, 3 * hidden)
        self.relative = nn.Linear(hidden, hidden)
        self.dense = nn.Linear(hidden, hidden)
        self.attention_dropout = nn.Dropout(config.attention_dropout)
        self.dropout = nn.Dropout(config.hidden_dropout)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(*x.shape[:-1], self.heads, self.head_dim).transpose(1, 2)

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
        q, k, v = self._heads(q[:, -n:]), self._heads(k), self._heads(v)
        r = self._heads(self.relative(pos))  # [1, heads, klen, d]
        content = (q + r_w_bias[:, None]) @ k.transpose(-1, -2)
        position = _rel_shift((q + r_r_bias[:, None]) @ r.transpose(-1, -2))
        scores = (content + position) / self.head_dim**0.5
        scores = scores * mask - 10000.0 * (1.0 - mask)
        probs = self.attention_dropout(torch.softmax(scores, dim=-1))
        context = (probs @ v).transpose(1, 2).reshape(*x.shape[:-1], -1)
        out: torch.Tensor = self.dropout(self.dense(context))
        return out


class TransfoXLMegatronMLP(nn.Module):
    def __init__(self, config: TransfoXLMegatronConfig) -> None:
        super().__init__()
        self.dense_h_to_4h = nn.Linear(config.hidden_size, 4 * config.hidden_size)
        self.act = ACT2FN["gelu_new"]
        self.dense_4h_to_h = nn.Linear(4 * config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.dropout(self.dense_4h_to_h(self.act(self.dense_h_to_4h(x))))
        return out


class TransfoXLMegatronLayer(nn.Module):
    def __init__(self, config: TransfoXLMegatronConfig) -> None:
        super().__init__()
        self.input_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = TransfoXLMegatronAttention(config)
        self.post_attention_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = TransfoXLMegatronMLP(config)

    def forward(
        self,
        h: torch.Tensor,
        mem: torch.Tensor | None,
        mask: torch.Tensor,
        pos: torch.Tensor,
        r_w_bias: torch.Tensor,
        r_r_bias: torch.Tensor,
    ) -> torch.Tensor:
        normed_mem = None if mem is None else self.input_layernorm(mem)
        x = h + self.attention(self.input_layernorm(h), normed_mem, mask, pos, r_w_bias, r_r_bias)
        out: torch.Tensor = x + self.mlp(self.post_attention_layernorm(x))
        return out


@dataclass
class TransfoXLMegatronOutput(ModelOutput):
    last_hidden_state: torch.Tensor | None = None
    cache: TransfoXLMemory | None = None


@dataclass
class TransfoXLMegatronCausalLMOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    cache: TransfoXLMemory | None = None


def _key_mask(attention_mask: torch.Tensor | None, batch: int, keys: int, like: torch.Tensor) -> torch.Tensor:
    """Which of the ``keys`` (memory + current) positions hold text, ``[B, 1, 1, keys]``.

    The memory is always the last positions of the text so far, so the last ``keys`` columns of ``generate``'s
    2-D mask describe it. Positions are relative: a left-padded row, its pads masked, gives its text exactly
    what it gives alone (the original had no padding; this is what makes batches of unequal prompts work)."""
    ones = torch.ones(batch, keys, device=like.device, dtype=like.dtype)
    if attention_mask is None or attention_mask.dim() != 2:
        return ones[:, None, None, :]
    given = attention_mask[:, -keys:].to(device=like.device, dtype=like.dtype)
    ones[:, keys - given.shape[1] :] = given
    return ones[:, None, None, :]


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


class TransfoXLMegatronModel(TransfoXLMegatronPreTrainedModel):
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

    def get_input_embeddings(self) -> nn.Embedding:
        return self.word_embeddings

    def set_input_embeddings(self, value: nn.Module) -> None:
        if not isinstance(value, nn.Embedding):
            raise TypeError(f"input embeddings must be an nn.Embedding, got {type(value).__name__}")
        self.word_embeddings = value

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
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("give exactly one of input_ids and inputs_embeds")
        h = self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds
        use_cache = self.config.use_cache if use_cache is None else use_cache
        if use_cache and cache is None:
            cache = TransfoXLMemory(self.config.num_layers)
        mems = cache.mems if cache is not None else [None] * len(self.layers)
        n = h.shape[1]
        m = cache.memory_length() if cache is not None else 0
        # each position sees the whole memory and the positions up to itself (as the original), not padding
        mask = torch.tril(torch.ones(n, m + n, device=h.device, dtype=h.dtype), m)
        mask = mask * _key_mask(attention_mask, h.shape[0], m + n, h)
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
        return TransfoXLMegatronOutput(
            last_hidden_state=self.final_layernorm(h), cache=cache if use_cache else None
        )


class TransfoXLMegatronForCausalLM(LMHeadAccess, TransfoXLMegatronPreTrainedModel, GenerationMixin):
    """Chinese-Transformer-XL with its tied output projection: next-token ``logits [B, L, vocab]``."""

    _tied_weights_keys = _TIED_HEAD

    def __init__(self, config: TransfoXLMegatronConfig) -> None:
        super().__init__(config)
        self.txl = TransfoXLMegatronModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        """``generate`` must not make a KV cache: :class:`TransfoXLMemory` is made by the first forward."""
        return False

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: TransfoXLMemory | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs: Any,
    ) -> TransfoXLMegatronCausalLMOutput:
        base = self.txl(
            input_ids,
            attention_mask=attention_mask,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
        )
        hidden = base.last_hidden_state
        assert hidden is not None
        if isinstance(logits_to_keep, int):
            hidden = hidden[:, -logits_to_keep:] if logits_to_keep else hidden
        else:
            hidden = hidden[:, logits_to_keep]
        logits: torch.Tensor = self.lm_head(hidden)
        loss = None
        if labels is not None:
            loss = self.loss_function(
                logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs
            )
        return TransfoXLMegatronCausalLMOutput(loss=loss, logits=logits, cache=base.cache)


__all__ = [
    "TransfoXLMegatronConfig",
    "TransfoXLMegatronForCausalLM",
    "TransfoXLMegatronModel",
    "TransfoXLMegatronPreTrainedModel",
    "TransfoXLMemory",
]
