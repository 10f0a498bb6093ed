"""Safe extraction of the zip and tar archives models are published in.

An allow-list, not a filter: only regular files and folders are written, under names that stay inside
the destination by POSIX *and* Windows rules; links, devices, duplicates and bombs are refused. Bytes
are counted as they stream (declared sizes are never trusted), everything is written into a fresh
temporary folder next to ``dest`` and renamed into place only when the whole archive passed, so a
refused archive leaves nothing behind.
"""

from __future__ import annotations

import builtins
import itertools
import os
import shutil
import stat
import tarfile
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO, Protocol

from zhplm.errors import CorruptCheckpointError, FormatError, UnsafeContentError, UnsupportedFormatError

GiB = 1 << 30
CHUNK = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Caps on what one archive may expand to (defaults fit a 12 GB model archive with room to spare)."""

    max_members: int = 100_000
    max_total_bytes: int = 64 * GiB
    max_member_bytes: int = 32 * GiB
    max_ratio: float = 200.0  # uncompressed / compressed, checked once past ratio_floor bytes
    ratio_floor: int = 64 << 20


def safe_parts(name: str) -> tuple[str, ...]:
    """The path components of member ``name`` if it stays inside the destination, else raise.

    Refuses absolute names, drive and UNC names (``C:\\x``, ``D:x``, ``\\\\host\\share``), ``..``
    components, NUL and control characters. Backslashes count as separators, as Windows would read them.
    """
    if not name or "\x00" in name or any(ord(c) < 32 for c in name):
        raise UnsafeContentError(f"archive member name {name!r} is empty or has control characters")
    if PurePosixPath(name).is_absolute() or name.startswith(("/", "\\")):
        raise UnsafeContentError(f"archive member {name!r} has an absolute path")
    win = PureWindowsPath(name)
    if win.drive or win.root:
        raise UnsafeContentError(f"archive member {name!r} names a drive or network share")
    parts = tuple(p for p in name.replace("\\", "/").split("/") if p not in ("", "."))
    if ".." in parts:
        raise UnsafeContentError(f"archive member {name!r} climbs out of the destination with '..'")
    if not parts:
        raise UnsafeContentError(f"archive member {name!r} has no file name")
    return parts


class _Readable(Protocol):
    def read(self, n: int, /) -> bytes: ...


@dataclass
class _Member:
    name: str
    is_dir: bool
    declared: int  # declared uncompressed size (never trusted, only pre-checked)


class _Writer:
    """Writes members into ``root`` (a fresh temporary folder), enforcing names, duplicates and caps."""

    def __init__(self, root: Path, limits: Limits, archive: Path) -> None:
        self.root = root
        self.limits = limits
        self.archive = archive
        self.count = 0
        self.total = 0
        self.files: dict[str, str] = {}  # collision key -> member name
        self.dirs: dict[str, str] = {}
        self.archive_size = archive.stat().st_size

    def check_expansion(self, total: int, *, declared: bool = False) -> None:
        """Refuse when the archive as a whole expands beyond the ratio cap (many members, each under
        the per-member floor, add up), or past the total-size cap."""
        lim = self.limits
        how = "declared" if declared else "written"
        if total > lim.max_total_bytes:
            raise UnsafeContentError(
                f"{self.archive}: contents expand past {lim.max_total_bytes} bytes ({total} {how}; a bomb?)"
            )
        if total > lim.ratio_floor and total > lim.max_ratio * max(self.archive_size, 1):
            raise UnsafeContentError(
                f"{self.archive}: expands more than {lim.max_ratio:g}x ({total} bytes {how} from "
                f"{self.archive_size}; a compression bomb?)"
            )

    @staticmethod
    def _key(parts: tuple[str, ...]) -> str:
        return unicodedata.normalize("NFC", "/".join(parts)).casefold()

    def admit(self, m: _Member) -> tuple[str, ...]:
        self.count += 1
        if self.count > self.limits.max_members:
            raise UnsafeContentError(f"{self.archive}: more than {self.limits.max_members} members (a bomb?)")
        if m.declared > self.limits.max_member_bytes:
            raise UnsafeContentError(
                f"{self.archive}: member {m.name!r} declares {m.declared} bytes, over the "
                f"{self.limits.max_member_bytes}-byte limit"
            )
        if m.is_dir and m.name.replace("\\", "/").strip("/") in ("", "."):
            return ()  # "./" heads archives made with `tar -C folder .`: the destination itself
        parts = safe_parts(m.name)
        key = self._key(parts)
        if key in self.files or (not m.is_dir and key in self.dirs):
            other = self.files.get(key) or self.dirs.get(key)
            raise UnsafeContentError(
                f"{self.archive}: member {m.name!r} collides with {other!r} (duplicate name)"
            )
        for i in range(1, len(parts)):
            parent = self._key(parts[:i])
            if parent in self.files:
                raise UnsafeContentError(
                    f"{self.archive}: member {m.name!r} lies under {self.files[parent]!r}, which is a file"
                )
            self.dirs.setdefault(parent, "/".join(parts[:i]))
        (self.dirs if m.is_dir else self.files)[key] = m.name
        return parts

    def mkdir(self, parts: tuple[str, ...]) -> None:
        self.root.joinpath(*parts).mkdir(parents=True, exist_ok=True)

    def write(self, m: _Member, parts: tuple[str, ...], src: _Readable, compressed: int | None) -> None:
        target = self.root.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        flags = (
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        )
        written = 0
        with builtins.open(os.open(target, flags, 0o644), "wb") as out:
            while chunk := src.read(CHUNK):
                written += len(chunk)
                self.total += len(chunk)
                if written > self.limits.max_member_bytes:
                    raise UnsafeContentError(
                        f"{self.archive}: member {m.name!r} expands past {self.limits.max_member_bytes} bytes"
                    )
                self.check_expansion(self.total)
                if written > m.declared:
                    raise UnsafeContentError(
                        f"{self.archive}: member {m.name!r} holds more bytes than the {m.declared} it declares"
                    )
                ratio_cap = self.limits.max_ratio * max(compressed or 0, 1)
                if compressed is not None and written > self.limits.ratio_floor and written > ratio_cap:
                    raise UnsafeContentError(
                        f"{self.archive}: member {m.name!r} expands more than {self.limits.max_ratio:g}x "
                        "(a compression bomb?)"
                    )
                out.write(chunk)
        if written != m.declared:
            raise CorruptCheckpointError(
                f"{self.archive}: member {m.name!r} has {written} bytes, but declares {m.declared}; truncated?"
            )


# ------------------------------------------------------------------ zip


def _zip_name(info: zipfile.ZipInfo) -> str:
    """Member name with Chinese names decoded right: without the UTF-8 flag zipfile assumes cp437, but
    Chinese tools write UTF-8 (without setting the flag) or GBK."""
    if info.flag_bits & 0x800 or info.filename.isascii():
        return info.filename
    raw = info.filename.encode("cp437", errors="strict")
    for enc in ("utf-8", "gbk"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return info.filename


def _extract_zip(path: Path, writer: _Writer) -> None:
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as e:
        raise CorruptCheckpointError(f"{path}: not a readable zip archive ({e})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > writer.limits.max_members:
            raise UnsafeContentError(
                f"{path}: {len(infos)} members, over the limit of {writer.limits.max_members}"
            )
        # overlapping entries (one member's data holding another's header) are the "quoted overlap" bomb
        spans = sorted(
            (i.header_offset, i.header_offset + 30 + len(i.orig_filename) + i.compress_size) for i in infos
        )
        for (a0, a1), (b0, _) in itertools.pairwise(spans):
            if b0 < a1 or a0 == b0:
                raise UnsafeContentError(f"{path}: overlapping zip entries (a zip bomb)")
        plan = []
        for info in infos:
            mode = info.external_attr >> 16
            name = _zip_name(info)
            kind = stat.S_IFMT(mode)
            if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                what = "symbolic link" if kind == stat.S_IFLNK else "special file"
                raise UnsafeContentError(
                    f"{path}: member {name!r} is a {what}; only files and folders are allowed"
                )
            if info.flag_bits & 0x1:
                raise UnsupportedFormatError(
                    f"{path}: member {name!r} is encrypted; decrypt the archive first"
                )
            m = _Member(name, info.is_dir() or kind == stat.S_IFDIR, 0 if info.is_dir() else info.file_size)
            plan.append((info, m, writer.admit(m)))
        # whole-archive caps on the declared sizes before anything is written (bytes are still counted)
        writer.check_expansion(sum(m.declared for _, m, _ in plan), declared=True)
        for info, m, parts in plan:
            if m.is_dir:
                writer.mkdir(parts)
                continue
            try:
                with zf.open(info) as src:
                    writer.write(m, parts, src, info.compress_size)
            except (zipfile.BadZipFile, EOFError, NotImplementedError, OSError) as e:
                if isinstance(e, FileExistsError | NotADirectoryError | IsADirectoryError):
                    raise UnsafeContentError(
                        f"{path}: member {m.name!r} collides with another path"
                    ) from None
                raise CorruptCheckpointError(f"{path}: member {m.name!r} cannot be read ({e})") from None


# ------------------------------------------------------------------ tar


def _tar_members(tf: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    try:
        yield from tf
    except tarfile.TarError as e:
        raise CorruptCheckpointError(f"damaged tar archive ({e})") from None


def _extract_tar(path: Path, writer: _Writer) -> None:
    with builtins.open(path, "rb") as raw:
        try:
            tf = tarfile.open(fileobj=raw, mode="r|*")  # noqa: SIM115 - closed by the with below
        except (tarfile.TarError, EOFError, OSError) as e:
            raise CorruptCheckpointError(f"{path}: not a readable tar archive ({e})") from None
        with tf:
            for info in _tar_members(tf):
                if info.type in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                    kind = "symbolic" if info.issym() else "hard"
                    raise UnsafeContentError(
                        f"{path}: member {info.name!r} is a {kind} link (to {info.linkname!r}); links are never extracted"
                    )
                if info.type not in (
                    tarfile.REGTYPE,
                    tarfile.AREGTYPE,
                    tarfile.CONTTYPE,
                    tarfile.DIRTYPE,
                ) or (info.issparse()):
                    raise UnsafeContentError(
                        f"{path}: member {info.name!r} is a device, FIFO or other special entry (type {info.type!r})"
                    )
                m = _Member(info.name, info.isdir(), 0 if info.isdir() else info.size)
                parts = writer.admit(m)
                if m.is_dir:
                    writer.mkdir(parts)
                    continue
                src = tf.extractfile(info)
                if src is None:  # pragma: no cover - regular members always have data
                    raise CorruptCheckpointError(f"{path}: member {info.name!r} has no data")
                try:
                    # compressed bytes consumed so far bound the whole stream's expansion ratio
                    writer.write(m, parts, _Ratio(src, raw, writer), None)
                except (FileExistsError, NotADirectoryError, IsADirectoryError):
                    raise UnsafeContentError(
                        f"{path}: member {m.name!r} collides with another path"
                    ) from None
                except (tarfile.TarError, EOFError) as e:
                    raise CorruptCheckpointError(f"{path}: member {m.name!r} cannot be read ({e})") from None


class _Ratio:
    """Wraps a tar member stream; refuses when the archive as a whole expands beyond the ratio cap."""

    def __init__(self, src: IO[bytes], raw: IO[bytes], writer: _Writer) -> None:
        self.src, self.raw, self.writer = src, raw, writer

    def read(self, n: int) -> bytes:
        chunk = self.src.read(n)
        lim = self.writer.limits
        total = self.writer.total + len(chunk)
        if total > lim.ratio_floor and total > lim.max_ratio * max(self.raw.tell(), 1):
            raise UnsafeContentError(
                f"{self.writer.archive}: expands more than {lim.max_ratio:g}x (a compression bomb?)"
            )
        return chunk


# ------------------------------------------------------------------ entry point


def archive_kind(path: Path) -> str | None:
    """``"zip"`` or ``"tar"`` from the content (magic bytes), or None."""
    with builtins.open(path, "rb") as f:
        head = f.read(262)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")) or head[257:262] == b"ustar":
        return "tar"
    return None


def extract_archive(
    path: Path,
    dest: Path,
    *,
    max_members: int = Limits.max_members,
    max_total_bytes: int = Limits.max_total_bytes,
    max_member_bytes: int = Limits.max_member_bytes,
    max_ratio: float = Limits.max_ratio,
    ratio_floor: int = Limits.ratio_floor,
) -> Path:
    """Extract zip/tar(.gz/.bz2/.xz) ``path`` into ``dest`` (absent or an empty folder); return ``dest``.

    Nothing appears outside ``dest``; on any error nothing appears at all.
    """
    path, dest = Path(path), Path(dest)
    limits = Limits(max_members, max_total_bytes, max_member_bytes, max_ratio, ratio_floor)
    kind = archive_kind(path)
    if kind is None:
        raise UnsupportedFormatError(f"{path} is not a zip or tar(.gz/.bz2/.xz) archive")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"{dest} already exists and is not an empty folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        writer = _Writer(tmp, limits, path)
        try:
            (_extract_zip if kind == "zip" else _extract_tar)(path, writer)
        except (FormatError, FileExistsError):
            raise
        except (OSError, ValueError) as e:  # e.g. a name the filesystem cannot hold, a broken stream
            raise CorruptCheckpointError(f"{path}: extraction failed ({e})") from e
        if dest.exists():
            dest.rmdir()  # empty (checked above)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
