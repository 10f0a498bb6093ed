# mypy: disable-error-code="no-untyped-call,misc"
"""The ChineseBERT configuration, apart from the model code: transformers' ``AutoConfig`` (and so
``AutoTokenizer``) can know the ``chinesebert`` model type without importing torch or the model classes."""

from __future__ import annotations

from transformers import BertConfig


class ChineseBertConfig(BertConfig):
    """BERT's hyper-parameters plus the sizes of the pinyin and glyph embeddings."""

    model_type = "chinesebert"

    vocab_size: int = 23236
    glyph_embedding_dim: int = 1728
    pinyin_map_len: int = 32
    pinyin_embedding_size: int = 128
