"""Plumbing shared by zhplm's own causal LMs (Grover, PanGu-α, cached OpenAI-GPT, GLM, CogView,
Chinese-Transformer-XL, RWKV-1), so that each model file holds only its own maths.

transformers' conventions throughout: ``GenerationMixin`` drives generation, the base model returns
``BaseModelOutputWithPast`` and the LM ``CausalLMOutputWithPast`` (its ``cache`` is whatever the model keeps:
a ``DynamicCache`` on transformers' attention kernels, or the model's own memory object), the loss is
``self.loss_function`` (the shifted causal-LM cross-entropy). The pieces:

* :class:`TokenTableAccess`: ``get/set_input_embeddings`` of a base model's token table;
* :class:`KernelAttention`: the head split, the KV-cache update and transformers' attention kernels
  (``ALL_ATTENTION_FUNCTIONS``: eager, SDPA, flash, flex) for attentions that use them;
* :class:`MegatronMLP` / :class:`PreLNLayer`: the MLP and the pre-LN block of the Megatron-derived models;
* :class:`KernelDecoder`: the base model's ``forward`` around the model's own ``run_stack``;
* :func:`run_layers` / :func:`stack_output`: the layer loop and the base model's output;
* :func:`start_decoder`: the token embeddings and a cache of the model's kind;
* :class:`CausalLMHead`: the LM's ``forward`` (base model → tied ``lm_head`` → logits and loss);
  :func:`logits_output` for an LM that computes its logits itself;
* :class:`OwnMemory`: for LMs whose cache is not a transformers ``Cache`` (``generate`` must not make one);
* :func:`memory_mask` / :func:`masked_softmax`: the Megatron-style multiplicative masks over memory + input.
"""

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.gpt2.modeling_gpt2 import eager_attention_forward

from zhplm.arch.modeling._layers import (
    DecoderInputs,
    LMHeadAccess,
    causal_lm_output,
    check_ids_or_embeds,
    decoder_inputs,
)

# --- the base model -------------------------------------------------------------------------------------


class TokenTableAccess:
    """``get/set_input_embeddings`` for base models whose token table is the attribute ``_token_table`` names."""

    _token_table: ClassVar[str] = "word_embeddings"

    def get_input_embeddings(self) -> nn.Embedding:
        table: nn.Embedding = getattr(self, self._token_table)
        return table

    def set_input_embeddings(self, value: nn.Module) -> None:
        if not isinstance(value, nn.Embedding):
            raise TypeError(f"input embeddings must be an nn.Embedding, got {type(value).__name__}")
        setattr(self, self._token_table, value)


class KernelFlags:
    """The attention kernels a model on :class:`KernelAttention` supports (all of transformers')."""

    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True


def head_size(
    hidden: int, heads: int, names: tuple[str, str] = ("hidden_size", "num_attention_heads")
) -> int:
    """The width of one head; a width the heads do not split evenly is refused (``names`` as the config
    spells the two sizes)."""
    if hidden % heads:
        raise ValueError(f"{names[0]} {hidden} is not a multiple of {names[1]} {heads}")
    return hidden // heads


def split_heads(x: torch.Tensor, head_dim: int) -> torch.Tensor:
    """``[B, L, heads·d]`` → ``[B, heads, L, d]``."""
    return x.view(*x.shape[:-1], -1, head_dim).transpose(1, 2)


class KernelAttention(nn.Module):
    """Multi-head attention on transformers' kernels (the one ``config._attn_implementation`` names) with the
    keys and values appended to a transformers ``Cache`` at ``layer_idx``. Subclasses hold the projections
    (under the original's names) and call :meth:`attend`; this class has no parameters of its own."""

    def __init__(
        self,
        config: Any,
        layer_idx: int,
        hidden: int,
        heads: int,
        names: tuple[str, str] = ("hidden_size", "num_attention_heads"),
    ) -> None:
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.head_dim = head_size(hidden, heads, names)
        self.scaling = self.head_dim**-0.5
        self.is_causal = True

    def attend(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        mask: Any,
        cache: Any,
        dropout: float,
        **kwargs: Any,
    ) -> torch.Tensor:
        """``[B, L, heads·d]`` context of ``[B, heads, L, d]`` queries over the cached and new keys/values;
        ``dropout`` applies in training only."""
        if cache is not None:
            k, v = cache.update(k, v, self.layer_idx)
        kernel: Callable[..., tuple[torch.Tensor, Any]] = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        context, _ = kernel(
            self,
            q,
            k,
            v,
            mask,
            dropout=dropout if self.training else 0.0,
            scaling=self.scaling,
            **kwargs,
        )
        return context.reshape(*context.shape[:2], -1)


