"""ERNIE (Paddle) conversions.

STOPGAP reference: no Paddle / PaddleNLP oracle exists yet (tests/oracles has none), so the reference is
a numpy forward pass written here from the Paddle parameter semantics (Linear weights [in, out],
``y = x @ W + b``; post-LN blocks; ERNIE 3.0 adds the task-type embedding), independent of transformers'
ErnieModel. The checkpoints are pickles of ``{name: ndarray}``, which is what ``paddle.save`` writes.
"""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest

import zhplm
from helpers_parity import compare, run_model
from zhplm.converter import record_parity

TOL = 1e-4
H, LAYERS, HEADS, INTER, VOCAB, POS, TYPES, TASKS = 32, 2, 4, 64, 50, 40, 4, 3
IDS = [[1, 10, 11, 4, 12, 13, 2], [1, 14, 15, 2, 16, 2, 0]]
TT = [[0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 1, 1, 0]]
MASK = [[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 0]]


def _rand(r: np.random.Generator, shape: tuple[int, ...], kind: str) -> np.ndarray:
    if kind == "gain":
        return (1 + 0.1 * r.standard_normal(shape)).astype(np.float32)
    if kind == "bias":
        return (0.1 * r.standard_normal(shape)).astype(np.float32)
    if kind == "emb":
        return (0.5 * r.standard_normal(shape)).astype(np.float32)
    return (r.standard_normal(shape) / math.sqrt(shape[0])).astype(np.float32)


# ----------------------------------------------------------------------------- numpy reference (Paddle math)


