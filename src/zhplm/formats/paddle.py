"""Paddle dygraph ``.pdparams`` (and ``.pdopt``): a pickle of ``{name: numpy.ndarray}``, read without Paddle.

``paddle.save`` pickles numpy arrays (protocol 4 by default, 2 and 3 in older code). The pickle goes
through :mod:`zhplm.formats._unpickler`: numpy 1.x (``numpy.core``) and 2.x (``numpy._core``) array
reconstruction, protocol-2 ``_codecs.encode(str, 'latin1')`` raw data, and Paddle's own conventions:

* protocols 2/3 split arrays larger than 2**30-1 bytes into ``key@@.0, key@@.1, …`` and record
  ``UnpackBigParamInfor@@ = {key: {"OriginShape": shape, "slices": [names]}}``; we present the
  reassembled ``key`` (``get`` concatenates the slices) and hide the parts;
* ``StructuredToParameterName@@`` (structured name → parameter name) is kept in :meth:`metadata`;
* the non-state-dict path stores ``(name, array)`` tuples; the array is taken, the name kept in metadata.

Raw data of 64 KiB or more stays on disk until ``get`` asks for it (protocols 3–5).
"""

from __future__ import annotations

import builtins
import os
from pathlib import Path
from typing import IO, Any

import numpy as np

from zhplm.errors import CorruptCheckpointError, FormatError
from zhplm.formats._unpickler import (
    ArraySpec,
    BoundedReader,
    LazyBytes,
    collect_tensors,
    key_text,
    plain,
    restricted_load,
    short,
    sniff_pickle_protocol,
)
from zhplm.formats.base import MAX_RANK, Reader, check_shape

STRUCTURED = "StructuredToParameterName@@"
UNPACK_INFO = "UnpackBigParamInfor@@"
_TORCH_LEGACY_HEAD = b"\x80\x02\x8a\x0a"


def sniff(path: Path) -> bool:
    if not path.is_file():
        return False
    with builtins.open(path, "rb") as f:
        head = f.read(64 * 1024)
    if sniff_pickle_protocol(head) is None or head.startswith(_TORCH_LEGACY_HEAD):
        return False
    return b"_reconstruct" in head or b"_frombuffer" in head


class _Joined:
    """A tensor Paddle split into ``key@@.N`` parts: the parts in order and the original shape."""

    def __init__(self, parts: list[ArraySpec], shape: tuple[int, ...]) -> None:
        self.parts = parts
        self.shape = shape
        self.dtype = parts[0].dtype


