"""MindSpore ``.ckpt`` files, parsed as protobuf directly (no MindSpore, no generated code).

A checkpoint is a run of serialized ``Checkpoint`` messages (``checkpoint.proto``)::

    Checkpoint { repeated Value value = 1; }
    Value      { required string tag = 1; oneof { TensorProto tensor = 2; MapTensorProto maptensor = 3; } }
    TensorProto{ repeated int64 dims = 1; required string tensor_type = 2; required bytes tensor_content = 3; }

MindSpore writes large tensors as several consecutive ``Value``s with the same tag (each carrying the
full dims); their contents concatenate in order. ``dims == [0]`` means a 0-d scalar. With
``crc_check=True`` the file ends in ``b"crc_num"`` + a 10-byte big-endian ``binascii.crc32`` of
everything before it (``serialization.py``); we verify it whenever it is present (``check_crc=False``
skips the full read). Encrypted files (AES-GCM/CBC magic ``0x7F3A5ED8``/``0x7F3A5ED9``) and MapTensor
entries are refused with clear errors.

Lazy: opening walks the wire format with a memory map and records each chunk's offset; ``get`` copies
only that tensor. Every length is checked against its parent message and the file.
"""

from __future__ import annotations

import binascii
import builtins
import mmap
import os
from pathlib import Path
from typing import Any

import numpy as np

from zhplm.errors import CorruptCheckpointError, EncryptedCheckpointError, UnsupportedFormatError
from zhplm.formats._protowire import FIXED32, FIXED64, LEN, VARINT, read_varint, signed64
from zhplm.formats._unpickler import np_dtype
from zhplm.formats.base import Reader, check_shape

CRC_MARK = b"crc_num"
TRAILER = len(CRC_MARK) + 10
CIPHER_MAGICS = (0x7F3A5ED8, 0x7F3A5ED9)
_DTYPES = {
    "int8": "i1",
    "uint8": "u1",
    "int16": "i2",
    "uint16": "u2",
    "int32": "i4",
    "uint32": "u4",
    "int64": "i8",
    "uint64": "u8",
    "float16": "f2",
    "float32": "f4",
    "float64": "f8",
    "bool": "b1",
    "bool_": "b1",
    "bfloat16": "bf16",
}
_NON_TENSOR_TYPES = ("str", "random_op")


def ms_dtype(tensor_type: str) -> np.dtype[Any] | None:
    """``"Float32"``, ``"mindspore.float32"``, ``"BFloat16"`` … → numpy dtype (None if unknown)."""
    key = tensor_type.strip().lower()
    key = key.removeprefix("mindspore.")
    code = _DTYPES.get(key)
    return np_dtype(code) if code else None


def _fields(buf: Any, start: int, end: int, what: str) -> list[tuple[int, int, int, int]]:
    """``(field, wire, value_or_offset, length)`` for each field in ``buf[start:end]``; for LEN fields the
    third item is the absolute offset of the payload."""
    out = []
    pos = start
    while pos < end:
        key, pos = read_varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise CorruptCheckpointError(f"{what}: field number 0 at offset {pos}")
        if wire == VARINT:
            value, pos = read_varint(buf, pos, end)
            out.append((number, wire, value, 0))
        elif wire == LEN:
            length, pos = read_varint(buf, pos, end)
            if length > end - pos:
                raise CorruptCheckpointError(
                    f"{what}: field {number} ({length} bytes at offset {pos}) overruns its parent"
                )
            out.append((number, wire, pos, length))
            pos += length
        elif wire in (FIXED32, FIXED64):
            size = 4 if wire == FIXED32 else 8
            if size > end - pos:
                raise CorruptCheckpointError(f"{what}: truncated fixed field {number}")
            out.append((number, wire, int.from_bytes(buf[pos : pos + size], "little"), 0))
            pos += size
        else:
            raise CorruptCheckpointError(
                f"{what}: unsupported wire type {wire} (field {number}) at offset {pos}"
            )
    return out


