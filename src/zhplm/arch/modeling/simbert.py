# mypy: disable-error-code="no-untyped-call,misc,untyped-decorator,override,union-attr"
"""SimBERT (ZhuiyiTechnology): transformers' BERT under the UniLM mask, with a linear pooler.

Parameter names are ``BertForPreTraining``'s minus the NSP head: ``bert.embeddings.*``, ``bert.encoder.*``,
``bert.pooler.dense.*`` (here without tanh) and ``cls.predictions.*`` (decoder tied to the word embedding).
``SimBertModel`` gives the sentence vector (``pooler_output``); ``SimBertForMaskedLM`` also the MLM logits
and generates (``generate``) the way bert4keras' ``AutoRegressiveDecoder`` did in the authors' scripts.
"""

from typing import ClassVar

from transformers.models.bert.modeling_bert import BertModel, BertOnlyMLMHead, BertPreTrainedModel

from zhplm.arch.modeling._layers import DecoderAccess
from zhplm.arch.modeling._unilm import (
    LinearPooler,
    UniLMEncoderMixin,
    UniLMGenerationMixin,
    UniLMHeadMixin,
)
from zhplm.arch.modeling.configuration_simbert import SimBertConfig


class SimBertModel(UniLMEncoderMixin, BertModel):
    """BERT encoder + linear pooler, always under the UniLM mask built from ``token_type_ids``."""

    config_class = SimBertConfig

    def __init__(self, config: SimBertConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config, add_pooling_layer=False)
        self.pooler = LinearPooler(config.hidden_size)  # type: ignore[assignment]
        self.post_init()


class SimBertForMaskedLM(DecoderAccess, UniLMHeadMixin, BertPreTrainedModel, UniLMGenerationMixin):
    """SimBERT with its MLM head: fill-mask, seq2seq generation, and the pooled sentence vector."""

    config_class = SimBertConfig
    encoder_class: ClassVar[type[BertModel]] = SimBertModel  # UniLM (Yunwen) keeps BERT's tanh pooler
    _tied_weights_keys: ClassVar[dict[str, str]] = {
        "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias",
    }

    def __init__(self, config: SimBertConfig) -> None:
        super().__init__(config)
        self.bert = self.encoder_class(config)
        self.cls = BertOnlyMLMHead(config)
        self.post_init()


class SimBertForCausalLM(SimBertForMaskedLM):
    """The same model under ``AutoModelForCausalLM``, for text-generation callers."""
