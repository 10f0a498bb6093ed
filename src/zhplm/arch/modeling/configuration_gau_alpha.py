# mypy: disable-error-code="no-untyped-call,misc"
"""The GAU-α configuration, apart from the model code: transformers' ``AutoConfig`` (and so
``AutoTokenizer``) can know the ``gau_alpha`` model type without importing torch or the model classes."""

from __future__ import annotations

from transformers import PreTrainedConfig


class GAUAlphaConfig(PreTrainedConfig):
    """Hyper-parameters of GAU-α (its ``bert_config.json`` plus the constants of the original code)."""

    model_type = "gau_alpha"

    vocab_size: int = 12000
    hidden_size: int = 768
    num_hidden_layers: int = 24
    intermediate_size: int = 1536
    attention_key_size: int = 128
    hidden_act: str = "swish"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-7
    use_bias: bool = False
    rotary_base: float = 10000.0
    softmax_plus_base: int = 512
    softmax_plus_min_keys: int = 16
    pad_token_id: int | None = 0
    tie_word_embeddings: bool = True
