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

Heads (``P cls.*`` / ``classifier.*`` in the releases, kept so): Oscar+'s pre-training class
(``BertImgForPreTraining``, what Mengzi-oscar-base is) has the masked-LM head ``cls.predictions`` (decoder
tied to the word embedding) and the image-text contrastive head ``cls.seq_relationship`` over the pooled
output (``num_contrast_classes``: 3 for Mengzi's run — 0 matched, 1 polluted ``text_b``, 2 polluted caption;
Oscar's ``oscar_tsv.random_sent``); the captioning class has the MLM head only; the retrieval/VQA class
(``ImageBertForSequenceClassification``) a ``classifier`` over the pooled output (retrieval: 2 labels,
``softmax[:, 1]`` is "matched", ``run_retrieval.test``).

The region features come from a detector (VinVL's X152-C4 for Mengzi-oscar) that zhplm does not run: the
inputs are precomputed features. transformers' ``BertEmbeddings``, ``BertEncoder`` and ``BertPooler`` do
the BERT part.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.models.bert.modeling_bert import (
    BertEmbeddings,
    BertEncoder,
    BertLMPredictionHead,
    BertPooler,
    BertPreTrainedModel,
)
from transformers.utils.generic import ModelOutput

from zhplm.arch.modeling._encoder_heads import EncoderWithHeads, tied_decoder
from zhplm.arch.modeling._layers import DecoderAccess, WordEmbeddingAccess, key_padding_bias
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


@dataclass
class OscarHeadsOutput(ModelOutput):
    """The encoder's outputs and the logits of the heads the model has (``None`` for the others):
    ``logits [B, T + N, vocab]`` (MLM), ``itm_logits [B, num_contrast_classes]`` (Oscar+'s contrastive head),
    ``cls_logits [B, num_labels]`` (a fine-tuned classifier)."""

    logits: torch.Tensor | None = None
    itm_logits: torch.Tensor | None = None
    cls_logits: torch.Tensor | None = None
    last_hidden_state: torch.Tensor | None = None
    pooler_output: torch.Tensor | None = None


class OscarPreTrainingHeads(nn.Module):
    """``predictions`` (BERT's MLM head) and, when the release has it, ``seq_relationship`` (Oscar+'s
    image-text contrastive head; Oscar's ``BertPreTrainingHeads``)."""

    def __init__(self, config: OscarConfig) -> None:
        super().__init__()
        self.predictions = BertLMPredictionHead(config)
        self.seq_relationship = (
            nn.Linear(config.hidden_size, config.num_contrast_classes)
            if config.num_contrast_classes
            else None
        )


class _OscarWithHeads(EncoderWithHeads, OscarPreTrainedModel):
    """:class:`OscarModel`'s inputs (no labels) → the heads' logits and the encoder's outputs."""

    model_class = OscarModel
    label_names = ()
    tuple_outputs = False  # Oscar's heads return their output object whatever ``return_dict`` says
    bert: OscarModel

    def heads(self, base: BaseModelOutputWithPooling) -> OscarHeadsOutput:  # type: ignore[override]
        raise NotImplementedError


class OscarForPreTraining(DecoderAccess, _OscarWithHeads):
    """Oscar+'s pre-training model (``BertImgForPreTraining``; Mengzi-oscar-base): the MLM head and, with
    ``num_contrast_classes``, the contrastive image-text matching head. It is also the class with every head
    a release may carry (``classifier_head``: a fine-tuned classifier), which conversion plans against."""

    _tied_weights_keys = tied_decoder("bert")
    head_class = OscarPreTrainingHeads

    def add_heads(self, config: OscarConfig) -> None:
        super().add_heads(config)
        self.classifier = (
            nn.Linear(config.hidden_size, int(config.num_labels or 2)) if config.classifier_head else None
        )

    def heads(self, base: BaseModelOutputWithPooling) -> OscarHeadsOutput:  # type: ignore[override]
        pooled = base.pooler_output
        relationship = self.cls.seq_relationship
        return OscarHeadsOutput(
            logits=self.cls.predictions(base.last_hidden_state),
            itm_logits=None if relationship is None else relationship(pooled),
            cls_logits=None if self.classifier is None else self.classifier(pooled),
            last_hidden_state=base.last_hidden_state,
            pooler_output=pooled,
        )


class OscarForSequenceClassification(_OscarWithHeads):
    """Oscar's ``ImageBertForSequenceClassification`` with a linear ``classifier`` over the pooled output
    (Mengzi-oscar-base-retrieval: 2 labels, label 1 = the text matches the regions)."""

    def add_heads(self, config: OscarConfig) -> None:
        self.classifier = nn.Linear(config.hidden_size, int(config.num_labels or 2))

    def heads(self, base: BaseModelOutputWithPooling) -> OscarHeadsOutput:  # type: ignore[override]
        return OscarHeadsOutput(
            cls_logits=self.classifier(base.pooler_output),
            last_hidden_state=base.last_hidden_state,
            pooler_output=base.pooler_output,
        )


__all__ = [
    "OscarForPreTraining",
    "OscarForSequenceClassification",
    "OscarModel",
    "OscarPreTrainedModel",
]
