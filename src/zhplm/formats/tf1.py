"""TensorFlow 1 tensor bundles (``<prefix>.index`` + ``<prefix>.data-NNNNN-of-NNNNN``), read without TensorFlow.

Half of the list's checkpoints (Google BERT, HFL, brightmart, Zhuiyi, ELECTRA, XLNet …) are TF1 bundles.
The ``.index`` file is a LevelDB-style SSTable whose empty key holds a ``BundleHeaderProto`` and whose
other keys map tensor names to ``BundleEntryProto`` records (dtype, shape, shard, offset, size, crc32c).
Every SSTable block's masked crc32c is verified when the index is opened, every tensor's when it is
read, and every entry is checked against its data file before anything is returned, so a damaged
download fails with a :class:`CorruptCheckpointError` that names the tensor and the file.
"""

from __future__ import annotations

import builtins
import io
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import google_crc32c
import ml_dtypes
import numpy as np

from zhplm.errors import CorruptCheckpointError, UnsafeContentError, UnsupportedFormatError
from zhplm.formats import _protowire as pw
from zhplm.formats.base import MAX_RANK, Reader, check_shape

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48  # two BlockHandles (≤ 20 bytes each) padded to 40 bytes + 8-byte magic
BLOCK_TRAILER_SIZE = 5  # 1 byte compression type + 4 bytes masked crc32c
MAX_INDEX_BYTES = 1 << 30  # an index holds names and small protos; 1 GiB is far beyond any real one
BUNDLE_VERSION = 1  # kTensorBundleVersion: the bundle format version this reader understands
_CRC_MASK_DELTA = 0xA282EAD8

# tensorflow/core/framework/types.proto DataType -> numpy dtype (None: a type we list but never return)
_DTYPES: dict[int, tuple[str, np.dtype[Any] | None]] = {
    1: ("float32", np.dtype(np.float32)),
    2: ("float64", np.dtype(np.float64)),
    3: ("int32", np.dtype(np.int32)),
    4: ("uint8", np.dtype(np.uint8)),
    5: ("int16", np.dtype(np.int16)),
    6: ("int8", np.dtype(np.int8)),
    7: ("string", None),
    8: ("complex64", np.dtype(np.complex64)),
    9: ("int64", np.dtype(np.int64)),
    10: ("bool", np.dtype(np.bool_)),
    11: ("qint8", None),
    12: ("quint8", None),
    13: ("qint32", None),
    14: ("bfloat16", np.dtype(ml_dtypes.bfloat16)),
    15: ("qint16", None),
    16: ("quint16", None),
    17: ("uint16", np.dtype(np.uint16)),
    18: ("complex128", np.dtype(np.complex128)),
    19: ("float16", np.dtype(np.float16)),
    20: ("resource", None),
    21: ("variant", None),
    22: ("uint32", np.dtype(np.uint32)),
    23: ("uint64", np.dtype(np.uint64)),
}
MAX_PAIRWISE_SLICES = 512  # irregular (non-grid) partitions are checked pair by pair up to this many
_MAX_ELEMENTS = 1 << 62  # beyond this a shape cannot describe bytes on any disk

_DATA_RE = re.compile(r"^(?P<prefix>.+)\.data-\d{5}-of-\d{5}$")


def masked_crc32c(data: bytes | np.ndarray[Any, Any]) -> int:
    """crc32c of ``data`` masked as LevelDB/TF store it (so a crc of crc-bearing data stays distinct)."""
    crc = int(google_crc32c.value(data))
    return (((crc >> 15) | (crc << 17)) + _CRC_MASK_DELTA) & 0xFFFFFFFF


# ------------------------------------------------------------------ OrderedCode (slice keys)


def _ordered_uint(value: int) -> bytes:
    """OrderedCode ``WriteNumIncreasing``: a length byte, then the value big-endian without leading zeros."""
    body = value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""
    return bytes([len(body)]) + body


