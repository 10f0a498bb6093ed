"""Paddle .pdparams pickles and static LoDTensor folders, written the way Paddle writes them, read
back bit for bit without Paddle."""

from __future__ import annotations

import contextlib
import math
import pickle
import struct
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile import payloads
from hostile.protos import TensorDesc
from zhplm.errors import CorruptCheckpointError, FormatError, UnsafeContentError, UnsupportedFormatError
from zhplm.formats import open_checkpoint, paddle, paddle_static, sniff

RNG = np.random.default_rng(0)


def _state() -> dict[str, np.ndarray]:
    return {
        "embeddings.word_embeddings.weight": RNG.standard_normal((11, 4)).astype(np.float32),
        "encoder.layers.0.linear1.weight": RNG.standard_normal((4, 8)).astype(np.float32),
        "encoder.layers.0.linear1.bias": np.zeros(8, dtype=np.float32),
        "half": RNG.standard_normal(5).astype(np.float16),
        "bf16_as_uint16": RNG.integers(0, 2**16, size=6, dtype=np.uint16),
        "steps": np.array(3, dtype=np.int64),
        "big": RNG.standard_normal(40_000).astype(np.float32),  # 160 KB: stays on disk until get()
    }


def _unpack_like_paddle(saved: dict[str, Any], protocol: int, max_bytes: int) -> dict[str, Any]:
    """Paddle's ``_unpack_saved_dict`` layout (io_utils.py), with a small threshold instead of 2**30-1."""
    if not 1 < protocol < 4:
        return saved
    info: dict[str, Any] = {}
    parts: dict[str, np.ndarray] = {}
    for key, value in saved.items():
        if isinstance(value, np.ndarray):
            max_n = int(max_bytes / value.dtype.itemsize)
            n = int(np.prod(value.shape))
            if n > max_n:
                info[key] = {"OriginShape": value.shape, "slices": []}
                flat = value.flatten()
                for i in range(math.ceil(n / max_n)):
                    name = f"{key}@@.{i}"
                    info[key]["slices"].append(name)
                    parts[name] = flat[i * max_n : (i + 1) * max_n]
    for key, value in info.items():
        saved.pop(key)
        for part in value["slices"]:
            saved[part] = parts[part]
    if info:
        saved["UnpackBigParamInfor@@"] = info
    return saved


def _save_pdparams(
    path: Path, state: dict[str, np.ndarray], protocol: int, split_bytes: int = 1 << 16
) -> None:
    saved: dict[str, Any] = dict(state)
    saved["StructuredToParameterName@@"] = {k: f"param_{i}" for i, k in enumerate(state)}
    saved = _unpack_like_paddle(saved, protocol, split_bytes)
    with open(path, "wb") as f:
        pickle.dump(saved, f, protocol=protocol)


@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_pdparams_round_trip(tmp_path: Path, protocol: int) -> None:
    state = _state()
    path = tmp_path / "model_state.pdparams"
    _save_pdparams(path, state, protocol)
    assert sniff(path) == "paddle"
    with open_checkpoint(path) as reader:
        assert sorted(reader.keys()) == sorted(state)
        for k, v in state.items():
            out = reader.get(k)
            assert reader.shape(k) == v.shape
            assert out.dtype == v.dtype
            assert out.tobytes() == v.tobytes(), k
        meta = reader.metadata()
        assert meta["structured_to_parameter_name"]["half"] == "param_3"


def test_split_parts_are_hidden_and_joined(tmp_path: Path) -> None:
    path = tmp_path / "split.pdparams"
    state = {"w": RNG.standard_normal((30, 7)).astype(np.float32)}
    _save_pdparams(path, state, 2, split_bytes=100)  # 25 floats per part -> 9 parts
    raw = pickle.loads(path.read_bytes())  # our own test fixture, safe to load
    assert "w@@.8" in raw
    reader = paddle.open(path)
    assert reader.keys() == ["w"]
    assert reader.shape("w") == (30, 7)
    assert reader.get("w").tobytes() == state["w"].tobytes()


def test_numpy1_module_names(tmp_path: Path) -> None:
    blob = pickle.dumps({"w": np.arange(6, dtype=np.float32)}, protocol=2)
    old = blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert old != blob
    path = tmp_path / "old.pdparams"
    path.write_bytes(old)
    assert paddle.open(path).get("w").tolist() == list(range(6))


class _VarBase:
    """Paddle's non-state-dict reduction of a Tensor: ``(tuple, ((name, ndarray),))``."""

    def __init__(self, name: str, data: np.ndarray) -> None:
        self.name, self.data = name, data

    def __reduce__(self) -> Any:
        return (tuple, ((self.name, self.data),))


def test_tuple_reduced_tensors(tmp_path: Path) -> None:
    path = tmp_path / "t.pdparams"
    arr = np.arange(4, dtype=np.float64)
    path.write_bytes(pickle.dumps({"linear.w": _VarBase("linear_0.w_0", arr)}, protocol=4))
    reader = paddle.open(path)
    assert reader.get("linear.w").tobytes() == arr.tobytes()
    assert reader.metadata()["parameter_names"] == {"linear.w": "linear_0.w_0"}


