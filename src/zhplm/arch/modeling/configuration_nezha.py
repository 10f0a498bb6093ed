# mypy: disable-error-code="no-untyped-call,misc"
"""The NEZHA configuration, apart from the model code: transformers' ``AutoConfig`` (and so
``AutoTokenizer``) can know the ``nezha`` model type without importing torch or the model classes."""

from __future__ import annotations

from transformers import PreTrainedConfig


class NezhaConfig(PreTrainedConfig):
    """Hyper-parameters of a NEZHA model (the fields of NEZHA's ``bert_config.json``)."""

    model_type = "nezha"

    vocab_size: int = 21128
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    max_relative_position: int = 64
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    classifier_dropout: float | None = None
    pad_token_id: int | None = 0
    tie_word_embeddings: bool = True
