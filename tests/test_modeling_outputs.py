"""One output convention across zhplm's own models: every head model answers ``return_dict=False`` (from
the call or from the config) with the tuple of its ``ModelOutput``, passes ``output_hidden_states`` (also
hidden states chosen by index) and ``output_attentions`` through to its encoder, and swaps its output
embedding the way transformers' heads do (a BERT-style head's own bias follows the new decoder). Parity
lives in the per-model tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from zhplm.arch.modeling.chinesebert import ChineseBertConfig, ChineseBertForMaskedLM
from zhplm.arch.modeling.gau_alpha import GAUAlphaConfig, GAUAlphaForMaskedLM
from zhplm.arch.modeling.lattice_bert import LatticeBertConfig, LatticeBertForPreTraining
from zhplm.arch.modeling.nezha import NezhaConfig, NezhaForPreTraining
from zhplm.arch.modeling.roformer_v2 import RoFormerV2Config, RoFormerV2ForMaskedLM
from zhplm.arch.modeling.zen import ZenConfig, ZenForPreTraining

SIZES = dict(vocab_size=40, hidden_size=16, num_hidden_layers=2, intermediate_size=32)
IDS = torch.tensor([[2, 11, 12, 13, 14, 3], [2, 15, 16, 3, 0, 0]])
MASK = (IDS != 0).long()


def _extra(name: str) -> dict[str, torch.Tensor]:
    if name == "chinesebert":
        return {
            "pinyin_ids": torch.randint(0, 32, (*IDS.shape, 8), generator=torch.Generator().manual_seed(0))
        }
    if name == "zen":
        matrix = torch.zeros(*IDS.shape, 1)
        matrix[:, 1:3, 0] = 1
        return {"input_ngram_ids": torch.tensor([[5], [6]]), "ngram_position_matrix": matrix}
    if name == "lattice_bert":
        positions = torch.arange(IDS.shape[1]).expand_as(IDS)
        return {"start_position_ids": positions, "end_position_ids": positions}
    return {}


MODELS: dict[str, Callable[[], Any]] = {
    "nezha": lambda: NezhaForPreTraining(
        NezhaConfig(**SIZES, num_attention_heads=2, max_relative_position=3)
    ),
    "roformer_v2": lambda: RoFormerV2ForMaskedLM(RoFormerV2Config(**SIZES, num_attention_heads=2)),
    "gau_alpha": lambda: GAUAlphaForMaskedLM(GAUAlphaConfig(**SIZES, attention_key_size=8)),
    "chinesebert": lambda: ChineseBertForMaskedLM(
        ChineseBertConfig(**SIZES, num_attention_heads=2, glyph_embedding_dim=12, pinyin_embedding_size=6)
    ),
    "zen": lambda: ZenForPreTraining(
        ZenConfig(**SIZES, num_attention_heads=2, word_size=10, num_hidden_word_layers=1)
    ),
    "lattice_bert": lambda: LatticeBertForPreTraining(
        LatticeBertConfig(**SIZES, num_attention_heads=2, embedding_size=8, max_position_embeddings=16)
    ),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_heads_answer_return_dict_false_with_their_output_tuple(name: str) -> None:
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    model.config._attn_implementation = "eager"
    inputs = {"input_ids": IDS, "attention_mask": MASK, **_extra(name)}
    with torch.no_grad():
        full = model(**inputs, output_hidden_states=True, output_attentions=True)
        chosen = model(**inputs, output_hidden_states=[0, -1]).hidden_states
        as_tuple = model(**inputs, return_dict=False)
        model.config.return_dict = False
        from_config = model(**inputs)
    assert len(full.hidden_states) == model.config.num_hidden_layers + 1
    assert len(full.attentions) == model.config.num_hidden_layers
    assert full.attentions[0].shape[-2:] == (IDS.shape[1], IDS.shape[1])
    # transformers' selection by index: the others are None, so only the two asked for are computed
    picked = [h for h in chosen if h is not None]
    assert len(chosen) == len(full.hidden_states) and len(picked) == 2
    torch.testing.assert_close(picked, [full.hidden_states[0], full.hidden_states[-1]], rtol=0, atol=1e-6)
    expected = full.to_tuple()[: len(as_tuple)]  # without the hidden states and attentions
    for got in (as_tuple, from_config):
        assert isinstance(got, tuple) and len(got) == len(as_tuple)
        for a, b in zip(got, expected, strict=True):  # (RoFormerV2, GAU-α: fused vs eager attention)
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_new_output_embedding_replaces_the_decoder(name: str) -> None:
    model = MODELS[name]()
    old = model.get_output_embeddings()
    head = model.cls.predictions
    has_own_bias = isinstance(getattr(head, "bias", None), torch.nn.Parameter)
    new = torch.nn.Linear(old.in_features, old.out_features, bias=has_own_bias)
    model.set_output_embeddings(new)
    assert model.get_output_embeddings() is new
    if has_own_bias:  # BERT's head: its bias is the decoder's
        assert head.bias is new.bias
    else:
        assert not hasattr(head, "bias")
    with pytest.raises(TypeError, match=r"an nn\.Linear"):
        model.set_output_embeddings(torch.nn.Embedding(3, 3))
