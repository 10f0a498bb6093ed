# mypy: disable-error-code="no-untyped-call,misc"
"""The Zhouwenwang configuration, apart from the model code (torch-free, for ``AutoConfig``/``AutoTokenizer``)."""

from __future__ import annotations

from transformers import MegatronBertConfig


class ZhouwenwangConfig(MegatronBertConfig):
    """Megatron-BERT's hyper-parameters (``max_position_embeddings`` only bounds generation: positions are
    rotary). ``token_type_ids`` select the "unified" mask: type 0 attends everywhere, type-1 tokens causally
    (fengshen's cumsum rule). Generation follows the authors' model card (``unilm_decoding = "recompute"``):
    the whole text, all type 0, is read again at every step and the tied word embedding gives the logits."""

    model_type = "zhouwenwang"

    vocab_size: int = 21128
    layer_norm_eps: float = 1e-12
    unilm_source_type: int = 0
    unilm_target_type: int = 1
    unilm_decoding: str = "recompute"