class MegatronMLP(nn.Module):
    """Megatron's MLP, ``dropout(dense_4h_to_h(act(dense_h_to_4h(x))))`` under Megatron's parameter names
    (PanGu-α, GLM, CogView, Chinese-Transformer-XL)."""

    def __init__(
        self, hidden: int, inner: int, act: Callable[[torch.Tensor], torch.Tensor], dropout: float
    ) -> None:
        super().__init__()
        self.dense_h_to_4h = nn.Linear(hidden, inner)
        self.act = act
        self.dense_4h_to_h = nn.Linear(inner, hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.dropout(self.dense_4h_to_h(self.act(self.dense_h_to_4h(x))))
        return out


class KernelDecoder:
    """The ``forward`` of a base model on transformers' attention kernels (Grover, PanGu-α, OpenAI-GPT):
    :func:`~zhplm.arch.modeling._layers.decoder_inputs` (token embeddings, ``DynamicCache``, positions after
    the cached ones, transformers' causal mask), the model's own :meth:`run_stack`, the base output."""

    config: Any

    def get_input_embeddings(self) -> nn.Embedding:  # from the model's token-table mixin, listed first
        raise NotImplementedError

    def run_stack(self, inputs: DecoderInputs, **kwargs: Any) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The last hidden state and ``hidden_states`` from the prepared inputs; ``kwargs`` are the call's
        extra keywords (model inputs such as ``token_type_ids``, attention-kernel arguments)."""
        raise NotImplementedError

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: Any = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        **kwargs: Any,
    ) -> BaseModelOutputWithPast:
        inputs = decoder_inputs(
            self,
            self.get_input_embeddings(),
            input_ids,
            inputs_embeds,
            attention_mask,
            position_ids,
            cache,
            use_cache,
            output_hidden_states,
        )
        kwargs.pop("output_attentions", None)
        hidden, all_hidden = self.run_stack(inputs, **kwargs)
        return stack_output(hidden, all_hidden, inputs.cache, inputs.use_cache, inputs.want_hidden)


class PreLNLayer(nn.Module):
    """Megatron's pre-LN block, ``x = h + attention(LN_1(h), …)``, ``out = x + mlp(LN_2(x))``, under Megatron's
    names (``input_layernorm``, ``attention``, ``post_attention_layernorm``, ``mlp``); the call's further
    arguments go to the attention (PanGu-α, GLM, Chinese-Transformer-XL)."""

    def __init__(self, hidden: int, eps: float, attention: nn.Module, mlp: nn.Module) -> None:
        super().__init__()
        self.input_layernorm = nn.LayerNorm(hidden, eps=eps)
        self.attention = attention
        self.post_attention_layernorm = nn.LayerNorm(hidden, eps=eps)
        self.mlp = mlp

    def forward(self, hidden: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        x = hidden + self.attention(self.input_layernorm(hidden), *args, **kwargs)
        out: torch.Tensor = x + self.mlp(self.post_attention_layernorm(x))
        return out


def start_decoder(
    model: Any,
    embed: nn.Module,
    input_ids: torch.Tensor | None,
    inputs_embeds: torch.Tensor | None,
    cache: Any,
    use_cache: bool | None,
    new_cache: Callable[[], Any] | None = None,
) -> tuple[torch.Tensor, Any, bool]:
    """The token embeddings (``embed`` of the ids, or the embeddings given), the cache (a new one from
    ``new_cache`` — a ``DynamicCache`` by default — when caching without one) and whether to cache."""
    check_ids_or_embeds(input_ids, inputs_embeds)
    if inputs_embeds is None:
        assert input_ids is not None
        inputs_embeds = embed(input_ids)
    use_cache = bool(model.config.use_cache if use_cache is None else use_cache)
    if use_cache and cache is None:
        if new_cache is None:
            from transformers.cache_utils import DynamicCache

            cache = DynamicCache(config=model.config)
        else:
            cache = new_cache()
    return inputs_embeds, cache, use_cache


def run_layers(
    layers: Iterable[nn.Module], hidden: torch.Tensor, *args: Any, **kwargs: Any
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``hidden`` through every layer (``layer(hidden, *args, **kwargs)``): the last output, and the input with
    every layer's output (``hidden_states``)."""
    all_hidden = [hidden]
    for layer in layers:
        hidden = layer(hidden, *args, **kwargs)
        all_hidden.append(hidden)
    return hidden, all_hidden


def stack_output(
    hidden: torch.Tensor,
    all_hidden: list[torch.Tensor] | None,
    cache: Any,
    use_cache: bool,
    want_hidden: bool,
) -> BaseModelOutputWithPast:
    """The base model's output: the cache only when caching, the hidden states only when asked for."""
    return BaseModelOutputWithPast(
        last_hidden_state=hidden,
        cache=cache if use_cache else None,
        hidden_states=tuple(all_hidden) if want_hidden and all_hidden is not None else None,
    )


def wants_hidden(config: Any, output_hidden_states: bool | None) -> bool:
    """Whether the call asks for ``hidden_states`` (its argument, else the config's default)."""
    return bool(config.output_hidden_states if output_hidden_states is None else output_hidden_states)


# --- the LM --------------------------------------------------------------------------------------------


class CausalLMHead(LMHeadAccess):
    """The ``forward`` of an LM that is its base model (``self.base_model``, under ``base_model_prefix``)
    followed by ``self.lm_head``: logits of the positions ``logits_to_keep`` asks for and the shifted loss.

    Model-specific inputs (OpenAI-GPT's ``token_type_ids``, GLM's ``sep``) travel in ``kwargs`` to the base
    model; arguments the base model does not take are left to its ``**kwargs``."""

    base_model: nn.Module

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: Any = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast:
        base = self.base_model(
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


def logits_output(
    model: Any,
    logits: torch.Tensor,
    labels: torch.Tensor | None,
    logits_to_keep: int | torch.Tensor,
    cache: Any,
    **kwargs: Any,
) -> CausalLMOutputWithPast:
    """The output of an LM that computes its logits itself (RWKV-1's copy head): the positions
    ``logits_to_keep`` asks for (the last N, 0: all, or an index tensor), transformers' shifted causal-LM loss
    when ``labels`` are given, and the model's ``cache`` (its own kind)."""
    if isinstance(logits_to_keep, int):
        logits = logits[:, -logits_to_keep:] if logits_to_keep else logits
    else:
        logits = logits[:, logits_to_keep]
    loss = None
    if labels is not None:
        loss = model.loss_function(logits=logits, labels=labels, vocab_size=model.config.vocab_size, **kwargs)
    return CausalLMOutputWithPast(loss=loss, logits=logits, cache=cache)


class OwnMemory:
    """For LMs that keep their own memory object (not a transformers ``Cache``): ``generate`` must not make
    a ``DynamicCache``; the model's first forward makes the memory."""

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        return False


def reorder_rows(tensors: list[torch.Tensor | None], beam_idx: torch.Tensor) -> list[torch.Tensor | None]:
    """Beam search: keep the batch rows (dim 0) of the beams chosen."""
    return [None if t is None else t.index_select(0, beam_idx.to(t.device)) for t in tensors]


# --- Megatron-style masks (CogView, Chinese-Transformer-XL) -----------------------------------------------


def memory_mask(
    attention_mask: torch.Tensor | None, batch: int, query: int, past: int, like: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The 1/0 mask ``[B, 1, query, past + query]`` (a query sees every remembered position and the
    positions up to itself, never padding) and the keys that hold text, ``[B, past + query]``.

    The memory is always the last positions of the text so far, so the last ``past + query`` columns of
    ``generate``'s 2-D mask describe the keys; without a 2-D mask every key holds text."""
    keys = past + query
    keep = torch.ones(batch, keys, device=like.device, dtype=like.dtype)
    if attention_mask is not None and attention_mask.dim() == 2:
        given = attention_mask[:, -keys:].to(device=like.device, dtype=like.dtype)
        keep[:, keys - given.shape[1] :] = given
    causal = torch.tril(torch.ones(query, keys, device=like.device, dtype=like.dtype), past)
    return causal * keep[:, None, None, :], keep


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor, dropout: nn.Module) -> torch.Tensor:
    """Megatron's masked attention probabilities: ``softmax(scores · mask − 10000 · (1 − mask))``, dropped out."""
    probs: torch.Tensor = dropout(torch.softmax(scores * mask - 10000.0 * (1.0 - mask), dim=-1))
    return probs
