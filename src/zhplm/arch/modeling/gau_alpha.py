# mypy: disable-error-code="no-untyped-call,misc,untyped-decorator"
"""GAU-α (ZhuiyiTechnology): a RoFormerV2 whose blocks are single-head Gated Attention Units.

As the original (``GAU_alpha(RoFormerV2)`` on bert4keras 0.11's ``GatedAttentionUnit``) builds it:
token + segment embeddings -> scale-free RMS norm (``Embedding-Norm``, inherited from RoFormerV2); then
per layer, with x the input::

    u, v, z = split(swish(x · W_i), [e, e, s])        # i_dense, activation over all of its output
    q, k    = z ⊙ γ_q (+ β_q), z ⊙ γ_k (+ β_k)          # ScaleOffset; GAU-α has no β (use_bias=False)
    q, k    = RoPE(q), RoPE(k)
    A       = softmax_plus(q·kᵀ / √s)                   # softmax(a · log(n) / log(512)), n = max(#keys, 16)
    x       = norm(x + (u ⊙ A·v) · W_o)                 # o_dense, post-norm, scale-free RMS norm

n counts the unmasked keys of each sequence (bert4keras clamps it below at 16: very short sequences are
not sharpened less). MLM logits = hidden · token embeddingᵀ (no transform, no bias). The attention runs
on PyTorch SDPA with q pre-scaled per sequence by log(n)/log(512).

Only the GAU layer is GAU-α's own here; the embeddings, the model skeleton, the MLM head and the output
handling are RoFormerV2's classes (:mod:`zhplm.arch.modeling.roformer_v2`), as in the original, where
``GAU_alpha`` subclasses bert4keras' ``RoFormerV2``.

Parameter names, with ``P = "gau_alpha."`` inside :class:`GAUAlphaForMaskedLM` and ``P = ""`` in
:class:`GAUAlphaModel` (Linear weights ``[out, in]``; TF kernels are ``[in, out]``)::

    P embeddings.word_embeddings.weight            [vocab, H]        bert/embeddings/word_embeddings
    P embeddings.token_type_embeddings.weight      [type_vocab, H]   bert/embeddings/token_type_embeddings
    P encoder.layer.N.gau.i_dense.weight           [2e+s, H]         GAU_alpha/encoder/layer_N/gau/i_dense/kernel
    P encoder.layer.N.gau.q_scaleoffset.gamma      [s]               …/gau/q_scaleoffset/gamma
    P encoder.layer.N.gau.k_scaleoffset.gamma      [s]               …/gau/k_scaleoffset/gamma
    P encoder.layer.N.gau.o_dense.weight           [H, e]            …/gau/o_dense/kernel
    cls.predictions.decoder.weight                 tied to gau_alpha.embeddings.word_embeddings.weight

With ``use_bias=True`` (not in the released checkpoint) ``i_dense.bias``, ``o_dense.bias`` and
``{q,k}_scaleoffset.beta`` exist too. bert4torch 0.6.2 differs from the original in three ways (it drops
the embedding norm, mean-centres its "RMS" norm and has no n ≥ 16 floor): its outputs are not GAU-α's.
"""

import math
from typing import Any

import torch
from torch import nn
from transformers import initialization as init
from transformers.activations import ACT2FN

from zhplm.arch.modeling._encoder_heads import tied_decoder
from zhplm.arch.modeling._layers import (
    ScaleFreeRMSNorm,
    apply_rotary,
    dot_product_attention,
    key_padding_bias,
    rotary_cos_sin,
)
from zhplm.arch.modeling.configuration_gau_alpha import GAUAlphaConfig
from zhplm.arch.modeling.roformer_v2 import (
    RoFormerV2Encoder,
    RoFormerV2ForMaskedLM,
    RoFormerV2Model,
    RoFormerV2PreTrainedModel,
)


class ScaleOffset(nn.Module):
    """``x ⊙ gamma (+ beta)`` over the last axis (bert4keras ``ScaleOffset``)."""

    def __init__(self, size: int, offset: bool) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(size))
        self.beta = nn.Parameter(torch.zeros(size)) if offset else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.gamma
        return x if self.beta is None else x + self.beta