def _ordered_string(value: bytes) -> bytes:
    """OrderedCode ``WriteString``: 0x00 -> 00 ff, 0xff -> ff 00, then the 00 01 separator."""
    return _escape(value) + b"\x00\x01"


def _escape(value: bytes) -> bytes:
    out = bytearray()
    for b in value:
        if b == 0:
            out += b"\x00\xff"
        elif b == 0xFF:
            out += b"\xff\x00"
        else:
            out.append(b)
    return bytes(out)


def _ordered_signed(value: int) -> bytes:
    """OrderedCode ``WriteSignedNumIncreasing``: L bytes hold a sign/length header and 7L-1 payload bits.

    Non-negative numbers start with L one-bits and a zero; negative ones with L zero-bits and a one,
    followed by the payload in two's complement.
    """
    for length in range(1, 11):
        payload_bits = 7 * length - 1
        if -(1 << payload_bits) <= value < (1 << payload_bits):
            break
    else:  # pragma: no cover - int64 always fits in 10 bytes
        raise ValueError(f"{value} does not fit an int64")
    if value >= 0:
        encoded = (((1 << length) - 1) << (payload_bits + 1)) | value
    else:
        encoded = (1 << payload_bits) | (value + (1 << payload_bits))
    return encoded.to_bytes(length, "big")


def slice_key(name: str, extents: list[tuple[int, int]]) -> bytes:
    """The index key TF stores one saved slice of a partitioned variable under.

    ``extents`` holds ``(start, length)`` per dimension, ``length = -1`` meaning the whole dimension.
    """
    key = _ordered_uint(0) + _ordered_string(name.encode("utf-8", "surrogateescape"))
    key += _ordered_uint(len(extents))
    for start, length in extents:
        key += _ordered_signed(start) + _ordered_signed(length)
    return key


# ------------------------------------------------------------------ SSTable


def _u32(buf: bytes, pos: int) -> int:
    return int.from_bytes(buf[pos : pos + 4], "little")


def read_block(index: bytes, offset: int, size: int, *, what: str, file: Path) -> bytes:
    """Return one SSTable block's contents after checking its bounds, crc32c trailer and compression."""
    end = len(index) - FOOTER_SIZE
    if offset < 0 or size < 0 or offset + size + BLOCK_TRAILER_SIZE > end:
        raise CorruptCheckpointError(
            f"{file}: {what} block (offset {offset}, {size} bytes) runs past the end of the index "
            f"({len(index)} bytes); the file is truncated or damaged"
        )
    stored = _u32(index, offset + size + 1)
    if masked_crc32c(index[offset : offset + size + 1]) != stored:
        raise CorruptCheckpointError(
            f"{file}: {what} block checksum mismatch (offset {offset}); the index file is damaged, "
            "download it again"
        )
    kind = index[offset + size]
    if kind == 1:
        raise UnsupportedFormatError(
            f"{file}: {what} block is snappy-compressed; TensorFlow writes bundle indexes uncompressed, "
            "so this index was written by another tool. Re-save it with TensorFlow."
        )
    if kind != 0:
        raise CorruptCheckpointError(f"{file}: {what} block has unknown compression type {kind}")
    return index[offset : offset + size]


