"""Checkpoint readers, one module per format, behind one lazy interface (:class:`Reader`).

``open_checkpoint(path)`` sniffs the format from the content (not only the name) and returns a reader
with ``keys() / shape(name) / dtype(name) / get(name) / metadata()``, usable as a context manager.
No reader executes anything from the file: pickles go through a restricted unpickler that imports
nothing, archives are extracted with an allow-list.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from zhplm.errors import UnsupportedFormatError
from zhplm.formats.base import Reader

# format name -> module; each module defines ``sniff(path) -> bool`` and ``open(path, **kw) -> Reader``.
# Order matters: the first module whose sniff accepts the path wins.
READERS: dict[str, str] = {
    "safetensors": "zhplm.formats.safetensors_",
    "tf1": "zhplm.formats.tf1",
    "megatron": "zhplm.formats.megatron",
    "pytorch": "zhplm.formats.torch_pickle",
    "paddle": "zhplm.formats.paddle",
    "paddle-static": "zhplm.formats.paddle_static",
    "keras-h5": "zhplm.formats.keras_h5",
    "mindspore": "zhplm.formats.mindspore",
}


def _module(fmt: str) -> Any:
    return importlib.import_module(READERS[fmt])


def sniff(path: str | Path) -> str:
    """Return the format name of ``path`` (a file, a TF prefix, or a folder), or raise."""
    p = Path(path)
    tried = []
    for fmt in READERS:
        try:
            mod = _module(fmt)
        except ModuleNotFoundError:  # reader not available in this build
            continue
        tried.append(fmt)
        if mod.sniff(p):
            return fmt
    if not p.exists() and not Path(str(p) + ".index").exists():
        raise FileNotFoundError(f"no such file or folder: {p}")
    raise UnsupportedFormatError(
        f"{p} is not a checkpoint zhplm can read (tried: {', '.join(tried)}). "
        "If it is an archive, extract it first (zhplm.formats.extract_archive)."
    )


def open_checkpoint(path: str | Path, *, format: str | None = None, **options: Any) -> Reader:
    """Open a checkpoint lazily. ``format`` skips sniffing (one of :data:`READERS`)."""
    fmt = format or sniff(path)
    if fmt not in READERS:
        raise UnsupportedFormatError(f"unknown format {fmt!r}; known: {', '.join(READERS)}")
    reader: Reader = _module(fmt).open(Path(path), **options)
    return reader


def extract_archive(path: str | Path, dest: str | Path, **limits: Any) -> Path:
    """Safely extract a zip or tar archive into ``dest`` (see :mod:`zhplm.formats.archive`)."""
    from zhplm.formats.archive import extract_archive as _extract

    return _extract(Path(path), Path(dest), **limits)


__all__ = ["READERS", "Reader", "extract_archive", "open_checkpoint", "sniff"]