def sniff(path: Path) -> bool:
    if not path.is_file():
        return False
    with builtins.open(path, "rb") as f:
        head = f.read(4096)
    if len(head) >= 4 and int.from_bytes(head[:4], "little") in CIPHER_MAGICS:
        return True
    try:  # first Value: field 1 LEN, whose own first field is the tag (field 1 LEN)
        key, pos = read_varint(head, 0)
        if key != (1 << 3 | LEN):
            return False
        _, pos = read_varint(head, pos)
        key, pos = read_varint(head, pos)
        if key != (1 << 3 | LEN):
            return False
        n, pos = read_varint(head, pos)
        tag = head[pos : pos + n]
        return len(tag) == n and n > 0 and bool(tag.decode("utf-8"))
    except (CorruptCheckpointError, UnicodeDecodeError):
        return False


class _Tensor:
    __slots__ = ("chunks", "dtype", "shape")

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype[Any], chunks: list[tuple[int, int]]) -> None:
        self.shape = shape
        self.dtype = dtype
        self.chunks = chunks


class MindSporeReader(Reader):
    format = "mindspore"

    def __init__(self, path: Path, *, check_crc: bool = True) -> None:
        super().__init__(path)
        self._f = builtins.open(path, "rb")  # noqa: SIM115 - closed in close()
        self._mm: mmap.mmap | None = None
        self._tensors: dict[str, _Tensor] = {}
        self._strings: dict[str, str] = {}
        self._crc: str = "absent"
        try:
            self._open(check_crc)
        except BaseException:
            self.close()
            raise

    def _open(self, check_crc: bool) -> None:
        src = str(self.path)
        size = os.fstat(self._f.fileno()).st_size
        if size == 0:
            raise CorruptCheckpointError(f"{src}: empty file")
        head = self._f.read(4)
        if len(head) == 4 and int.from_bytes(head, "little") in CIPHER_MAGICS:
            raise EncryptedCheckpointError(
                f"{src} is an encrypted MindSpore checkpoint (saved with enc_key); decrypt it with "
                "mindspore.load_checkpoint(..., dec_key=...) and save it again without encryption"
            )
        mm = mmap.mmap(self._f.fileno(), 0, access=mmap.ACCESS_READ)
        self._mm = mm
        end = size
        if size >= TRAILER and mm[size - TRAILER : size - 10] == CRC_MARK:
            end = size - TRAILER
            stored = int.from_bytes(mm[size - 10 : size], "big")
            if check_crc:
                crc = 0
                for pos in range(0, end, 1 << 24):
                    crc = binascii.crc32(mm[pos : min(end, pos + (1 << 24))], crc)
                if crc != stored:
                    raise CorruptCheckpointError(
                        f"{src}: crc check failed (stored {stored:#010x}, computed {crc:#010x}); the file is damaged"
                    )
                self._crc = "verified"
            else:
                self._crc = "present, not checked"
        last_tag: str | None = None
        parts: dict[str, tuple[list[int], str, list[tuple[int, int]]]] = {}
        for number, wire, off, length in _fields(mm, 0, end, src):
            if number != 1 or wire != LEN:
                raise CorruptCheckpointError(
                    f"{src}: top-level field {number}/{wire} is not a Checkpoint.value"
                )
            tag, tensor, is_map = None, None, False
            for n2, w2, v2, l2 in _fields(mm, off, off + length, src):
                if n2 == 1 and w2 == LEN:
                    try:
                        tag = mm[v2 : v2 + l2].decode("utf-8")
                    except UnicodeDecodeError:
                        raise CorruptCheckpointError(f"{src}: tag at offset {v2} is not UTF-8") from None
                elif n2 == 2 and w2 == LEN:
                    tensor = (v2, l2)
                elif n2 == 3:
                    is_map = True
            if tag is None:
                raise CorruptCheckpointError(f"{src}: a value at offset {off} has no tag")
            if is_map:
                raise UnsupportedFormatError(
                    f"{src}: {tag!r} is a MapTensor (embedding hash map); zhplm reads dense tensors only"
                )
            if tensor is None:
                raise CorruptCheckpointError(f"{src}: value {tag!r} holds no tensor")
            dims, ttype, content = self._tensor_fields(tensor, tag)
            if tag in parts and tag != last_tag:
                raise CorruptCheckpointError(f"{src}: tag {tag!r} appears twice, not in consecutive chunks")
            if tag in parts:
                prev = parts[tag]
                if prev[1] != ttype:
                    raise CorruptCheckpointError(f"{src}: chunks of {tag!r} disagree on dtype")
                prev[2].append(content)  # in place: copying the list per chunk made opening quadratic
            else:
                parts[tag] = (dims, ttype, [content])
            last_tag = tag
        for tag, (dims, ttype, chunks) in parts.items():
            self._index(tag, dims, ttype, chunks)

    def _tensor_fields(self, tensor: tuple[int, int], tag: str) -> tuple[list[int], str, tuple[int, int]]:
        src = str(self.path)
        assert self._mm is not None
        dims: list[int] = []
        ttype: str | None = None
        content: tuple[int, int] | None = None
        start, length = tensor
        for n, w, v, ln in _fields(self._mm, start, start + length, src):
            if n == 1 and w == VARINT:
                dims.append(signed64(v))
            elif n == 1 and w == LEN:
                sub = self._mm[v : v + ln]
                p = 0
                while p < len(sub):
                    d, p = read_varint(sub, p)
                    dims.append(signed64(d))
            elif n == 2 and w == LEN:
                ttype = self._mm[v : v + ln].decode("utf-8", "replace")
            elif n == 3 and w == LEN:
                content = (v, ln)
        if ttype is None or content is None:
            raise CorruptCheckpointError(f"{src}: tensor {tag!r} lacks tensor_type or tensor_content")
        return dims, ttype, content

    def _index(self, tag: str, dims: list[int], ttype: str, chunks: list[tuple[int, int]]) -> None:
        src = str(self.path)
        if ttype in _NON_TENSOR_TYPES:
            if ttype == "str":
                assert self._mm is not None
                raw = b"".join(self._mm[o : o + n] for o, n in chunks)
                self._strings[tag] = raw.decode("utf-32-le", "replace").rstrip("\0")[:10_000]
            return
        dtype = ms_dtype(ttype)
        if dtype is None:
            raise UnsupportedFormatError(f"{src}: tensor {tag!r} has unknown tensor_type {ttype[:40]!r}")
        if any(d < 0 for d in dims) or len(dims) > 64:
            raise CorruptCheckpointError(f"{src}: tensor {tag!r} has invalid dims {dims[:8]}")
        shape = check_shape(() if dims == [0] else tuple(dims), dtype.itemsize, what=f"{src}: tensor {tag!r}")
        numel = 1
        for d in shape:
            numel *= d
        have = sum(n for _, n in chunks)
        if have != numel * dtype.itemsize:
            raise CorruptCheckpointError(
                f"{src}: tensor {tag!r} has shape {shape} × {dtype.itemsize} bytes = {numel * dtype.itemsize}, "
                f"but {have} bytes in {len(chunks)} chunk(s)"
            )
        self._tensors[tag] = _Tensor(shape, dtype, chunks)

    def _ref(self, name: str) -> _Tensor:
        try:
            return self._tensors[name]
        except KeyError:
            raise KeyError(f"no tensor {name!r} in {self.path}") from None

    def keys(self) -> list[str]:
        return list(self._tensors)

    def shape(self, name: str) -> tuple[int, ...]:
        return self._ref(name).shape

    def dtype(self, name: str) -> np.dtype[Any]:
        return self._ref(name).dtype

    def get(self, name: str) -> np.ndarray[Any, Any]:
        t = self._ref(name)
        if self._mm is None:
            raise CorruptCheckpointError(f"{self.path} is closed")
        data = b"".join(self._mm[o : o + n] for o, n in t.chunks)
        return np.frombuffer(data, dtype=t.dtype).reshape(t.shape).copy()

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        meta.update(crc=self._crc, strings=dict(self._strings))
        return meta

    def close(self) -> None:
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        self._f.close()


def open(path: Path, **kw: Any) -> MindSporeReader:
    return MindSporeReader(path, **kw)
