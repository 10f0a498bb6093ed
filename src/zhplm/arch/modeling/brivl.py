# mypy: disable-error-code="no-untyped-call,misc"
"""BriVL / WenLan (BAAI-WuDao/BriVL, "WenLan: Bridging Vision and Language", 2021): a dual encoder whose image
tower reads an image as the regions an external object detector found (BUA, Bottom-Up-Attention; zhplm does
not ship it), so ``get_image_features`` takes pixels *and* boxes.

BriVL's computation (``BriVL-code-inference/models/vl_model.py``, ``extract``):

* image: the EfficientNet feature map (timm ``tf_efficientnet_b5_ns``'s ``forward_features``; here
  transformers' :class:`EfficientNetModel` with TF "same" padding, see
  :func:`~zhplm.arch.modeling.configuration_brivl.same_padding_blocks`), one ``grid_size``² bilinear grid per
  box (``roi_grid_pool``: ``affine_grid`` + ``grid_sample``), a 1×1 convolution and the grid's average,
  L2-normalised, an ``nn.TransformerEncoder`` over the boxes (padding masked), the mean of the real boxes,
  and a two-layer MLP (``FakeTransformer``);
* text: BERT's last states over the ids padded to ``max_text_length`` (BriVL passes no attention mask to
  BERT: padding is attended, as in training), L2-normalised, a ``TransformerEncoder`` with the padding
  masked, the mean of the real tokens and the MLP;
* both L2-normalised; similarity ``cos / temperature``.

The momentum encoders and the MoCo queues of training are not part of the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers import BertModel, EfficientNetModel, PreTrainedModel
from transformers.utils.generic import ModelOutput

from zhplm.arch.modeling.configuration_brivl import BriVLConfig


@dataclass
class BriVLOutput(ModelOutput):
    """Normalised ``text_embeds`` / ``image_embeds`` and ``logits_per_image`` (``image @ text.T / T``)."""

    logits_per_image: torch.Tensor | None = None
    logits_per_text: torch.Tensor | None = None
    text_embeds: torch.Tensor | None = None
    image_embeds: torch.Tensor | None = None


class BriVLHead(nn.Module):
    """BriVL's ``FakeTransformer``: ``fc2(relu(fc1(x)))``."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(input_dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc2(F.relu(self.fc1(x)))
        return out


def _encoder(width: int, heads: int, layers: int, ffn: int) -> nn.TransformerEncoder:
    """BriVL's ``nn.TransformerEncoder`` (the same parameters), batch-first: BriVL runs it sequence-first, which
    keeps torch off its fused inference kernel for encoder layers; batch-first computes the same function
    (within 1e-6) through that kernel and without the two transposes."""
    layer = nn.TransformerEncoderLayer(d_model=width, nhead=heads, dim_feedforward=ffn, batch_first=True)
    return nn.TransformerEncoder(layer, num_layers=layers, enable_nested_tensor=False)


