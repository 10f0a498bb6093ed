# mypy: disable-error-code="no-untyped-call,misc,untyped-decorator,override,union-attr"
"""UniLM (YunwenTechnology ``unilm_base``): transformers' BERT under the UniLM mask, decoding by ``[MASK]``.

Parameter names are ``BertForPreTraining``'s minus the NSP head, as the authors' ``UnilmForSeq2Seq`` saves
them: ``bert.embeddings.*`` (six token types), ``bert.encoder.*``, ``bert.pooler.dense.*`` (BERT's, with
tanh) and ``cls.predictions.*``. Everything else is SimBERT's code (:mod:`zhplm.arch.modeling._unilm`) with
the settings on :class:`UnilmConfig`: segments 4/5 and append-``[MASK]`` decoding (``UnilmForSeq2SeqDecode``).
"""

from typing import ClassVar

from transformers.models.bert.modeling_bert import BertModel

from zhplm.arch.modeling._unilm import UniLMEncoderMixin
from zhplm.arch.modeling.configuration_unilm import UnilmConfig
from zhplm.arch.modeling.simbert import SimBertForMaskedLM


class UnilmModel(UniLMEncoderMixin, BertModel):
    """BERT encoder (with its tanh pooler), always under the UniLM mask built from ``token_type_ids``."""

    config_class = UnilmConfig  # type: ignore[assignment]


class UnilmForMaskedLM(SimBertForMaskedLM):
    """UniLM with its MLM head: fill-mask, and summarisation through ``generate`` (append-``[MASK]``)."""

    config_class = UnilmConfig  # type: ignore[assignment]
    encoder_class: ClassVar[type[BertModel]] = UnilmModel


class UnilmForCausalLM(UnilmForMaskedLM):
    """The same model under ``AutoModelForCausalLM``, for text-generation callers."""
