# mypy: disable-error-code="no-untyped-call,misc,dict-item"
"""The R2D2 configuration, apart from the model code (torch-free, so ``AutoConfig`` knows ``r2d2`` cheaply)."""

from __future__ import annotations

from typing import Any

from transformers import BertConfig, BlipTextConfig, CLIPVisionConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec


class R2D2Config(PreTrainedConfig):
    """R2D2's three parts: ``vision_config`` (the CLIP ViT image tower), ``text_config`` (the BERT text tower,
    hfl RoBERTa-wwm-ext sizes) and ``joint_config`` (the two BLIP-style cross-encoders: 6 layers of
    self-attention + cross-attention + FFN; ``encoder_hidden_size`` is set per cross-encoder from the other
    tower's width; ``None`` for PRD2, the same towers without cross-encoders). ``projection_dim`` is the width of the normalised dual-encoder features; ``context_length``
    the 64 tokens R2D2's ``tokenize_text`` pads to."""

    model_type = "r2d2"
    sub_configs_defaults = {  # noqa: RUF012 (transformers reads this class attribute)
        "vision_config": CLIPVisionConfig,
        "text_config": BertConfig,
        "joint_config": SubConfigSpec(BlipTextConfig, optional=True),  # PRD2: the towers alone
    }

    vision_config: dict | PreTrainedConfig | None = None  # type: ignore[type-arg]
    text_config: dict | PreTrainedConfig | None = None  # type: ignore[type-arg]
    joint_config: dict | PreTrainedConfig | None = None  # type: ignore[type-arg]
    projection_dim: int = 768
    context_length: int = 64
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs: object) -> None:
        super().__post_init__(**kwargs)
        joint: Any = self.joint_config
        if joint is not None:
            joint.is_decoder = True  # BlipTextLayer builds its cross-attention only for a "decoder"
