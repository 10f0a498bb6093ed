"""Every catalog row of the BERT-architecture families (issue 4) can be converted: its architecture has a
converter, its formats have readers, its tokenizer kind has a writer; and for the `bert` rows a synthetic
checkpoint with the row's real shape (Google TF1 names, shapes only, no data) plans onto the target model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import zhplm
from zhplm.arch import arch_names, get_arch
from zhplm.converter import WORD_TOKENIZERS, plan_conversion
from zhplm.formats import READERS
from zhplm.formats.base import Reader

FAMILIES = {
    "BERT", "RoBERTa", "ALBERT", "MacBERT", "WoBERT", "XLNET", "ELECTRA", "ERNIE", "ERNIE3", "RoFormer",
    "StructBERT", "Mengzi-BERT", "TaCL", "MC-BERT", "二郎神", "PERT", "MobileBERT", "SDCUP", "NEZHA",
    "ChineseBERT", "ZEN", "GAU-α",
}  # fmt: skip
TOKENIZERS = {
    "bert-wordpiece",
    "ernie-wordpiece",
    "sentencepiece",
    "bloom-bpe",
    "chinesebert-pinyin",
    "zen-ngram",
}
TOKENIZERS |= WORD_TOKENIZERS
ROWS = [r for r in zhplm.list_models() if r.family in FAMILIES]


def test_the_families_are_all_there() -> None:
    assert len(ROWS) >= 85 and {r.family for r in ROWS} == FAMILIES


@pytest.mark.parametrize("record", ROWS, ids=lambda r: r.id)
def test_row_has_a_converter_readers_and_a_tokenizer(record: Any) -> None:
    assert record.arch in arch_names(), f"{record.id}: no converter for {record.arch}"
    for d in record.downloads:
        if d.column == "project" or d.format is None:
            continue
        assert d.format in (*READERS, "hf", "unknown"), (record.id, d.format)
    assert record.tokenizer in TOKENIZERS, (record.id, record.tokenizer)


class ShapeReader(Reader):
    """Names and shapes only: planning never reads a tensor."""

    format = "shapes"

    def __init__(self, shapes: dict[str, tuple[int, ...]]) -> None:
        super().__init__(Path("shapes"))
        self.shapes = shapes

    def keys(self) -> list[str]:
        return list(self.shapes)

    def shape(self, name: str) -> tuple[int, ...]:
        return self.shapes[name]

    def dtype(self, name: str) -> np.dtype[Any]:
        return np.dtype("float32")

    def get(self, name: str) -> np.ndarray[Any, Any]:
        raise AssertionError("planning must not read tensors")


def google_bert_shapes(layers: int, hidden: int, vocab: int, types: int = 2) -> dict[str, tuple[int, ...]]:
    inter = 4 * hidden
    shapes: dict[str, tuple[int, ...]] = {
        "bert/embeddings/word_embeddings": (vocab, hidden),
        "bert/embeddings/position_embeddings": (512, hidden),
        "bert/embeddings/token_type_embeddings": (types, hidden),
        "bert/embeddings/LayerNorm/gamma": (hidden,),
        "bert/embeddings/LayerNorm/beta": (hidden,),
        "bert/pooler/dense/kernel": (hidden, hidden),
        "bert/pooler/dense/bias": (hidden,),
        "cls/predictions/transform/dense/kernel": (hidden, hidden),
        "cls/predictions/transform/dense/bias": (hidden,),
        "cls/predictions/transform/LayerNorm/gamma": (hidden,),
        "cls/predictions/transform/LayerNorm/beta": (hidden,),
        "cls/predictions/output_bias": (vocab,),
        "cls/seq_relationship/output_weights": (2, hidden),
        "cls/seq_relationship/output_bias": (2,),
    }
    for i in range(layers):
        p = f"bert/encoder/layer_{i}"
        for n in ("query", "key", "value"):
            shapes[f"{p}/attention/self/{n}/kernel"] = (hidden, hidden)
            shapes[f"{p}/attention/self/{n}/bias"] = (hidden,)
        for sub, (i_dim, o_dim) in {
            "attention/output/dense": (hidden, hidden),
            "intermediate/dense": (hidden, inter),
            "output/dense": (inter, hidden),
        }.items():
            shapes[f"{p}/{sub}/kernel"] = (i_dim, o_dim)
            shapes[f"{p}/{sub}/bias"] = (o_dim,)
        for ln in ("attention/output/LayerNorm", "output/LayerNorm"):
            shapes[f"{p}/{ln}/gamma"] = (hidden,)
            shapes[f"{p}/{ln}/beta"] = (hidden,)
    return shapes


BERT_ROWS = [r for r in zhplm.list_models(arch="bert") if r.layers and r.hidden]


@pytest.mark.parametrize("record", BERT_ROWS, ids=lambda r: r.id)
def test_bert_row_of_its_real_shape_plans_onto_the_target(record: Any) -> None:
    vocab = record.vocab_size or 21128
    types = 3 if record.family == "SDCUP" else 2
    reader = ShapeReader(google_bert_shapes(record.layers, record.hidden, vocab, types))
    original = {"num_attention_heads": record.heads} if record.heads else None
    planned = plan_conversion(reader, get_arch("bert"), original)
    plan, config, heads = planned.plan, planned.config, planned.heads
    assert (config["num_hidden_layers"], config["hidden_size"], config["vocab_size"]) == (
        record.layers,
        record.hidden,
        vocab,
    )
    assert config["type_vocab_size"] == types and set(heads.values()) == {"trained"}
    assert len(plan.steps) == len(reader.shapes) and not plan.unmatched