class GatedAttentionUnit(nn.Module):
    def __init__(self, config: GAUAlphaConfig) -> None:
        super().__init__()
        self.e = config.intermediate_size
        self.s = config.attention_key_size
        self.dropout_p = config.attention_probs_dropout_prob
        self.i_dense = nn.Linear(config.hidden_size, 2 * self.e + self.s, bias=config.use_bias)
        self.q_scaleoffset = ScaleOffset(self.s, offset=config.use_bias)
        self.k_scaleoffset = ScaleOffset(self.s, offset=config.use_bias)
        self.o_dense = nn.Linear(self.e, config.hidden_size, bias=config.use_bias)
        self.act = ACT2FN[config.hidden_act]

    def forward(
        self,
        hidden: torch.Tensor,
        bias: torch.Tensor | None,
        q_factor: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        need_weights: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        u, v, z = self.act(self.i_dense(hidden)).split([self.e, self.e, self.s], dim=-1)
        # one head: [B, 1, L, ·]; the softmax_plus factor rides on q so that SDPA sees a plain softmax
        q = apply_rotary(self.q_scaleoffset(z), cos, sin) * q_factor
        k = apply_rotary(self.k_scaleoffset(z), cos, sin)
        dropout_p = self.dropout_p if self.training else 0.0
        context, probs = dot_product_attention(
            q.unsqueeze(1),
            k.unsqueeze(1),
            v.unsqueeze(1),
            bias,
            dropout_p,
            1.0 / math.sqrt(self.s),
            need_weights,
        )
        out: torch.Tensor = self.o_dense(u * context.squeeze(1))
        return out, probs


class GAUAlphaLayer(nn.Module):
    def __init__(self, config: GAUAlphaConfig) -> None:
        super().__init__()
        self.gau = GatedAttentionUnit(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.norm = ScaleFreeRMSNorm(config.layer_norm_eps)

    def forward(
        self,
        hidden: torch.Tensor,
        bias: torch.Tensor | None,
        q_factor: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        need_weights: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        out, probs = self.gau(hidden, bias, q_factor, cos, sin, need_weights)
        normed: torch.Tensor = self.norm(hidden + self.dropout(out))
        return normed, probs


class GAUAlphaEncoder(RoFormerV2Encoder):
    layer_class = GAUAlphaLayer


def softmax_plus_factor(
    attention_mask: torch.Tensor | None, batch: int, length: int, config: GAUAlphaConfig, dtype: torch.dtype
) -> torch.Tensor:
    """``log(n) / log(base)`` per sequence as ``[B, 1, 1]``, n = max(number of unmasked keys, floor)."""
    if attention_mask is None:
        keys = torch.full((batch,), float(length), dtype=torch.float64)
    else:
        keys = attention_mask.to(torch.float64).sum(-1)
    keys = keys.clamp(min=config.softmax_plus_min_keys)
    factor = keys.log() / math.log(config.softmax_plus_base)
    device = attention_mask.device if attention_mask is not None else None
    return factor.to(dtype=dtype, device=device).view(batch, 1, 1)


class GAUAlphaPreTrainedModel(RoFormerV2PreTrainedModel):
    config_class = GAUAlphaConfig  # type: ignore[assignment]
    config: GAUAlphaConfig  # type: ignore[assignment]
    base_model_prefix = "gau_alpha"
    _can_record_outputs: dict[str, Any] = {  # noqa: RUF012 (transformers declares it so)
        "hidden_states": GAUAlphaLayer,
        "attentions": GatedAttentionUnit,
    }

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, ScaleOffset):
            init.ones_(module.gamma)
            if module.beta is not None:
                init.zeros_(module.beta)


class GAUAlphaModel(GAUAlphaPreTrainedModel, RoFormerV2Model):
    """The GAU-α encoder: ``last_hidden_state`` (no pooler)."""

    encoder_class = GAUAlphaEncoder

    def layer_inputs(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> tuple[Any, ...]:
        """Key-padding bias, the per-sequence softmax_plus factor and the RoPE tables of the key size."""
        batch, length, _ = hidden.shape
        bias = key_padding_bias(attention_mask, batch, length, hidden.dtype)
        q_factor = softmax_plus_factor(attention_mask, batch, length, self.config, hidden.dtype).to(
            hidden.device
        )
        cos, sin = rotary_cos_sin(
            length, self.config.attention_key_size, hidden.device, hidden.dtype, self.config.rotary_base
        )
        return bias, q_factor, cos, sin


class GAUAlphaForMaskedLM(GAUAlphaPreTrainedModel, RoFormerV2ForMaskedLM):
    """GAU-α with its MLM head: the tied token embedding transposed, no transform, no bias."""

    _tied_weights_keys = tied_decoder("gau_alpha", bias=False)
    model_class = GAUAlphaModel


__all__ = ["GAUAlphaConfig", "GAUAlphaForMaskedLM", "GAUAlphaModel", "GAUAlphaPreTrainedModel"]
