"""A test-side TF1 tensor-bundle writer, for fixtures TensorFlow will not write: corrupt entries,
big-endian bundles, snappy-flagged blocks, many small index blocks.

It is checked against TensorFlow itself (``test_formats_tf1_oracle.py`` has TF read what it writes),
so the corrupt cases built from it start from a bundle TF accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import google_crc32c
import ml_dtypes
import numpy as np

from zhplm.formats._protowire import FIXED32, FIXED64, LEN, encode_field, encode_varint

MAGIC = 0xDB4775248B80FB57
DT = {
    np.dtype(np.float32): 1,
    np.dtype(np.float64): 2,
    np.dtype(np.int32): 3,
    np.dtype(np.uint8): 4,
    np.dtype(np.int16): 5,
    np.dtype(np.int8): 6,
    np.dtype(np.int64): 9,
    np.dtype(np.bool_): 10,
    np.dtype(ml_dtypes.bfloat16): 14,
    np.dtype(np.uint16): 17,
    np.dtype(np.float16): 19,
}
_ = FIXED64, LEN


def masked(data: bytes) -> int:
    crc = int(google_crc32c.value(bytes(data)))
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def shape_proto(shape: tuple[int, ...] | list[int]) -> bytes:
    return b"".join(encode_field(2, encode_field(1, d)) for d in shape)


def entry_proto(
    dtype: int,
    shape: tuple[int, ...] | list[int],
    shard_id: int = 0,
    offset: int = 0,
    size: int = 0,
    crc: int | None = None,
    slices: list[list[tuple[int, int]]] | None = None,
) -> bytes:
    out = encode_field(1, dtype) + encode_field(2, shape_proto(shape))
    if shard_id:
        out += encode_field(3, shard_id)
    if offset:
        out += encode_field(4, offset)
    if size:
        out += encode_field(5, size)
    if crc is not None:
        out += encode_field(6, crc, FIXED32)
    for extents in slices or []:
        ext = b""
        for start, length in extents:
            e = encode_field(1, start) if start else b""
            if length != -1:
                e += encode_field(2, length)
            ext += encode_field(1, e)
        out += encode_field(7, ext)
    return out


def header_proto(
    num_shards: int = 1, big_endian: bool = False, min_consumer: int = 0, producer: int = 1
) -> bytes:
    version = encode_field(1, producer) + (encode_field(2, min_consumer) if min_consumer else b"")
    out = encode_field(1, num_shards)
    if big_endian:
        out += encode_field(2, 1)
    return out + encode_field(3, version)


def _block(rows: list[tuple[bytes, bytes]], restart_interval: int) -> bytes:
    out = bytearray()
    restarts = []
    prev = b""
    for i, (key, value) in enumerate(rows):
        if i % restart_interval == 0:
            restarts.append(len(out))
            shared = 0
        else:
            shared = 0
            while shared < min(len(prev), len(key)) and prev[shared] == key[shared]:
                shared += 1
        out += encode_varint(shared) + encode_varint(len(key) - shared) + encode_varint(len(value))
        out += key[shared:] + value
        prev = key
    if not restarts:
        restarts = [0]
    for r in restarts:
        out += r.to_bytes(4, "little")
    out += len(restarts).to_bytes(4, "little")
    return bytes(out)


def build_table(
    rows: list[tuple[bytes, bytes]],
    *,
    block_rows: int = 1000,
    restart_interval: int = 16,
    compression: int = 0,
) -> bytes:
    """An SSTable holding ``rows`` (sorted), ``block_rows`` entries per data block."""
    out = bytearray()

    def put(block: bytes) -> bytes:
        off = len(out)
        trailer = bytes([compression])
        out.extend(block + trailer + masked(block + trailer).to_bytes(4, "little"))
        return encode_varint(off) + encode_varint(len(block))

    index_rows = []
    for i in range(0, len(rows), block_rows):
        chunk = rows[i : i + block_rows]
        handle = put(_block(chunk, restart_interval))
        index_rows.append((chunk[-1][0], handle))
    meta = put(_block([], restart_interval))
    idx = put(_block(index_rows, 1))
    footer = (meta + idx).ljust(40, b"\x00") + MAGIC.to_bytes(8, "little")
    return bytes(out) + footer


@dataclass
class Bundle:
    """Describe a bundle, tweak what you like, then :meth:`write` it."""

    tensors: dict[str, np.ndarray[Any, Any]]
    num_shards: int = 1
    big_endian: bool = False
    min_consumer: int = 0
    shard_of: dict[str, int] = field(default_factory=dict)
    strings: dict[str, int] = field(default_factory=dict)  # name -> number of elements of a DT_STRING entry
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> entry_proto kwargs
    block_rows: int = 1000
    restart_interval: int = 16
    compression: int = 0

    def write(self, prefix: Path) -> Path:
        shards = [bytearray() for _ in range(self.num_shards)]
        rows: list[tuple[bytes, bytes]] = [
            (b"", header_proto(self.num_shards, self.big_endian, self.min_consumer))
        ]
        entries = {}
        for name, arr in self.tensors.items():
            a = np.array(arr, order="C")  # (ascontiguousarray would turn a 0-d array into 1-d)
            stored = a.byteswap().tobytes() if self.big_endian else a.tobytes()
            sid = self.shard_of.get(name, 0)
            kw: dict[str, Any] = dict(
                dtype=DT[a.dtype],
                shape=a.shape,
                shard_id=sid,
                offset=len(shards[sid]),
                size=len(stored),
                crc=masked(stored),
            )
            shards[sid] += stored
            kw.update(self.overrides.get(name, {}))
            entries[name.encode()] = entry_proto(**kw)
        for name, n in self.strings.items():
            data = b"".join(encode_varint(1) for _ in range(n)) + b"\x00" * 4 + b"x" * n
            kw = dict(
                dtype=7, shape=(n,), shard_id=0, offset=len(shards[0]), size=len(data), crc=masked(data)
            )
            shards[0] += data
            entries[name.encode()] = entry_proto(**kw)
        rows += sorted(entries.items())
        index = Path(str(prefix) + ".index")
        index.parent.mkdir(parents=True, exist_ok=True)
        index.write_bytes(
            build_table(
                rows,
                block_rows=self.block_rows,
                restart_interval=self.restart_interval,
                compression=self.compression,
            )
        )
        for i, data in enumerate(shards):
            Path(f"{prefix}.data-{i:05d}-of-{self.num_shards:05d}").write_bytes(bytes(data))
        return prefix
