"""zhplm's ZEN model: the character path against transformers' own BertModel, padding and slot-order
invariances, the Auto-class round trip and clear errors. (Parity with the original sinovation/ZEN code,
n-gram fusion included, is tests/test_parity_zen.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from helpers_modeling import max_diff
from zhplm.arch.modeling import register
from zhplm.arch.modeling.zen import ZenConfig, ZenForMaskedLM, ZenForPreTraining, ZenModel


def tiny(**kw: object) -> ZenConfig:
    base: dict[str, object] = dict(
        vocab_size=40,
        word_size=25,
        hidden_size=16,
        num_hidden_layers=3,
        num_hidden_word_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
    )
    base.update(kw)
    return ZenConfig(**base)


def randomised(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Visible random values everywhere (the default init leaves biases at 0 and LayerNorms at 1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 0.1 if ("bias" in name or "LayerNorm" in name) else 0.5
            p.copy_((1.0 if "LayerNorm.weight" in name else 0.0) + scale * torch.randn(p.shape, generator=g))
    return model.eval()


def ngram_inputs(
    ids: torch.Tensor, spans: list[list[tuple[int, int, int]]], slots: int
) -> dict[str, torch.Tensor]:
    """n-gram inputs from ``(ngram_id, start, length)`` spans per row, padded to ``slots``."""
    batch, length = ids.shape
    ngram_ids = torch.zeros(batch, slots, dtype=torch.long)
    mask = torch.zeros(batch, slots, dtype=torch.long)
    matrix = torch.zeros(batch, length, slots)
    for b, row in enumerate(spans):
        for n, (ngram, start, size) in enumerate(row):
            ngram_ids[b, n], mask[b, n] = ngram, 1
            matrix[b, start : start + size, n] = 1
    return {"input_ngram_ids": ngram_ids, "ngram_attention_mask": mask, "ngram_position_matrix": matrix}


SPANS = [[(3, 1, 2), (7, 2, 3), (11, 5, 2)], [(4, 1, 2), (9, 3, 4)]]


def test_without_ngrams_the_character_path_is_transformers_bert() -> None:
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    cfg = tiny()
    zen = randomised(ZenModel(cfg))
    bert_cfg = BertConfig(**{k: v for k, v in cfg.to_dict().items() if k in BertConfig().to_dict()})
    bert = BertModel(bert_cfg).eval()
    state = {k: v for k, v in zen.state_dict().items() if "word_" not in k or k.startswith("embeddings.")}
    missing, unexpected = bert.load_state_dict(state, strict=False)
    assert not unexpected and not [
        m for m in missing if "position_ids" not in m and "token_type_ids" not in m
    ]
    ids = torch.randint(1, 40, (2, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    with torch.no_grad():
        ref = bert(ids, attention_mask=mask).last_hidden_state
        ours = zen(ids, attention_mask=mask).last_hidden_state
        padded_only = zen(ids, attention_mask=mask, **ngram_inputs(ids, [[], []], 2)).last_hidden_state
    max_diff(ours[mask.bool()], ref[mask.bool()], "ZEN without n-grams vs transformers BertModel")
    max_diff(padded_only[mask.bool()], ref[mask.bool()], "ZEN with only padding n-gram slots vs BertModel")


def test_ngrams_change_the_covered_characters_and_padding_changes_nothing() -> None:
    model = randomised(ZenForMaskedLM(tiny()))
    ids = torch.randint(1, 40, (2, 9))
    ids[1, 7:] = 0
    mask = (ids != 0).long()
    with torch.no_grad():
        plain = model(ids, attention_mask=mask, **ngram_inputs(ids, [[], []], 1)).logits
        fused = model(ids, attention_mask=mask, **ngram_inputs(ids, SPANS, 3)).logits
        wide = model(ids, attention_mask=mask, **ngram_inputs(ids, SPANS, 6)).logits
        alone = model(ids[1:, :7], **ngram_inputs(ids[1:, :7], SPANS[1:], 2)).logits
    assert (fused - plain).abs().max() > 1e-2  # the n-grams are used
    max_diff(wide, fused, "3 vs 6 n-gram slots (the extra ones padding)")
    max_diff(fused[1, :7], alone[0], "padded row vs the row alone")


def test_slot_order_does_not_matter() -> None:
    model = randomised(ZenModel(tiny()))
    ids = torch.randint(1, 40, (2, 9))
    reordered = [list(reversed(SPANS[0])), [SPANS[1][1], SPANS[1][0]]]
    with torch.no_grad():
        a = model(ids, **ngram_inputs(ids, SPANS, 3)).last_hidden_state
        b = model(ids, **ngram_inputs(ids, reordered, 3)).last_hidden_state
    max_diff(a, b, "permuted n-gram slots")


def test_pretraining_heads_auto_classes_and_tied_decoder(tmp_path: Path) -> None:
    import transformers

    register()
    model = randomised(ZenForPreTraining(tiny()))
    model.save_pretrained(tmp_path)
    ids = torch.randint(1, 40, (2, 9))
    inputs = {"input_ids": ids, **ngram_inputs(ids, SPANS, 3)}
    base = transformers.AutoModel.from_pretrained(tmp_path).eval()
    mlm = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path).eval()
    pre = transformers.AutoModelForPreTraining.from_pretrained(tmp_path).eval()
    assert (type(base), type(mlm), type(pre)) == (ZenModel, ZenForMaskedLM, ZenForPreTraining)
    with torch.no_grad():
        ref = model(**inputs)
        max_diff(mlm(**inputs).logits, ref.prediction_logits, "MLM logits (AutoModelForMaskedLM)")
        max_diff(pre(**inputs).seq_relationship_logits, ref.seq_relationship_logits, "NSP logits (reloaded)")
        max_diff(base(**inputs).last_hidden_state, model.bert(**inputs).last_hidden_state, "AutoModel")
    assert mlm.get_output_embeddings().weight is mlm.get_input_embeddings().weight
    assert transformers.AutoConfig.from_pretrained(tmp_path).num_hidden_word_layers == 2


def test_hidden_states_and_eager_attentions() -> None:
    model = ZenModel(tiny())
    model.config._attn_implementation = "eager"
    ids = torch.randint(1, 40, (2, 9))
    out = model(ids, **ngram_inputs(ids, SPANS, 3), output_hidden_states=True, output_attentions=True)
    assert len(out.hidden_states) == 4 and torch.equal(out.hidden_states[-1], out.last_hidden_state)
    assert len(out.attentions) == 3 and out.attentions[0].shape == (2, 2, 9, 9)
    sdpa = ZenModel(tiny())
    sdpa.config._attn_implementation = "sdpa"
    with pytest.raises(ValueError, match="eager"):
        sdpa(ids, output_attentions=True)


def test_bad_ngram_inputs_are_refused_clearly() -> None:
    model = ZenModel(tiny())
    ids = torch.randint(1, 40, (2, 9))
    good = ngram_inputs(ids, SPANS, 3)
    with pytest.raises(ValueError, match="both input_ngram_ids and ngram_position_matrix"):
        model(ids, input_ngram_ids=good["input_ngram_ids"])
    with pytest.raises(ValueError, match="ngram_position_matrix must be"):
        model(
            ids,
            input_ngram_ids=good["input_ngram_ids"],
            ngram_position_matrix=good["ngram_position_matrix"][:, :5],
        )
    with pytest.raises(ValueError, match="ngram_attention_mask must have the shape"):
        model(ids, **{**good, "ngram_attention_mask": good["ngram_attention_mask"][:, :2]})
    with pytest.raises(ValueError, match="num_hidden_word_layers"):
        ZenModel(tiny(num_hidden_word_layers=4))


# --- the tokenizer's own behaviour (its agreement with the original matcher is tests/test_parity_zen.py) ---


@pytest.fixture()
def zen_tokenizer(tmp_path: Path) -> object:
    from zhplm.arch.tokenization.zen import ZenTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"我们是中国学生的大"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    # id 1 我们, id 2 中国, (blank line: no id), id 3 学生, id 4 a comma inside, id 5 中国学生
    (tmp_path / "ngram.txt").write_text("我们,9\n中国,8\n\n学生,7\n学,生,1\n中国学生,3\n", encoding="utf-8")
    return ZenTokenizer(str(tmp_path / "vocab.txt"), str(tmp_path / "ngram.txt"))


def test_tokenizer_matches_spans_pads_both_sides_and_round_trips(
    zen_tokenizer: object, tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    from zhplm.arch.tokenization.zen import ngram_spans, register

    tok: Any = zen_tokenizer
    enc = tok("我们是中国学生")  # [CLS] 我 们 是 中 国 学 生 [SEP]
    assert ngram_spans(enc["input_ngram_ids"], enc["ngram_position_matrix"]) == [
        (1, 1, 2),
        (2, 4, 2),
        (3, 6, 2),
        (5, 4, 4),
    ]
    tok.padding_side = "left"
    batch = tok(["我们是中国学生", "我们"], padding=True, return_tensors="pt")
    assert batch["ngram_position_matrix"].shape == (2, 9, 4)
    assert batch["input_ngram_ids"][1].tolist() == [1, 0, 0, 0]
    assert batch["ngram_attention_mask"][1].tolist() == [1, 0, 0, 0]
    assert batch["ngram_position_matrix"][1, :, 0].tolist() == [0] * 6 + [1, 1, 0]  # left padding: 6 pad rows
    none = tok("是的", return_tensors="pt")  # no n-gram: one padding slot, never a zero-size axis
    assert none["input_ngram_ids"].tolist() == [[0]] and none["ngram_position_matrix"].shape == (1, 4, 1)
    cut = tok("我们是中国学生", truncation=True, max_length=6)  # [CLS] 我 们 是 中 [SEP]: 中国 is cut
    assert ngram_spans(cut["input_ngram_ids"], cut["ngram_position_matrix"]) == [(1, 1, 2)]
    collated = tok.pad([tok("我们是中国学生"), tok("我们")], return_tensors="pt")
    assert collated["ngram_position_matrix"].shape == (2, 9, 4)

    tok.save_pretrained(tmp_path / "saved")
    register()
    again = AutoTokenizer.from_pretrained(tmp_path / "saved")
    assert type(again) is type(tok) and again.ngram_ids == tok.ngram_ids
    assert again("我们是中国学生")["input_ngram_ids"] == enc["input_ngram_ids"]


def test_unreadable_lexicon_lines_are_reported(tmp_path: Path) -> None:
    from zhplm.arch.tokenization.zen import read_ngram_lines

    (tmp_path / "ngram.txt").write_text("我们,3\n没有频率\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"ngram.txt:2: expected 'ngram,frequency'"):
        read_ngram_lines(tmp_path / "ngram.txt")