def ln(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def act(name: str, x: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.maximum(x, 0)
    from math import erf

    return 0.5 * x * (1 + np.vectorize(erf)(x / math.sqrt(2)))


def encoder(
    p: dict[str, np.ndarray], emb: np.ndarray, mask: np.ndarray, hidden_act: str, eps: float
) -> np.ndarray:
    """p holds, per layer i, Paddle-layout weights under neutral keys: q{i} k{i} v{i} o{i} n1{i} f1{i} f2{i} n2{i}."""
    x = emb
    b, t, _ = x.shape
    dh = H // HEADS
    bias = (1.0 - mask[:, None, None, :]) * -1e9
    for i in range(LAYERS):

        def lin(name: str, inp: np.ndarray, i: int = i) -> np.ndarray:
            return inp @ p[f"{name}{i}.w"] + p[f"{name}{i}.b"]

        def heads(y: np.ndarray) -> np.ndarray:
            return y.reshape(b, t, HEADS, dh).transpose(0, 2, 1, 3)

        q, k, v = heads(lin("q", x)), heads(lin("k", x)), heads(lin("v", x))
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(dh) + bias
        s = np.exp(s - s.max(-1, keepdims=True))
        s = s / s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(0, 2, 1, 3).reshape(b, t, H)
        x = ln(x + lin("o", ctx), p[f"n1{i}.w"], p[f"n1{i}.b"], eps)
        x = ln(x + lin("f2", act(hidden_act, lin("f1", x))), p[f"n2{i}.w"], p[f"n2{i}.b"], eps)
    return x


# ----------------------------------------------------------------------------- ERNIE 3.0 (PaddleNLP names)


def ernie3_params(seed: int) -> dict[str, np.ndarray]:
    r = np.random.default_rng(seed)
    e = "ernie.embeddings"
    p = {
        f"{e}.word_embeddings.weight": _rand(r, (VOCAB, H), "emb"),
        f"{e}.position_embeddings.weight": _rand(r, (POS, H), "emb"),
        f"{e}.token_type_embeddings.weight": _rand(r, (TYPES, H), "emb"),
        f"{e}.task_type_embeddings.weight": _rand(r, (TASKS, H), "emb"),
        f"{e}.layer_norm.weight": _rand(r, (H,), "gain"),
        f"{e}.layer_norm.bias": _rand(r, (H,), "bias"),
        "ernie.pooler.dense.weight": _rand(r, (H, H), "w"),
        "ernie.pooler.dense.bias": _rand(r, (H,), "bias"),
    }
    for i in range(LAYERS):
        pre = f"ernie.encoder.layers.{i}"
        for name, shape in [
            ("self_attn.q_proj", (H, H)),
            ("self_attn.k_proj", (H, H)),
            ("self_attn.v_proj", (H, H)),
            ("self_attn.out_proj", (H, H)),
            ("linear1", (H, INTER)),
            ("linear2", (INTER, H)),
        ]:
            p[f"{pre}.{name}.weight"] = _rand(r, shape, "w")
            p[f"{pre}.{name}.bias"] = _rand(r, (shape[1],), "bias")
        for name in ("norm1", "norm2"):
            p[f"{pre}.{name}.weight"] = _rand(r, (H,), "gain")
            p[f"{pre}.{name}.bias"] = _rand(r, (H,), "bias")
    return p


def ernie3_reference(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    ids, tt, mask = np.array(IDS), np.array(TT), np.array(MASK, dtype=np.float64)
    e = "ernie.embeddings"
    pos = np.arange(ids.shape[1])[None, :]
    emb = (
        p[f"{e}.word_embeddings.weight"][ids]
        + p[f"{e}.position_embeddings.weight"][pos]
        + p[f"{e}.token_type_embeddings.weight"][tt]
        + p[f"{e}.task_type_embeddings.weight"][np.zeros_like(ids)]
    )
    emb = ln(emb.astype(np.float64), p[f"{e}.layer_norm.weight"], p[f"{e}.layer_norm.bias"], 1e-12)
    neutral = {}
    names = {
        "q": "self_attn.q_proj",
        "k": "self_attn.k_proj",
        "v": "self_attn.v_proj",
        "o": "self_attn.out_proj",
    }
    names.update({"f1": "linear1", "f2": "linear2", "n1": "norm1", "n2": "norm2"})
    for i in range(LAYERS):
        for short, long in names.items():
            neutral[f"{short}{i}.w"] = p[f"ernie.encoder.layers.{i}.{long}.weight"].astype(np.float64)
            neutral[f"{short}{i}.b"] = p[f"ernie.encoder.layers.{i}.{long}.bias"].astype(np.float64)
    x = encoder(neutral, emb, mask, "gelu", 1e-12)
    pooled = np.tanh(x[:, 0] @ p["ernie.pooler.dense.weight"] + p["ernie.pooler.dense.bias"])
    return {"last_hidden_state": x, "pooler_output": pooled}


@pytest.fixture(scope="module")
def ernie3(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    tmp = tmp_path_factory.mktemp("ernie3")
    params = ernie3_params(0)
    with open(tmp / "model_state.pdparams", "wb") as fh:
        pickle.dump(params, fh, protocol=4)
    config = {
        "vocab_size": VOCAB,
        "hidden_size": H,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "intermediate_size": INTER,
        "hidden_act": "gelu",
        "max_position_embeddings": POS,
        "type_vocab_size": TYPES,
        "task_type_vocab_size": TASKS,
        "use_task_id": True,
    }
    (tmp / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return tmp, ernie3_reference(params)


def test_ernie3_pdparams_matches_numpy_paddle_math(tmp_path: Path, ernie3: tuple[Path, dict]) -> None:
    src, ref = ernie3
    result = zhplm.convert(src, tmp_path / "out")
    assert result.arch == "ernie" and result.scheme == "paddlenlp" and result.format == "paddle"
    assert result.architectures == ["ErnieModel"]
    assert result.heads == {"pooler": "trained", "mlm": "absent", "nsp": "absent"}
    cfg = json.loads((tmp_path / "out" / "config.json").read_text())
    assert cfg["use_task_id"] is True and cfg["layer_norm_eps"] == 1e-12
    inputs = {"input_ids": IDS, "token_type_ids": TT, "attention_mask": MASK}
    ours = run_model(
        tmp_path / "out",
        inputs,
        lambda o: {"last_hidden_state": o.last_hidden_state, "pooler_output": o.pooler_output},
    )
    diffs = compare(ours, ref, np.array(MASK))
    record_parity(
        tmp_path / "out",
        {"reference": "numpy forward from Paddle semantics (stopgap)", "max_abs_diff": diffs},
    )
    assert max(diffs.values()) < TOL


def test_ernie3_without_config_picks_the_shipped_config_by_shape() -> None:
    """ERNIE 3.0 nano's tensor shapes, no config: the shipped PaddleNLP nano config is chosen."""
    from zhplm.arch.ernie import SPEC, ernie3_configs

    nano = ernie3_configs()["ernie-3.0-nano-zh"]
    e = "ernie.embeddings"
    shapes: dict[str, tuple[int, ...]] = {
        f"{e}.word_embeddings.weight": (40000, 312),
        f"{e}.position_embeddings.weight": (2048, 312),
        f"{e}.token_type_embeddings.weight": (4, 312),
        f"{e}.task_type_embeddings.weight": (16, 312),
    }
    for i in range(4):
        shapes[f"ernie.encoder.layer.{i}.intermediate.dense.weight"] = (1248, 312)
    cfg = SPEC.build_config(None, shapes, shapes)
    assert cfg["num_hidden_layers"] == 4 and cfg["num_attention_heads"] == nano["num_attention_heads"]
    assert cfg["task_type_vocab_size"] == 16 and cfg["hidden_act"] == "gelu" and cfg["use_task_id"]
    shapes[f"{e}.task_type_embeddings.weight"] = (5, 312)
    with pytest.raises(zhplm.errors.ConversionError, match="match none of the shipped"):
        SPEC.build_config(None, shapes, shapes)


# ----------------------------------------------------------------------------- ERNIE 1.0 (ERNIE-repo dygraph)


def ernie1_params(seed: int) -> dict[str, np.ndarray]:
    r = np.random.default_rng(seed)
    p = {
        "word_emb.weight": _rand(r, (VOCAB, H), "emb"),
        "pos_emb.weight": _rand(r, (POS, H), "emb"),
        "sent_emb.weight": _rand(r, (2, H), "emb"),
        "ln.weight": _rand(r, (H,), "gain"),
        "ln.bias": _rand(r, (H,), "bias"),
        "pooler.weight": _rand(r, (H, H), "w"),
        "pooler.bias": _rand(r, (H,), "bias"),
        "mlm.weight": _rand(r, (H, H), "w"),
        "mlm.bias": _rand(r, (H,), "bias"),
        "mlm_ln.weight": _rand(r, (H,), "gain"),
        "mlm_ln.bias": _rand(r, (H,), "bias"),
        "mlm_bias": _rand(r, (VOCAB,), "bias"),
    }
    for i in range(LAYERS):
        pre = f"encoder_stack.block.{i}"
        for name, shape in [
            ("attn.q", (H, H)),
            ("attn.k", (H, H)),
            ("attn.v", (H, H)),
            ("attn.o", (H, H)),
            ("ffn.i", (H, INTER)),
            ("ffn.o", (INTER, H)),
        ]:
            p[f"{pre}.{name}.weight"] = _rand(r, shape, "w")
            p[f"{pre}.{name}.bias"] = _rand(r, (shape[1],), "bias")
        for name in ("ln1", "ln2"):
            p[f"{pre}.{name}.weight"] = _rand(r, (H,), "gain")
            p[f"{pre}.{name}.bias"] = _rand(r, (H,), "bias")
    return p


def ernie1_reference(p: dict[str, np.ndarray], eps: float) -> dict[str, np.ndarray]:
    ids, tt, mask = np.array(IDS), np.array(TT), np.array(MASK, dtype=np.float64)
    emb = (
        p["word_emb.weight"][ids]
        + p["pos_emb.weight"][np.arange(ids.shape[1])[None]]
        + p["sent_emb.weight"][tt]
    )
    emb = ln(emb.astype(np.float64), p["ln.weight"], p["ln.bias"], eps)
    names = {"q": "attn.q", "k": "attn.k", "v": "attn.v", "o": "attn.o", "f1": "ffn.i", "f2": "ffn.o"}
    names.update({"n1": "ln1", "n2": "ln2"})
    neutral = {}
    for i in range(LAYERS):
        for short, long in names.items():
            neutral[f"{short}{i}.w"] = p[f"encoder_stack.block.{i}.{long}.weight"].astype(np.float64)
            neutral[f"{short}{i}.b"] = p[f"encoder_stack.block.{i}.{long}.bias"].astype(np.float64)
    x = encoder(neutral, emb, mask, "relu", eps)
    y = ln(act("relu", x @ p["mlm.weight"] + p["mlm.bias"]), p["mlm_ln.weight"], p["mlm_ln.bias"], eps)
    logits = y @ p["word_emb.weight"].T + p["mlm_bias"]
    return {"last_hidden_state": x, "mlm_logits": logits}


def test_ernie1_dygraph_matches_numpy_paddle_math(tmp_path: Path) -> None:
    params = ernie1_params(1)
    src = tmp_path / "ernie1.0"
    src.mkdir()
    with open(src / "saved_weights.pdparams", "wb") as fh:
        pickle.dump(params, fh, protocol=2)
    (src / "ernie_config.json").write_text(
        json.dumps(
            {
                "attention_probs_dropout_prob": 0.1,
                "hidden_act": "relu",
                "hidden_dropout_prob": 0.1,
                "hidden_size": H,
                "initializer_range": 0.02,
                "max_position_embeddings": POS,
                "num_attention_heads": HEADS,
                "num_hidden_layers": LAYERS,
                "sent_type_vocab_size": 2,
                "vocab_size": VOCAB,
            }
        ),
        encoding="utf-8",
    )
    vocab = ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]"] + [chr(0x4E00 + i) for i in range(VOCAB - 5)]
    (src / "vocab.txt").write_text("".join(f"{t}\t{i}\n" for i, t in enumerate(vocab)), encoding="utf-8")
    result = zhplm.convert(src, tmp_path / "out")
    assert result.scheme == "ernie-dygraph" and result.architectures == ["ErnieForMaskedLM"]
    assert result.heads == {"pooler": "trained", "mlm": "trained", "nsp": "absent"}
    cfg = json.loads((tmp_path / "out" / "config.json").read_text())
    assert cfg["hidden_act"] == "relu" and cfg["layer_norm_eps"] == 1e-5 and cfg["type_vocab_size"] == 2
    ours = run_model(
        tmp_path / "out",
        {"input_ids": IDS, "token_type_ids": TT, "attention_mask": MASK},
        lambda o: {"last_hidden_state": o.hidden_states[-1], "mlm_logits": o.logits},
    )
    diffs = compare(ours, ernie1_reference(params, 1e-5), np.array(MASK))
    assert max(diffs.values()) < TOL
    tok_vocab = (tmp_path / "out" / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert tok_vocab == vocab  # the "\tid" column is gone


# ----------------------------------------------------------------------------- Paddle 2.6.2 oracle (ERNIE 3.0)


@pytest.mark.oracle
def test_ernie3_pdparams_matches_paddle_layers(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """paddle.save writes the .pdparams; Paddle 2.6.2's own layers compute the reference."""
    from helpers_parity import INPUTS, oracle_checkpoint

    ckpt, ref = oracle_checkpoint("ernie_family.py", "ernie", tmp_path_factory.mktemp("ernie3-paddle"))
    result = zhplm.convert(ckpt, tmp_path / "out")
    assert result.arch == "ernie" and result.scheme == "paddlenlp"
    ours = run_model(
        tmp_path / "out",
        INPUTS,
        lambda o: {"last_hidden_state": o.last_hidden_state, "pooler_output": o.pooler_output},
    )
    diffs = compare(ours, ref, np.array(INPUTS["attention_mask"]))
    record_parity(
        tmp_path / "out",
        {"reference": "Paddle 2.6.2 layers (tests/oracles/ernie_family.py)", "max_abs_diff": diffs},
    )
    assert max(diffs.values()) < TOL