def test_hostile_pdparams(tmp_path: Path) -> None:
    sentinel = tmp_path / "PWNED"
    path = tmp_path / "evil.pdparams"
    path.write_bytes(
        payloads.in_dict(
            payloads.call("numpy.testing._private.utils", "runstring", f"open({str(sentinel)!r},'w')", {})
        )
    )
    with pytest.raises(UnsafeContentError):
        paddle.open(path)
    assert not sentinel.exists()


def test_truncated_pdparams(tmp_path: Path) -> None:
    path = tmp_path / "t.pdparams"
    _save_pdparams(path, _state(), 4)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(CorruptCheckpointError):
        paddle.open(path)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_fuzz_pdparams(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    path = tmp_path_factory.mktemp("fz") / "f.pdparams"
    blob = bytearray(
        pickle.dumps(
            {"a": np.arange(6, dtype=np.float32), "b": np.ones((2, 2))},
            protocol=data.draw(st.sampled_from([2, 3, 4])),
        )
    )
    for _ in range(data.draw(st.integers(1, 4))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    path.write_bytes(bytes(blob[: data.draw(st.integers(1, len(blob)))]))
    tracemalloc.start()
    try:
        with contextlib.suppress(FormatError), paddle.open(path) as reader:
            for name in reader:
                reader.get(name)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


# --------------------------------------------------------------------------- static LoDTensor files

PADDLE_TYPE = {
    np.dtype(np.float32): 5,
    np.dtype(np.float16): 4,
    np.dtype(np.int64): 3,
    np.dtype(np.int32): 2,
    np.dtype(np.float64): 6,
}


def write_lodtensor(path: Path, arr: np.ndarray, lod: list[list[int]] | None = None) -> None:
    """The byte layout of Paddle's SerializeToStream + TensorToStream (lod_tensor_serialize.cc)."""
    desc = TensorDesc(data_type=PADDLE_TYPE[arr.dtype], dims=list(arr.shape)).SerializeToString()
    out = struct.pack("<I", 0) + struct.pack("<Q", len(lod or []))
    for level in lod or []:
        body = np.asarray(level, dtype=np.uint64).tobytes()
        out += struct.pack("<Q", len(body)) + body
    out += struct.pack("<I", 0) + struct.pack("<i", len(desc)) + desc + np.ascontiguousarray(arr).tobytes()
    path.write_bytes(out)


def test_static_folder_round_trip(tmp_path: Path) -> None:
    folder = tmp_path / "params"
    folder.mkdir()
    tensors = {
        "word_embedding": RNG.standard_normal((9, 4)).astype(np.float32),
        "encoder_layer_0_multi_head_att_query_fc.w_0": RNG.standard_normal((4, 4)).astype(np.float32),
        "encoder_layer_0_ffn_fc_0.b_0": RNG.standard_normal(16).astype(np.float16),
        "step": np.array([5], dtype=np.int64),
        "scalar": np.array(2.0, dtype=np.float64),
    }
    for name, arr in tensors.items():
        write_lodtensor(folder / name, arr, lod=[[0, 2, 4]] if name == "step" else None)
    (folder / "__model__").write_bytes(b"\n\x08program")
    assert sniff(folder) == "paddle-static"
    with open_checkpoint(folder) as reader:
        assert sorted(reader.keys()) == sorted(tensors)
        for name, arr in tensors.items():
            assert reader.shape(name) == arr.shape
            assert reader.get(name).tobytes() == arr.tobytes()
        assert reader.metadata()["skipped_files"] == ["__model__"]


def test_static_truncated_and_bad_desc(tmp_path: Path) -> None:
    path = tmp_path / "w"
    write_lodtensor(path, np.ones((3, 3), dtype=np.float32))
    data = path.read_bytes()
    path.write_bytes(data[:-4])
    with pytest.raises(CorruptCheckpointError, match="36"):
        paddle_static.open(path)
    desc = TensorDesc(data_type=17, dims=[3]).SerializeToString()  # RAW: not a dense dtype
    path.write_bytes(struct.pack("<IQIi", 0, 0, 0, len(desc)) + desc + b"\0" * 12)
    with pytest.raises(CorruptCheckpointError, match="data_type 17"):
        paddle_static.open(path)
    path.write_bytes(struct.pack("<IQIi", 0, 0, 0, 10_000) + b"\0" * 20)  # desc overruns the file
    with pytest.raises(CorruptCheckpointError, match="truncated"):
        paddle_static.open(path)


def test_static_combined_params_refused(tmp_path: Path) -> None:
    path = tmp_path / "__params__"
    write_lodtensor(path, np.ones(2, dtype=np.float32))
    path.write_bytes(path.read_bytes() * 2)
    with pytest.raises(UnsupportedFormatError, match="combined"):
        paddle_static.open(path)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_fuzz_static(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    path = tmp_path_factory.mktemp("fz") / "w"
    write_lodtensor(path, np.arange(12, dtype=np.float32).reshape(3, 4), lod=[[0, 1]])
    blob = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    path.write_bytes(bytes(blob[: data.draw(st.integers(1, len(blob)))]))
    with contextlib.suppress(FormatError), paddle_static.open(path) as reader:
        for name in reader:
            reader.get(name)
