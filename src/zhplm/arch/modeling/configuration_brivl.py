# mypy: disable-error-code="no-untyped-call,misc,dict-item"
"""The BriVL configuration, apart from the model code (torch-free, so ``AutoConfig`` knows ``brivl`` cheaply)."""

from __future__ import annotations

import math
from typing import Any

from transformers import BertConfig, EfficientNetConfig, PreTrainedConfig


def same_padding_blocks(vision: Any, image_size: int) -> list[int]:
    """The EfficientNet blocks whose stride-2 depthwise convolution sees an odd-sized map at ``image_size``.

    timm's ``tf_efficientnet_*`` pads as TensorFlow's ``"same"``: ``k - 2`` zeros for an even input (one
    fewer on the top/left), ``k - 1`` (symmetric) for an odd one. transformers' ``EfficientNetModel`` pads
    the first way except in the blocks listed in ``depthwise_padding``, so listing the odd-input blocks for
    the one input size BriVL uses makes it compute what timm computes."""
    if image_size % 2:
        raise ValueError(
            f"BriVL's image size must be even (the stem pads as for an even input), got {image_size}"
        )
    size = image_size // 2  # after the stride-2 stem
    blocks: list[int] = []
    index = 0
    for repeats, stride in zip(vision.num_block_repeats, vision.strides, strict=True):
        for j in range(math.ceil(vision.depth_coefficient * repeats)):
            if j == 0 and stride == 2:
                if size % 2:
                    blocks.append(index)
                size = (size + 1) // 2
            index += 1
    return blocks


class BriVLConfig(PreTrainedConfig):
    """BriVL's two towers (``cfg/test_xyb.yml``): ``vision_config`` is the EfficientNet backbone (timm
    ``tf_efficientnet_b5_ns`` for BriVL-1.0; ``depthwise_padding`` is derived from ``image_size``),
    ``text_config`` the BERT (hfl RoBERTa-wwm-ext). ``projection_dim`` is ``IMG_FEATURE_DIM``: the
    backbone's channels, the image transformer's width and both towers' output width. ``grid_size`` is the
    RoI grid (``GRID_SIZE``), ``max_boxes`` the regions an image keeps including the whole-image box
    (``MAX_IMG_LEN``), ``max_text_length`` the length texts are padded to (``MAX_TEXT_LEN``; the BERT
    attends to that padding, as it did in training). ``temperature`` is the MoCo temperature."""

    model_type = "brivl"
    sub_configs_defaults = {  # noqa: RUF012 (transformers reads this class attribute)
        "vision_config": EfficientNetConfig,
        "text_config": BertConfig,
    }

    vision_config: dict | PreTrainedConfig | None = None  # type: ignore[type-arg]
    text_config: dict | PreTrainedConfig | None = None  # type: ignore[type-arg]
    image_size: int = 380
    projection_dim: int = 2048
    grid_size: int = 4
    image_transformer_heads: int = 4
    image_transformer_layers: int = 4
    text_transformer_heads: int = 4
    text_transformer_layers: int = 4
    transformer_ffn_dim: int = 2048  # nn.TransformerEncoderLayer's default, which BriVL keeps
    max_boxes: int = 37
    max_text_length: int = 80
    temperature: float = 0.07
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs: object) -> None:
        super().__post_init__(**kwargs)
        vision: Any = self.vision_config
        vision.image_size = self.image_size
        vision.depthwise_padding = same_padding_blocks(vision, self.image_size)
