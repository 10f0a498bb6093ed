"""The shared head models over our own encoders (``_encoder_heads``): each head model's ``forward`` shows its
base model's inputs then its labels (what Trainer and pipelines read), and calls bind as they read."""

import inspect

import pytest
import torch

from zhplm.arch.modeling import chinesebert, gau_alpha, lattice_bert, nezha, oscar, roformer_v2, zen

HEADS = {  # head model: (its base model, its label arguments)
    nezha.NezhaForMaskedLM: (nezha.NezhaModel, ("labels",)),
    nezha.NezhaForPreTraining: (nezha.NezhaModel, ("labels", "next_sentence_label")),
    zen.ZenForMaskedLM: (zen.ZenModel, ("labels",)),
    zen.ZenForPreTraining: (zen.ZenModel, ("labels", "next_sentence_label")),
    lattice_bert.LatticeBertForMaskedLM: (lattice_bert.LatticeBertModel, ("labels",)),
    lattice_bert.LatticeBertForPreTraining: (
        lattice_bert.LatticeBertModel,
        ("labels", "next_sentence_label"),
    ),
    chinesebert.ChineseBertForMaskedLM: (chinesebert.ChineseBertModel, ("labels",)),
    roformer_v2.RoFormerV2ForMaskedLM: (roformer_v2.RoFormerV2Model, ("labels",)),
    gau_alpha.GAUAlphaForMaskedLM: (gau_alpha.GAUAlphaModel, ("labels",)),
    oscar.OscarForPreTraining: (oscar.OscarModel, ()),
    oscar.OscarForSequenceClassification: (oscar.OscarModel, ()),
}


@pytest.mark.parametrize("head", list(HEADS), ids=lambda c: c.__name__)
def test_forward_shows_the_base_inputs_then_the_labels(head: type) -> None:
    base, labels = HEADS[head]
    inputs = [p for p in inspect.signature(base.forward).parameters if p != "kwargs"]
    assert list(inspect.signature(head.forward).parameters) == [*inputs, *labels, "kwargs"]


def tiny_nezha(head: type) -> torch.nn.Module:
    config = nezha.NezhaConfig(
        vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=24
    )
    torch.manual_seed(0)
    return head(config).eval()


def test_positional_and_keyword_calls_agree_and_labels_give_the_loss() -> None:
    model = tiny_nezha(nezha.NezhaForPreTraining)
    ids = torch.randint(5, 40, (2, 6))
    mask = torch.ones(2, 6, dtype=torch.long)
    mask[1, 4:] = 0
    types = torch.zeros(2, 6, dtype=torch.long)
    with torch.no_grad():
        by_name = model(input_ids=ids, attention_mask=mask, token_type_ids=types)
        by_place = model(ids, mask, types)
        with_labels = model(ids, mask, labels=ids, next_sentence_label=torch.tensor([0, 1]))
        as_tuple = model(ids, mask, return_dict=False)
    torch.testing.assert_close(by_place.prediction_logits, by_name.prediction_logits)
    torch.testing.assert_close(with_labels.prediction_logits, by_name.prediction_logits)
    assert by_name.loss is None and with_labels.loss is not None and with_labels.loss.ndim == 0
    assert isinstance(as_tuple, tuple)
    torch.testing.assert_close(as_tuple[0], by_name.prediction_logits)
    # the head reads the base model it wraps: the same weights give the same last hidden state
    hidden = model.bert(ids, mask, types).last_hidden_state
    torch.testing.assert_close(model.cls.predictions(hidden), by_name.prediction_logits)


def test_more_positional_inputs_than_the_signature_are_refused() -> None:
    model = tiny_nezha(nezha.NezhaForMaskedLM)
    ids = torch.randint(5, 40, (1, 4))
    with pytest.raises(TypeError):
        model(ids, None, None, None, None, None)


def test_oscar_heads_return_their_output_object_as_before() -> None:
    """Oscar's head models never honoured ``return_dict=False`` (their forward had no tuple path): still so."""
    config = oscar.OscarConfig(
        vocab_size=40,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=24,
        img_feature_dim=6,
        max_position_embeddings=16,
    )
    torch.manual_seed(0)
    model = oscar.OscarForPreTraining(config).eval()
    ids = torch.randint(5, 40, (2, 5))
    regions = torch.randn(2, 3, 6)
    with torch.no_grad():
        by_place = model(ids, regions, return_dict=False)
        by_name = model(input_ids=ids, img_feats=regions)
    assert isinstance(by_place, oscar.OscarHeadsOutput)
    assert by_name.logits is not None and by_name.logits.shape == (2, 8, 40)
    torch.testing.assert_close(by_place.logits, by_name.logits)
    assert by_name.itm_logits is not None and by_name.cls_logits is not None
