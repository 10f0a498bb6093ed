# mypy: disable-error-code="no-untyped-call,misc"
"""OpenAI-GPT (post-LN) with a KV cache: transformers' ``OpenAIGPTLMHeadModel`` recomputes the whole sequence
for every new token (it has no cache), so generating ``n`` tokens costs ``O(n²)`` forward positions. This is the
same network under the same parameter names (``transformer.tokens_embed``, ``transformer.positions_embed``,
``transformer.h.N.{attn.c_attn, attn.c_proj, ln_1, mlp.c_fc, mlp.c_proj, ln_2}`` as ``Conv1D``, tied
``lm_head``), so a folder converted for it also loads into transformers' class, and the other way round.

Per layer ``n = LN_1(x + Attn(x))``, ``h = LN_2(n + MLP(n))``; the embeddings are ``E[ids] + P[pos]`` plus
``E[token_type_ids]`` when given (CDial-GPT's speakers go through the token table). Positions count from the
first column whatever the padding (as transformers' class does); the activation is transformers' OpenAI-GPT
table (``gelu`` is the tanh form). Attention, masks and the cache are transformers' own
(``ALL_ATTENTION_FUNCTIONS``, ``create_causal_mask``, ``DynamicCache``).
"""

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers.cache_utils import Cache, DynamicCache
from transformers.masking_utils import create_causal_mask
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.gpt2.modeling_gpt2 import eager_attention_forward
from transformers.models.openai.modeling_openai import ACT_FNS
from transformers.pytorch_utils import Conv1D

from zhplm.arch.modeling._layers import LMHeadAccess, check_ids_or_embeds
from zhplm.arch.modeling.configuration_openai_gpt import OpenAIGPTCachedConfig

_TIED_HEAD = {"lm_head.weight": "transformer.tokens_embed.weight"}


class OpenAIGPTCachedAttention(nn.Module):
    def __init__(self, config: OpenAIGPTCachedConfig, layer_idx: int) -> None:
        super().__init__()
        if config.n_embd % config.n_head:
            raise ValueError(f"n_embd {config.n_embd} is not a multiple of n_head {config.n_head}")
        self.config = config
        self.layer_idx = layer_idx
        self.head_dim = config.n_embd // config.n_head
        self.scaling = self.head_dim**-0.5
        self.is_causal = True
        self.c_attn = Conv1D(3 * config.n_embd, config.n_embd)
        self.c_proj = Conv1D(config.n_embd, config.n_embd)
        self.resid_dropout = nn.Dropout(config.resid_pdrop)

    def forward(
        self, hidden: torch.Tensor, mask: torch.Tensor | None, cache: Cache | None, **kwargs: Any
    ) -> torch.Tensor:
        shape = (*hidden.shape[:-1], -1, self.head_dim)
        q, k, v = (
            t.view(shape).transpose(1, 2) for t in self.c_attn(hidden).split(self.config.n_embd, dim=2)
        )
        if cache is not None:
            k, v = cache.update(k, v, self.layer_idx)
        attend: Callable[..., tuple[torch.Tensor, Any]] = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        dropout = self.config.attn_pdrop if self.training else 0.0
        context, _ = attend(self, q, k, v, mask, dropout=dropout, scaling=self.scaling, **kwargs)
        out: torch.Tensor = self.resid_dropout(self.c_proj(context.reshape(*hidden.shape[:-1], -1)))
        return out


class OpenAIGPTCachedMLP(nn.Module):
    def __init__(self, config: OpenAIGPTCachedConfig) -> None:
        super().__init__()
        self.c_fc = Conv1D(4 * config.n_embd, config.n_embd)
        self.c_proj = Conv1D(config.n_embd, 4 * config.n_embd)
        self.act = ACT_FNS[config.afn]
        self.dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.dropout(self.c_proj(self.act(self.c_fc(x))))
        return out


class OpenAIGPTCachedBlock(nn.Module):
    """Post-LN: ``n = ln_1(x + attn(x))``, ``h = ln_2(n + mlp(n))``."""

    def __init__(self, config: OpenAIGPTCachedConfig, layer_idx: int) -> None:
        super().__init__()
        self.attn = OpenAIGPTCachedAttention(config, layer_idx)
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = OpenAIGPTCachedMLP(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, cache: Cache | None, **kwargs: Any
    ) -> torch.Tensor:
        n = self.ln_1(x + self.attn(x, mask, cache, **kwargs))
        out: torch.Tensor = self.ln_2(n + self.mlp(n))
        return out


