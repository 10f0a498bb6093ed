"""Streaming safetensors writer: the header is computed from planned shapes, then tensors are produced
and written one at a time, so converting a model needs memory for one tensor, not the model.

Large models are split into shards (``model-00001-of-0000N.safetensors`` + ``model.safetensors.index.json``)
the way transformers expects. Files are written to a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zhplm.errors import FormatError

DTYPE_NAMES: dict[str, str] = {
    "float64": "F64",
    "float32": "F32",
    "float16": "F16",
    "bfloat16": "BF16",
    "int64": "I64",
    "int32": "I32",
    "int16": "I16",
    "int8": "I8",
    "uint8": "U8",
    "bool": "BOOL",
}
ITEMSIZE: dict[str, int] = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
}  # fmt: skip

DEFAULT_SHARD_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str  # numpy dtype name, e.g. "float32", "bfloat16"

    @property
    def st_dtype(self) -> str:
        try:
            return DTYPE_NAMES[self.dtype]
        except KeyError:
            raise FormatError(f"{self.name}: dtype {self.dtype} cannot be stored in safetensors") from None

    @property
    def nbytes(self) -> int:
        n = ITEMSIZE[self.st_dtype]
        for d in self.shape:
            n *= d
        return n


def _header(specs: Sequence[TensorSpec], metadata: dict[str, str] | None) -> bytes:
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    for spec in specs:
        header[spec.name] = {
            "dtype": spec.st_dtype,
            "shape": list(spec.shape),
            "data_offsets": [offset, offset + spec.nbytes],
        }
        offset += spec.nbytes
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # keep the data section 8-byte aligned
    return raw


def write_file(
    path: Path,
    specs: Sequence[TensorSpec],
    produce: Callable[[TensorSpec], np.ndarray[Any, Any]],
    metadata: dict[str, str] | None = None,
) -> None:
    """Write one safetensors file, asking ``produce`` for each tensor in order."""
    header = _header(specs, metadata)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(len(header).to_bytes(8, "little"))
            fh.write(header)
            for spec in specs:
                array = np.asarray(produce(spec))
                if tuple(array.shape) != spec.shape:
                    raise FormatError(f"{spec.name}: produced shape {array.shape}, planned {spec.shape}")
                if array.dtype.name != spec.dtype:
                    raise FormatError(f"{spec.name}: produced dtype {array.dtype.name}, planned {spec.dtype}")
                data = np.ascontiguousarray(array)
                if data.dtype.byteorder == ">":
                    data = data.byteswap().view(data.dtype.newbyteorder("<"))
                fh.write(data.reshape(-1).view(np.uint8).data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_model(
    out_dir: Path,
    specs: Sequence[TensorSpec],
    produce: Callable[[TensorSpec], np.ndarray[Any, Any]],
    *,
    metadata: dict[str, str] | None = None,
    max_shard_bytes: int = DEFAULT_SHARD_BYTES,
) -> list[Path]:
    """Write ``model.safetensors``, or shards plus ``model.safetensors.index.json`` when larger than
    ``max_shard_bytes``. Returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    shards: list[list[TensorSpec]] = [[]]
    size = 0
    for spec in specs:
        if shards[-1] and size + spec.nbytes > max_shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(spec)
        size += spec.nbytes
    if len(shards) == 1:
        path = out_dir / "model.safetensors"
        write_file(path, shards[0], produce, metadata)
        return [path]
    files: list[Path] = []
    weight_map: dict[str, str] = {}
    for i, shard in enumerate(shards, 1):
        name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        write_file(out_dir / name, shard, produce, metadata)
        files.append(out_dir / name)
        weight_map.update({s.name: name for s in shard})
    index = {"metadata": {"total_size": sum(s.nbytes for s in specs)}, "weight_map": weight_map}
    index_path = out_dir / "model.safetensors.index.json"
    index_path.write_text(json.dumps(index, indent=2), encoding="utf-8")
    files.append(index_path)
    return files
