# mypy: disable-error-code="no-untyped-call,misc"
"""The RoFormer-sim configuration, apart from the model code (torch-free, for ``AutoConfig``/``AutoTokenizer``)."""

from __future__ import annotations

from transformers import RoFormerConfig


class RoFormerSimConfig(RoFormerConfig):
    """RoFormer v1's hyper-parameters; the model adds the UniLM mask and the linear pooler.

    bert4keras 0.10.x (RoFormer-sim's training library) used LayerNorm epsilon 1e-12."""

    model_type = "roformer_sim"

    layer_norm_eps: float = 1e-12
