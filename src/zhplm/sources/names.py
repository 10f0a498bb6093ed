"""Validation of file names that come from a remote (hub listings, archive-free downloads, headers).

A name a server gives us is data, not a path: before it touches the file system it must be a plain
relative path that stays inside its folder under both POSIX and Windows rules. ``../x``, ``/etc/x``,
``C:\\x``, ``C:x``, ``\\x`` and ``\\\\host\\share\\x`` are refused with :class:`UnsafeContentError`.
"""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath

from zhplm.errors import UnsafeContentError


def safe_relpath(name: str) -> str:
    """Return ``name`` as a normalised POSIX relative path, or raise :class:`UnsafeContentError`."""
    if not isinstance(name, str) or not name.strip():
        raise UnsafeContentError(f"refusing an empty remote file name: {name!r}")
    if any(ord(c) < 32 for c in name):
        raise UnsafeContentError(f"refusing a remote file name with control characters: {name!r}")
    win = PureWindowsPath(name)
    if win.drive or win.root or PurePosixPath(name).is_absolute():
        raise UnsafeContentError(f"refusing an absolute remote file name: {name!r}")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts:
        raise UnsafeContentError(f"refusing a remote file name without a file: {name!r}")
    if any(p == ".." for p in parts):
        raise UnsafeContentError(f"refusing a remote file name that leaves its folder: {name!r}")
    if any(p.endswith(":") or ":" in p for p in parts):  # NTFS streams / drive-relative pieces
        raise UnsafeContentError(f"refusing a remote file name with ':' in it: {name!r}")
    return "/".join(parts)


def safe_basename(name: str) -> str:
    """A single safe file name (no folders), for files saved under a name a server chose."""
    rel = safe_relpath(name)
    if "/" in rel:
        raise UnsafeContentError(f"refusing a remote file name with folders in it: {name!r}")
    return rel


__all__ = ["safe_basename", "safe_relpath"]
