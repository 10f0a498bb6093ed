"""The shared head models over our own encoders (``_encoder_heads``): each head model's ``forward`` shows its
base model's inputs then its labels (what Trainer and pipelines read), and calls bind as they read."""

import inspect

import pytest
import torch

from zhplm.arch.modeling import chinesebert, gau_alpha, lattice_bert, nezha, oscar, roformer_v2, zen

HEADS = {
    nezha.NezhaForMaskedLM: ("labels",),
    nezha.NezhaForPreTraining: ("labels", "next_sentence_label"),
    zen.ZenForMaskedLM: ("labels",),
    zen.ZenForPreTraining: ("labels", "next_sentence_label"),
    lattice_bert.LatticeBertForMaskedLM: ("labels",),
    lattice_bert.LatticeBertForPreTraining: ("labels", "next_sentence_label"),
    chinesebert.ChineseBertForMaskedLM: ("labels",),
    roformer_v2.RoFormerV2ForMaskedLM: ("labels",),
    gau_alpha.GAUAlphaForMaskedLM: ("labels",),
    oscar.OscarForPreTraining: (),
    oscar.OscarForSequenceClassification: (),
}


@pytest.mark.parametrize("head", list(HEADS), ids=lambda c: c.__name__)
def test_forward_shows_the_base_inputs_then_the_labels(head: type) -> None:
    base = [p for p in inspect.signature(head.model_class.forward).parameters if p != "kwargs"]
    shown = list(inspect.signature(head.forward).parameters)
    assert shown == [*base, *HEADS[head], "kwargs"]


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
    with pytest.raises(TypeError, match="too many positional"):
        model(ids, None, None, None, None, None)
