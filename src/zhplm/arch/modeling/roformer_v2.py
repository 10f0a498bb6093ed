# mypy: disable-error-code="no-untyped-call,misc,untyped-decorator"
"""RoFormerV2 (ZhuiyiTechnology, bert4keras): RoFormer without biases and with a scale-free RMS norm.

transformers 5 has RoFormer v1 only (biases everywhere, LayerNorm with gain and bias). RoFormerV2, as
bert4keras 0.11 ``RoFormerV2`` builds it: token + segment embeddings -> scale-free RMS norm; then per
layer: multi-head self-attention with RoPE on q and k (interleaved pairs, base 10000), no biases ->
residual -> norm -> feed-forward (no biases) -> residual -> norm (post-norm); MLM logits = hidden ·
token embeddingᵀ (no transform, no bias). The norm is ``x / sqrt(mean(x²) + eps)`` with no parameters;
bert4keras uses eps = 1e-7 (``K.epsilon()``, our default) and junnyu's ``roformer`` uses
``layer_norm_eps`` = 1e-12: set ``layer_norm_eps`` to match the weights' origin (the difference is
below fp32 resolution for hidden states of unit scale). Attention runs on PyTorch SDPA.

Parameter names (those of junnyu's ``roformer`` package, so its converted RoFormerV2 weights load as
they are), with ``P = "roformer."`` inside :class:`RoFormerV2ForMaskedLM` and ``P = ""`` in
:class:`RoFormerV2Model`; every Linear has a weight ``[out, in]`` and no bias::

    P embeddings.word_embeddings.weight                 [vocab, H]
    P embeddings.token_type_embeddings.weight           [type_vocab, H]
    P encoder.layer.N.attention.self.{query,key,value}.weight   [H, H]
    P encoder.layer.N.attention.output.dense.weight     [H, H]
    P encoder.layer.N.intermediate.dense.weight         [I, H]
    P encoder.layer.N.output.dense.weight               [H, I]
    cls.predictions.decoder.weight                      tied to roformer.embeddings.word_embeddings.weight

bert4keras names, for the converter: ``Embedding-Token`` = ``bert/embeddings/word_embeddings``,
``Embedding-Segment`` = ``bert/embeddings/token_type_embeddings``,
``Transformer-N-MultiHeadSelfAttention`` = ``bert/encoder/layer_N/attention/self/{query,key,value}/kernel``
and ``…/attention/output/dense/kernel``, ``Transformer-N-FeedForward`` =
``bert/encoder/layer_N/intermediate/dense/kernel`` and ``…/output/dense/kernel`` (kernels are ``[in, out]``).
RoFormerV2 checkpoints with ``embedding_size != hidden_size`` (an extra projection) are not supported.
"""

from typing import Any, cast

import torch
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers.activations import ACT2FN
from transformers.modeling_outputs import BaseModelOutput
from transformers.utils.output_capturing import capture_outputs

from zhplm.arch.modeling._encoder_heads import MaskedLMHeads, tied_decoder
from zhplm.arch.modeling._layers import (
    ScaleFreeRMSNorm,
    WordEmbeddingAccess,
    add_token_types,
    apply_rotary,
    attention_head_size,
    default_scale,
    dot_product_attention,
    key_padding_bias,
    rotary_cos_sin,
    token_embeddings,
    wants,
)
from zhplm.arch.modeling.configuration_roformer_v2 import RoFormerV2Config


class RoFormerV2Embeddings(nn.Module):
    """Token + segment embeddings, then the scale-free RMS norm; no position embeddings.

    bert4keras ``RoFormerV2.apply_embeddings``: ``Embedding-Token`` + ``Embedding-Segment`` ->
    ``Embedding-Dropout`` -> ``Embedding-Norm`` (no parameters). ``type_vocab_size`` 0: no segments.
    """

    def __init__(self, config: PreTrainedConfig) -> None:
        super().__init__()
        hidden = config.hidden_size
        self.word_embeddings = nn.Embedding(config.vocab_size, hidden, padding_idx=config.pad_token_id)
        types = config.type_vocab_size
        self.token_type_embeddings = nn.Embedding(types, hidden) if types > 0 else None
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.norm = ScaleFreeRMSNorm(config.layer_norm_eps)

    def forward(self, inputs_embeds: torch.Tensor, token_type_ids: torch.Tensor | None) -> torch.Tensor:
        x: torch.Tensor = inputs_embeds
        if self.token_type_embeddings is not None:
            x = add_token_types(x, self.token_type_embeddings, token_type_ids)
        normed: torch.Tensor = self.norm(self.dropout(x))
        return normed


class TiedDecoder(nn.Module):
    """MLM logits as the hidden states times the token embedding transposed: no transform, no bias."""

    def __init__(self, hidden_size: int, vocab_size: int) -> None:
        super().__init__()
        self.decoder = nn.Linear(hidden_size, vocab_size, bias=False)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.decoder(hidden)
        return out


