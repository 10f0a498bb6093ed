"""MindSpore checkpoints built with google.protobuf (the encoding is protobuf's own) and laid out the
way MindSpore's serialization.py writes them; read back bit for bit without MindSpore."""

from __future__ import annotations

import binascii
import contextlib
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile.protos import Checkpoint
from zhplm.errors import CorruptCheckpointError, EncryptedCheckpointError, FormatError, UnsupportedFormatError
from zhplm.formats import mindspore, open_checkpoint, sniff

RNG = np.random.default_rng(0)
TYPES = {
    np.dtype(np.float32): "Float32",
    np.dtype(np.float16): "Float16",
    np.dtype(np.int64): "Int64",
    np.dtype(np.int32): "Int32",
    np.dtype(np.bool_): "Bool",
    np.dtype(ml_dtypes.bfloat16): "BFloat16",
}


def _message(tag: str, arr: np.ndarray, content: bytes, tensor_type: str | None = None) -> bytes:
    ck = Checkpoint()
    value = ck.value.add()
    value.tag = tag
    value.tensor.dims.extend(list(arr.shape) if arr.shape else [0])  # MindSpore writes [0] for scalars
    value.tensor.tensor_type = tensor_type or TYPES[arr.dtype]
    value.tensor.tensor_content = content
    return ck.SerializeToString()


def write_ckpt(
    path: Path,
    tensors: dict[str, np.ndarray],
    *,
    chunk: int | None = None,
    crc: bool = False,
    types: dict[str, str] | None = None,
) -> bytes:
    """One Checkpoint message per chunk, as _write_parameter_bytes_data does; optional crc trailer."""
    out = b""
    for tag, arr in tensors.items():
        raw = np.ascontiguousarray(arr).tobytes()
        step = chunk or max(len(raw), 1)
        for i in range(0, max(len(raw), 1), step):
            out += _message(tag, arr, raw[i : i + step], (types or {}).get(tag))
    if crc:
        out += b"crc_num" + binascii.crc32(out).to_bytes(10, "big")
    path.write_bytes(out)
    return out


def _tensors() -> dict[str, np.ndarray]:
    return {
        "backbone.embedding.word_embedding.embedding_table": RNG.standard_normal((10, 4)).astype(np.float32),
        "backbone.blocks.0.attention.dense1.weight": RNG.standard_normal((4, 4)).astype(np.float16),
        "bf16": RNG.standard_normal(6).astype(ml_dtypes.bfloat16),
        "global_step": np.array(42, dtype=np.int32),
        "ids": np.arange(5, dtype=np.int64),
        "mask": np.array([True, False]),
    }


@pytest.mark.parametrize("crc", [False, True])
@pytest.mark.parametrize("chunk", [None, 24])
def test_round_trip(tmp_path: Path, crc: bool, chunk: int | None) -> None:
    tensors = _tensors()
    path = tmp_path / "pangu.ckpt"
    write_ckpt(path, tensors, chunk=chunk, crc=crc)
    assert sniff(path) == "mindspore"
    with open_checkpoint(path) as reader:
        assert reader.keys() == list(tensors)
        for tag, arr in tensors.items():
            assert reader.shape(tag) == arr.shape
            assert reader.dtype(tag) == arr.dtype
            assert reader.get(tag).tobytes() == arr.tobytes(), tag
        assert reader.metadata()["crc"] == ("verified" if crc else "absent")


def test_mindspore_dtype_spelling(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    arr = np.arange(3, dtype=np.float32)
    write_ckpt(path, {"w": arr}, types={"w": "mindspore.float32"})
    assert mindspore.open(path).get("w").tolist() == [0.0, 1.0, 2.0]


def test_crc_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "c.ckpt"
    data = bytearray(write_ckpt(path, _tensors(), crc=True))
    data[len(data) - 18] ^= 0xFF  # last content byte, just before the 17-byte trailer
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptCheckpointError, match="crc"):
        mindspore.open(path)
    assert mindspore.open(path, check_crc=False).metadata()["crc"] == "present, not checked"


def test_encrypted_refused(tmp_path: Path) -> None:
    path = tmp_path / "enc.ckpt"
    path.write_bytes((0x7F3A5ED8).to_bytes(4, "little") + RNG.bytes(200))
    assert sniff(path) == "mindspore"
    with pytest.raises(EncryptedCheckpointError, match="dec_key"):
        mindspore.open(path)


def test_maptensor_refused(tmp_path: Path) -> None:
    ck = Checkpoint()
    value = ck.value.add()
    value.tag = "table"
    t = value.maptensor.tensor.add()
    t.dims.extend([2])
    t.tensor_type = "int32"
    t.tensor_content = b"\0" * 8
    path = tmp_path / "map.ckpt"
    path.write_bytes(
        _message("w", np.ones(1, np.float32), np.ones(1, np.float32).tobytes()) + ck.SerializeToString()
    )
    with pytest.raises(UnsupportedFormatError, match="MapTensor"):
        mindspore.open(path)


def test_unknown_dtype_and_size_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "u.ckpt"
    write_ckpt(path, {"w": np.ones(2, np.float32)}, types={"w": "Complex32"})
    with pytest.raises(UnsupportedFormatError, match="Complex32"):
        mindspore.open(path)
    path.write_bytes(_message("w", np.ones((2, 3), np.float32), b"\0" * 20))
    with pytest.raises(CorruptCheckpointError, match="'w'"):
        mindspore.open(path)


def test_field_overrunning_parent(tmp_path: Path) -> None:
    good = _message("w", np.ones(4, np.float32), np.ones(4, np.float32).tobytes())
    path = tmp_path / "o.ckpt"
    path.write_bytes(good[:-3])  # the outer length now claims bytes that are not there
    with pytest.raises(CorruptCheckpointError, match="overruns"):
        mindspore.open(path)


def test_wire_type_group_refused(tmp_path: Path) -> None:
    path = tmp_path / "g.ckpt"
    path.write_bytes(b"\x0b\x0c")  # field 1 START_GROUP
    with pytest.raises(CorruptCheckpointError, match="wire type"):
        mindspore.open(path)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_fuzz_mindspore(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    path = tmp_path_factory.mktemp("fz") / "f.ckpt"
    blob = bytearray(
        write_ckpt(
            path,
            {"a": np.arange(6, dtype=np.float32), "b": np.ones(3, np.int64)},
            chunk=8,
            crc=data.draw(st.booleans()),
        )
    )
    for _ in range(data.draw(st.integers(1, 4))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    path.write_bytes(bytes(blob[: data.draw(st.integers(1, len(blob)))]))
    with contextlib.suppress(FormatError), mindspore.open(path, check_crc=data.draw(st.booleans())) as reader:
        for name in reader:
            reader.get(name)
