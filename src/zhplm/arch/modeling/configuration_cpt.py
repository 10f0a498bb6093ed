# mypy: disable-error-code="no-untyped-call,misc"
"""The CPT configuration, apart from the model code (torch-free, so ``AutoConfig`` knows ``cpt`` cheaply).

The original ``modeling_cpt.py`` imports ``BartConfig as CPTConfig``: a CPT folder's config holds BART's keys
(``d_model``, ``encoder_layers`` = S-Enc + U-Dec, ``decoder_layers`` = G-Dec, …). This class is ``BartConfig``
with its own model type and the three BERT settings the original leaves at ``BertConfig``'s defaults (its
encoder is a ``BertModel``), written out so a folder says them."""

from __future__ import annotations

from transformers import BartConfig


class CPTConfig(BartConfig):
    """Hyper-parameters of a CPT model (fnlp cpt-base defaults: 10 S-Enc + 2 U-Dec layers, 2 G-Dec layers)."""

    model_type = "cpt"

    vocab_size: int = 21128
    max_position_embeddings: int = 512
    encoder_layers: int = 12
    encoder_ffn_dim: int = 3072
    encoder_attention_heads: int = 12
    decoder_layers: int = 2
    decoder_ffn_dim: int = 3072
    decoder_attention_heads: int = 12
    d_model: int = 768
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    init_std: float = 0.02
    pad_token_id: int | None = 0
    bos_token_id: int | None = 101
    eos_token_id: int | list[int] | None = 102
    decoder_start_token_id: int | None = 102
    forced_eos_token_id: int | list[int] | None = None
    # the BERT encoder's settings (``BertConfig`` defaults in the original, not read from the BART keys)
    encoder_hidden_act: str = "gelu"
    encoder_layer_norm_eps: float = 1e-12
    type_vocab_size: int = 2
