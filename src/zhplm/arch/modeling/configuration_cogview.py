# mypy: disable-error-code="no-untyped-call,misc"
"""The CogView configuration, apart from the model code: ``AutoConfig`` knows the ``cogview`` model type
without importing torch or the model classes."""

from __future__ import annotations

from transformers import PreTrainedConfig


class CogViewConfig(PreTrainedConfig):
    """Hyper-parameters of THUDM's CogView (``scripts/text2image.sh`` of the authors' repository).

    The defaults are the released 4B model: 48 layers, 2560 wide, 40 heads, 1089 positions (a text of up to 64
    tokens, then ``[BOI1]`` and 32×32 = 1024 image codes), and the unified vocabulary of cog-pretrain's text
    pieces, the 8192 VQ-VAE codes and the special tokens, padded to 58240."""

    model_type = "cogview"
    attribute_map = {"num_hidden_layers": "num_layers"}  # noqa: RUF012 (transformers reads this name)

    vocab_size: int = 58240
    hidden_size: int = 2560
    num_layers: int = 48
    num_attention_heads: int = 40
    max_position_embeddings: int = 1089
    layer_norm_eps: float = 1e-5
    hidden_dropout: float = 0.0
    attention_dropout: float = 0.0
    initializer_range: float = 0.02
    pad_token_id: int | None = None
    eos_token_id: int | None = None
    bos_token_id: int | None = None
    use_cache: bool = True
    tie_word_embeddings: bool = True