def iter_block(block: bytes, *, what: str, file: Path) -> list[tuple[bytes, bytes]]:
    """Decode a block's prefix-compressed ``(key, value)`` entries and check its restart array."""
    if len(block) < 4:
        raise CorruptCheckpointError(f"{file}: {what} block is too short ({len(block)} bytes)")
    num_restarts = _u32(block, len(block) - 4)
    limit = len(block) - 4 * (1 + num_restarts)
    if num_restarts == 0 or limit < 0:
        raise CorruptCheckpointError(f"{file}: {what} block has a bad restart count ({num_restarts})")
    restarts = [_u32(block, limit + 4 * i) for i in range(num_restarts)]
    entries: list[tuple[bytes, bytes]] = []
    starts: dict[int, int] = {}  # entry offset -> shared prefix length
    pos = 0
    key = b""
    while pos < limit:
        entry_at = pos
        shared, pos = pw.read_varint(block, pos, limit)
        non_shared, pos = pw.read_varint(block, pos, limit)
        value_len, pos = pw.read_varint(block, pos, limit)
        if shared > len(key):
            raise CorruptCheckpointError(
                f"{file}: {what} block entry at {entry_at} shares {shared} bytes with a {len(key)}-byte key"
            )
        if non_shared + value_len > limit - pos:
            raise CorruptCheckpointError(f"{file}: {what} block entry at {entry_at} runs past the block")
        new_key = key[:shared] + block[pos : pos + non_shared]
        pos += non_shared
        if entries and new_key <= key:
            raise CorruptCheckpointError(
                f"{file}: {what} block keys are not sorted ({new_key!r} after {key!r})"
            )
        key = new_key
        entries.append((key, block[pos : pos + value_len]))
        starts[entry_at] = shared
        pos += value_len
    for r in restarts:
        if r >= limit and not (r == 0 and limit == 0):
            raise CorruptCheckpointError(f"{file}: {what} block restart point {r} lies outside its entries")
        if limit and starts.get(r) != 0:
            raise CorruptCheckpointError(f"{file}: {what} block restart point {r} is not a full key")
    return entries


def read_table(index_path: Path) -> list[tuple[bytes, bytes]]:
    """All ``(key, value)`` pairs of an SSTable file, in order, every block checksum verified."""
    size = index_path.stat().st_size
    if size > MAX_INDEX_BYTES:
        raise CorruptCheckpointError(f"{index_path}: {size} bytes is far too large for a bundle index")
    index = index_path.read_bytes()
    if len(index) < FOOTER_SIZE:
        raise CorruptCheckpointError(
            f"{index_path}: {len(index)} bytes is shorter than an SSTable footer; the file is truncated"
        )
    magic = int.from_bytes(index[-8:], "little")
    if magic != TABLE_MAGIC:
        raise CorruptCheckpointError(
            f"{index_path}: bad magic {magic:#018x} (expected {TABLE_MAGIC:#018x}); not a TensorFlow "
            "bundle index, or it is truncated"
        )
    footer = index[-FOOTER_SIZE:-8]
    pos = 0
    handles = []
    for _ in range(2):
        offset, pos = pw.read_varint(footer, pos)
        length, pos = pw.read_varint(footer, pos)
        handles.append((offset, length))
    (meta_off, meta_size), (idx_off, idx_size) = handles
    read_block(index, meta_off, meta_size, what="metaindex", file=index_path)
    top = iter_block(
        read_block(index, idx_off, idx_size, what="index", file=index_path), what="index", file=index_path
    )
    out: list[tuple[bytes, bytes]] = []
    for sep, handle in top:
        off, p = pw.read_varint(handle, 0)
        length, p = pw.read_varint(handle, p)
        block = read_block(index, off, length, what="data", file=index_path)
        for key, value in iter_block(block, what="data", file=index_path):
            if out and key <= out[-1][0]:
                raise CorruptCheckpointError(f"{index_path}: keys are not sorted across blocks at {key!r}")
            if key > sep:
                raise CorruptCheckpointError(f"{index_path}: key {key!r} lies beyond its index separator")
            out.append((key, value))
    return out


# ------------------------------------------------------------------ protos


@dataclass(frozen=True)
class BundleHeader:
    num_shards: int
    big_endian: bool
    producer: int
    min_consumer: int
    bad_consumers: tuple[int, ...]


@dataclass(frozen=True)
class BundleEntry:
    dtype: int
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int | None
    slices: tuple[tuple[tuple[int, int], ...], ...]  # per slice, (start, length) per dim; length -1 = full


