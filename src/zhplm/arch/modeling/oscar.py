# mypy: disable-error-code="no-untyped-call,misc"
"""Oscar / VinVL's ``BertImgModel`` (microsoft/Oscar ``oscar/modeling/modeling_bert.py``): BERT over text
followed by detector regions. Mengzi-oscar is this model trained on Chinese text.

The text goes through BERT's embeddings (word + position + token type, LayerNorm); each region's
``img_feature_dim``-wide feature (VinVL: 2048-d appearance + 6 box numbers) through ``img_embedding``
(Linear) and, with ``use_img_layernorm``, its own ``LayerNorm`` — no position or type embedding for regions.
The region embeddings are concatenated **after** the text, and the whole sequence goes through the BERT
encoder and pooler. Parameter names (``P = "bert."`` in the releases, ``""`` here)::

    P embeddings.*, P encoder.layer.N.*, P pooler.dense.*     (BERT names)
    P img_embedding.{weight,bias}  [H, img_feature_dim]
    P LayerNorm.{weight,bias}      (the region LayerNorm)

The region features come from a detector (VinVL's X152-C4 for Mengzi-oscar) that zhplm does not run: the
inputs are precomputed features. transformers' ``BertEmbeddings``, ``BertEncoder`` and ``BertPooler`` do
the BERT part.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.models.bert.modeling_bert import (
    BertEmbeddings,
    BertEncoder,
    BertPooler,
    BertPreTrainedModel,
)

from zhplm.arch.modeling._layers import WordEmbeddingAccess, key_padding_bias
from zhplm.arch.modeling.configuration_oscar import OscarConfig


class OscarPreTrainedModel(BertPreTrainedModel):  # type: ignore[misc]
    config_class = OscarConfig
    config: OscarConfig
    base_model_prefix = "bert"


class OscarModel(WordEmbeddingAccess, OscarPreTrainedModel):
    """``(input_ids [B, T], img_feats [B, N, img_feature_dim])`` → states of the ``T + N`` positions."""

    def __init__(self, config: OscarConfig) -> None:
        super().__init__(config)
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config)
        self.img_embedding = nn.Linear(config.img_feature_dim, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.LayerNorm = (
            nn.LayerNorm(config.hidden_size, eps=config.img_layer_norm_eps)
            if config.use_img_layernorm
            else None
        )
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor,
        img_feats: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        **kwargs: object,
    ) -> BaseModelOutputWithPooling:
        """``attention_mask`` covers the text then the regions (``[B, T + N]``, 1 = attend); without one every
        position is attended."""
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        hidden = self.embeddings(
            input_ids=input_ids, token_type_ids=token_type_ids, position_ids=position_ids
        )
        if img_feats is not None:
            if img_feats.dim() != 3 or img_feats.shape[-1] != self.config.img_feature_dim:
                raise ValueError(
                    f"img_feats must be [batch, regions, {self.config.img_feature_dim}], got {tuple(img_feats.shape)}"
                )
            regions = self.img_embedding(img_feats.to(hidden.dtype))
            if self.LayerNorm is not None:
                regions = self.LayerNorm(regions)
            hidden = torch.cat((hidden, self.dropout(regions)), dim=1)
        batch, length = hidden.shape[:2]
        bias = key_padding_bias(attention_mask, batch, length, hidden.dtype)
        sequence = self.encoder(hidden, attention_mask=bias).last_hidden_state
        return BaseModelOutputWithPooling(last_hidden_state=sequence, pooler_output=self.pooler(sequence))


__all__ = ["OscarModel", "OscarPreTrainedModel"]
