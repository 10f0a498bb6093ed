# mypy: disable-error-code="no-untyped-call,misc"
"""The GLM configuration, apart from the model code: ``AutoConfig`` (and so ``AutoTokenizer``) can know the
``glm_blocklm`` model type (transformers' ``glm`` is GLM-4, another model) without importing torch or the model classes."""

from __future__ import annotations

from transformers import PreTrainedConfig


class GLMConfig(PreTrainedConfig):
    """Hyper-parameters of GLM (THUDM/GLM ``GLMModel`` with ``--block-lm``; defaults: ``GLM-large-chinese``).

    ``max_position_embeddings`` is the original ``--max-position-embeddings``: both position tables hold one row
    more (``max_sequence_length + 1``), as the original builds them. The special ids are those
    ``ChineseSPTokenizer`` assigns over the 50000 cog-pretrain pieces: ``<|endoftext|>`` 50000 (pad and end of
    document), ``[MASK]`` 50003, ``<|startofpiece|>`` 50006, ``<|endofpiece|>`` 50007; ``[sMASK]``/``[gMASK]``
    are 50008/50009 with ``--fix-command-token`` (large-chinese) and 50008/50007 without it (10B-chinese, whose
    ``[gMASK]`` shares the id of ``<|endofpiece|>``)."""

    model_type = "glm_blocklm"
    attribute_map = {"num_hidden_layers": "num_layers"}  # noqa: RUF012 (the cache sizes itself by this name)

    vocab_size: int = 50048
    hidden_size: int = 1024
    num_layers: int = 24
    num_attention_heads: int = 16
    max_position_embeddings: int = 1024
    layer_norm_eps: float = 1e-5
    attention_scale: float = 1.0
    hidden_dropout: float = 0.0
    attention_dropout: float = 0.0
    initializer_range: float = 0.02
    mask_token_id: int = 50003
    smask_token_id: int = 50008
    gmask_token_id: int = 50009
    sop_token_id: int = 50006
    eop_token_id: int = 50007
    pad_token_id: int | None = 50000
    eos_token_id: int | None = 50007
    bos_token_id: int | None = None
    use_cache: bool = True
    tie_word_embeddings: bool = True
