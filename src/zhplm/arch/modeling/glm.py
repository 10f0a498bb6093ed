# mypy: disable-error-code="no-untyped-call,misc"
"""GLM (THUDM, 2021): a pre-LN GPT block trained by autoregressive blank infilling.

Forward (THUDM/GLM ``model/modeling_glm.py`` + ``mpu/transformer.py`` with ``--block-lm``)::

    h = E[ids] + P[pos] + B[block_pos]            # 2-D positions: (position, block position)
    h = Layer_i(h, mask)                          # pre-LN: fused QKV, tanh-GELU MLP 4× wide
    logits = LN_final(h) · Eᵀ

The mask is GLM's: every token sees the prefix ``[0, sep)`` (bidirectional), the rest is causal. A blank is
filled after the context: ``<|startofpiece|>`` then the generated tokens, all at position = the mask token's
position, with block positions 1, 2, …, until ``<|endofpiece|>``. The original carries per-layer memories
(the inputs of each layer, normalised again inside the layer); the keys and values of those memories are
what a KV cache holds, so this class uses transformers' ``DynamicCache`` and works with ``generate``:
:meth:`GLMForCausalLM.prepare_inputs_for_generation` derives the 2-D positions and ``sep`` from the full ids
(:func:`glm_positions`).

Parameter names (``P = "glm."`` inside :class:`GLMForCausalLM`): the original's, without ``transformer.``::

    P word_embeddings.weight                 [vocab, H]  (also the output projection)
    P position_embeddings.weight             [max_position_embeddings + 1, H]
    P block_position_embeddings.weight       [max_position_embeddings + 1, H]
    P layers.N.{input_layernorm,post_attention_layernorm}.{weight,bias}
    P layers.N.attention.query_key_value.{weight [3H, H], bias}   ([q; k; v])
    P layers.N.attention.dense.{weight [H, H], bias}
    P layers.N.mlp.dense_h_to_4h.{weight [4H, H], bias}, P layers.N.mlp.dense_4h_to_h.{weight [H, 4H], bias}
    P final_layernorm.{weight,bias}
"""

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers.cache_utils import Cache
from transformers.modeling_outputs import BaseModelOutputWithPast

from zhplm.arch.modeling._causal_lm import (
    CausalLMHead,
    MegatronMLP,
    PreLNLayer,
    TokenTableAccess,
    head_size,
    run_layers,
    split_heads,
    stack_output,
    start_decoder,
    wants_hidden,
)
from zhplm.arch.modeling.configuration_glm import GLMConfig

_TIED_HEAD = {"lm_head.weight": "glm.word_embeddings.weight"}


