# mypy: disable-error-code="no-untyped-call,misc"
"""R2D2 and PRD2 (yuxie11/R2D2, "Zero and R2D2", 2022): a CLIP ViT image tower and a BERT text tower (a dual encoder,
normalised projected [CLS] features), plus two BLIP-style cross-encoders that re-rank the dual encoder's
candidates with an image–text matching (ITM) score. PRD2 (``models/prd2.py``) is the same two towers with
the same names and no cross-encoders (``joint_config=None``).

Every part is a transformers class with the original parameter names (``models/r2d2.py``):
``visual_encoder`` is :class:`CLIPVisionModel` (R2D2 keeps ``CLIPModel(...).vision_model``, the same
names), ``text_encoder`` :class:`BertModel`, and ``text_joint_layer`` / ``img_joint_layer`` are
:class:`BlipTextModel` without pooler: R2D2's ``models/bert.py`` is BLIP's ``med.py`` (no token-type
embedding, ``crossattention`` whose key/value read ``encoder_width`` wide states), and transformers'
BLIP text model is the same code (``encoder_hidden_size``). The cross-encoders are fed hidden states
(``encoder_embeds``), never token ids, so their own embedding tables are carried but unused, as in R2D2.

R2D2's computation (``r2d2_inference_demo.py``, ``train_r2d2_retrieval.py``):

* text: ``text_proj(BERT(ids, mask).last_hidden_state[:, 0])``, L2-normalised;
* image: ``vision_proj(ViT(pixels).last_hidden_state[:, 0])`` (the ViT's ``post_layernorm`` is not used),
  L2-normalised; similarity logits ``cos / temp``;
* ITM: ``text_joint_layer`` over the text states attending the image states, ``img_joint_layer`` over
  ``img_joint_proj(image states)`` attending the text states; the score is the mean of
  ``softmax(itm_head(text [CLS]))[1]`` and ``softmax(itm_head_i(image [CLS]))[1]``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import BertModel, BlipTextConfig, BlipTextModel, CLIPVisionModel, PreTrainedModel
from transformers import initialization as init
from transformers.models.blip.modeling_blip_text import BlipTextAttention
from transformers.utils.generic import ModelOutput

from zhplm.arch.modeling.configuration_r2d2 import R2D2Config


@dataclass
class R2D2Output(ModelOutput):
    """Dual-encoder outputs: normalised ``text_embeds`` / ``image_embeds`` and ``logits_per_image``
    (``image_embeds @ text_embeds.T / temp``)."""

    logits_per_image: torch.Tensor | None = None
    logits_per_text: torch.Tensor | None = None
    text_embeds: torch.Tensor | None = None
    image_embeds: torch.Tensor | None = None


@dataclass
class R2D2MatchOutput(ModelOutput):
    """The cross-encoders on paired rows: ``scores`` (R2D2's ITM probability, the mean of the two heads'),
    and the two heads' raw ``[B, 2]`` logits."""

    scores: torch.Tensor | None = None
    text_itm_logits: torch.Tensor | None = None
    image_itm_logits: torch.Tensor | None = None


class MaskedCrossAttention(BlipTextAttention):  # type: ignore[misc]
    """BLIP's cross-attention with the key padding mask applied. transformers 5's ``BlipTextLayer`` hands the
    encoder mask to ``BlipTextAttention`` as ``attention_mask``, whose ``BlipTextSelfAttention`` then reads
    ``encoder_attention_mask`` (``None``) for cross-attention: padded keys are attended. BLIP never pads its
    image keys, so it does not show there; R2D2's image cross-encoder attends to padded *text*, and its
    ``models/bert.py`` masks them. Same parameters, the mask passed where it is read."""

    def forward(  # type: ignore[override]
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        **kwargs: object,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        context, probs = self.self(
            hidden_states, encoder_hidden_states=encoder_hidden_states, encoder_attention_mask=attention_mask
        )
        return self.output(context, hidden_states), probs


def _cross_encoder(config: BlipTextConfig) -> BlipTextModel:
    model: BlipTextModel = BlipTextModel._from_config(config, add_pooling_layer=False)
    for i, layer in enumerate(model.encoder.layer):
        layer.crossattention = MaskedCrossAttention(model.config, is_cross_attention=True, layer_idx=i)
    return model


class R2D2PreTrainedModel(PreTrainedModel):
    config_class = R2D2Config
    config: R2D2Config
    base_model_prefix = "r2d2"
    main_input_name = "input_ids"
    input_modalities = ["image", "text"]  # noqa: RUF012
    supports_gradient_checkpointing = False
    _no_split_modules = ["CLIPEncoderLayer", "BertLayer", "BlipTextLayer"]  # noqa: RUF012
    _supports_sdpa = True

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, R2D2Model):
            init.constant_(module.temp, 0.07)