def parse_header(value: bytes, file: Path) -> BundleHeader:
    num_shards = 0
    endianness = 0
    producer = min_consumer = 0
    bad: list[int] = []
    for number, wire, v in pw.iter_fields(value):
        if number == 1 and wire == pw.VARINT:
            num_shards = pw.signed64(_int(v))
        elif number == 2 and wire == pw.VARINT:
            endianness = _int(v)
        elif number == 3 and wire == pw.LEN:
            assert isinstance(v, memoryview)
            for n2, w2, v2 in pw.iter_fields(v):
                if n2 == 1 and w2 == pw.VARINT:
                    producer = pw.signed64(_int(v2))
                elif n2 == 2 and w2 == pw.VARINT:
                    min_consumer = pw.signed64(_int(v2))
                elif n2 == 3 and w2 == pw.VARINT:
                    bad.append(pw.signed64(int(v2)))  # type: ignore[call-overload]
                elif n2 == 3 and w2 == pw.LEN:
                    assert isinstance(v2, memoryview)
                    bad.extend(pw.signed64(x) for x in pw.packed_varints(v2))
    if endianness not in (0, 1):
        raise CorruptCheckpointError(f"{file}: unknown endianness {endianness} in the bundle header")
    if min_consumer > BUNDLE_VERSION or BUNDLE_VERSION in bad:
        raise UnsupportedFormatError(
            f"{file}: bundle format version (min_consumer {min_consumer}, bad consumers {bad}) is newer "
            f"than the version {BUNDLE_VERSION} zhplm reads; re-save it with TensorFlow 1.x/2.x's tf.train.Saver"
        )
    if not 1 <= num_shards <= 99999:
        raise CorruptCheckpointError(f"{file}: bundle header declares {num_shards} data shards")
    return BundleHeader(num_shards, endianness == 1, producer, min_consumer, tuple(bad))


def _int(v: object) -> int:
    assert isinstance(v, int)
    return v


def _mv(v: object) -> memoryview:
    assert isinstance(v, memoryview)
    return v


def parse_entry(value: bytes, name: str, file: Path) -> BundleEntry:
    dtype = 0
    dims: list[int] = []
    unknown_rank = False
    shard_id = offset = size = 0
    crc: int | None = None
    slices: list[tuple[tuple[int, int], ...]] = []
    for number, wire, v in pw.iter_fields(value):
        if number == 1 and wire == pw.VARINT:
            dtype = _int(v)
        elif number == 2 and wire == pw.LEN:
            for n2, w2, v2 in pw.iter_fields(_mv(v)):
                if n2 == 2 and w2 == pw.LEN:
                    dim = 0
                    for n3, w3, v3 in pw.iter_fields(_mv(v2)):
                        if n3 == 1 and w3 == pw.VARINT:
                            dim = pw.signed64(_int(v3))
                    dims.append(dim)
                elif n2 == 3 and w2 == pw.VARINT:
                    unknown_rank = bool(v2)
        elif number == 3 and wire == pw.VARINT:
            shard_id = pw.signed64(_int(v))
        elif number == 4 and wire == pw.VARINT:
            offset = pw.signed64(_int(v))
        elif number == 5 and wire == pw.VARINT:
            size = pw.signed64(_int(v))
        elif number == 6 and wire == pw.FIXED32:
            crc = _int(v)
        elif number == 7 and wire == pw.LEN:
            extents: list[tuple[int, int]] = []
            for n2, w2, v2 in pw.iter_fields(_mv(v)):
                if n2 == 1 and w2 == pw.LEN:
                    start, length = 0, -1
                    for n3, w3, v3 in pw.iter_fields(_mv(v2)):
                        if n3 == 1 and w3 == pw.VARINT:
                            start = pw.signed64(_int(v3))
                        elif n3 == 2 and w3 == pw.VARINT:
                            length = pw.signed64(_int(v3))
                    extents.append((start, length))
            slices.append(tuple(extents))
    if unknown_rank:
        raise CorruptCheckpointError(f"{file}: tensor {name!r} has an unknown rank")
    return BundleEntry(dtype, tuple(dims), shard_id, offset, size, crc, tuple(slices))


