"""Paddle static-graph parameter folders (``fluid.io.save_persistables``): one LoDTensor file per variable.

Layout of each file, as Paddle's C++ ``SerializeToStream``/``TensorToStream`` write it (all little-endian):

    u32 version (0) · u64 lod_level · lod_level × (u64 nbytes + nbytes of size_t offsets)
    · u32 tensor version (0) · i32 desc_size · ``VarType.TensorDesc`` protobuf (field 1 data_type enum,
    field 2 repeated int64 dims) · raw data (numel × itemsize)

The file name is the variable name. Files that do not begin like a LoDTensor (``__model__``, vocab
files …) are listed in :meth:`metadata` as skipped; a file that begins like one but breaks later is an
error, never silently dropped. A combined ``__params__`` file (``save_combine``) stores no names and is
refused: it needs the program to be named.
"""

from __future__ import annotations

import builtins
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from zhplm.errors import CorruptCheckpointError, UnsupportedFormatError
from zhplm.formats._protowire import LEN, VARINT, iter_fields, packed_varints, signed64
from zhplm.formats._unpickler import np_dtype
from zhplm.formats.base import Reader, check_shape

# VarType.Type values of plain dense data (framework.proto)
PADDLE_DTYPES: dict[int, str] = {
    0: "b1",
    1: "i2",
    2: "i4",
    3: "i8",
    4: "f2",
    5: "f4",
    6: "f8",
    20: "u1",
    21: "i1",
    22: "bf16",
    23: "c8",
    24: "c16",
    37: "u4",
    38: "u8",
}
MAX_LOD_LEVEL = 16
MAX_DESC = 1 << 20
COMBINED_NAMES = ("__params__",)


