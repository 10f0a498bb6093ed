# mypy: disable-error-code="no-untyped-call,misc"
"""The ZEN configuration, apart from the model code: transformers' ``AutoConfig`` (and so
``AutoTokenizer``) can know the ``zen`` model type without importing torch or the model classes."""

from __future__ import annotations

from transformers import BertConfig


class ZenConfig(BertConfig):
    """BERT's hyper-parameters plus the n-gram side: ``word_size`` (n-gram vocabulary, 104089 in the
    released model) and ``num_hidden_word_layers`` (6)."""

    model_type = "zen"

    word_size: int = 104089
    num_hidden_word_layers: int = 6
