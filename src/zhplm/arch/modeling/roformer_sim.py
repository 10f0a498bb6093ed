# mypy: disable-error-code="no-untyped-call,misc,untyped-decorator,override,union-attr"
"""RoFormer-sim (SimBERTv2, ZhuiyiTechnology): transformers' RoFormer under the UniLM mask + a linear pooler.

transformers' RoFormer has no pooler; this adds ``roformer.pooler.dense`` (no tanh). Other names are
``RoFormerForMaskedLM``'s. See :mod:`zhplm.arch.modeling._unilm` for the mask and the decoding.
"""

from typing import Any, ClassVar

import torch
from transformers.cache_utils import Cache
from transformers.models.roformer.modeling_roformer import (
    RoFormerModel,
    RoFormerOnlyMLMHead,
    RoFormerPreTrainedModel,
)

from zhplm.arch.modeling._layers import DecoderAccess
from zhplm.arch.modeling._unilm import (
    LinearPooler,
    UniLMGenerationMixin,
    UniLMHeadMixin,
    UniLMOutput,
    unilm_inputs,
)
from zhplm.arch.modeling.configuration_roformer_sim import RoFormerSimConfig


class RoFormerSimModel(RoFormerModel):
    """RoFormer encoder + linear pooler, always under the UniLM mask built from ``token_type_ids``."""

    config_class = RoFormerSimConfig

    def __init__(self, config: RoFormerSimConfig) -> None:
        super().__init__(config)
        self.pooler = LinearPooler(config.hidden_size)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        cache: Cache | None = None,
        use_cache: bool | None = None,
        **kwargs: Any,
    ) -> UniLMOutput:
        kwargs.pop("return_dict", None)  # always a dict inside; the output below is a ModelOutput
        types, bias, cache = unilm_inputs(
            input_ids, attention_mask, token_type_ids, cache, use_cache, self.dtype
        )
        out = super().forward(
            input_ids=input_ids,
            attention_mask=bias,
            token_type_ids=types,
            cache=cache,
            return_dict=True,
            **kwargs,
        )
        hidden = out.last_hidden_state
        return UniLMOutput(
            pooler_output=self.pooler(hidden),
            last_hidden_state=hidden,
            cache=cache,
            hidden_states=out.hidden_states,
            attentions=out.attentions,
        )


class RoFormerSimForMaskedLM(DecoderAccess, UniLMHeadMixin, RoFormerPreTrainedModel, UniLMGenerationMixin):
    """RoFormer-sim with its MLM head: fill-mask, seq2seq generation, and the pooled sentence vector."""

    config_class = RoFormerSimConfig
    _tied_weights_keys: ClassVar[dict[str, str]] = {
        "cls.predictions.decoder.bias": "cls.predictions.bias",
        "cls.predictions.decoder.weight": "roformer.embeddings.word_embeddings.weight",
    }

    def __init__(self, config: RoFormerSimConfig) -> None:
        super().__init__(config)
        self.roformer = RoFormerSimModel(config)
        self.cls = RoFormerOnlyMLMHead(config)
        self.post_init()


class RoFormerSimForCausalLM(RoFormerSimForMaskedLM):
    """The same model under ``AutoModelForCausalLM``, for text-generation callers."""
