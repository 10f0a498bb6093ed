# mypy: disable-error-code="no-untyped-call,misc,no-any-return"
"""T5-PEGASUS: transformers' mT5 plus the one thing bert4keras' T5 decoder adds.

bert4keras (0.10.0, which the release was trained with, and 0.11.5) builds ``T5_Decoder`` with
``cross_position_bias=True``: the cross-attention scores get the decoder's relative position bias too, from the
same ``Decoder-Embedding-Relative-Position`` table (causal buckets of query position − encoder position). mT5 has
no bias there; without it the logits differ from the second decoded position on. The table is the decoder's
layer-0 self-attention one (no new weights), so a converted folder has exactly mT5's tensors.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import MT5ForConditionalGeneration, MT5Model
from transformers.models.mt5.modeling_mt5 import MT5Attention

from zhplm.arch.modeling.configuration_mt5 import T5PegasusConfig


class T5PegasusCrossAttention(MT5Attention):
    """Cross-attention whose position bias comes from the decoder's self-attention table (bert4keras)."""

    def forward(
        self,
        hidden_states: torch.Tensor,
        mask: Any = None,
        key_value_states: torch.Tensor | None = None,
        position_bias: torch.Tensor | None = None,
        cache: Any = None,
        **kwargs: Any,
    ) -> Any:
        if position_bias is None and key_value_states is not None:
            source: MT5Attention = self.__dict__["_bias_source"]
            query_length = hidden_states.shape[1]
            past = 0
            if cache is not None:  # the decoder's self-attention (same layer) has already stored this step
                past = (
                    getattr(cache, "self_attention_cache", cache).get_seq_length(self.layer_idx)
                    - query_length
                )
            position_bias = source.compute_bias(
                query_length, key_value_states.shape[1], device=hidden_states.device, past_seen_tokens=past
            ).to(hidden_states.dtype)
        return super().forward(
            hidden_states,
            mask=mask,
            key_value_states=key_value_states,
            position_bias=position_bias,
            cache=cache,
            **kwargs,
        )


def _bias_cross_attention(decoder: Any) -> None:
    """Make block 0's cross-attention (whose bias the later blocks reuse) take the self-attention table."""
    block = decoder.block[0]
    attention = block.layer[1].EncDecAttention
    attention.__class__ = T5PegasusCrossAttention
    attention.__dict__["_bias_source"] = block.layer[0].SelfAttention  # a reference, not a submodule


class T5PegasusModel(MT5Model):
    config_class = T5PegasusConfig

    def __init__(self, config: T5PegasusConfig) -> None:
        super().__init__(config)
        _bias_cross_attention(self.decoder)


class T5PegasusForConditionalGeneration(MT5ForConditionalGeneration):
    config_class = T5PegasusConfig

    def __init__(self, config: T5PegasusConfig) -> None:
        super().__init__(config)
        _bias_cross_attention(self.decoder)
