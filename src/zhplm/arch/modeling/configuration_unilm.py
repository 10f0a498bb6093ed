# mypy: disable-error-code="no-untyped-call,misc"
"""The Yunwen UniLM configuration, apart from the model code (torch-free, for ``AutoConfig``/``AutoTokenizer``)."""

from __future__ import annotations

from transformers import BertConfig


class UnilmConfig(BertConfig):
    """BERT's hyper-parameters with six token types: NLU uses types 0/1, seq2seq generation the source type
    4 and the target type 5 (the README: "在NLG任务时，type_token_id为[4,5]"); decoding appends
    ``[MASK]`` (``mask_token_id``: 103 in the 21128-token Chinese BERT vocabulary) and predicts it."""

    model_type = "unilm"

    vocab_size: int = 21128
    type_vocab_size: int = 6
    layer_norm_eps: float = 1e-12
    mask_token_id: int = 103
    unilm_source_type: int = 4
    unilm_target_type: int = 5
    unilm_decoding: str = "append-mask"