class OpenAIGPTCachedPreTrainedModel(PreTrainedModel):  # type: ignore[misc]
    config_class = OpenAIGPTCachedConfig
    config: OpenAIGPTCachedConfig
    base_model_prefix = "transformer"
    supports_gradient_checkpointing = False
    _no_split_modules = ["OpenAIGPTCachedBlock"]  # noqa: RUF012 (transformers declares it so)
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True


class OpenAIGPTCachedModel(OpenAIGPTCachedPreTrainedModel):
    """The OpenAI-GPT stack: ``last_hidden_state`` (no final LayerNorm) and the KV cache."""

    def __init__(self, config: OpenAIGPTCachedConfig) -> None:
        super().__init__(config)
        self.tokens_embed = nn.Embedding(config.vocab_size, config.n_embd)
        self.positions_embed = nn.Embedding(config.n_positions, config.n_embd)
        self.drop = nn.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList(OpenAIGPTCachedBlock(config, i) for i in range(config.n_layer))
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.tokens_embed

    def set_input_embeddings(self, value: nn.Module) -> None:
        if not isinstance(value, nn.Embedding):
            raise TypeError(f"input embeddings must be an nn.Embedding, got {type(value).__name__}")
        self.tokens_embed = value

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        **kwargs: Any,
    ) -> BaseModelOutputWithPast:
        check_ids_or_embeds(input_ids, inputs_embeds)
        if inputs_embeds is None:
            assert input_ids is not None
            inputs_embeds = self.tokens_embed(input_ids)
        use_cache = self.config.use_cache if use_cache is None else use_cache
        if use_cache and cache is None:
            cache = DynamicCache(config=self.config)
        if position_ids is None:
            seen = cache.get_seq_length() if cache is not None else 0
            position_ids = torch.arange(inputs_embeds.shape[1], device=inputs_embeds.device)[None] + seen
        mask = create_causal_mask(
            config=self.config,
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            cache=cache,
            position_ids=position_ids,
        )
        want_hidden = bool(
            self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        )
        kwargs.pop("output_attentions", None)
        hidden = inputs_embeds + self.positions_embed(position_ids)
        if token_type_ids is not None:
            hidden = hidden + self.tokens_embed(token_type_ids)
        hidden = self.drop(hidden)
        all_hidden = [hidden]
        for block in self.h:
            hidden = block(hidden, mask, cache, **kwargs)
            all_hidden.append(hidden)
        return BaseModelOutputWithPast(
            last_hidden_state=hidden,
            cache=cache if use_cache else None,
            hidden_states=tuple(all_hidden) if want_hidden else None,
        )


class OpenAIGPTCachedForCausalLM(LMHeadAccess, OpenAIGPTCachedPreTrainedModel, GenerationMixin):
    """OpenAI-GPT with its tied output projection (no bias): next-token ``logits [B, L, vocab]``."""

    _tied_weights_keys = _TIED_HEAD

    def __init__(self, config: OpenAIGPTCachedConfig) -> None:
        super().__init__(config)
        self.transformer = OpenAIGPTCachedModel(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast:
        base = self.transformer(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            output_hidden_states=output_hidden_states,
            **kwargs,
        )
        hidden = base.last_hidden_state
        if isinstance(logits_to_keep, int):
            hidden = hidden[:, -logits_to_keep:] if logits_to_keep else hidden
        else:
            hidden = hidden[:, logits_to_keep]
        logits = self.lm_head(hidden)
        loss = None
        if labels is not None:
            loss = self.loss_function(
                logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs
            )
        return CausalLMOutputWithPast(
            loss=loss, logits=logits, cache=base.cache, hidden_states=base.hidden_states
        )


__all__ = [
    "OpenAIGPTCachedConfig",
    "OpenAIGPTCachedForCausalLM",
    "OpenAIGPTCachedModel",
    "OpenAIGPTCachedPreTrainedModel",
]
