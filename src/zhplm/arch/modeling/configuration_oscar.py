# mypy: disable-error-code="no-untyped-call,misc"
"""The Oscar configuration, apart from the model code (torch-free, so ``AutoConfig`` knows ``oscar`` cheaply)."""

from __future__ import annotations

from transformers import BertConfig


class OscarConfig(BertConfig):
    """BERT's hyper-parameters plus Oscar's region input: ``img_feature_dim`` (2054 = the VinVL detector's
    2048-d region feature + 6 box numbers), ``use_img_layernorm`` (Mengzi-oscar trains with it) and its
    epsilon ``img_layer_norm_eps``. The heads a release carries: ``num_contrast_classes`` (Oscar+'s
    image-text contrastive head ``cls.seq_relationship``; 0 = absent) and ``classifier_head`` (a fine-tuned
    ``classifier`` over ``num_labels``, e.g. retrieval's matched / not matched)."""

    model_type = "oscar"

    img_feature_dim: int = 2054
    use_img_layernorm: bool = True
    img_layer_norm_eps: float = 1e-12
    # the defaults build every head (conversion sets what the release has)
    num_contrast_classes: int = 3
    classifier_head: bool = True