def _numel(shape: tuple[int, ...], name: str, file: Path) -> int:
    if len(shape) > MAX_RANK:
        raise CorruptCheckpointError(
            f"{file}: tensor {name!r} has {len(shape)} dimensions, more than the {MAX_RANK} numpy allows"
        )
    n = nonzero = 1
    for d in shape:
        if d < 0:
            raise CorruptCheckpointError(
                f"{file}: tensor {name!r} has a negative dimension in shape {list(shape)}"
            )
        n *= d
        nonzero *= d or 1  # numpy refuses (0, 2**62) too: a zero dim does not excuse the others
        if nonzero > _MAX_ELEMENTS:
            raise CorruptCheckpointError(f"{file}: tensor {name!r} shape {list(shape)} overflows")
    return n


def _is_grid(boxes: list[tuple[tuple[int, int], ...]], shape: tuple[int, ...]) -> bool:
    """Whether ``boxes`` are exactly the cells of a grid over ``shape`` (linear-time tiling check).

    TensorFlow partitions a variable along one axis (a grid with one split axis); along each axis the
    distinct intervals must then partition the dimension, and the boxes must be all their combinations,
    each once.
    """
    cells = 1
    for axis, dim in enumerate(shape):
        intervals = sorted({box[axis] for box in boxes})
        pos = 0
        for start, end in intervals:
            if start != pos or end <= start < dim:
                return False
            pos = end
        if pos != dim:
            return False
        cells *= len(intervals)
    return cells == len(boxes) == len(set(boxes))


# ------------------------------------------------------------------ locating a bundle


def _parse_checkpoint_file(folder: Path) -> Path | None:
    """The prefix TF's ``checkpoint`` text file points at (``model_checkpoint_path: "..."``), if any."""
    state = folder / "checkpoint"
    if not state.is_file() or state.stat().st_size > 1 << 20:
        return None
    text = state.read_text(encoding="utf-8", errors="replace")
    m = re.search(r'^\s*model_checkpoint_path\s*:\s*"((?:[^"\\]|\\.)*)"', text, re.MULTILINE)
    if not m:
        return None
    raw = re.sub(r"\\(.)", r"\1", m.group(1))
    named = Path(raw)
    local = folder / named.name
    if named.is_absolute() or ".." in named.parts:
        # Checkpoints moved from another machine keep its absolute paths: the same file name here is
        # what was meant. Anything else would read outside the folder, which is refused.
        if named.name and Path(str(local) + ".index").is_file():
            return local
        raise UnsafeContentError(
            f"{state}: model_checkpoint_path {raw[:200]!r} points outside {folder}, and no "
            f"{named.name[:100]}.index is in the folder; zhplm reads only checkpoints inside it. Name the "
            "checkpoint prefix to read instead, or fix the `checkpoint` file"
        )
    candidate = folder / named
    if Path(str(candidate) + ".index").is_file():
        return candidate
    return local


def _has_magic(index: Path) -> bool:
    try:
        with builtins.open(index, "rb") as f:
            f.seek(0, 2)
            if f.tell() < FOOTER_SIZE:
                return False
            f.seek(-8, 2)
            return int.from_bytes(f.read(8), "little") == TABLE_MAGIC
    except OSError:
        return False


def find_prefix(path: Path) -> Path | None:
    """The bundle prefix ``path`` names (prefix, ``.index``, ``.data-*`` or folder), or None."""
    if path.is_dir():
        named = _parse_checkpoint_file(path)
        if named is not None:
            return named
        bundles = sorted(p for p in path.glob("*.index") if p.is_file() and _has_magic(p))
        if len(bundles) == 1:
            return bundles[0].with_suffix("")
        if len(bundles) > 1:
            listed = ", ".join(p.name for p in bundles)
            raise UnsupportedFormatError(
                f"{path} holds several TensorFlow checkpoints ({listed}) and no `checkpoint` file; "
                "name the one to read (its path without .index)"
            )
        return None
    if path.name.endswith(".index"):
        return Path(str(path)[: -len(".index")])
    m = _DATA_RE.match(path.name)
    if m:
        return path.with_name(m.group("prefix"))
    if Path(str(path) + ".index").is_file():
        return path
    return None


