# mypy: disable-error-code="no-untyped-call,misc"
"""The T5-PEGASUS configuration, apart from the model code (``AutoConfig`` and ``AutoTokenizer`` know the
``t5_pegasus`` model type without importing torch)."""

from __future__ import annotations

from transformers import MT5Config


class T5PegasusConfig(MT5Config):
    """mT5's hyper-parameters; the model differs from mT5 only in its cross-attention position bias."""

    model_type = "t5_pegasus"