class _Entry:
    __slots__ = ("dtype", "file", "offset", "shape")

    def __init__(self, file: Path, offset: int, shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
        self.file = file
        self.offset = offset
        self.shape = shape
        self.dtype = dtype


def _looks_like_lodtensor(head: bytes) -> bool:
    """The first 12 bytes: version 0 and a small lod_level."""
    if len(head) < 12:
        return False
    version, lod_level = struct.unpack("<IQ", head[:12])
    return bool(version == 0 and lod_level <= MAX_LOD_LEVEL)


def parse_tensor_desc(desc: bytes, what: str) -> tuple[np.dtype[Any], tuple[int, ...]]:
    data_type: int | None = None
    dims: list[int] = []
    for number, wire, value in iter_fields(desc):
        if number == 1 and wire == VARINT:
            assert isinstance(value, int)
            data_type = value
        elif number == 2 and wire == VARINT:
            assert isinstance(value, int)
            dims.append(signed64(value))
        elif number == 2 and wire == LEN:
            assert isinstance(value, memoryview)
            dims.extend(signed64(v) for v in packed_varints(value))
    if data_type is None:
        raise CorruptCheckpointError(f"{what}: TensorDesc has no data_type")
    code = PADDLE_DTYPES.get(data_type)
    if code is None:
        raise CorruptCheckpointError(f"{what}: unsupported Paddle data_type {data_type}")
    if any(d < 0 for d in dims) or len(dims) > 64:
        raise CorruptCheckpointError(f"{what}: bad dims {dims[:8]}")
    dtype = np_dtype(code)
    return dtype, check_shape(tuple(dims), dtype.itemsize, what=what)


def read_header(path: Path) -> _Entry:
    """Parse one LoDTensor file's header; the data must fill the rest of the file exactly."""
    size = path.stat().st_size
    what = str(path)
    with builtins.open(path, "rb") as f:

        def take(n: int) -> bytes:
            pos = f.tell()
            if n > size - pos:
                raise CorruptCheckpointError(
                    f"{what}: truncated or damaged ({n} bytes needed at offset {pos}, file is {size})"
                )
            return f.read(n)

        version, lod_level = struct.unpack("<IQ", take(12))
        if version != 0:
            raise CorruptCheckpointError(f"{what}: LoDTensor version {version} is not 0")
        if lod_level > MAX_LOD_LEVEL:
            raise CorruptCheckpointError(f"{what}: lod_level {lod_level} is implausible")
        for _ in range(lod_level):
            (nbytes,) = struct.unpack("<Q", take(8))
            if nbytes % 8 or nbytes > size:
                raise CorruptCheckpointError(f"{what}: LoD level of {nbytes} bytes is malformed")
            take(nbytes)
        tensor_version, desc_size = struct.unpack("<Ii", take(8))
        if tensor_version != 0:
            raise CorruptCheckpointError(f"{what}: tensor version {tensor_version} is not 0")
        if not 0 < desc_size <= MAX_DESC:
            raise CorruptCheckpointError(f"{what}: TensorDesc size {desc_size} is invalid")
        dtype, shape = parse_tensor_desc(take(desc_size), what)
        offset = f.tell()
    numel = 1
    for d in shape:
        numel *= d
    need = numel * dtype.itemsize
    if offset + need != size:
        if path.name in COMBINED_NAMES or offset + need < size:
            raise UnsupportedFormatError(
                f"{what}: more data than one tensor — a combined parameter file (save_combine) stores no "
                "names; export it with paddle.static.save_vars(..., filename=None) or as .pdparams"
            )
        raise CorruptCheckpointError(
            f"{what}: shape {shape} × {dtype.itemsize} bytes = {need}, but {size - offset} bytes follow the "
            "header; the file is truncated or damaged"
        )
    return _Entry(path, offset, shape, dtype)


def _claims(file: Path) -> bool:
    """Whether ``file`` begins like a LoDTensor file (header fields, not the data, are looked at).

    Sniffing claims on the beginning alone, so that a truncated or damaged parameter file is reported
    as damaged when opened, not as "no checkpoint here".
    """
    with builtins.open(file, "rb") as f:
        head = f.read(20)
    if not _looks_like_lodtensor(head):
        return False
    if struct.unpack("<Q", head[4:12])[0] > 0:
        return True  # LoD offsets follow; the reader checks them
    if len(head) < 20:
        return False
    tensor_version, desc_size = struct.unpack("<Ii", head[12:20])
    return bool(tensor_version == 0 and 0 < desc_size <= MAX_DESC)


def sniff(path: Path) -> bool:
    try:
        if path.is_file():
            return _claims(path)
        if path.is_dir():
            for child in sorted(path.iterdir())[:2000]:
                if child.is_file() and not child.name.startswith(".") and _claims(child):
                    return True
    except OSError:
        return False
    return False


class PaddleStaticReader(Reader):
    format = "paddle-static"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._entries: dict[str, _Entry] = {}
        self._skipped: list[str] = []
        files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
        for file in files:
            if file.name.startswith("."):
                continue
            with builtins.open(file, "rb") as f:
                head = f.read(12)
            if not _looks_like_lodtensor(head):
                self._skipped.append(file.name)
                continue
            self._entries[file.name] = read_header(file)
        if not self._entries:
            raise CorruptCheckpointError(f"{path}: no LoDTensor parameter files found")

    def _ref(self, name: str) -> _Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"no tensor {name!r} in {self.path}") from None

    def keys(self) -> list[str]:
        return list(self._entries)

    def shape(self, name: str) -> tuple[int, ...]:
        return self._ref(name).shape

    def dtype(self, name: str) -> np.dtype[Any]:
        return self._ref(name).dtype

    def get(self, name: str) -> np.ndarray[Any, Any]:
        e = self._ref(name)
        numel = 1
        for d in e.shape:
            numel *= d
        nbytes = numel * e.dtype.itemsize
        with builtins.open(e.file, "rb") as f:
            if os.fstat(f.fileno()).st_size != e.offset + nbytes:
                raise CorruptCheckpointError(f"{e.file}: changed size since it was opened")
            f.seek(e.offset)
            data = f.read(nbytes)
        return np.frombuffer(data, dtype=e.dtype).reshape(e.shape).copy()

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        meta["skipped_files"] = self._skipped
        return meta


def open(path: Path, **kw: Any) -> PaddleStaticReader:
    return PaddleStaticReader(path, **kw)
