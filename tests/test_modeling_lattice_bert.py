"""zhplm's Lattice-BERT model: the attention bias is computed once and shared, right padding changes
nothing on real tokens, the [CLS] reset rows and the distance clipping behave as the original defines
them, SDPA equals eager attention, the Auto-class round trip, clear errors. (Parity with the original
AliceMind TensorFlow code is tests/test_parity_lattice_bert.py.)"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from zhplm.arch.modeling import register
from zhplm.arch.modeling.lattice_bert import (
    LatticeBertConfig,
    LatticeBertForMaskedLM,
    LatticeBertForPreTraining,
    LatticeBertModel,
)


def tiny(**kw: object) -> LatticeBertConfig:
    base: dict[str, object] = dict(
        vocab_size=40,
        hidden_size=16,
        embedding_size=8,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
        max_relative_position=4,
        type_vocab_size=2,
    )
    base.update(kw)
    return LatticeBertConfig(**base)


def randomised(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Visible random values everywhere (the default init leaves biases at 0 and LayerNorms at 1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 0.1 if ("bias" in name or "LayerNorm" in name) else 0.5
            p.copy_((1.0 if "LayerNorm.weight" in name else 0.0) + scale * torch.randn(p.shape, generator=g))
    return model.eval()


# [CLS] 中 国 中国 人 国人 [SEP]: chars at 1..4 (shifted by [CLS]), words spanning two of them
IDS = torch.tensor([[2, 11, 12, 30, 13, 31, 3]])
START = torch.tensor([[0, 1, 2, 1, 3, 2, 4]])
END = torch.tensor([[0, 1, 2, 2, 3, 3, 4]])


def inputs(**extra: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"input_ids": IDS, "start_position_ids": START, "end_position_ids": END, **extra}


def test_the_bias_is_computed_once_and_every_layer_gets_it() -> None:
    model = randomised(LatticeBertModel(tiny()))
    calls: list[torch.Tensor] = []
    seen: list[torch.Tensor] = []
    original = model.encoder.attention_bias

    def counting(*args: object, **kwargs: object) -> torch.Tensor:
        calls.append(original(*args, **kwargs))  # type: ignore[arg-type]
        return calls[-1]

    model.encoder.attention_bias = counting  # type: ignore[method-assign]
    hooks = [
        layer.register_forward_pre_hook(lambda _m, args: seen.append(args[1]))
        for layer in model.encoder.layer
    ]
    with torch.no_grad():
        model(**inputs())
    for hook in hooks:
        hook.remove()
    assert len(calls) == 1 and len(seen) == 3
    assert all(b is calls[0] for b in seen)
    assert calls[0].shape == (1, 2, 7, 7)


def test_right_padding_changes_nothing_on_real_tokens() -> None:
    model = randomised(LatticeBertForPreTraining(tiny()))
    pad = 3
    batch = {
        "input_ids": torch.cat([IDS, torch.zeros(1, pad, dtype=torch.long)], 1).repeat(2, 1),
        "start_position_ids": torch.cat([START, torch.zeros(1, pad, dtype=torch.long)], 1).repeat(2, 1),
        "end_position_ids": torch.cat([END, torch.zeros(1, pad, dtype=torch.long)], 1).repeat(2, 1),
        "attention_mask": torch.tensor([[1] * 7 + [0] * pad, [1] * 7 + [1] * pad]),
    }
    with torch.no_grad():
        alone = model(**inputs())
        padded = model(**batch)
    assert torch.allclose(padded.prediction_logits[0, :7], alone.prediction_logits[0], atol=1e-5)
    assert torch.allclose(padded.seq_relationship_logits[0], alone.seq_relationship_logits[0], atol=1e-5)
    # the unmasked "padding" of row 1 is attended to, so the mask really acts
    assert not torch.allclose(padded.prediction_logits[1, :7], alone.prediction_logits[0], atol=1e-3)


def test_cls_row_and_column_are_the_learned_reset_scores() -> None:
    model = randomised(LatticeBertModel(tiny()))
    enc = model.encoder
    with torch.no_grad():
        bias = enc.attention_bias(START, END, None, torch.float32)
        moved = enc.attention_bias(START + 5, END + 5, None, torch.float32)
    row, col = bias[0, :, 0, 1:], bias[0, :, :, 0]
    assert torch.equal(row, row[:, :1].expand_as(row)) and torch.equal(col, col[:, :1].expand_as(col))
    assert not torch.allclose(row[:, 0], col[:, 0])
    # moving every position changes the rest (absolute position embeddings) but not the reset rows
    assert torch.equal(moved[0, :, 0, 1:], row) and torch.equal(moved[0, :, :, 0], col)
    assert not torch.allclose(moved[0, :, 1:, 1:], bias[0, :, 1:, 1:])
    # θ₂ is a per-head function of reset_theta_2 alone
    with torch.no_grad():
        enc.reset_theta_2.add_(1.0)
        changed = enc.attention_bias(START, END, None, torch.float32)
    assert torch.equal(changed[0, :, 0, 1:], row) and not torch.allclose(changed[0, :, :, 0], col)


def test_distances_beyond_the_table_are_clipped() -> None:
    """With the position projections zeroed, the bias depends on the distances through the relative
    tables only: distances past ±max_relative_position (4) read the edge rows."""
    model = randomised(LatticeBertModel(tiny(max_relative_position=4)))
    enc = model.encoder
    with torch.no_grad():
        for layer in (enc.query_position, enc.key_position):
            layer.weight.zero_()
            layer.bias.zero_()
        near = enc.attention_bias(torch.tensor([[0, 1, 6]]), torch.tensor([[0, 1, 6]]), None, torch.float32)
        far = enc.attention_bias(torch.tensor([[0, 1, 20]]), torch.tensor([[0, 1, 20]]), None, torch.float32)
        inside = enc.attention_bias(torch.tensor([[0, 1, 4]]), torch.tensor([[0, 1, 4]]), None, torch.float32)
    assert torch.equal(near, far)  # distance 5 and 19 both clip to 4
    assert not torch.allclose(near[0, :, 1:, 1:], inside[0, :, 1:, 1:])  # distance 3 does not


def test_lattice_words_change_the_outputs_of_the_characters() -> None:
    """The same characters with and without the word tokens: the word positions matter."""
    model = randomised(LatticeBertModel(tiny()))
    chars = [0, 1, 2, 4, 6]
    with torch.no_grad():
        full = model(**inputs()).last_hidden_state[0, chars]
        plain = model(IDS[:, chars], start_position_ids=START[:, chars], end_position_ids=END[:, chars])
    assert not torch.allclose(full, plain.last_hidden_state[0], atol=1e-3)


def test_sdpa_equals_eager_and_attentions_are_probabilities(tmp_path: Path) -> None:
    register()
    from transformers import AutoModel

    randomised(LatticeBertModel(tiny())).save_pretrained(tmp_path)
    sdpa = AutoModel.from_pretrained(tmp_path, attn_implementation="sdpa").eval()
    eager = AutoModel.from_pretrained(tmp_path, attn_implementation="eager").eval()
    mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0]])
    with torch.no_grad():
        a = sdpa(**inputs(attention_mask=mask)).last_hidden_state
        b = eager(**inputs(attention_mask=mask), output_attentions=True)
    assert torch.allclose(a, b.last_hidden_state, atol=1e-5)
    assert len(b.attentions) == 3
    probs = b.attentions[0]
    assert torch.allclose(probs.sum(-1), torch.ones(probs.shape[:-1]), atol=1e-5)
    assert float(probs[..., 5:].abs().max()) == 0.0
    with pytest.raises(ValueError, match="eager"):
        sdpa(**inputs(), output_attentions=True)


def test_missing_positions_mean_one_token_per_character(caplog: pytest.LogCaptureFixture) -> None:
    model = randomised(LatticeBertModel(tiny()))
    ids = IDS[:, [0, 1, 2, 4, 6]]
    with caplog.at_level(logging.WARNING), torch.no_grad():
        implicit = model(ids).last_hidden_state
        explicit = model(
            ids, start_position_ids=torch.arange(5)[None], end_position_ids=torch.arange(5)[None]
        ).last_hidden_state
    assert torch.equal(implicit, explicit)


def test_bad_positions_are_refused() -> None:
    model = LatticeBertModel(tiny())
    with pytest.raises(ValueError, match="both"):
        model(IDS, start_position_ids=START)
    with pytest.raises(ValueError, match="shape of input_ids"):
        model(IDS, start_position_ids=START[:, :3], end_position_ids=END[:, :3])
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(IDS, start_position_ids=START + 30, end_position_ids=END + 30)
    with pytest.raises(ValueError, match="attention_mask"):
        model(**inputs(attention_mask=torch.ones(1, 3, dtype=torch.long)))


def test_auto_classes_round_trip_with_the_tied_decoder(tmp_path: Path) -> None:
    register()
    from transformers import AutoModelForMaskedLM, AutoModelForPreTraining

    model = randomised(LatticeBertForPreTraining(tiny()))
    model.save_pretrained(tmp_path)
    again = AutoModelForPreTraining.from_pretrained(tmp_path).eval()
    mlm = AutoModelForMaskedLM.from_pretrained(tmp_path).eval()
    assert isinstance(mlm, LatticeBertForMaskedLM)
    assert mlm.cls.predictions.decoder.weight is mlm.bert.embeddings.word_embeddings.weight
    with torch.no_grad():
        expected = model(**inputs()).prediction_logits
        assert torch.allclose(again(**inputs()).prediction_logits, expected, atol=1e-5)
        assert torch.allclose(mlm(**inputs()).logits, expected, atol=1e-6)
        labels = torch.full_like(IDS, -100)
        labels[0, 2] = 5
        assert mlm(**inputs(), labels=labels).loss is not None
