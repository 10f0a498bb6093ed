"""safetensors reader: files written by the reference ``safetensors`` package read back bit for bit;
the malformed-header corpus of the reference implementation is refused; fuzzing lets only
FormatError escape."""

from __future__ import annotations

import json
import struct
import tracemalloc
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zhplm.errors import CorruptCheckpointError, FormatError, UnsupportedFormatError
from zhplm.formats import open_checkpoint, sniff
from zhplm.formats.safetensors_ import SafetensorsReader


def _reference_tensors() -> dict[str, Any]:
    import torch

    g = torch.Generator().manual_seed(0)
    return {
        "f32": torch.randn(3, 4, generator=g),
        "f64": torch.randn(5, generator=g, dtype=torch.float64),
        "f16": torch.randn(2, 3, generator=g).half(),
        "bf16": torch.randn(7, generator=g).bfloat16(),
        "i64": torch.arange(-3, 3, dtype=torch.int64),
        "i32": torch.arange(6, dtype=torch.int32).reshape(2, 3),
        "i16": torch.tensor([-2, 7], dtype=torch.int16),
        "i8": torch.tensor([-128, 127, 0], dtype=torch.int8),
        "u8": torch.tensor([0, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 4),
        "中文/权重": torch.ones(2),
    }


def _bits(a: np.ndarray[Any, Any]) -> bytes:
    return a.view(np.uint16).tobytes() if a.dtype == ml_dtypes.bfloat16 else a.tobytes()


def test_reads_what_the_reference_writer_wrote(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    tensors = _reference_tensors()
    save_file(tensors, str(tmp_path / "model.safetensors"), metadata={"format": "pt", "who": "test"})
    assert sniff(tmp_path / "model.safetensors") == "safetensors"
    assert sniff(tmp_path) == "safetensors"
    with open_checkpoint(tmp_path) as r:
        assert isinstance(r, SafetensorsReader)
        assert set(r.keys()) == set(tensors)
        assert r.metadata()["metadata"] == {"format": "pt", "who": "test"}
        for name, t in tensors.items():
            got = r.get(name)
            assert got.shape == tuple(t.shape), name
            ref = t.view(dtype=t.dtype).contiguous()
            raw = ref.view(-1).view(__import__("torch").uint8).numpy().tobytes() if ref.numel() else b""
            assert _bits(got) == raw, name
            assert got.dtype.itemsize == t.element_size()


def test_sharded_folder_is_one_reader(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    a, b, c = np.arange(4, dtype=np.float32), np.ones((2, 2), np.int64), np.zeros(3, np.float16)
    save_file({"a": a, "b": b}, str(tmp_path / "model-00001-of-00002.safetensors"))
    save_file({"c": c}, str(tmp_path / "model-00002-of-00002.safetensors"))
    index = {
        "metadata": {"total_size": 4 * 4 + 8 * 4 + 2 * 3},
        "weight_map": {
            "a": "model-00001-of-00002.safetensors",
            "b": "model-00001-of-00002.safetensors",
            "c": "model-00002-of-00002.safetensors",
        },
    }
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    with open_checkpoint(tmp_path) as r:
        assert sorted(r.keys()) == ["a", "b", "c"]
        assert r.get("b").tobytes() == b.tobytes()
        assert r.get("c").dtype == np.float16
        assert r.metadata()["index_metadata"]["total_size"] == 54
    # a missing shard and an escaping file name are refused
    (tmp_path / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(CorruptCheckpointError, match=r"shard .*00002.safetensors is missing"):
        open_checkpoint(tmp_path)
    index["weight_map"]["c"] = "../elsewhere.safetensors"
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CorruptCheckpointError, match="invalid file name"):
        open_checkpoint(tmp_path)


# ------------------------------------------------------------------ the malformed corpus


def _file(tmp_path: Path, header: bytes | dict[str, Any], data: bytes = b"", n: int | None = None) -> Path:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    p = tmp_path / "bad.safetensors"
    p.write_bytes(struct.pack("<Q", len(raw) if n is None else n) + raw + data)
    return p


def _t(begin: int, end: int, shape: list[int] | None = None, dtype: str = "F32") -> dict[str, Any]:
    return {
        "dtype": dtype,
        "shape": shape if shape is not None else [(end - begin) // 4],
        "data_offsets": [begin, end],
    }


BAD: dict[str, tuple[Any, bytes, int | None, str]] = {
    "header too large": (b"{}", b"", 100_000_001, "exceeds"),
    "header length past the end": (b"{}", b"", 1000, "runs past the end"),
    "not utf-8": (b'{"\xff": 1}', b"", None, "UTF-8"),
    "not json": (b"{not json", b"", None, "not valid JSON"),
    "json array": (b"[1, 2]", b"", None, "not a JSON object"),
    "duplicate key": (b'{"a": 1, "a": 2}', b"", None, "duplicate key"),
    "json attack (all tensors at the same offsets)": (
        {f"t{i}": _t(0, 16) for i in range(10)},
        b"\x00" * 16,
        None,
        "overlaps",
    ),
    "gap": ({"a": _t(0, 8), "b": _t(12, 16)}, b"\x00" * 16, None, "gap"),
    "trailing bytes (polyglot)": ({"a": _t(0, 8)}, b"\x00" * 8 + b"PK\x03\x04zip", None, "trailing bytes"),
    "missing bytes": ({"a": _t(0, 8)}, b"\x00" * 6, None, "needs more bytes|short"),
    "size != shape x itemsize": ({"a": _t(0, 8, [1])}, b"\x00" * 8, None, "do not match shape"),
    "shape overflow": ({"a": _t(0, 8, [1 << 62, 1 << 62])}, b"\x00" * 8, None, "needs more bytes"),
    "negative dim": ({"a": _t(0, 8, [-2])}, b"\x00" * 8, None, "invalid shape"),
    "bool dim": ({"a": _t(0, 4, [True])}, b"\x00" * 4, None, "invalid shape"),
    "unknown dtype": ({"a": _t(0, 8, [2], "F128")}, b"\x00" * 8, None, "unknown dtype"),
    "bad offsets": (
        {"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}},
        b"\x00" * 8,
        None,
        "offsets",
    ),
    "metadata not strings": ({"__metadata__": {"a": 1}}, b"", None, "__metadata__"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_malformed_headers_are_refused(tmp_path: Path, case: str) -> None:
    header, data, n, message = BAD[case]
    path = _file(tmp_path, header, data, n)
    with pytest.raises(CorruptCheckpointError, match=message):
        SafetensorsReader(path)


def test_too_short_file(tmp_path: Path) -> None:
    p = tmp_path / "x.safetensors"
    p.write_bytes(b"\x02\x00")
    with pytest.raises(CorruptCheckpointError, match="too short"):
        SafetensorsReader(p)


def test_accepted_edge_cases(tmp_path: Path) -> None:
    """Space-padded header, zero-sized tensors and an empty file are valid (as in the reference)."""
    header = json.dumps({"z": _t(0, 0, [0, 5]), "a": _t(0, 8)}).encode() + b"    "
    p = _file(tmp_path, header, np.array([1.0, 2.0], np.float32).tobytes())
    with SafetensorsReader(p) as r:
        assert r.get("z").shape == (0, 5)
        assert r.get("a").tolist() == [1.0, 2.0]
    with SafetensorsReader(_file(tmp_path, {})) as r:
        assert r.keys() == []


def test_folder_with_several_files_and_no_index(tmp_path: Path) -> None:
    for name in ("a", "b"):
        _file(tmp_path, {"x": _t(0, 4)}, b"\x00" * 4).rename(tmp_path / f"{name}.safetensors")
    with pytest.raises(UnsupportedFormatError, match="several safetensors files"):
        open_checkpoint(tmp_path)


# ------------------------------------------------------------------ fuzz


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-5, 1 << 64)
        | st.text(max_size=5)
        | st.sampled_from(["F32", "BF16"]),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.sampled_from(["dtype", "shape", "data_offsets", "a", "__metadata__"]), children, max_size=4
            )
        ),
        max_leaves=20,
    ),
    data=st.binary(max_size=64),
    declared=st.one_of(st.none(), st.integers(0, 1 << 64 - 1)),
)
def test_fuzz_headers_only_raise_format_errors(
    tmp_path: Path, header: Any, data: bytes, declared: int | None
) -> None:
    raw = json.dumps({"t": header} if not isinstance(header, dict) else header).encode()
    path = tmp_path / "f.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw) if declared is None else declared % (1 << 64)) + raw + data)
    tracemalloc.start()
    try:
        with SafetensorsReader(path) as r:
            for name in r:
                r.get(name)
    except FormatError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 16 << 20


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_byte_mutations_only_raise_format_errors(tmp_path: Path, data: st.DataObject) -> None:
    header = json.dumps({"a": _t(0, 8), "b": _t(8, 12, [2], "BF16"), "__metadata__": {"k": "v"}}).encode()
    raw = bytearray(struct.pack("<Q", len(header)) + header + b"\x01" * 12)
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    path = tmp_path / "f.safetensors"
    path.write_bytes(bytes(raw[: data.draw(st.integers(0, len(raw)))]))
    try:
        with SafetensorsReader(path) as r:
            for name in r:
                r.get(name)
    except FormatError:
        pass
