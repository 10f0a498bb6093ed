# mypy: disable-error-code="no-untyped-call,misc"
"""The NEZHA configuration, apart from the model code: transformers' ``AutoConfig`` (and so
``AutoTokenizer``) can know the ``nezha`` model type without importing torch or the model classes."""

from __future__ import annotations

from transformers import BertConfig


class NezhaConfig(BertConfig):
    """Hyper-parameters of a NEZHA model (the fields of NEZHA's ``bert_config.json``): BERT's, plus
    ``max_relative_position``."""

    model_type = "nezha"

    vocab_size: int = 21128
    max_relative_position: int = 64