def _masked_mean(encoder: nn.TransformerEncoder, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """BriVL's sequence step: normalise, the transformer (padding masked), mean of real rows."""
    x = F.normalize(x, p=2, dim=-1)
    x = encoder(x, src_key_padding_mask=mask == 0)
    keep = (mask == 1).to(x.dtype)
    return (x * keep.unsqueeze(-1)).sum(dim=1) / keep.sum(dim=1, keepdim=True)


class BriVLPreTrainedModel(PreTrainedModel):
    config_class = BriVLConfig
    config: BriVLConfig
    base_model_prefix = "brivl"
    main_input_name = "input_ids"
    input_modalities = ["image", "text"]  # noqa: RUF012
    supports_gradient_checkpointing = False
    _no_split_modules = ["EfficientNetBlock", "BertLayer", "TransformerEncoderLayer"]  # noqa: RUF012


class BriVLModel(BriVLPreTrainedModel):
    """The image tower (EfficientNet, RoI grid pooling, transformer, head) and the text tower (BERT,
    transformer, head)."""

    def __init__(self, config: BriVLConfig) -> None:
        super().__init__(config)
        width = config.projection_dim
        text_width = config.text_config.hidden_size  # type: ignore[union-attr]
        self.image_backbone = EfficientNetModel._from_config(config.vision_config)
        self.image_pool = nn.Conv2d(width, width, kernel_size=1)
        self.image_transformer = _encoder(
            width, config.image_transformer_heads, config.image_transformer_layers, config.transformer_ffn_dim
        )
        self.image_head = BriVLHead(width, width, width)
        self.text_backbone = BertModel._from_config(config.text_config, add_pooling_layer=False)
        self.text_transformer = _encoder(
            text_width,
            config.text_transformer_heads,
            config.text_transformer_layers,
            config.transformer_ffn_dim,
        )
        self.text_head = BriVLHead(text_width, width, width)
        self.post_init()

    @property
    def logit_scale(self) -> torch.Tensor:
        """``log(1 / temperature)``: CLIP's convention, so ``logit_scale.exp()`` multiplies cosine similarity."""
        return torch.tensor(1.0 / self.config.temperature).log()

    def _channels_last(self) -> None:
        """The backbone's weights in channels-last layout, once (the same values, another memory order)."""
        weight = self.image_backbone.embeddings.convolution.weight
        if not weight.is_contiguous(memory_format=torch.channels_last):
            with torch.inference_mode(False), torch.no_grad():
                self.image_backbone.to(memory_format=torch.channels_last)

    def region_features(self, feature_map: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """``[B, R, C]``: BriVL's ``roi_grid_pool`` of ``boxes [B, R, 4]`` (x1, y1, x2, y2 in the pixels of
        the ``image_size``² input) on ``feature_map [B, C, h, w]``. The grids of all boxes are sampled in one
        ``grid_sample`` call, and the 1×1 convolution is applied after the grid's average (both are linear,
        so this is the same value with ``grid_size``² fewer products)."""
        batch, _, height, width = feature_map.shape
        ratio = self.config.image_size / height  # BriVL scales x by the same height ratio
        x1, y1, x2, y2 = (boxes[..., i].float() / ratio for i in range(4))
        zero = torch.zeros_like(x1)
        theta = torch.stack(
            (
                (x2 - x1) / (width - 1),
                zero,
                (x1 + x2 - width + 1) / (width - 1),
                zero,
                (y2 - y1) / (height - 1),
                (y1 + y2 - height + 1) / (height - 1),
            ),
            dim=-1,
        ).view(-1, 2, 3)
        g = self.config.grid_size
        regions = boxes.shape[1]
        grid = F.affine_grid(theta, [theta.shape[0], 1, g, g], align_corners=False)
        grid = grid.view(batch, regions * g, g, 2)
        # sampled in fp32 and the standard layout whatever the model's dtype: bf16 sampling coordinates are off
        # by up to ~0.05 px on a 12-px map, and torch's bf16 grid_sample returns NaN on a channels-last map of
        # 2048 channels (BriVL's); the map is small (B × 2048 × 12²), the copy costs nothing that shows
        fp32_map = feature_map.float().contiguous()
        sampled = F.grid_sample(fp32_map, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        pooled = sampled.view(batch, -1, regions, g * g).mean(dim=-1).transpose(1, 2).to(feature_map.dtype)
        weight = self.image_pool.weight.view(self.image_pool.out_channels, -1)
        out: torch.Tensor = F.linear(pooled, weight, self.image_pool.bias)
        return out

    def get_image_features(
        self, pixel_values: torch.Tensor, boxes: torch.Tensor, box_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Image features (not normalised) of ``pixel_values [B, 3, S, S]`` read as ``boxes [B, R, 4]``
        (an external detector's boxes scaled to the S×S input, then the whole image ``[0, 0, S, S]``, as
        BriVL's dataset builds them); ``box_mask [B, R]`` is 1 for real boxes, 0 for padding."""
        if box_mask is None:
            box_mask = torch.ones(boxes.shape[:2], dtype=torch.long, device=boxes.device)
        if pixel_values.device.type == "cpu":  # oneDNN's convolutions run ~1.7x faster channels-last on CPU
            self._channels_last()
            pixel_values = pixel_values.contiguous(memory_format=torch.channels_last)
        feature_map = self.image_backbone(pixel_values).last_hidden_state
        regions = self.region_features(feature_map, boxes)
        image: torch.Tensor = self.image_head(_masked_mean(self.image_transformer, regions, box_mask))
        return image

    def get_text_features(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Text features (not normalised); ``attention_mask`` masks the transformer and the mean (BERT
        itself sees every position, as in BriVL)."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        states = self.text_backbone(input_ids).last_hidden_state
        text: torch.Tensor = self.text_head(_masked_mean(self.text_transformer, states, attention_mask))
        return text

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        boxes: torch.Tensor | None = None,
        box_mask: torch.Tensor | None = None,
    ) -> BriVLOutput:
        """Normalised text features, and with ``pixel_values`` + ``boxes`` the image features and logits."""
        text = F.normalize(self.get_text_features(input_ids, attention_mask), dim=-1)
        if pixel_values is None:
            return BriVLOutput(text_embeds=text)
        if boxes is None:
            raise ValueError(
                "BriVL reads an image as detector boxes: pass boxes [B, R, 4] (BUA's boxes scaled to the "
                "input size, then the whole image)"
            )
        image = F.normalize(self.get_image_features(pixel_values, boxes, box_mask), dim=-1)
        logits = image @ text.T / self.config.temperature
        return BriVLOutput(logits, logits.T, text, image)


__all__ = ["BriVLModel", "BriVLPreTrainedModel"]
