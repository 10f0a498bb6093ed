# mypy: disable-error-code="no-untyped-call,misc"
"""The Grover (gpt2-ml) configuration, apart from the model code: transformers' ``AutoConfig`` (and so
``AutoTokenizer``) can know the ``grover`` model type without importing torch or the model classes."""

from __future__ import annotations

from transformers import PreTrainedConfig


class GroverConfig(PreTrainedConfig):
    """Hyper-parameters of a Grover block model (the keys of gpt2-ml's ``GroverConfig`` / ``configs/*.json``).

    The defaults are gpt2-ml's released 1.5B model (``configs/mega.json``). ``[SEP]`` (102 in both released
    vocabularies) ends a text, as in the authors' ``scripts/demo.py`` (``-eos_token 102``)."""

    model_type = "grover"

    vocab_size: int = 8021
    hidden_size: int = 1536
    num_hidden_layers: int = 48
    num_attention_heads: int = 24
    intermediate_size: int = 6144
    hidden_act: str = "gelu"  # erf form (gpt2-ml's train/utils.py)
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 1024
    initializer_range: float = 0.014142135623731
    layer_norm_eps: float = 1e-5
    pad_token_id: int | None = 0
    eos_token_id: int | None = 102
    use_cache: bool = True
    tie_word_embeddings: bool = True
