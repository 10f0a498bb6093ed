# mypy: disable-error-code="no-untyped-call,misc"
"""The RoFormerV2 configuration, apart from the model code: transformers' ``AutoConfig`` (and so
``AutoTokenizer``) can know the ``roformer_v2`` model type without importing torch or the model classes."""

from __future__ import annotations

from transformers import PreTrainedConfig


class RoFormerV2Config(PreTrainedConfig):
    """Hyper-parameters of a RoFormerV2 model (the fields of its ``bert_config.json``)."""

    model_type = "roformer_v2"

    vocab_size: int = 12000
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "relu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-7
    rotary_base: float = 10000.0
    pad_token_id: int | None = 0
    tie_word_embeddings: bool = True