def sniff(path: Path) -> bool:
    try:
        prefix = find_prefix(path)
    except (UnsupportedFormatError, UnsafeContentError):
        return True  # several bundles, or a `checkpoint` file pointing outside: open() explains
    except OSError:
        return False
    return prefix is not None and _has_magic(Path(str(prefix) + ".index"))


# ------------------------------------------------------------------ the reader


@dataclass(frozen=True)
class _Tensor:
    entry: BundleEntry
    dtype: np.dtype[Any]
    shape: tuple[int, ...]


class TF1Reader(Reader):
    """A TF1 tensor bundle, opened lazily: the index is parsed and checked, data is read per tensor."""

    format = "tf1"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        prefix = find_prefix(path)
        if prefix is None:
            raise UnsupportedFormatError(f"{path} is not a TensorFlow checkpoint (no .index file found)")
        self.prefix = prefix
        self.index_path = Path(str(prefix) + ".index")
        if not self.index_path.is_file():
            raise FileNotFoundError(f"TensorFlow checkpoint index not found: {self.index_path}")
        self._base = (path if path.is_dir() else prefix.parent).resolve()
        self._inside(self.index_path)
        self._lock = threading.Lock()
        self._files: dict[int, io.BufferedReader] = {}
        rows = read_table(self.index_path)
        if not rows or rows[0][0] != b"":
            raise CorruptCheckpointError(f"{self.index_path}: the bundle header (empty key) is missing")
        self.header = parse_header(rows[0][1], self.index_path)
        self.data_paths = [
            Path(f"{prefix}.data-{i:05d}-of-{self.header.num_shards:05d}")
            for i in range(self.header.num_shards)
        ]
        self._tensors: dict[str, _Tensor] = {}
        self._skipped: dict[str, str] = {}
        self._slice_entries: dict[bytes, BundleEntry] = {}
        self._sliced: list[str] = []
        shard_sizes: dict[int, int] = {}
        entries: list[tuple[str, BundleEntry]] = []
        for key, value in rows[1:]:
            if key.startswith(b"\x00"):  # OrderedCode-encoded slice of a partitioned variable
                self._slice_entries[key] = parse_entry(value, repr(key), self.index_path)
                continue
            name = key.decode("utf-8", "surrogateescape")
            entries.append((name, parse_entry(value, name, self.index_path)))
        for name, entry in entries:
            kind, dtype = _DTYPES.get(entry.dtype, (f"dtype#{entry.dtype}", None))
            if dtype is None:
                self._skipped[name] = kind
                continue
            _numel(entry.shape, name, self.index_path)
            check_shape(entry.shape, dtype.itemsize, what=f"{self.index_path}: tensor {name!r}")
            if entry.slices:
                self._check_slices(name, entry, dtype, shard_sizes)
                self._sliced.append(name)
            else:
                self._check_stored(name, entry, entry.shape, dtype, shard_sizes)
            self._tensors[name] = _Tensor(entry, dtype, entry.shape)

    # -- validation --------------------------------------------------------------------------
    def _inside(self, file: Path) -> None:
        """Refuse a bundle file that is a link (or lies under a linked folder) leading out of the
        checkpoint's folder: reading it would read some other file of this machine."""
        real = file.resolve()
        if not real.is_relative_to(self._base):
            raise UnsafeContentError(
                f"{file} leads to {real}, outside the checkpoint folder {self._base}; zhplm does not read "
                "through links out of it. Copy the checkpoint with links resolved (cp -rL) to read it"
            )

    def _shard_size(self, name: str, shard_id: int, sizes: dict[int, int]) -> int:
        if not 0 <= shard_id < self.header.num_shards:
            raise CorruptCheckpointError(
                f"{self.index_path}: tensor {name!r} is in shard {shard_id}, but the bundle has "
                f"{self.header.num_shards} shard(s)"
            )
        if shard_id not in sizes:
            data = self.data_paths[shard_id]
            self._inside(data)
            try:
                sizes[shard_id] = data.stat().st_size
            except FileNotFoundError:
                raise CorruptCheckpointError(
                    f"data shard {data} is missing (needed for tensor {name!r}); copy every "
                    f"{self.prefix.name}.data-*-of-{self.header.num_shards:05d} file next to the .index"
                ) from None
        return sizes[shard_id]

    def _check_stored(
        self,
        name: str,
        entry: BundleEntry,
        shape: tuple[int, ...],
        dtype: np.dtype[Any],
        sizes: dict[int, int],
    ) -> None:
        expected = _numel(shape, name, self.index_path) * dtype.itemsize
        if entry.size != expected:
            raise CorruptCheckpointError(
                f"{self.index_path}: tensor {name!r} declares {entry.size} bytes, but shape {list(shape)} "
                f"of {dtype.name} needs {expected}"
            )
        file_size = self._shard_size(name, entry.shard_id, sizes)
        if entry.offset < 0 or entry.offset + entry.size > file_size:
            raise CorruptCheckpointError(
                f"{self.data_paths[entry.shard_id]}: tensor {name!r} (offset {entry.offset}, {entry.size} "
                f"bytes) runs past the end of the file ({file_size} bytes); the data file is truncated"
            )
        if entry.crc32c is None and entry.size:
            raise CorruptCheckpointError(f"{self.index_path}: tensor {name!r} has no crc32c")

    def _slice_shape(
        self, name: str, full: tuple[int, ...], extents: tuple[tuple[int, int], ...]
    ) -> tuple[int, ...]:
        if len(extents) != len(full):
            raise CorruptCheckpointError(
                f"{self.index_path}: a slice of {name!r} has {len(extents)} dims, the tensor has {len(full)}"
            )
        shape = []
        for (start, length), dim in zip(extents, full, strict=True):
            n = dim if length == -1 else length
            if start < 0 or n < 0 or start + n > dim or (length == -1 and start != 0):
                raise CorruptCheckpointError(
                    f"{self.index_path}: slice {list(extents)} of {name!r} lies outside shape {list(full)}"
                )
            shape.append(n)
        return tuple(shape)

    def _check_slices(
        self, name: str, entry: BundleEntry, dtype: np.dtype[Any], sizes: dict[int, int]
    ) -> None:
        """Each slice is stored and valid, slices do not overlap and tile the tensor exactly, so the
        tensor get() allocates is never larger than the bytes on disk."""
        boxes: list[tuple[tuple[int, int], ...]] = []
        covered = 0
        for extents in entry.slices:
            shape = self._slice_shape(name, entry.shape, extents)
            part = self._slice_entries.get(slice_key(name, list(extents)))
            if part is None:
                raise CorruptCheckpointError(
                    f"{self.index_path}: slice {list(extents)} of {name!r} is missing"
                )
            if part.dtype != entry.dtype or part.shape != shape:
                raise CorruptCheckpointError(
                    f"{self.index_path}: slice {list(extents)} of {name!r} has dtype {part.dtype} shape "
                    f"{list(part.shape)}, expected {entry.dtype} {list(shape)}"
                )
            self._check_stored(f"{name}{list(extents)}", part, shape, dtype, sizes)
            boxes.append(tuple((s, s + n) for (s, _), n in zip(extents, shape, strict=True)))
            covered += _numel(shape, name, self.index_path)
        total = _numel(entry.shape, name, self.index_path)
        if covered != total:
            raise CorruptCheckpointError(
                f"{self.index_path}: the saved slices of {name!r} cover {covered} of its {total} elements"
            )
        # In bounds and covering as many elements as the tensor has, the slices tile it iff none overlap.
        if not _is_grid(boxes, entry.shape):
            if len(boxes) > MAX_PAIRWISE_SLICES:
                raise UnsupportedFormatError(
                    f"{self.index_path}: the {len(boxes)} slices of {name!r} do not form a grid; zhplm "
                    f"checks such partitions only up to {MAX_PAIRWISE_SLICES} slices"
                )
            for i, box in enumerate(boxes):  # small and irregular: compare pairs
                for other in boxes[:i]:
                    if all(a0 < b1 and b0 < a1 for (a0, a1), (b0, b1) in zip(box, other, strict=True)):
                        raise CorruptCheckpointError(f"{self.index_path}: slices of {name!r} overlap")

    # -- the interface -----------------------------------------------------------------------
    def keys(self) -> list[str]:
        return list(self._tensors)

    def _tensor(self, name: str) -> _Tensor:
        try:
            return self._tensors[name]
        except KeyError:
            if name in self._skipped:
                raise KeyError(
                    f"{name!r} is a {self._skipped[name]} tensor, which zhplm does not read"
                ) from None
            raise KeyError(f"no tensor {name!r} in {self.index_path}") from None

    def shape(self, name: str) -> tuple[int, ...]:
        return self._tensor(name).shape

    def dtype(self, name: str) -> np.dtype[Any]:
        return self._tensor(name).dtype

    def get(self, name: str) -> np.ndarray[Any, Any]:
        t = self._tensor(name)
        if not t.entry.slices:
            return self._read(name, t.entry, t.shape, t.dtype)
        # a partitioned variable: the slices were checked at open to tile the tensor exactly
        out = np.empty(t.shape, dtype=t.dtype)
        for extents in t.entry.slices:
            shape = self._slice_shape(name, t.shape, extents)
            where = tuple(slice(s, s + n) for (s, _), n in zip(extents, shape, strict=True))
            part = self._slice_entries[slice_key(name, list(extents))]
            out[where] = self._read(f"{name}{list(extents)}", part, shape, t.dtype)
        return out

    def _file(self, shard_id: int) -> io.BufferedReader:
        f = self._files.get(shard_id)
        if f is None:
            f = builtins.open(self.data_paths[shard_id], "rb")  # noqa: SIM115 - kept open until close()
            self._files[shard_id] = f
        return f

    def _read(
        self, name: str, entry: BundleEntry, shape: tuple[int, ...], dtype: np.dtype[Any]
    ) -> np.ndarray[Any, Any]:
        out = np.empty(shape, dtype=dtype)
        raw = out.reshape(-1).view(np.uint8)
        path = self.data_paths[entry.shard_id]
        with self._lock:
            f = self._file(entry.shard_id)
            f.seek(entry.offset)
            got = f.readinto(raw.data) if raw.size else 0
        if got != entry.size:
            raise CorruptCheckpointError(
                f"{path}: tensor {name!r} is truncated ({got} of {entry.size} bytes); the file changed "
                "since it was opened"
            )
        raw.flags.writeable = False  # google_crc32c wants a read-only buffer
        if entry.crc32c is not None and masked_crc32c(raw) != entry.crc32c:
            raise CorruptCheckpointError(
                f"{path}: checksum mismatch for tensor {name!r} (offset {entry.offset}, {entry.size} bytes); "
                "the data file is damaged, download it again"
            )
        if self.header.big_endian and dtype.itemsize > 1:
            out.byteswap(inplace=True)
        return out

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        meta.update(
            prefix=str(self.prefix),
            index=str(self.index_path),
            data_files=[str(p) for p in self.data_paths],
            num_shards=self.header.num_shards,
            endianness="big" if self.header.big_endian else "little",
            version={"producer": self.header.producer, "min_consumer": self.header.min_consumer},
            skipped=dict(self._skipped),
            partitioned=list(self._sliced),
        )
        return meta

    def close(self) -> None:
        with self._lock:
            for f in self._files.values():
                f.close()
            self._files.clear()


def open(path: Path, **options: Any) -> TF1Reader:
    if options:
        raise TypeError(f"unexpected options for the tf1 reader: {', '.join(options)}")
    return TF1Reader(path)
