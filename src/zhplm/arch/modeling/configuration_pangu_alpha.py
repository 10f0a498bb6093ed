# mypy: disable-error-code="no-untyped-call,misc"
"""The PanGu-α configuration, apart from the model code: ``AutoConfig`` (and so ``AutoTokenizer``) can know
the ``pangu_alpha`` model type without importing torch or the model classes."""

from __future__ import annotations

from transformers import PreTrainedConfig


class PanguAlphaConfig(PreTrainedConfig):
    """Hyper-parameters of PanGu-α (``pangu_alpha_config.py`` / the PyTorch port's arguments).

    ``num_layers`` counts every layer as the authors do: ``num_layers - 1`` ordinary blocks plus the top query
    layer (2.6B: 32, 13B: 40). The defaults are the 2.6B model. The activation is MindSpore ``nn.GELU``, the
    tanh form (``gelu_new``); ``fast_gelu`` (MindSpore's sigmoid form) is what CodeGeeX, the same design,
    uses. ``<eot>`` (9) ends a text, as the authors' ``pangu_alpha_predict.py`` passes it to ``generate``."""

    model_type = "pangu_alpha"
    attribute_map = {"num_hidden_layers": "num_layers"}  # noqa: RUF012 (the cache sizes itself by this name)

    vocab_size: int = 40000
    hidden_size: int = 2560
    num_layers: int = 32
    num_attention_heads: int = 32
    intermediate_size: int | None = None  # 4 × hidden_size
    max_position_embeddings: int = 1024
    activation_function: str = "gelu_new"
    layer_norm_eps: float = 1e-5
    hidden_dropout: float = 0.0
    attention_dropout: float = 0.0
    initializer_range: float = 0.02
    pad_token_id: int | None = 6
    eos_token_id: int | None = 9
    bos_token_id: int | None = None
    use_cache: bool = True
    tie_word_embeddings: bool = True
