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

from typing import Any

import torch
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers.cache_utils import Cache
from transformers.modeling_outputs import CausalLMOutputWithPast
from transformers.models.openai.modeling_openai import ACT_FNS
from transformers.pytorch_utils import Conv1D

from zhplm.arch.modeling._causal_lm import (
    CausalLMHead,
    KernelAttention,
    KernelDecoder,
    KernelFlags,
    TokenTableAccess,
    run_layers,
    split_heads,
)
from zhplm.arch.modeling._layers import DecoderInputs
from zhplm.arch.modeling.configuration_openai_gpt import OpenAIGPTCachedConfig

_TIED_HEAD = {"lm_head.weight": "transformer.tokens_embed.weight"}


class OpenAIGPTCachedAttention(KernelAttention):
    def __init__(self, config: OpenAIGPTCachedConfig, layer_idx: int) -> None:
        super().__init__(config, layer_idx, config.n_embd, config.n_head, ("n_embd", "n_head"))
        self.c_attn = Conv1D(3 * config.n_embd, config.n_embd)
        self.c_proj = Conv1D(config.n_embd, config.n_embd)
        self.resid_dropout = nn.Dropout(config.resid_pdrop)

    def forward(
        self, hidden: torch.Tensor, mask: torch.Tensor | None, cache: Cache | None, **kwargs: Any
    ) -> torch.Tensor:
        q, k, v = (
            split_heads(t, self.head_dim) for t in self.c_attn(hidden).split(self.config.n_embd, dim=2)
        )
        context = self.attend(q, k, v, mask, cache, self.config.attn_pdrop, **kwargs)
        out: torch.Tensor = self.resid_dropout(self.c_proj(context))
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


class OpenAIGPTCachedPreTrainedModel(KernelFlags, PreTrainedModel):  # type: ignore[misc]
    config_class = OpenAIGPTCachedConfig
    config: OpenAIGPTCachedConfig
    base_model_prefix = "transformer"
    supports_gradient_checkpointing = False
    _no_split_modules = ["OpenAIGPTCachedBlock"]  # noqa: RUF012 (transformers declares it so)


class OpenAIGPTCachedModel(TokenTableAccess, KernelDecoder, OpenAIGPTCachedPreTrainedModel):
    """The OpenAI-GPT stack: ``last_hidden_state`` (no final LayerNorm) and the KV cache; ``token_type_ids``
    (a keyword) go through the token table."""

    _token_table = "tokens_embed"

    def __init__(self, config: OpenAIGPTCachedConfig) -> None:
        super().__init__(config)
        self.tokens_embed = nn.Embedding(config.vocab_size, config.n_embd)
        self.positions_embed = nn.Embedding(config.n_positions, config.n_embd)
        self.drop = nn.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList(OpenAIGPTCachedBlock(config, i) for i in range(config.n_layer))
        self.post_init()

    def run_stack(
        self, inputs: DecoderInputs, token_type_ids: torch.Tensor | None = None, **kwargs: Any
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        hidden = inputs.embeds + self.positions_embed(inputs.position_ids)
        if token_type_ids is not None:
            hidden = hidden + self.tokens_embed(token_type_ids)
        return run_layers(self.h, self.drop(hidden), inputs.mask, inputs.cache, **kwargs)


class OpenAIGPTCachedForCausalLM(CausalLMHead, OpenAIGPTCachedPreTrainedModel, GenerationMixin):
    """OpenAI-GPT with its tied output projection (no bias): next-token ``logits [B, L, vocab]``."""

    _tied_weights_keys = _TIED_HEAD

    def __init__(self, config: OpenAIGPTCachedConfig) -> None:
        super().__init__(config)
        self.transformer = OpenAIGPTCachedModel(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.post_init()

    def forward(  # type: ignore[override]  # token_type_ids third, as transformers' OpenAI-GPT
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        *,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast:
        """:meth:`CausalLMHead.forward` with ``token_type_ids`` named (``generate`` passes on only the inputs
        that ``forward`` names)."""
        return super().forward(
            input_ids,
            attention_mask,
            position_ids,
            token_type_ids=token_type_ids,
            logits_to_keep=logits_to_keep,
            **kwargs,
        )


__all__ = [
    "OpenAIGPTCachedConfig",
    "OpenAIGPTCachedForCausalLM",
    "OpenAIGPTCachedModel",
    "OpenAIGPTCachedPreTrainedModel",
]