class DecoderOnlyMLMHead(nn.Module):
    """``cls.predictions.decoder``: the naming junnyu's RoFormerV2 (and BERT) use for the MLM decoder."""

    def __init__(self, config: PreTrainedConfig) -> None:
        super().__init__()
        self.predictions = TiedDecoder(config.hidden_size, config.vocab_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return cast(torch.Tensor, self.predictions(hidden))


class RoFormerV2SelfAttention(nn.Module):
    def __init__(self, config: RoFormerV2Config) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_size = attention_head_size(config)
        self.dropout_p = config.attention_probs_dropout_prob
        self.query = nn.Linear(config.hidden_size, config.hidden_size, bias=False)
        self.key = nn.Linear(config.hidden_size, config.hidden_size, bias=False)
        self.value = nn.Linear(config.hidden_size, config.hidden_size, bias=False)

    def forward(
        self,
        hidden: torch.Tensor,
        bias: torch.Tensor | None,
        cos: torch.Tensor,
        sin: torch.Tensor,
        need_weights: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch, length, _ = hidden.shape
        heads = (batch, length, self.num_heads, self.head_size)
        q = apply_rotary(self.query(hidden).view(heads).transpose(1, 2), cos, sin)
        k = apply_rotary(self.key(hidden).view(heads).transpose(1, 2), cos, sin)
        v = self.value(hidden).view(heads).transpose(1, 2)
        dropout_p = self.dropout_p if self.training else 0.0
        context, probs = dot_product_attention(
            q, k, v, bias, dropout_p, default_scale(self.head_size), need_weights
        )
        return context.transpose(1, 2).reshape(batch, length, -1), probs


class RoFormerV2SelfOutput(nn.Module):
    """Output projection (no bias), dropout, residual, then the scale-free norm."""

    def __init__(self, config: RoFormerV2Config, in_size: int) -> None:
        super().__init__()
        self.dense = nn.Linear(in_size, config.hidden_size, bias=False)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.norm = ScaleFreeRMSNorm(config.layer_norm_eps)

    def forward(self, hidden: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.norm(residual + self.dropout(self.dense(hidden)))
        return out


class RoFormerV2Attention(nn.Module):
    def __init__(self, config: RoFormerV2Config) -> None:
        super().__init__()
        self.self = RoFormerV2SelfAttention(config)
        self.output = RoFormerV2SelfOutput(config, config.hidden_size)


class RoFormerV2Intermediate(nn.Module):
    def __init__(self, config: RoFormerV2Config) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.act = ACT2FN[config.hidden_act]

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.act(self.dense(hidden))
        return out


class RoFormerV2Layer(nn.Module):
    def __init__(self, config: RoFormerV2Config) -> None:
        super().__init__()
        self.attention = RoFormerV2Attention(config)
        self.intermediate = RoFormerV2Intermediate(config)
        self.output = RoFormerV2SelfOutput(config, config.intermediate_size)

    def forward(
        self,
        hidden: torch.Tensor,
        bias: torch.Tensor | None,
        cos: torch.Tensor,
        sin: torch.Tensor,
        need_weights: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        context, probs = self.attention.self(hidden, bias, cos, sin, need_weights)
        hidden = self.attention.output(context, hidden)
        return self.output(self.intermediate(hidden), hidden), probs


class RoFormerV2Encoder(nn.Module):
    """``num_hidden_layers`` layers of ``layer_class`` (GAU-α swaps in its own layer)."""

    layer_class: type[nn.Module] = RoFormerV2Layer

    def __init__(self, config: PreTrainedConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(self.layer_class(config) for _ in range(config.num_hidden_layers))


class RoFormerV2PreTrainedModel(PreTrainedModel):
    config_class = RoFormerV2Config
    config: RoFormerV2Config
    base_model_prefix = "roformer"
    supports_gradient_checkpointing = False
    _supports_sdpa = True
    # what transformers' capture_outputs records: each layer's output, each attention's probabilities
    _can_record_outputs: dict[str, Any] = {  # noqa: RUF012 (transformers declares it so)
        "hidden_states": RoFormerV2Layer,
        "attentions": RoFormerV2SelfAttention,
    }


class RoFormerV2Model(WordEmbeddingAccess, RoFormerV2PreTrainedModel):
    """The RoFormerV2 encoder: ``last_hidden_state`` (no pooler: RoFormerV2 has none).

    The skeleton of the bert4keras RoFormerV2 family: GAU-α is this model with another ``encoder_class``
    and ``layer_inputs``."""

    encoder_class: type[RoFormerV2Encoder] = RoFormerV2Encoder

    def __init__(self, config: PreTrainedConfig) -> None:
        super().__init__(config)
        self.embeddings = RoFormerV2Embeddings(config)
        self.encoder = self.encoder_class(config)
        self.post_init()

    def layer_inputs(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> tuple[Any, ...]:
        """What every layer takes after the hidden states, computed once: key-padding bias, RoPE tables."""
        batch, length, _ = hidden.shape
        bias = key_padding_bias(attention_mask, batch, length, hidden.dtype)
        head_size = self.config.hidden_size // self.config.num_attention_heads
        cos, sin = rotary_cos_sin(length, head_size, hidden.device, hidden.dtype, self.config.rotary_base)
        return bias, cos, sin

    @capture_outputs
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> BaseModelOutput:
        inputs_embeds = token_embeddings(self.embeddings.word_embeddings, input_ids, inputs_embeds)
        hidden = self.embeddings(inputs_embeds, token_type_ids)
        shared = self.layer_inputs(hidden, attention_mask)
        need_weights = wants(self.config, kwargs, "attentions")  # else the fused kernel, no probabilities
        for layer in self.encoder.layer:
            hidden, _ = layer(hidden, *shared, need_weights)
        return BaseModelOutput(last_hidden_state=hidden)


class RoFormerV2ForMaskedLM(MaskedLMHeads, RoFormerV2PreTrainedModel):
    """RoFormerV2 with its MLM head: the tied token embedding transposed, no transform, no bias."""

    _tied_weights_keys = tied_decoder("roformer", bias=False)
    model_class: type[RoFormerV2Model] = RoFormerV2Model
    head_class = DecoderOnlyMLMHead
    drop_pooler = False  # RoFormerV2 has none


__all__ = ["RoFormerV2Config", "RoFormerV2ForMaskedLM", "RoFormerV2Model", "RoFormerV2PreTrainedModel"]
