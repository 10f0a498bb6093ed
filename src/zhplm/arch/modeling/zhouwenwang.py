# mypy: disable-error-code="no-untyped-call,misc,untyped-decorator,override,union-attr"
"""Zhouwenwang (IDEA-CCNL, fengshen ``RoFormerModel``): transformers' Megatron-BERT blocks with rotary attention.

fengshen's "RoFormer" is Megatron-BERT's pre-LN layer (``attention.ln`` → self-attention → residual, ``ln`` →
MLP → residual, a final ``encoder.ln``), embeddings = word + token type (no position table, no LayerNorm),
and rotary positions on queries and keys (interleaved pairs, HF RoFormer's convention). The parameter names
are Megatron-BERT's, so :class:`MegatronBertEncoder` is used as it is; only its self-attention is swapped for
:class:`RotarySelfAttention`. The mask is the "unified" one (fengshen ``roformer_extended_attention_mask``:
``cumsum(token_type_ids)``, the UniLM rule of :func:`zhplm.arch.modeling._unilm.unilm_bias`).

Heads: the MLM head ``cls.predictions`` (fill-mask) and the LM head of the authors' generation example,
the tied word embedding without bias (``F.linear(h, word_embeddings.weight)``).
"""

import math
from typing import Any, ClassVar

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.cache_utils import Cache, EncoderDecoderCache
from transformers.models.megatron_bert.modeling_megatron_bert import (
    MegatronBertEncoder,
    MegatronBertOnlyMLMHead,
    MegatronBertSelfAttention,
)

from zhplm.arch.modeling._layers import DecoderAccess, apply_rotary, rotary_cos_sin
from zhplm.arch.modeling._unilm import UniLMGenerationMixin, UniLMHeadMixin, UniLMOutput, unilm_inputs
from zhplm.arch.modeling.configuration_zhouwenwang import ZhouwenwangConfig


class RotarySelfAttention(MegatronBertSelfAttention):
    """Megatron-BERT self-attention with rotary queries and keys (positions continue after the cache)."""

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        cache: Cache | None = None,
        output_attentions: bool | None = False,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if encoder_hidden_states is not None:
            raise ValueError("Zhouwenwang has no cross-attention")
        batch, length = hidden_states.shape[:2]
        shape = (batch, length, -1, self.attention_head_size)
        query = self.query(hidden_states).view(shape).transpose(1, 2)
        key = self.key(hidden_states).view(shape).transpose(1, 2)
        value = self.value(hidden_states).view(shape).transpose(1, 2)
        if isinstance(cache, EncoderDecoderCache):
            cache = cache.self_attention_cache
        start = cache.get_seq_length(self.layer_idx) if cache is not None else 0
        cos, sin = rotary_cos_sin(start + length, self.attention_head_size, query.device, query.dtype)
        cos, sin = cos[start:], sin[start:]
        query, key = apply_rotary(query, cos, sin), apply_rotary(key, cos, sin)
        if cache is not None:
            key, value = cache.update(key, value, self.layer_idx)
        scores = torch.matmul(query, key.transpose(-1, -2)) / math.sqrt(self.attention_head_size)
        if attention_mask is not None:
            scores = scores + attention_mask
        probs = self.dropout(nn.functional.softmax(scores, dim=-1))
        context = torch.matmul(probs, value).transpose(1, 2).reshape(batch, length, self.all_head_size)
        return context, probs


class ZhouwenwangEmbeddings(nn.Module):
    """Word + token-type embeddings; no positions (rotary) and no LayerNorm (pre-LN layers)."""

    def __init__(self, config: ZhouwenwangConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(
            config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id
        )
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        embedded: torch.Tensor = self.dropout(
            self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        )
        return embedded


class ZhouwenwangPreTrainedModel(PreTrainedModel):
    config_class = ZhouwenwangConfig
    base_model_prefix = "bert"
    supports_gradient_checkpointing = False

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=std)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, MegatronBertOnlyMLMHead):
            nn.init.zeros_(module.predictions.bias)


class ZhouwenwangModel(ZhouwenwangPreTrainedModel):
    """The encoder: last hidden state after the final LayerNorm, ``hidden_states`` as fengshen lists them
    (the embedding output, each layer's output, the last one normalised)."""

    def __init__(self, config: ZhouwenwangConfig) -> None:
        super().__init__(config)
        self.embeddings = ZhouwenwangEmbeddings(config)
        self.encoder = MegatronBertEncoder(config)
        for i, layer in enumerate(self.encoder.layer):
            layer.attention.self = RotarySelfAttention(config, layer_idx=i)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings.word_embeddings = value

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        cache: Cache | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        **kwargs: Any,
    ) -> UniLMOutput:
        types, bias, cache = unilm_inputs(
            input_ids, attention_mask, token_type_ids, cache, use_cache, self.dtype, target_type=1
        )
        out = self.encoder(
            self.embeddings(input_ids, types),
            attention_mask=bias,
            cache=cache,
            use_cache=False,  # the cache, if any, is ours (a DynamicCache) and already passed
            output_hidden_states=bool(output_hidden_states),
            output_attentions=bool(output_attentions),
            return_dict=True,
        )
        return UniLMOutput(
            last_hidden_state=out.last_hidden_state,
            cache=cache,
            hidden_states=out.hidden_states,
            attentions=out.attentions,
        )


class ZhouwenwangForMaskedLM(DecoderAccess, UniLMHeadMixin, ZhouwenwangPreTrainedModel, UniLMGenerationMixin):
    """Zhouwenwang with its MLM head (``cls.predictions``, decoder tied to the word embedding): fill-mask."""

    _tied_weights_keys: ClassVar[dict[str, str]] = {
        "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias",
    }

    def __init__(self, config: ZhouwenwangConfig) -> None:
        super().__init__(config)
        self.bert = ZhouwenwangModel(config)
        self.cls = MegatronBertOnlyMLMHead(config)
        self.post_init()


class ZhouwenwangForCausalLM(ZhouwenwangForMaskedLM):
    """The LM ("unified") head: logits = hidden · word_embeddingᵀ (no bias), the authors' generation example.
    Generates through ``generate`` the way that example does (``config.unilm_decoding = "recompute"``); with
    ``"shift"`` and type-1 prompts it is a causal LM with an exact KV cache."""

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(hidden, self.bert.embeddings.word_embeddings.weight)
