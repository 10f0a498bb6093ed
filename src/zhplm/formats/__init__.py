"""Checkpoint readers, one module per format, behind one lazy interface (:class:`Reader`).

``open_checkpoint(path)`` sniffs the format from the content (not only the name) and returns a reader
with ``keys() / shape(name) / dtype(name) / get(name) / metadata()``, usable as a context manager.
No reader executes anything from the file: pickles go through a restricted unpickler that imports
nothing, archives are extracted with an allow-list.
"""

from __future__ import annotations

import builtins
import importlib
from pathlib import Path
from typing import Any

from zhplm.errors import FormatError, UnsupportedFormatError
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
    "mindspore-sliced": "zhplm.formats.mindspore_sliced",
    "mindspore": "zhplm.formats.mindspore",
}


def _module(fmt: str) -> Any:
    return importlib.import_module(READERS[fmt])


def sniff(path: str | Path) -> str:
    """Return the format name of ``path`` (a file, a TF prefix, or a folder), or raise.

    Formats are recognised from the content (magic bytes, headers), not the file name. When no reader
    accepts the path, the :class:`UnsupportedFormatError` says what the file looks like instead (an
    HTML page, an archive, a Git LFS pointer …) and lists the readers tried.
    """
    p = Path(path)
    tried = []
    for fmt in READERS:
        try:
            mod = _module(fmt)
        except ModuleNotFoundError:  # reader not available in this build
            continue
        tried.append(fmt)
        try:
            if mod.sniff(p):
                return fmt
        except (FormatError, OSError, ValueError):  # a damaged file is not this reader's to claim
            continue
    if not p.exists() and not Path(str(p) + ".index").exists():
        raise FileNotFoundError(f"no such file or folder: {p}")
    raise UnsupportedFormatError(f"{p}: {describe_content(p)} (tried: {', '.join(tried)})")


_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a zip archive, not a checkpoint; extract it first (zhplm.formats.extract_archive)"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"\x1f\x8b", "a gzip file (a .tar.gz archive?); extract it first (zhplm.formats.extract_archive)"),
    (b"BZh", "a bzip2 file (a .tar.bz2 archive?); extract it first (zhplm.formats.extract_archive)"),
    (b"\xfd7zXZ\x00", "an xz file (a .tar.xz archive?); extract it first (zhplm.formats.extract_archive)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive, which zhplm does not open; extract it with 7z first"),
    (b"Rar!\x1a\x07", "a RAR archive, which zhplm does not open; extract it with unrar first"),
    (
        b"\x89HDF\r\n\x1a\n",
        "an HDF5 file, but the Keras h5 reader is not available (pip install 'zhplm[h5]')",
    ),
    (
        b"version https://git-lfs",
        "a Git LFS pointer, not the file itself; fetch the real file (git lfs pull)",
    ),
)


def describe_content(path: Path) -> str:
    """One phrase saying what ``path`` holds when it is not a checkpoint we read."""
    if path.is_dir():
        names = sorted(p.name for p in path.iterdir())[:12]
        return f"a folder with no checkpoint zhplm recognises (it holds: {', '.join(names) or 'nothing'})"
    if not path.is_file():
        return "not a checkpoint file"
    with builtins.open(path, "rb") as f:
        head = f.read(1024)
    if not head:
        return "an empty file (an interrupted download?)"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<script", b"<meta", b"<title")) or (
        text.startswith(b"<") and b"<html" in text
    ):
        return (
            "this is an HTML page, not a checkpoint (a Google Drive virus-scan or quota page, a login "
            "wall or an error page was saved instead of the file); download the file itself"
        )
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if len(head) > 262 and head[257:262] == b"ustar":
        return "a tar archive, not a checkpoint; extract it first (zhplm.formats.extract_archive)"
    if head[:1] == b"\x80" and 2 <= head[1] <= 5:
        return (
            f"a Python pickle (protocol {head[1]}) that no pickle-based reader (PyTorch, Paddle) recognises"
        )
    if text.startswith((b"{", b"[")):
        return "a JSON file (a config or an index?), not a checkpoint"
    return "not a checkpoint format zhplm recognises"


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

    out: Path = _extract(Path(path), Path(dest), **limits)
    return out


__all__ = ["READERS", "Reader", "describe_content", "extract_archive", "open_checkpoint", "sniff"]