class R2D2Model(R2D2PreTrainedModel):
    """R2D2's two towers, their projections and the two ITM cross-encoders."""

    def __init__(self, config: R2D2Config) -> None:
        super().__init__(config)
        vision: Any = config.vision_config
        text: Any = config.text_config
        self.visual_encoder = CLIPVisionModel._from_config(vision)
        self.text_encoder = BertModel._from_config(text)
        self.vision_proj = nn.Linear(vision.hidden_size, config.projection_dim)
        self.text_proj = nn.Linear(text.hidden_size, config.projection_dim)
        self.temp = nn.Parameter(0.07 * torch.ones([]))
        self.has_itm = config.joint_config is not None  # R2D2; PRD2 has the two towers only
        if self.has_itm:
            self.text_joint_layer = _cross_encoder(_joint(config, vision.hidden_size))
            self.img_joint_layer = _cross_encoder(_joint(config, text.hidden_size))
            self.img_joint_proj = nn.Linear(vision.hidden_size, text.hidden_size)
            joint = _joint(config, 0).hidden_size
            self.itm_head = nn.Linear(joint, 2)
            self.itm_head_i = nn.Linear(joint, 2)
        self.post_init()

    @property
    def logit_scale(self) -> torch.Tensor:
        """``log(1 / temp)``: CLIP's convention, so ``logit_scale.exp()`` is the factor on cosine similarity."""
        return -torch.log(self.temp)

    def text_states(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The text tower's last hidden states ``[B, T, H]`` (what the cross-encoders read)."""
        out = self.text_encoder(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        states: torch.Tensor = out.last_hidden_state
        return states

    def image_states(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The ViT's last hidden states ``[B, 1 + patches, W]`` (before ``post_layernorm``, as R2D2 uses them)."""
        states: torch.Tensor = self.visual_encoder(pixel_values).last_hidden_state
        return states

    def get_text_features(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Projected [CLS] text features (not normalised)."""
        features: torch.Tensor = self.text_proj(
            self.text_states(input_ids, attention_mask, token_type_ids)[:, 0]
        )
        return features

    def get_image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Projected [CLS] image features (not normalised)."""
        features: torch.Tensor = self.vision_proj(self.image_states(pixel_values)[:, 0])
        return features

    def forward(
        self,
        input_ids: torch.Tensor,
        pixel_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> R2D2Output:
        """Normalised features of the texts, and with ``pixel_values`` of the images and the logits."""
        text = nn.functional.normalize(
            self.get_text_features(input_ids, attention_mask, token_type_ids), dim=-1
        )
        if pixel_values is None:
            return R2D2Output(text_embeds=text)
        image = nn.functional.normalize(self.get_image_features(pixel_values), dim=-1)
        logits = image @ text.T / self.temp
        return R2D2Output(logits, logits.T, text, image)

    def match(
        self,
        input_ids: torch.Tensor,
        pixel_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> R2D2MatchOutput:
        """ITM of row ``i`` of the texts with row ``i`` of the images (R2D2's ``cross_output`` + heads)."""
        if not self.has_itm:
            raise ValueError(
                "this model has no image-text matching cross-encoders (PRD2 is the two towers only)"
            )
        if input_ids.shape[0] != pixel_values.shape[0]:
            raise ValueError(
                f"{input_ids.shape[0]} texts and {pixel_values.shape[0]} images: pair them row by row"
            )
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        text = self.text_states(input_ids, attention_mask, token_type_ids)
        return self.match_states(text, attention_mask, self.image_states(pixel_values))

    def match_states(
        self, text_states: torch.Tensor, attention_mask: torch.Tensor, image_states: torch.Tensor
    ) -> R2D2MatchOutput:
        """ITM of row ``i`` of the towers' states (:meth:`text_states` with its mask, :meth:`image_states`):
        the towers run once per text and image, and ranking pairs them without running them again."""
        if not self.has_itm:
            raise ValueError(
                "this model has no image-text matching cross-encoders (PRD2 is the two towers only)"
            )
        text, image = text_states, image_states
        image_mask = torch.ones(image.shape[:-1], dtype=attention_mask.dtype, device=image.device)
        text_out = self.text_joint_layer(
            encoder_embeds=text,
            attention_mask=attention_mask,
            encoder_hidden_states=image,
            encoder_attention_mask=image_mask,
        ).last_hidden_state
        image_out = self.img_joint_layer(
            encoder_embeds=self.img_joint_proj(image),
            attention_mask=image_mask,
            encoder_hidden_states=text,
            encoder_attention_mask=attention_mask,
        ).last_hidden_state
        t_logits = self.itm_head(text_out[:, 0])
        i_logits = self.itm_head_i(image_out[:, 0])
        scores = (t_logits.softmax(-1)[:, 1] + i_logits.softmax(-1)[:, 1]) / 2
        return R2D2MatchOutput(scores, t_logits, i_logits)


def _joint(config: R2D2Config, encoder_width: int) -> BlipTextConfig:
    """The cross-encoder config whose cross-attention reads ``encoder_width``-wide states."""
    joint: BlipTextConfig = copy.deepcopy(config.joint_config)  # type: ignore[assignment]
    joint.encoder_hidden_size = encoder_width
    joint.is_decoder = True
    return joint


__all__ = ["R2D2Model", "R2D2PreTrainedModel"]
