"""safetensors files and sharded Hugging Face folders, parsed here (no torch, no safetensors package).

The header is validated as strictly as the reference implementation does (size cap, UTF-8 JSON object,
known dtypes, offsets contiguous and covering the data exactly, no trailing bytes, no overflow), so a
truncated download or a polyglot file is refused before a tensor is read. Converted zhplm outputs are
sharded above 2 GB, so a folder with ``model.safetensors.index.json`` opens as one reader.
"""

from __future__ import annotations

import builtins
import io
import json
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np

from zhplm.errors import CorruptCheckpointError, UnsupportedFormatError
from zhplm.formats.base import Reader, check_shape, shards_from_index

MAX_HEADER_BYTES = 100_000_000
INDEX_NAME = "model.safetensors.index.json"

DTYPES: dict[str, np.dtype[Any]] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
    "F8_E4M3": np.dtype(ml_dtypes.float8_e4m3fn),
    "F8_E5M2": np.dtype(ml_dtypes.float8_e5m2),
}


@dataclass(frozen=True)
class _Info:
    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    start: int  # absolute file offset
    size: int


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise CorruptCheckpointError(f"duplicate key {k!r} in the header")
        out[k] = v
    return out


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def parse_header(path: Path) -> tuple[dict[str, _Info], dict[str, str]]:
    """Validate ``path``'s header against its size; return tensor infos and ``__metadata__``."""
    file_size = path.stat().st_size
    with builtins.open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CorruptCheckpointError(f"{path}: {len(head)} bytes is too short for a safetensors file")
        n = int.from_bytes(head, "little")
        if n > MAX_HEADER_BYTES:
            raise CorruptCheckpointError(
                f"{path}: header length {n} exceeds the {MAX_HEADER_BYTES}-byte limit"
            )
        if 8 + n > file_size:
            raise CorruptCheckpointError(
                f"{path}: header length {n} runs past the end of the file ({file_size} bytes); truncated?"
            )
        raw = f.read(n)
    where = f"{path}: "
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptCheckpointError(where + "header is not valid UTF-8") from None
    if not text.startswith("{"):
        raise CorruptCheckpointError(where + "header is not a JSON object")
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicates)
    except CorruptCheckpointError as e:
        raise CorruptCheckpointError(where + str(e)) from None
    except (ValueError, RecursionError) as e:
        raise CorruptCheckpointError(where + f"header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise CorruptCheckpointError(where + "header is not a JSON object")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
    ):
        raise CorruptCheckpointError(where + "__metadata__ must map strings to strings")
    data_start = 8 + n
    data_len = file_size - data_start
    infos: dict[str, _Info] = {}
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        if not isinstance(entry, dict):
            raise CorruptCheckpointError(where + f"entry {name!r} is not an object")
        dt, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if not isinstance(dt, str) or dt not in DTYPES:
            raise CorruptCheckpointError(where + f"tensor {name!r} has unknown dtype {dt!r}")
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
            raise CorruptCheckpointError(where + f"tensor {name!r} has an invalid shape {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)):
            raise CorruptCheckpointError(where + f"tensor {name!r} has invalid data_offsets {offsets!r}")
        begin, end = offsets
        dtype = DTYPES[dt]
        numel = 1
        for d in shape:
            numel *= d
            if numel * dtype.itemsize > data_len:
                raise CorruptCheckpointError(
                    where + f"tensor {name!r} shape {shape} needs more bytes than the file holds ({data_len})"
                )
        if not 0 <= begin <= end or end - begin != numel * dtype.itemsize:
            raise CorruptCheckpointError(
                where + f"tensor {name!r} data_offsets {offsets} do not match shape {shape} of {dt} "
                f"({numel * dtype.itemsize} bytes)"
            )
        spans.append((begin, end, name))
        check_shape(tuple(shape), dtype.itemsize, what=where + f"tensor {name!r}")  # (0, 2**62), 70 dims
        infos[name] = _Info(dtype, tuple(shape), data_start + begin, end - begin)
    pos = 0
    for begin, end, name in sorted(spans):
        if begin != pos:
            what = "overlaps the previous tensor" if begin < pos else f"leaves a gap at byte {pos}"
            raise CorruptCheckpointError(where + f"tensor {name!r} (offsets {begin}..{end}) {what}")
        pos = end
    if pos != data_len:
        raise CorruptCheckpointError(
            where
            + (
                f"{data_len - pos} trailing bytes after the last tensor (a polyglot or damaged file)"
                if pos < data_len
                else f"the data is {pos - data_len} bytes short; the file is truncated"
            )
        )
    return infos, meta


# ------------------------------------------------------------------ locating files


def _looks_like_file(path: Path) -> bool:
    try:
        with builtins.open(path, "rb") as f:
            head = f.read(9)
            size = f.seek(0, io.SEEK_END)
    except OSError:
        return False
    if len(head) < 9:
        return False
    n = int.from_bytes(head[:8], "little")
    return 2 <= n <= MAX_HEADER_BYTES and 8 + n <= size and head[8:9] == b"{"


def _resolve(path: Path) -> Path | None:
    """The file (or index json) ``path`` stands for, or None when it is not safetensors."""
    if path.is_dir():
        if (path / INDEX_NAME).is_file():
            return path / INDEX_NAME
        files = sorted(p for p in path.glob("*.safetensors") if p.is_file())
        if len(files) == 1:
            return files[0]
        indexes = sorted(path.glob("*.safetensors.index.json"))
        if len(indexes) == 1:
            return indexes[0]
        if len(files) > 1:
            raise UnsupportedFormatError(
                f"{path} holds several safetensors files ({', '.join(p.name for p in files)}) and no "
                f"{INDEX_NAME}; name the file to read"
            )
        return None
    if path.name.endswith(".safetensors.index.json"):
        return path
    return path if path.is_file() else None


def sniff(path: Path) -> bool:
    try:
        target = _resolve(path)
    except UnsupportedFormatError:
        return True
    except OSError:
        return False
    if target is None:
        return False
    if target.name.endswith(".index.json"):
        return True
    return _looks_like_file(target)


# ------------------------------------------------------------------ the reader


class SafetensorsReader(Reader):
    """One safetensors file or a sharded folder; headers checked at open, tensors read one at a time."""

    format = "safetensors"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        target = _resolve(path)
        if target is None:
            raise UnsupportedFormatError(f"{path} is not a safetensors file or folder")
        self._lock = threading.Lock()
        self._handles: dict[Path, io.BufferedReader] = {}
        self._infos: dict[str, tuple[Path, _Info]] = {}
        self._meta: dict[str, str] = {}
        self._index_meta: dict[str, Any] = {}
        self.files: list[Path] = []
        if target.name.endswith(".index.json"):
            self._open_sharded(target)
        else:
            infos, self._meta = parse_header(target)
            self.files = [target]
            self._infos = {name: (target, info) for name, info in infos.items()}

    def _open_sharded(self, index: Path) -> None:
        weight_map, self._index_meta = shards_from_index(index)
        self.files = sorted(set(weight_map.values()))
        parsed: dict[Path, dict[str, _Info]] = {}
        for file in self.files:
            if not file.is_file():
                needed = next(n for n, f in weight_map.items() if f == file)
                raise CorruptCheckpointError(
                    f"shard {file} is missing (listed in {index.name} for {needed!r})"
                )
            infos, meta = parse_header(file)
            parsed[file] = infos
            self._meta.update(meta)
        for name, file in weight_map.items():
            info = parsed[file].get(name)
            if info is None:
                raise CorruptCheckpointError(
                    f"{file}: tensor {name!r} listed in {index.name} is not in this shard"
                )
            self._infos[name] = (file, info)

    def keys(self) -> list[str]:
        return list(self._infos)

    def _info(self, name: str) -> tuple[Path, _Info]:
        try:
            return self._infos[name]
        except KeyError:
            raise KeyError(f"no tensor {name!r} in {self.path}") from None

    def shape(self, name: str) -> tuple[int, ...]:
        return self._info(name)[1].shape

    def dtype(self, name: str) -> np.dtype[Any]:
        return self._info(name)[1].dtype

    def get(self, name: str) -> np.ndarray[Any, Any]:
        file, info = self._info(name)
        out = np.empty(info.shape, dtype=info.dtype.newbyteorder("="))
        raw = out.reshape(-1).view(np.uint8)
        with self._lock:
            f = self._handles.get(file)
            if f is None:
                f = self._handles[file] = builtins.open(file, "rb")  # noqa: SIM115 - closed by close()
            f.seek(info.start)
            got = f.readinto(raw.data) if info.size else 0
        if got != info.size:
            raise CorruptCheckpointError(f"{file}: tensor {name!r} is truncated ({got} of {info.size} bytes)")
        if sys.byteorder == "big" and info.dtype.itemsize > 1:  # pragma: no cover - little-endian hosts
            out.byteswap(inplace=True)
        return out

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        meta.update(files=[str(p) for p in self.files], metadata=dict(self._meta))
        if self._index_meta:
            meta["index_metadata"] = dict(self._index_meta)
        return meta

    def close(self) -> None:
        with self._lock:
            for f in self._handles.values():
                f.close()
            self._handles.clear()


def open(path: Path, **options: Any) -> SafetensorsReader:
    if options:
        raise TypeError(f"unexpected options for the safetensors reader: {', '.join(options)}")
    return SafetensorsReader(path)