class PaddleReader(Reader):
    format = "paddle"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._f: IO[bytes] | None = builtins.open(path, "rb")  # noqa: SIM115 - closed in close()
        self._meta: dict[str, Any] = {}
        try:
            end = os.fstat(self._f.fileno()).st_size
            obj, _ = restricted_load(BoundedReader(self._f, end, source=str(path)), lazy_bytes=True)
            if not isinstance(obj, dict):
                raise CorruptCheckpointError(f"{path}: the pickle holds a {type(obj).__name__}, not a dict")
            self._tensors = self._index(obj)
        except BaseException:
            self.close()
            raise

    def _index(self, obj: dict[Any, Any]) -> dict[str, ArraySpec | _Joined]:
        src = str(self.path)
        body = {k: v for k, v in dict.items(obj) if k not in (STRUCTURED, UNPACK_INFO)}
        names: dict[str, str] = {}
        for key, value in list(body.items()):
            if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
                names[key_text(key, src)] = value[
                    0
                ]  # (tuple, ((name, ndarray),)) from the non-state-dict path
                body[key] = value[1]
        if STRUCTURED in obj:
            self._meta["structured_to_parameter_name"] = plain(dict.__getitem__(obj, STRUCTURED))
        if names:
            self._meta["parameter_names"] = names
        flat, skipped = collect_tensors(body, src)
        self._meta["non_tensor_leaves"] = skipped
        for name, spec in flat.items():
            spec.check(f"{src}: tensor {name!r}")
        out: dict[str, ArraySpec | _Joined] = dict(flat)
        info = dict.get(obj, UNPACK_INFO)
        if info is not None:
            if not isinstance(info, dict):
                raise CorruptCheckpointError(f"{src}: {UNPACK_INFO} is not a dict")
            for key, desc in dict.items(info):
                name = key_text(key, src)
                out[name] = self._join(name, desc, out)
        return out

    def _join(self, key: str, desc: Any, flat: dict[str, ArraySpec | _Joined]) -> _Joined:
        src = str(self.path)
        if not isinstance(desc, dict) or "slices" not in desc or "OriginShape" not in desc:
            raise CorruptCheckpointError(f"{src}: split tensor {key!r} has no OriginShape/slices")
        slices, shape = desc["slices"], desc["OriginShape"]
        if not isinstance(slices, list | tuple) or not slices or not isinstance(shape, list | tuple):
            raise CorruptCheckpointError(f"{src}: split tensor {key!r} is described wrongly")
        parts: list[ArraySpec] = []
        for part in slices:
            spec = flat.pop(part, None) if isinstance(part, str) else None
            if not isinstance(spec, ArraySpec):
                raise CorruptCheckpointError(f"{src}: split tensor {key!r} misses its part {short(part)!r}")
            parts.append(spec)
        if any(p.dtype != parts[0].dtype or len(p.shape) != 1 for p in parts):
            raise CorruptCheckpointError(
                f"{src}: parts of split tensor {key!r} differ in dtype or are not 1-D"
            )
        if len(shape) > MAX_RANK or not all(type(d) is int or isinstance(d, np.integer) for d in shape):
            raise CorruptCheckpointError(
                f"{src}: split tensor {key!r} has OriginShape {[short(d, 20) for d in shape[:8]]}, "
                f"not a list of at most {MAX_RANK} integers"
            )
        itemsize = parts[0].dtype.itemsize if parts[0].dtype is not None else 1
        shape_t = check_shape(tuple(int(d) for d in shape), itemsize, what=f"{src}: split tensor {key!r}")
        total = 1
        for d in shape_t:
            total *= d
        if sum(p.shape[0] for p in parts) != total:
            raise CorruptCheckpointError(
                f"{src}: parts of {key!r} hold {sum(p.shape[0] for p in parts)} elements, OriginShape {shape_t} needs {total}"
            )
        return _Joined(parts, shape_t)

    def _read(self, lazy: LazyBytes) -> bytes:
        if self._f is None:
            raise FormatError(f"{self.path} is closed")
        self._f.seek(lazy.offset)
        data = self._f.read(lazy.length)
        if len(data) != lazy.length:
            raise CorruptCheckpointError(f"{self.path}: truncated at offset {lazy.offset}")
        return data

    def _ref(self, name: str) -> ArraySpec | _Joined:
        try:
            return self._tensors[name]
        except KeyError:
            raise KeyError(f"no tensor {name!r} in {self.path}") from None

    def keys(self) -> list[str]:
        return list(self._tensors)

    def shape(self, name: str) -> tuple[int, ...]:
        return self._ref(name).shape

    def dtype(self, name: str) -> np.dtype[Any]:
        dt = self._ref(name).dtype
        assert dt is not None
        return dt.newbyteorder("<") if dt.byteorder == ">" else dt

    def get(self, name: str) -> np.ndarray[Any, Any]:
        ref = self._ref(name)
        what = f"{self.path}: tensor {name!r}"
        if isinstance(ref, ArraySpec):
            return ref.to_numpy(self._read, what)
        flat = np.concatenate([p.to_numpy(self._read, what) for p in ref.parts])
        return flat.reshape(ref.shape)

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        meta.update(self._meta)
        return meta

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


def open(path: Path, **kw: Any) -> PaddleReader:
    return PaddleReader(path, **kw)
