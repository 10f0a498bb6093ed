"""Fingerprinting checkpoints from names and shapes, the catalog candidates, and `zhplm inspect`.

The shape tables below are written from each architecture's published layout (the original repositories'
variable names), with sizes chosen here; the guess must recover those sizes."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from helpers_tf1 import Bundle
from zhplm.cli.main import main
from zhplm.formats.inspect import candidates, fingerprint, inspect_checkpoint, is_bookkeeping


def google_bert(layers: int, hidden: int, inter: int, vocab: int, *, pos: bool = True, bias: bool = True,
                heads: bool = True) -> dict[str, tuple[int, ...]]:  # fmt: skip
    s: dict[str, tuple[int, ...]] = {
        "bert/embeddings/word_embeddings": (vocab, hidden),
        "bert/embeddings/token_type_embeddings": (2, hidden),
    }
    if pos:
        s["bert/embeddings/position_embeddings"] = (512, hidden)
    if bias:
        s["bert/embeddings/LayerNorm/gamma"] = s["bert/embeddings/LayerNorm/beta"] = (hidden,)
    for i in range(layers):
        p = f"bert/encoder/layer_{i}/"
        dense = {
            "attention/self/query": (hidden, hidden),
            "attention/self/key": (hidden, hidden),
            "attention/self/value": (hidden, hidden),
            "attention/output/dense": (hidden, hidden),
            "intermediate/dense": (hidden, inter),
            "output/dense": (inter, hidden),
        }
        for name, shape in dense.items():
            s[p + name + "/kernel"] = shape
            if bias:
                s[p + name + "/bias"] = (shape[1],)
        if bias:
            for ln in ("attention/output/LayerNorm", "output/LayerNorm"):
                s[p + ln + "/gamma"] = s[p + ln + "/beta"] = (hidden,)
    if heads:
        s["bert/pooler/dense/kernel"] = (hidden, hidden)
        s["cls/predictions/transform/dense/kernel"] = (hidden, hidden)
        s["cls/predictions/output_bias"] = (vocab,)
        s["cls/seq_relationship/output_weights"] = (2, hidden)
    return s


def test_google_bert_base_and_its_catalog_rows() -> None:
    shapes = google_bert(12, 768, 3072, 21128)
    shapes.update({n + "/adam_m": s for n, s in list(shapes.items())[:5]} | {"global_step": ()})
    g = fingerprint(shapes)
    assert (g.scheme, g.layers, g.hidden, g.intermediate, g.vocab) == ("google-bert-tf", 12, 768, 3072, 21128)
    assert g.position_embeddings is True
    assert g.heads_present == ("pooler", "mlm", "nsp")
    assert "Google BERT naming, 12 layers, hidden 768" in g.describe() and "vocab 21128" in g.describe()
    rows = candidates(g)
    ids = [r.id for r in rows]
    assert "bert-base" in ids and "bert-wwm-ext" in ids
    for r in rows:
        assert r.arch in ("bert", "roberta")
        assert r.layers in (None, 12) and r.hidden in (None, 768) and r.vocab_size in (None, 21128)
    assert "guwenbert-base" not in ids  # vocab 23292


def test_bert4keras_without_position_embeddings_points_at_nezha_and_roformer() -> None:
    g = fingerprint(google_bert(12, 768, 3072, 21128, pos=False, heads=False))
    assert g.scheme == "bert4keras-relative" and g.position_embeddings is False
    assert set(g.archs) == {"nezha", "roformer"}
    assert g.heads_present == ()
    rows = candidates(g)
    assert rows and {r.arch for r in rows} <= {"nezha", "roformer"}
    assert any(r.arch == "nezha" for r in rows)


def test_roformer_v2_has_no_biases_or_norm_weights() -> None:
    g = fingerprint(google_bert(6, 384, 1536, 12000, pos=False, bias=False, heads=False))
    assert (g.scheme, g.layers, g.hidden, g.vocab) == ("roformer-v2-tf", 6, 384, 12000)
    assert {r.arch for r in candidates(g)} <= {"roformer_v2"}


def test_albert_google_and_brightmart() -> None:
    grp = "bert/encoder/transformer/group_0/inner_group_0/"
    google = {
        "bert/embeddings/word_embeddings": (21128, 128),
        "bert/embeddings/position_embeddings": (512, 128),
        "bert/encoder/embedding_hidden_mapping_in/kernel": (128, 768),
        grp + "attention_1/self/query/kernel": (768, 768),
        grp + "ffn_1/intermediate/dense/kernel": (768, 3072),
        grp + "ffn_1/intermediate/output/dense/kernel": (3072, 768),
        "cls/predictions/output_bias": (21128,),
    }
    g = fingerprint(google)
    assert (g.scheme, g.hidden, g.embedding_size, g.vocab, g.intermediate) == (
        "albert-google-tf",
        768,
        128,
        21128,
        3072,
    )
    assert g.layers is None and g.archs == ("albert",)
    bright = {
        "bert/embeddings/word_embeddings": (21128, 128),
        "bert/embeddings/word_embeddings_2": (128, 312),
        "bert/encoder/layer_shared/attention/self/query/kernel": (312, 312),
        "bert/encoder/layer_shared/intermediate/dense/kernel": (312, 1248),
    }
    g = fingerprint(bright)
    assert (g.scheme, g.hidden, g.embedding_size, g.intermediate) == ("albert-brightmart-tf", 312, 128, 1248)
    assert {r.arch for r in candidates(g)} <= {"albert_brightmart"}


def test_electra_small_with_embedding_projection() -> None:
    s: dict[str, tuple[int, ...]] = {
        "electra/embeddings/word_embeddings": (21128, 128),
        "electra/embeddings/position_embeddings": (512, 128),
        "electra/embeddings_project/kernel": (128, 256),
        "discriminator_predictions/dense/kernel": (256, 256),
    }
    for i in range(12):
        s[f"electra/encoder/layer_{i}/attention/self/query/kernel"] = (256, 256)
        s[f"electra/encoder/layer_{i}/intermediate/dense/kernel"] = (256, 1024)
    g = fingerprint(s)
    assert (g.scheme, g.layers, g.hidden, g.embedding_size, g.intermediate) == (
        "electra-tf",
        12,
        256,
        128,
        1024,
    )
    assert g.heads_present == ("discriminator",)


def test_xlnet_heads_are_inferable() -> None:
    s = {"model/transformer/word_embedding/lookup_table": (32000, 768), "model/lm_loss/bias": (32000,)}
    for i in range(12):
        s[f"model/transformer/layer_{i}/rel_attn/q/kernel"] = (768, 12, 64)
        s[f"model/transformer/layer_{i}/ff/layer_1/kernel"] = (768, 3072)
    g = fingerprint(s)
    assert (g.layers, g.hidden, g.heads, g.intermediate, g.vocab) == (12, 768, 12, 3072, 32000)
    assert any(r.id for r in candidates(g)) and {r.arch for r in candidates(g)} == {"xlnet"}


def test_mobilebert_with_teacher_variables() -> None:
    s = {
        "bert/embeddings/word_embeddings": (21128, 128),
        "bert/embeddings/embedding_transformation/kernel": (384, 512),
        "bert/encoder/layer_0/attention/self/query/kernel": (128, 128),
        "bert/encoder/layer_0/attention/self/query/bias": (128,),
        "bert/encoder/layer_0/bottleneck/input/dense/kernel": (512, 128),
        "bert/encoder/layer_0/intermediate/dense/kernel": (128, 512),
        "teacher/bert/encoder/layer_0/attention/self/query/kernel": (1024, 1024),
    }
    g = fingerprint(s)
    assert (g.scheme, g.hidden, g.embedding_size, g.vocab) == ("mobilebert-tf", 512, 128, 21128)
    assert any("teacher" in n for n in g.notes)


def test_gau_alpha() -> None:
    s = {"bert/embeddings/word_embeddings": (12000, 768)}
    for i in range(24):
        s[f"GAU_alpha/encoder/layer_{i}/gau/i_dense/kernel"] = (768, 2 * 1536 + 128)
    g = fingerprint(s)
    assert (g.scheme, g.layers, g.hidden, g.heads, g.vocab) == ("gau-alpha-tf", 24, 768, 1, 12000)
    assert {r.arch for r in candidates(g)} <= {"gau_alpha"}


@pytest.mark.parametrize("prefix", ["bert.", "", "module.bert."])
def test_hugging_face_bert(prefix: str) -> None:
    s = {prefix + "embeddings.word_embeddings.weight": (21128, 768),
         prefix + "embeddings.position_embeddings.weight": (512, 768),
         prefix + "pooler.dense.weight": (768, 768), "cls.predictions.bias": (21128,)}  # fmt: skip
    for i in range(12):
        s[f"{prefix}encoder.layer.{i}.attention.self.query.weight"] = (768, 768)
        s[f"{prefix}encoder.layer.{i}.intermediate.dense.weight"] = (3072, 768)
    g = fingerprint(s)
    assert (g.scheme, g.layers, g.hidden, g.intermediate, g.vocab) == ("hf-encoder", 12, 768, 3072, 21128)
    assert g.heads_present == ("pooler", "mlm")
    assert "bert-base" in [r.id for r in candidates(g)]


def test_paddlenlp_ernie3() -> None:
    s = {"ernie.embeddings.word_embeddings.weight": (40000, 768),
         "ernie.embeddings.position_embeddings.weight": (2048, 768),
         "ernie.embeddings.task_type_embeddings.weight": (3, 768), "ernie.pooler.dense.weight": (768, 768)}  # fmt: skip
    for i in range(12):
        s[f"ernie.encoder.layers.{i}.self_attn.q_proj.weight"] = (768, 768)
        s[f"ernie.encoder.layers.{i}.linear1.weight"] = (768, 3072)
    g = fingerprint(s)
    assert (g.scheme, g.layers, g.hidden, g.intermediate, g.vocab) == (
        "paddlenlp-ernie",
        12,
        768,
        3072,
        40000,
    )
    assert any("task-type" in n for n in g.notes)
    assert {r.arch for r in candidates(g)} == {"ernie"}


def test_gpt2_t5_megatron() -> None:
    gpt = {
        "transformer.wte.weight": (30000, 2560),
        "transformer.wpe.weight": (1024, 2560),
        "transformer.ln_f.weight": (2560,),
    }
    for i in range(32):
        gpt[f"transformer.h.{i}.attn.c_attn.weight"] = (2560, 3 * 2560)
        gpt[f"transformer.h.{i}.mlp.c_fc.weight"] = (2560, 4 * 2560)
    g = fingerprint(gpt)
    assert (g.scheme, g.layers, g.hidden, g.intermediate, g.vocab) == ("hf-gpt2", 32, 2560, 10240, 30000)
    t5 = {"shared.weight": (50000, 512)}
    for i in range(8):
        t5[f"encoder.block.{i}.layer.0.SelfAttention.q.weight"] = (384, 512)
        t5[f"decoder.block.{i}.layer.0.SelfAttention.q.weight"] = (384, 512)
    t5["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"] = (32, 6)
    g = fingerprint(t5)
    assert (g.scheme, g.layers, g.hidden, g.heads, g.vocab) == ("hf-t5", 8, 512, 6, 50000)
    mega = {"language_model.embedding.word_embeddings.weight": (40064, 1024)}
    for i in range(24):
        mega[f"language_model.encoder.layers.{i}.self_attention.query_key_value.weight"] = (3072, 1024)
    g = fingerprint(mega)
    assert (g.scheme, g.layers, g.hidden, g.vocab) == ("megatron", 24, 1024, 40064)


def test_bookkeeping_and_unknown() -> None:
    for name in ("bert/x/adam_m", "bert/x/adam_v", "global_step", "w/Momentum", "beta1_power", "v/Adam_1"):
        assert is_bookkeeping(name), name
    assert not is_bookkeeping("bert/encoder/layer_0/output/dense/kernel")
    g = fingerprint({"weird/thing": (3, 4)})
    assert g.scheme == "unknown" and candidates(g) == []


# ------------------------------------------------------------------ end to end


def test_inspect_cli_on_a_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shapes = google_bert(2, 32, 64, 100)
    rng = np.random.default_rng(0)
    tensors = {n: rng.standard_normal(s).astype(np.float32) for n, s in shapes.items()}
    tensors["global_step"] = np.array(3, np.int64)
    Bundle(tensors, strings={"vocab": 2}).write(tmp_path / "bert_model.ckpt")
    with warnings.catch_warnings(record=True) as caught:  # nothing but the report reaches the user
        warnings.simplefilter("always")
        assert main(["inspect", str(tmp_path), "--json"]) == 0
    assert [str(w.message) for w in caught] == []
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "tf1"
    assert report["parameters"] == sum(int(np.prod(s)) for s in shapes.values())
    assert report["bookkeeping"] == ["global_step"] and report["skipped"] == {"vocab": "string"}
    g = report["guess"]
    assert (g["layers"], g["hidden"], g["intermediate"], g["vocab"]) == (2, 32, 64, 100)
    assert {t["name"]: t["shape"] for t in report["tensors"]}["bert/embeddings/word_embeddings"] == [100, 32]
    assert main(["inspect", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert (
        "Google BERT naming, 2 layers, hidden 32" in text
        and "bert/encoder/layer_1/output/dense/kernel" in text
    )


def test_inspect_cli_on_an_html_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "bert.zip"
    page.write_text("<!DOCTYPE html><html><title>Google Drive - Virus scan warning</title></html>")
    assert main(["inspect", str(page)]) == 10
    assert "this is an HTML page, not a checkpoint" in capsys.readouterr().err


@pytest.mark.oracle
def test_inspect_a_tensorflow_written_bert(tmp_path: Path) -> None:
    """TensorFlow writes a 2-layer/hidden-32/intermediate-64/vocab-100 BERT with Adam slots; the parameter
    count is computed from TensorFlow's own variable listing."""
    from oracle import run_oracle

    report: dict[str, Any] = json.loads(run_oracle("tf1_write.py", tmp_path, "bert"))["bert"]
    tf_listing = report["tf"]
    expected = sum(
        int(np.prod(s)) for n, (_, s) in tf_listing.items() if "adam" not in n and n != "global_step"
    )
    ins = inspect_checkpoint(tmp_path / "bert")
    assert ins.parameters == expected
    assert sorted(ins.bookkeeping) == sorted(n for n in tf_listing if "adam" in n or n == "global_step")
    assert (ins.guess.layers, ins.guess.hidden, ins.guess.intermediate, ins.guess.vocab) == (2, 32, 64, 100)
    assert ins.guess.heads_present == ("pooler", "mlm", "nsp")