def glm_positions(
    input_ids: torch.Tensor, config: GLMConfig, attention_mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The 2-D positions ``[B, 2, L]`` and ``sep`` ``[B]`` of full sequences ``context <sop> piece <sop> piece …``.

    ``sep`` is the first ``<|startofpiece|>`` (none: the whole row is context, bidirectional). The context
    counts positions 0, 1, … (left padding skipped) with block position 0; the k-th piece sits at the
    position of the k-th mask token (``[MASK]``/``[sMASK]``/``[gMASK]``) of the context — after the context
    where it has none — with block positions 1, 2, …, as the original ``generate_samples.py`` feeds them."""
    batch, length = input_ids.shape
    device = input_ids.device
    if attention_mask is not None and attention_mask.shape == input_ids.shape:
        pos = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    else:
        pos = torch.arange(length, device=device).expand(batch, -1)
    positions = torch.zeros(batch, 2, length, dtype=torch.long, device=device)
    seps = torch.full((batch,), length, dtype=torch.long, device=device)
    masks = {config.mask_token_id, config.smask_token_id, config.gmask_token_id}
    for b in range(batch):
        row = input_ids[b].tolist()
        sep = row.index(config.sop_token_id) if config.sop_token_id in row else length
        seps[b] = sep
        positions[b, 0, :sep] = pos[b, :sep]
        if sep == length:
            continue
        slots = [int(pos[b, i]) for i in range(sep) if row[i] in masks]
        piece, offset = -1, 0
        for i in range(sep, length):
            if row[i] == config.sop_token_id:
                piece, offset = piece + 1, 0
            offset += 1
            where = slots[piece] if piece < len(slots) else int(pos[b, sep - 1]) + 1 if sep else 0
            positions[b, 0, i] = where
            positions[b, 1, i] = offset
    return positions, seps


def glm_mask(
    sep: torch.Tensor, past: int, query: int, attention_mask: torch.Tensor | None, dtype: torch.dtype
) -> torch.Tensor:
    """Additive ``[B, 1, query, past + query]``: key j is seen from query i when ``j <= i`` or ``j < sep``."""
    keys = past + query
    device = sep.device
    i = torch.arange(past, keys, device=device)[:, None]
    j = torch.arange(keys, device=device)[None, :]
    allowed = (j <= i)[None] | (j[None] < sep.view(-1, 1, 1))
    if attention_mask is not None:
        if attention_mask.shape[-1] != keys:
            raise ValueError(
                f"attention_mask covers {attention_mask.shape[-1]} tokens, the keys are {keys} (cache + input)"
            )
        allowed = allowed & attention_mask.bool()[:, None, :]
    bias = torch.zeros(allowed.shape, dtype=dtype, device=device)
    return bias.masked_fill(~allowed, torch.finfo(dtype).min)[:, None]


class GLMAttention(nn.Module):
    def __init__(self, config: GLMConfig, layer_idx: int) -> None:
        super().__init__()
        hidden = config.hidden_size
        self.head_dim = head_size(hidden, config.num_attention_heads)
        if config.attention_scale != 1.0:
            raise ValueError("attention_scale != 1 (GLM-10B English's setting) is not implemented")
        self.config = config
        self.layer_idx = layer_idx
        self.query_key_value = nn.Linear(hidden, 3 * hidden)
        self.dense = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor, cache: Cache | None) -> torch.Tensor:
        q, k, v = (split_heads(t, self.head_dim) for t in self.query_key_value(hidden).chunk(3, dim=-1))
        if cache is not None:
            k, v = cache.update(k, v, self.layer_idx)
        p = self.config.attention_dropout if self.training else 0.0
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), dropout_p=p)
        out: torch.Tensor = self.dropout(self.dense(context.transpose(1, 2).reshape(*hidden.shape[:-1], -1)))
        return out


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


class GLMMLP(MegatronMLP):
    def __init__(self, config: GLMConfig) -> None:
        super().__init__(config.hidden_size, 4 * config.hidden_size, _gelu_tanh, config.hidden_dropout)


class GLMLayer(PreLNLayer):
    def __init__(self, config: GLMConfig, layer_idx: int) -> None:
        attention = GLMAttention(config, layer_idx)
        super().__init__(config.hidden_size, config.layer_norm_eps, attention, GLMMLP(config))


class GLMPreTrainedModel(PreTrainedModel):  # type: ignore[misc]
    config_class = GLMConfig
    config: GLMConfig
    base_model_prefix = "glm"
    supports_gradient_checkpointing = False
    _no_split_modules = ["GLMLayer"]  # noqa: RUF012 (transformers declares it so)
    _supports_sdpa = True


class GLMModel(TokenTableAccess, GLMPreTrainedModel):
    """The GLM stack up to the final LayerNorm (``last_hidden_state``) and the KV cache.

    ``position_ids`` are ``[B, 2, L]`` (position, block position) and ``sep`` ``[B]`` (or an int) the end of
    the bidirectional prefix; without them both come from the ids (:func:`glm_positions`), which needs the
    full sequence (no cache)."""

    def __init__(self, config: GLMConfig) -> None:
        super().__init__(config)
        rows = config.max_position_embeddings + 1
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = nn.Embedding(rows, config.hidden_size)
        self.block_position_embeddings = nn.Embedding(rows, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layers = nn.ModuleList(GLMLayer(config, i) for i in range(config.num_layers))
        self.final_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        sep: torch.Tensor | int | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        **kwargs: Any,
    ) -> BaseModelOutputWithPast:
        inputs_embeds, cache, use_cache = start_decoder(
            self, self.word_embeddings, input_ids, inputs_embeds, cache, use_cache
        )
        batch, length = inputs_embeds.shape[:2]
        past = cache.get_seq_length() if cache is not None else 0
        if position_ids is None or sep is None:
            if past or input_ids is None:
                raise ValueError(
                    "GLM needs position_ids [B, 2, L] and sep with a cache or inputs_embeds: they come from the "
                    "full ids (zhplm.arch.modeling.glm.glm_positions)"
                )
            derived, derived_sep = glm_positions(input_ids, self.config, attention_mask)
            position_ids = derived if position_ids is None else position_ids
            sep = derived_sep if sep is None else sep
        if position_ids.dim() != 3 or position_ids.shape[1] != 2:
            raise ValueError(f"GLM's position_ids are [batch, 2, length], got {tuple(position_ids.shape)}")
        if int(position_ids.max()) > self.config.max_position_embeddings:
            raise ValueError(
                f"position {int(position_ids.max())} is past the model's {self.config.max_position_embeddings} "
                "positions: shorten the prompt or max_new_tokens"
            )
        sep_t = torch.as_tensor(sep, device=inputs_embeds.device).reshape(-1).expand(batch)
        bias = glm_mask(sep_t, past, length, attention_mask, inputs_embeds.dtype)
        hidden = inputs_embeds + self.position_embeddings(position_ids[:, 0])
        hidden = self.dropout(hidden + self.block_position_embeddings(position_ids[:, 1]))
        hidden, all_hidden = run_layers(self.layers, hidden, bias, cache)
        hidden = self.final_layernorm(hidden)
        return stack_output(
            hidden, all_hidden, cache, use_cache, wants_hidden(self.config, output_hidden_states)
        )


class GLMForCausalLM(CausalLMHead, GLMPreTrainedModel, GenerationMixin):
    """GLM with its tied output projection: ``logits [B, L, vocab]``; ``generate`` fills the blank after
    ``<|startofpiece|>`` (positions and mask derived from the full ids at every step). ``forward`` takes
    :class:`GLMModel`'s ``position_ids [B, 2, L]`` and ``sep`` (a keyword, passed on to it)."""

    _tied_weights_keys = _TIED_HEAD

    def __init__(self, config: GLMConfig) -> None:
        super().__init__(config)
        self.glm = GLMModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def prepare_inputs_for_generation(self, input_ids: torch.Tensor, **kwargs: Any) -> dict[str, Any]:
        kwargs.pop("position_ids", None)
        inputs: dict[str, Any] = super().prepare_inputs_for_generation(input_ids, **kwargs)
        positions, sep = glm_positions(input_ids, self.config, kwargs.get("attention_mask"))
        step = inputs["input_ids"].shape[1] if inputs.get("input_ids") is not None else input_ids.shape[1]
        inputs["position_ids"] = positions[..., -step:].contiguous()
        inputs["sep"] = sep
        return inputs


__all__ = ["GLMConfig", "GLMForCausalLM", "GLMModel", "GLMPreTrainedModel", "glm_positions"]
