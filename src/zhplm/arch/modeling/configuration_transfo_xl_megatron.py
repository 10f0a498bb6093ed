# mypy: disable-error-code="no-untyped-call,misc"
"""The Chinese-Transformer-XL configuration, apart from the model code: ``AutoConfig`` knows the
``transfo_xl_megatron`` model type without importing torch or the model classes."""

from __future__ import annotations

from transformers import PreTrainedConfig


class TransfoXLMegatronConfig(PreTrainedConfig):
    """Hyper-parameters of THUDM's Chinese-Transformer-XL (``arguments.py`` of the authors' repository).

    The defaults are the released 2.9B model (32 layers, 2560 wide, 32 heads, cog-pretrain's 50048 tokens).
    ``mem_length`` is how many past positions each layer keeps as memory (``--mem-length``; the authors'
    ``generate_samples.py`` keeps ``seq_length + mem_length - 1``, i.e. 512 + 256 - 1). There is no position
    table: relative positions are sinusoidal, so a text may run past any length."""

    model_type = "transfo_xl_megatron"
    attribute_map = {"num_hidden_layers": "num_layers"}  # noqa: RUF012 (transformers reads this name)

    vocab_size: int = 50048
    hidden_size: int = 2560
    num_layers: int = 32
    num_attention_heads: int = 32
    mem_length: int = 767
    layer_norm_eps: float = 1e-5
    hidden_dropout: float = 0.0
    attention_dropout: float = 0.0
    initializer_range: float = 0.02
    pad_token_id: int | None = 0
    eos_token_id: int | None = 50000
    bos_token_id: int | None = None
    use_cache: bool = True
    tie_word_embeddings: bool = True
