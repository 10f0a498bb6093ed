"""The mapping DSL and the conversion checks, on in-memory checkpoints with Google BERT names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from zhplm.arch import get_arch
from zhplm.arch._rules import TRANSPOSE, Rule, Rules
from zhplm.converter import _write, plan_conversion
from zhplm.errors import MappingError
from zhplm.formats.base import Reader

H, INTER, V, LAYERS = 8, 16, 20, 2


class DictReader(Reader):
    format = "memory"

    def __init__(self, tensors: dict[str, np.ndarray[Any, Any]]) -> None:
        super().__init__(Path("memory"))
        self.tensors = tensors

    def keys(self) -> list[str]:
        return list(self.tensors)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.tensors[name].shape)

    def dtype(self, name: str) -> np.dtype[Any]:
        return self.tensors[name].dtype

    def get(self, name: str) -> np.ndarray[Any, Any]:
        return self.tensors[name]


def google_bert(nsp: bool = True, pooler: bool = True, adam: bool = True) -> dict[str, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(0)

    def r(*shape: int) -> np.ndarray[Any, Any]:
        return rng.standard_normal(shape).astype(np.float32)

    t = {
        "bert/embeddings/word_embeddings": r(V, H),
        "bert/embeddings/position_embeddings": r(32, H),
        "bert/embeddings/token_type_embeddings": r(2, H),
        "bert/embeddings/LayerNorm/gamma": r(H),
        "bert/embeddings/LayerNorm/beta": r(H),
        "cls/predictions/transform/dense/kernel": r(H, H),
        "cls/predictions/transform/dense/bias": r(H),
        "cls/predictions/transform/LayerNorm/gamma": r(H),
        "cls/predictions/transform/LayerNorm/beta": r(H),
        "cls/predictions/output_bias": r(V),
        "global_step": np.array(7, dtype=np.int64),
    }
    for i in range(LAYERS):
        p = f"bert/encoder/layer_{i}"
        for n in ("query", "key", "value"):
            t[f"{p}/attention/self/{n}/kernel"] = r(H, H)
            t[f"{p}/attention/self/{n}/bias"] = r(H)
        t[f"{p}/attention/output/dense/kernel"] = r(H, H)
        t[f"{p}/attention/output/dense/bias"] = r(H)
        t[f"{p}/intermediate/dense/kernel"] = r(H, INTER)
        t[f"{p}/intermediate/dense/bias"] = r(INTER)
        t[f"{p}/output/dense/kernel"] = r(INTER, H)
        t[f"{p}/output/dense/bias"] = r(H)
        for ln in ("attention/output/LayerNorm", "output/LayerNorm"):
            t[f"{p}/{ln}/gamma"] = r(H)
            t[f"{p}/{ln}/beta"] = r(H)
    if pooler:
        t["bert/pooler/dense/kernel"] = r(H, H)
        t["bert/pooler/dense/bias"] = r(H)
    if nsp:
        t["cls/seq_relationship/output_weights"] = r(2, H)
        t["cls/seq_relationship/output_bias"] = r(2)
    if adam:
        for name in list(t):
            if name != "global_step":
                t[f"{name}/adam_m"] = np.zeros_like(t[name])
                t[f"{name}/adam_v"] = np.zeros_like(t[name])
    return t


CONFIG = {"hidden_size": H, "num_attention_heads": 2, "intermediate_size": INTER, "num_hidden_layers": LAYERS}


def test_full_checkpoint_plans_every_tensor_and_ignores_training_leftovers() -> None:
    reader = DictReader(google_bert())
    planned = plan_conversion(reader, get_arch("bert"), CONFIG)
    plan, config, heads, tied = planned.plan, planned.config, planned.heads, planned.tied
    assert heads == {"pooler": "trained", "mlm": "trained", "nsp": "trained"}
    assert plan.unmatched == []
    ignored = {n for n, _ in plan.ignored}
    assert "global_step" in ignored and "bert/pooler/dense/kernel/adam_m" in ignored
    assert plan.used_sources() | ignored == set(reader.keys())
    assert config["vocab_size"] == V and config["max_position_embeddings"] == 32
    assert "cls.predictions.decoder.weight" in tied
    assert get_arch("bert").architectures({h for h, s in heads.items() if s == "trained"}) == [
        "BertForPreTraining"
    ]


def test_bert4keras_style_checkpoint_without_heads_is_reported_absent() -> None:
    reader = DictReader(google_bert(nsp=False, pooler=False, adam=False))
    heads = plan_conversion(reader, get_arch("bert"), CONFIG).heads
    assert heads == {"pooler": "absent", "mlm": "trained", "nsp": "absent"}


def test_unknown_tensor_is_a_mapping_error_naming_it() -> None:
    tensors = google_bert(adam=False)
    tensors["bert/encoder/layer_0/attention/self/mystery/kernel"] = np.zeros((H, H), np.float32)
    with pytest.raises(MappingError) as err:
        plan_conversion(DictReader(tensors), get_arch("bert"), CONFIG)
    assert any("mystery" in u for u in err.value.unexpected)


def test_missing_layer_tensor_and_wrong_shape_are_reported() -> None:
    tensors = google_bert(adam=False)
    del tensors["bert/encoder/layer_1/output/dense/bias"]
    tensors["bert/encoder/layer_0/intermediate/dense/bias"] = np.zeros(INTER + 1, np.float32)
    with pytest.raises(MappingError) as err:
        plan_conversion(DictReader(tensors), get_arch("bert"), CONFIG)
    assert err.value.missing == ["bert.encoder.layer.1.output.dense.bias"]
    assert len(err.value.shape_mismatch) == 1 and "intermediate.dense.bias" in err.value.shape_mismatch[0]


def test_partial_head_is_not_silently_dropped() -> None:
    tensors = google_bert(adam=False)
    del tensors["cls/predictions/transform/dense/kernel"]
    with pytest.raises(MappingError) as err:
        plan_conversion(DictReader(tensors), get_arch("bert"), CONFIG)
    assert "cls.predictions.transform.dense.weight" in err.value.missing


def test_written_folder_loads_in_transformers_with_transposed_kernels(tmp_path: Path) -> None:
    import torch
    from transformers import BertForPreTraining

    tensors = google_bert()
    reader = DictReader(tensors)
    planned = plan_conversion(reader, get_arch("bert"), CONFIG)
    plan, cfg = planned.plan, planned.config_object
    _write(reader, plan, tmp_path, None)
    cfg.save_pretrained(str(tmp_path))
    model, info = BertForPreTraining.from_pretrained(str(tmp_path), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    q = model.bert.encoder.layer[1].attention.self.query.weight.detach().numpy()
    assert np.array_equal(q, tensors["bert/encoder/layer_1/attention/self/query/kernel"].T)
    nsp = model.cls.seq_relationship.weight.detach().numpy()
    assert np.array_equal(nsp, tensors["cls/seq_relationship/output_weights"])
    dec = model.cls.predictions.decoder.weight
    assert torch.equal(dec, model.bert.embeddings.word_embeddings.weight)


def test_rules_extra_sources_and_repeat() -> None:
    fold = Rules(
        Rule(
            "emb",
            "word.weight",
            transform=TRANSPOSE.__class__("fold", lambda xs: xs[0] @ xs[1], lambda ss: (ss[0][0], ss[1][1])),
            extra=("proj",),
        ),
        Rule("shared/(w)", r"layer.{i}.\1", repeat="n"),
    )
    plan = fold.plan(
        {"emb": (5, 2), "proj": (2, 3), "shared/w": (3,)},
        dict.fromkeys(("emb", "proj", "shared/w"), "f"),
        {"n": 3},
    )
    assert {s.target for s in plan.steps} == {"word.weight", "layer.0.w", "layer.1.w", "layer.2.w"}
    assert plan.targets["word.weight"].shape == (5, 3) and not plan.unmatched


def test_detection_falls_through_to_an_architecture_whose_model_fits(tmp_path: Path) -> None:
    """bert4keras RoFormer checkpoints carry BERT names minus position embeddings: BERT's names fit
    but its model does not, so detection moves on (and a NEZHA config would name NEZHA outright)."""
    from zhplm.converter import _detect

    tensors = google_bert(adam=False)
    del tensors["bert/embeddings/position_embeddings"]
    notes: list[str] = []
    spec, _, _ = _detect(DictReader(tensors), None, notes)
    assert spec.name == "roformer" and "detected as roformer" in notes[0]
    spec, _, _ = _detect(DictReader(google_bert(adam=False)), None, [])
    assert spec.name == "bert"
