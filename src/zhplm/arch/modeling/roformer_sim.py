# mypy: disable-error-code="no-untyped-call,misc,untyped-decorator,override,union-attr"
"""RoFormer-sim (SimBERTv2, ZhuiyiTechnology): transformers' RoFormer under the UniLM mask + a linear pooler.

transformers' RoFormer has no pooler; this adds ``roformer.pooler.dense`` (no tanh). Other names are
``RoFormerForMaskedLM``'s. See :mod:`zhplm.arch.modeling._unilm` for the mask and the decoding.
"""

from typing import ClassVar

from transformers.models.roformer.modeling_roformer import (
    RoFormerModel,
    RoFormerOnlyMLMHead,
    RoFormerPreTrainedModel,
)

from zhplm.arch.modeling._layers import DecoderAccess
from zhplm.arch.modeling._unilm import (
    LinearPooler,
    UniLMEncoderMixin,
    UniLMGenerationMixin,
    UniLMHeadMixin,
)
from zhplm.arch.modeling.configuration_roformer_sim import RoFormerSimConfig


class RoFormerSimModel(UniLMEncoderMixin, RoFormerModel):
    """RoFormer encoder + linear pooler, always under the UniLM mask built from ``token_type_ids``."""

    config_class = RoFormerSimConfig

    def __init__(self, config: RoFormerSimConfig) -> None:
        super().__init__(config)
        self.pooler = LinearPooler(config.hidden_size)
        self.post_init()


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
