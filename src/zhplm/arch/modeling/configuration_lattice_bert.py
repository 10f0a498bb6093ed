# mypy: disable-error-code="no-untyped-call,misc"
"""The Lattice-BERT configuration, apart from the model code: transformers' ``AutoConfig`` (and so
``AutoTokenizer``) can know the ``lattice_bert`` model type without importing torch or the model classes."""

from __future__ import annotations

from transformers import BertConfig


class LatticeBertConfig(BertConfig):
    """BERT's hyper-parameters plus ``embedding_size`` (E, 128 in the releases), ``max_relative_position``
    (M, 128: the original hard-codes it) and ``num_next_sentence_labels`` (3). The defaults follow
    ``LaBertConfig``; ``hidden_act`` ``gelu_new`` is the original's (tanh) ``gelu``."""

    model_type = "lattice_bert"

    hidden_act: str = "gelu_new"
    type_vocab_size: int = 16
    embedding_size: int = 128
    max_relative_position: int = 128
    num_next_sentence_labels: int = 3
