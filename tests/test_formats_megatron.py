"""Megatron/DeepSpeed model-parallel shards written by torch.save from a known full checkpoint split by
hand the way Megatron partitions it; the merged view must equal the original bit for bit."""

from __future__ import annotations

import argparse
import enum
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from hostile import payloads
from zhplm.errors import CorruptCheckpointError, UnsafeContentError
from zhplm.formats import megatron, open_checkpoint, sniff

H, V, P, MP = 8, 12, 6, 2
PREFIX = "language_model."


class AttnMaskType(enum.Enum):  # stands in for megatron.enums.AttnMaskType
    padding = 1


def _full() -> dict[str, Any]:
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    return {
        "embedding.word_embeddings.weight": r(V, H),
        "embedding.position_embeddings.weight": r(P, H),
        "transformer.layers.0.input_layernorm.weight": r(H),
        "transformer.layers.0.attention.query_key_value.weight": r(3 * H, H),
        "transformer.layers.0.attention.query_key_value.bias": r(3 * H),
        "transformer.layers.0.attention.dense.weight": r(H, H),
        "transformer.layers.0.attention.dense.bias": r(H),
        "transformer.layers.0.mlp.dense_h_to_4h.weight": r(4 * H, H),
        "transformer.layers.0.mlp.dense_h_to_4h.bias": r(4 * H),
        "transformer.layers.0.mlp.dense_4h_to_h.weight": r(H, 4 * H),
        "transformer.layers.0.mlp.dense_4h_to_h.bias": r(H),
        "transformer.final_layernorm.bias": r(H),
    }


def _shard(name: str, t: Any, rank: int) -> Any:
    """What rank ``rank`` of ``MP`` holds, following Megatron's ColumnParallel/RowParallel layers."""
    if "query_key_value" in name:  # per rank [q_r; k_r; v_r]
        q, k, v = t.chunk(3, dim=0)
        return torch.cat([x.chunk(MP, dim=0)[rank] for x in (q, k, v)], dim=0).clone()
    if "word_embeddings" in name or "dense_h_to_4h" in name:
        return t.chunk(MP, dim=0)[rank].clone()
    if name.endswith(("dense_4h_to_h.weight", "attention.dense.weight")):
        return t.chunk(MP, dim=1)[rank].clone()
    return t.clone()


def _write(folder: Path, full: dict[str, Any], deepspeed: bool) -> list[Path]:
    paths = []
    for rank in range(MP):
        lm = {PREFIX + k: _shard(k, v, rank) for k, v in full.items()}
        nested: dict[str, Any] = {"language_model": {k[len(PREFIX) :]: v for k, v in lm.items()}}
        ckpt = {
            "iteration": 100,
            "checkpoint_version": 3.0,
            "args": argparse.Namespace(
                hidden_size=H, tensor_model_parallel_size=MP, params_dtype=torch.float16
            ),
            "mask": AttnMaskType.padding,
            "optimizer": {"state": {0: {"exp_avg": torch.zeros(2)}}},
            "np_rng_state": np.random.RandomState(0).get_state(),
            "torch_rng_state": torch.get_rng_state(),
        }
        if deepspeed:
            path = folder / f"mp_rank_{rank:02d}_model_states.pt"
            ckpt["module"] = nested
        else:
            (folder / f"mp_rank_{rank:02d}").mkdir()
            path = folder / f"mp_rank_{rank:02d}" / "model_optim_rng.pt"
            ckpt["model"] = nested
        torch.save(ckpt, path)
        paths.append(path)
    return paths


@pytest.mark.parametrize("deepspeed", [True, False])
def test_merged_equals_original(tmp_path: Path, deepspeed: bool) -> None:
    full = _full()
    paths = _write(tmp_path, full, deepspeed)
    for target in (tmp_path, paths[1]):
        assert sniff(target) == "megatron"
        with open_checkpoint(target) as reader:
            assert reader.keys() == [PREFIX + k for k in full]
            for k, v in full.items():
                assert reader.shape(PREFIX + k) == tuple(v.shape), k
                assert reader.get(PREFIX + k).tobytes() == v.numpy().tobytes(), k
            meta = reader.metadata()
            assert meta["model_parallel_size"] == MP
            assert meta["iteration"] == 100
            assert meta["args"]["hidden_size"] == H
            assert meta["root"] == ("module" if deepspeed else "model")


def test_replicated_mismatch_is_reported(tmp_path: Path) -> None:
    full = _full()
    paths = _write(tmp_path, full, deepspeed=True)
    ckpt = torch.load(paths[1], weights_only=False)  # our own fixture
    ckpt["module"]["language_model"]["transformer.final_layernorm.bias"] += 1
    torch.save(ckpt, paths[1])
    reader = megatron.open(tmp_path)
    with pytest.raises(CorruptCheckpointError, match="differs from rank 0"):
        reader.get(PREFIX + "transformer.final_layernorm.bias")
    lax = megatron.open(tmp_path, check_replicated=False)
    assert (
        lax.get(PREFIX + "transformer.final_layernorm.bias").tobytes()
        == full["transformer.final_layernorm.bias"].numpy().tobytes()
    )
    assert "unchecked" in lax.metadata()["replicated_policy"]


def test_rules_can_be_overridden(tmp_path: Path) -> None:
    full = _full()
    _write(tmp_path, full, deepspeed=True)
    plain = megatron.open(tmp_path, rules=[(r"query_key_value", megatron.Split(0))])
    qkv = plain.get(PREFIX + "transformer.layers.0.attention.query_key_value.weight")
    assert qkv.shape == (3 * H, H)
    assert qkv.tobytes() != full["transformer.layers.0.attention.query_key_value.weight"].numpy().tobytes()


def test_unknown_partition_needs_a_rule(tmp_path: Path) -> None:
    for rank in range(MP):
        torch.save(
            {"module": {"odd.weight": torch.ones(2 + rank)}}, tmp_path / f"mp_rank_{rank:02d}_model_states.pt"
        )
    with pytest.raises(CorruptCheckpointError, match="rules="):
        megatron.open(tmp_path)
    merged = megatron.open(tmp_path, rules=[(r"^odd\.weight$", megatron.Split(0))])
    assert merged.shape("odd.weight") == (5,)


def test_hostile_shard_refused_even_in_lenient_mode(tmp_path: Path) -> None:
    sentinel = tmp_path / "PWNED"
    torch.save({"module": {"w": torch.ones(2)}}, tmp_path / "mp_rank_00_model_states.pt")
    payloads.torch_zip_with(
        tmp_path / "mp_rank_00_model_states.pt",
        payloads.call("subprocess", "Popen", ["touch", str(sentinel)]),
        tmp_path / "mp_rank_01_model_states.pt",
    )
    with pytest.raises(UnsafeContentError):
        megatron.open(tmp_path)
    assert not sentinel.exists()


def test_missing_rank_is_reported(tmp_path: Path) -> None:
    for rank in (0, 2):
        torch.save({"module": {"w": torch.ones(2)}}, tmp_path / f"mp_rank_{rank:02d}_model_states.pt")
    with pytest.raises(CorruptCheckpointError, match=r"not 0\.\.1"):
        megatron.open(tmp_path)