def test_inspect_a_folder_holding_only_pytorch_model_bin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Hugging Face download from before safetensors (pytorch_model.bin + config.json, nothing else): the
    folder is inspected the way `zhplm convert` finds its checkpoint, not refused as unrecognised."""
    import torch

    rng = np.random.default_rng(0)
    shapes = {
        "bert.embeddings.word_embeddings.weight": (60, 16),
        "bert.embeddings.position_embeddings.weight": (32, 16),
        "bert.encoder.layer.0.attention.self.query.weight": (16, 16),
        "bert.encoder.layer.1.attention.self.query.weight": (16, 16),
        "cls.predictions.bias": (60,),
    }
    state = {n: torch.from_numpy(rng.standard_normal(s).astype(np.float32)) for n, s in shapes.items()}
    torch.save(state, tmp_path / "pytorch_model.bin")
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with warnings.catch_warnings(record=True) as caught:  # nothing but the report reaches the user
        warnings.simplefilter("always")
        assert main(["inspect", str(tmp_path), "--json"]) == 0
    assert [str(w.message) for w in caught] == []
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "pytorch" and report["path"] == str(tmp_path)
    assert {t["name"]: t["shape"] for t in report["tensors"]}["bert.embeddings.word_embeddings.weight"] == [
        60,
        16,
    ]
    assert (report["guess"]["layers"], report["guess"]["vocab"]) == (2, 60)
