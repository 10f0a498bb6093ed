# mypy: disable-error-code="no-untyped-call,misc"
"""The SimBERT configuration, apart from the model code (torch-free, for ``AutoConfig``/``AutoTokenizer``)."""

from __future__ import annotations

from transformers import BertConfig


class SimBertConfig(BertConfig):
    """BERT's hyper-parameters; the model adds the UniLM mask and the linear pooler (nothing to configure)."""

    model_type = "simbert"

    layer_norm_eps: float = 1e-12
