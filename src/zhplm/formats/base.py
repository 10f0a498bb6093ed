"""The one reader interface every checkpoint format implements.

Readers are lazy: opening one reads names, shapes and dtypes only; ``get`` reads one tensor. Tensors
come back as numpy arrays (bfloat16 as ``ml_dtypes.bfloat16``), so reading never needs torch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

import numpy as np

from zhplm.errors import CorruptCheckpointError

MAX_RANK = 64  # numpy's limit on dimensions
MAX_TENSOR_BYTES = 1 << 62  # beyond any disk; numpy refuses larger arrays even when one dim is 0


def check_shape(shape: tuple[int, ...], itemsize: int, *, what: str) -> tuple[int, ...]:
    """Return ``shape`` if numpy can hold it, else raise :class:`CorruptCheckpointError` naming ``what``.

    Readers call this at open, so a shape of 70 dims, a negative dim or 2**70 elements (even with
    another dim 0, which makes the byte count 0 and slips past size checks) never reaches numpy.
    """
    if len(shape) > MAX_RANK:
        raise CorruptCheckpointError(
            f"{what}: {len(shape)} dimensions, more than the {MAX_RANK} numpy allows"
        )
    n = max(itemsize, 1)
    for d in shape:
        if d < 0:
            raise CorruptCheckpointError(f"{what}: negative dimension in shape {list(shape[:8])}")
        n *= d or 1
        if n > MAX_TENSOR_BYTES:
            raise CorruptCheckpointError(
                f"{what}: shape {list(shape[:8])}{' …' if len(shape) > 8 else ''} describes more than "
                f"2**62 bytes; the file is damaged"
            )
    return shape


class Reader:
    """Base class of the format readers. Subclasses set ``format`` and implement the abstract methods."""

    format: ClassVar[str] = "unknown"

    def __init__(self, path: Path) -> None:
        self.path = path

    # -- the interface ---------------------------------------------------------------
    def keys(self) -> list[str]:
        raise NotImplementedError

    def shape(self, name: str) -> tuple[int, ...]:
        raise NotImplementedError

    def dtype(self, name: str) -> np.dtype[Any]:
        raise NotImplementedError

    def get(self, name: str) -> np.ndarray[Any, Any]:
        raise NotImplementedError

    def metadata(self) -> dict[str, Any]:
        return {"format": self.format, "path": str(self.path)}

    def close(self) -> None:
        """Release file handles; idempotent."""

    # -- conveniences ----------------------------------------------------------------
    def __contains__(self, name: object) -> bool:
        return name in self.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def items(self) -> Iterator[tuple[str, np.ndarray[Any, Any]]]:
        """Yield ``(name, array)`` one tensor at a time (streaming)."""
        for name in self.keys():
            yield name, self.get(name)

    def numel(self, name: str) -> int:
        n = 1
        for d in self.shape(name):
            n *= d
        return n

    def __enter__(self) -> Reader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path}>"


def shards_from_index(index: Path) -> tuple[dict[str, Path], dict[str, Any]]:
    """``{tensor name: shard file}`` and the metadata of a Hugging Face sharding index (``*.index.json``: the
    layout of sharded safetensors and of ``pytorch_model-0000X-of-0000N.bin``); file names stay in its folder."""
    try:
        doc = json.loads(index.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise CorruptCheckpointError(f"{index}: not a valid JSON index ({e})") from None
    weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise CorruptCheckpointError(f"{index}: no weight_map")
    out: dict[str, Path] = {}
    for name, file in weight_map.items():
        if not isinstance(file, str) or not file or "/" in file or "\\" in file or file in (".", ".."):
            raise CorruptCheckpointError(f"{index}: tensor {name!r} maps to an invalid file name {file!r}")
        out[name] = index.parent / file
    meta = doc.get("metadata")
    return out, meta if isinstance(meta, dict) else {}
