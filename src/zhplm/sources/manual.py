"""Manual hosts (Baidu pan, iFlytek, WuDao login, application walls): exact steps, then a checked import.

:func:`steps` writes what a person must do: the link, the extraction code, what file to expect (name,
size, sha256, format) and the ``zhplm import`` line. :func:`check_import` decides whether a file the
user brings is what the catalog row expects, before anything enters the store: an HTML page is refused;
an archive must contain the members of the expected format (a TF1 ``.index`` + ``.data-*``, a
``pytorch_model.bin`` …); a single file must sniff as the expected format (:func:`zhplm.formats.sniff`);
a catalog sha256 or size must match. :func:`accept` then copies it into the store's staging area or blobs.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import stat
import tarfile
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from zhplm.catalog.schema import Download, ModelRecord
from zhplm.errors import (
    ChecksumMismatchError,
    FormatError,
    ManualDownloadRequired,
    UnexpectedContentError,
    UnsafeContentError,
)
from zhplm.sources.base import Attempt, FetchContext, Fetched, Source, StagedFolder, StoredBlob
from zhplm.sources.store import Store, sha256_file

HOST_NAMES = {
    "baidu-pan": "Baidu Netdisk (百度网盘)",
    "iflytek": "iFlytek cloud (讯飞云)",
    "wudao": "the WuDao / BAAI portal (registration required)",
    "openi": "OpenI (启智)",
    "google-drive": "Google Drive",
}

# Member patterns that show an archive holds a checkpoint of the format (any group fully matched).
ARCHIVE_MEMBERS: dict[str, tuple[tuple[str, ...], ...]] = {
    "tf1": (("*.index", "*.data-*"),),
    "pytorch": (("*pytorch_model*.bin",), ("*.bin",), ("*.pt",), ("*.pth",)),
    "safetensors": (("*.safetensors",),),
    "hf": (("*config.json", "*.safetensors"), ("*config.json", "*pytorch_model*.bin")),
    "paddle": (("*.pdparams",),),
    "paddle-static": (("*.pdmodel",), ("*__model__",)),
    "keras-h5": (("*.h5",), ("*.weights",)),
    "mindspore": (("*.ckpt",),),
    "megatron": (("*mp_rank_*",),),
}
# A single file that sniffs as the key is acceptable for a row expecting any of the values.
_COMPATIBLE: dict[str, set[str]] = {
    "safetensors": {"safetensors", "hf"},
    "pytorch": {"pytorch", "hf", "megatron"},
    "megatron": {"megatron", "pytorch"},
}


def steps(record: ModelRecord, downloads: Sequence[Download]) -> str:
    """Human instructions for fetching a row by hand and handing the file to ``zhplm import``."""
    lines = [f"{record.id} ({record.name}) must be downloaded by hand:"]
    for i, d in enumerate(downloads, 1):
        host = HOST_NAMES.get(d.host, d.host)
        lines.append(f"  {i}. Open {d.url}  [{host}; {d.framework}; link text {d.text!r}]")
        if d.code:
            lines.append(f"     extraction code (提取码): {d.code}")
        if "application-required" in d.notes:
            lines.append("     the publisher requires an application form; download once it is approved")
        if "login-required" in d.notes:
            lines.append("     sign in first (the portal may ask for a phone number)")
        if "folder" in d.notes:
            lines.append(
                "     the link is a folder: download the checkpoint files inside it (zip them if several)"
            )
        expect = []
        if d.filename:
            expect.append(f"file {d.filename}")
        if d.format:
            expect.append(f"{d.format} checkpoint{_member_hint(d.format)}")
        if d.size:
            expect.append(f"{d.size:,} bytes")
        if expect:
            lines.append(f"     expect: {', '.join(expect)}")
        if d.sha256:
            lines.append(f"     sha256: {d.sha256}")
    name = next((d.filename for d in downloads if d.filename), None) or "the downloaded file"
    lines.append(f"Then run:  zhplm import {record.id} /path/to/{name}")
    lines += after_import(record)
    return "\n".join(lines)


def after_import(record: ModelRecord) -> list[str]:
    """What zhplm does with the file once imported, where that is less than converting it (a refused arch)."""
    from zhplm.catalog.archs import refusal

    reason = refusal(record.arch)
    if reason is None:
        return []
    return [
        f"Then:  zhplm inspect /path/to/FILE.ckpt  lists its tensors; zhplm will not convert {record.id}:",
        f"  {reason}",
    ]


def _member_hint(fmt: str) -> str:
    groups = ARCHIVE_MEMBERS.get(fmt)
    return f" (an archive with {' + '.join(groups[0])} inside, or the file itself)" if groups else ""


@dataclass(frozen=True)
class ImportCheck:
    path: Path
    kind: str  # "zip" | "tar" | "file" | "folder"
    format: str | None  # the format it was recognised as
    sha256: str | None  # None for folders
    size: int
    download: Download | None  # the catalog link it matched


def archive_kind(path: Path) -> str | None:
    if not path.is_file():
        return None
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        if tarfile.is_tarfile(path):
            return "tar"
    except OSError:
        return None
    return None


MAX_LISTED_MEMBERS = 100_000  # as many members as extraction admits (zhplm.formats.archive.Limits)


def archive_members(path: Path, kind: str, *, max_members: int = MAX_LISTED_MEMBERS) -> list[str]:
    """Names inside an archive (listing only; nothing is extracted).

    A tar is read as a stream and refused as soon as it passes ``max_members`` entries: listing it
    whole first (``getmembers``) kept one record per member, hundreds of MB for a small hostile file.
    """
    try:
        if kind == "zip":
            with zipfile.ZipFile(path) as z:
                infos = z.infolist()
                if len(infos) > max_members:
                    raise UnsafeContentError(f"{path}: {len(infos)} members, over the limit of {max_members}")
                return [i.filename for i in infos if not i.is_dir()]
        names: list[str] = []
        with tarfile.open(path, mode="r|*") as t:
            for count, m in enumerate(t, start=1):
                if count > max_members:
                    raise UnsafeContentError(
                        f"{path}: more than {max_members} members (a bomb?); refused before listing the rest"
                    )
                if m.isfile():
                    names.append(m.name)
        return names
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        raise UnexpectedContentError(f"{path} is a damaged archive: {exc}") from exc


def copy_folder(src: Path, dest: Path, *, max_files: int = MAX_LISTED_MEMBERS) -> int:
    """Copy the regular files under ``src`` into the existing folder ``dest``; return how many.

    Symbolic links are followed only while they stay inside ``src``: a link out of it (to
    ``/etc/passwd``, to ``~/.ssh``) would copy that file into the store, a link that loops (or a
    folder reached twice through links) would copy forever. Both are refused before the file is
    copied, as are devices, FIFOs and sockets.
    """
    root = src.resolve(strict=True)
    visited = {root}
    copied = 0
    stack: list[tuple[Path, Path, Path]] = [(root, dest, src)]  # (real folder, target, path as named)
    while stack:
        folder, target, shown = stack.pop()
        target.mkdir(exist_ok=True)
        with os.scandir(folder) as entries:
            listing = sorted(entries, key=lambda e: e.name)
        for entry in listing:
            path, named = Path(entry.path), shown / entry.name
            real = path
            if entry.is_symlink():
                try:
                    real = path.resolve(strict=True)
                except (OSError, RuntimeError) as exc:  # ELOOP, a dangling link
                    raise UnsafeContentError(
                        f"{named} is a symbolic link that loops or leads nowhere ({exc}); remove it and import again"
                    ) from None
                if not real.is_relative_to(root):
                    raise UnsafeContentError(
                        f"{named} is a symbolic link to {real}, outside the folder being imported; zhplm does "
                        "not follow links out of it (they could copy any file of this machine into the store). "
                        f"If the link is meant (a Hugging Face cache snapshot), copy the folder with links "
                        f"resolved (cp -rL {src} COPY) and import the copy"
                    )
            mode = os.stat(real).st_mode
            if stat.S_ISDIR(mode):
                if real in visited:
                    raise UnsafeContentError(
                        f"{named}: the folder {real} is reached a second time through a symbolic link (a link "
                        "loop?); remove the link and import again"
                    )
                visited.add(real)
                stack.append((real, target / entry.name, named))
            elif stat.S_ISREG(mode):
                copied += 1
                if copied > max_files:
                    raise UnsafeContentError(f"{src}: more than {max_files} files; refused")
                shutil.copyfile(real, target / entry.name)
            else:
                raise UnsafeContentError(
                    f"{named} is a device, FIFO or socket, not a file; remove it and import again"
                )
    return copied


def _matches(members: list[str], fmt: str) -> bool:
    for group in ARCHIVE_MEMBERS.get(fmt, ()):
        if all(any(fnmatch.fnmatch(m, pat) for m in members) for pat in group):
            return True
    return False


def _is_html(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(512).lstrip()[:64].lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<!--", b"<body"))


def expected_formats(record: ModelRecord, download: Download | None = None) -> list[str]:
    links = [download] if download is not None else list(record.downloads)
    return list(dict.fromkeys(d.format for d in links if d.format and d.format != "unknown"))


def check_import(record: ModelRecord, path: str | Path, download: Download | None = None) -> ImportCheck:
    """Check that ``path`` is what ``record`` (or one of its links) expects; raise a clear error if not."""
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"no such file or folder: {p}")
    wanted = expected_formats(record, download)
    if p.is_dir():
        members = [q.relative_to(p).as_posix() for q in p.rglob("*") if q.is_file()]
        fmt = _check_members(p, members, wanted)
        return ImportCheck(p, "folder", fmt, None, sum((p / m).stat().st_size for m in members), download)
    if _is_html(p):
        raise UnexpectedContentError(
            f"{p} is an HTML page, not a checkpoint (a login, quota or share page saved by the browser?). "
            "Download the file itself and try again."
        )
    size = p.stat().st_size
    sha = sha256_file(p)
    match = _link_for(record, download, sha, size, p.name)
    kind = archive_kind(p)
    if kind is not None:
        fmt = _check_members(p, archive_members(p, kind), wanted)
    else:
        kind = "file"
        fmt = _sniff_single(p, wanted)
    return ImportCheck(p, kind, fmt, sha, size, match)


def _link_for(
    record: ModelRecord, download: Download | None, sha: str, size: int, name: str
) -> Download | None:
    """The catalog link this file corresponds to; a pinned sha256/size that disagrees is an error."""
    links = [download] if download is not None else list(record.downloads)
    pinned = [d for d in links if d.sha256 or d.size]
    for d in pinned:
        if (d.sha256 is None or d.sha256 == sha) and (d.size is None or d.size == size):
            return d
    if pinned and (download is not None or all(d.sha256 or d.size for d in links)):
        d = pinned[0]
        if d.sha256 and d.sha256 != sha:
            raise ChecksumMismatchError(name, expected=d.sha256, actual=sha)
        raise ChecksumMismatchError(name, expected=str(d.size), actual=str(size), what="size")
    named = [d for d in links if d.filename == name]
    return named[0] if named else download


def _check_members(where: Path, members: list[str], wanted: list[str]) -> str | None:
    candidates = wanted or list(ARCHIVE_MEMBERS)
    for fmt in candidates:
        if _matches(members, fmt):
            return fmt
    shown = ", ".join(members[:8]) + (" …" if len(members) > 8 else "")
    want = " or ".join(
        f"{f} ({' + '.join(ARCHIVE_MEMBERS[f][0])})" for f in candidates if f in ARCHIVE_MEMBERS
    )
    raise UnexpectedContentError(
        f"{where} does not hold the expected checkpoint: looked for {want}; it contains: {shown or 'nothing'}"
    )


def _sniff_single(path: Path, wanted: list[str]) -> str:
    from zhplm.formats import sniff

    try:
        fmt = sniff(path)
    except FormatError as exc:
        raise UnexpectedContentError(f"{path} is not a checkpoint zhplm recognises: {exc}") from exc
    if wanted and not any(w in _COMPATIBLE.get(fmt, {fmt}) or w == fmt for w in wanted):
        raise UnexpectedContentError(f"{path} is a {fmt} file, but this model expects {' or '.join(wanted)}")
    return fmt


def accept(check: ImportCheck, store: Store) -> Fetched:
    """Copy a checked file or folder the user brought into the store (blobs/ or a staging folder)."""
    d = check.download
    if check.kind == "folder":
        staged = store.staging_dir()
        try:
            copy_folder(check.path, staged)  # links only inside the folder, no loops
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
        return StagedFolder(staged, "manual", str(check.path), check.format)
    assert check.sha256 is not None
    if not store.has_blob(check.sha256):
        store.partial_dir.mkdir(parents=True, exist_ok=True)
        tmp = store.partial_dir / f"import-{os.getpid()}-{uuid.uuid4().hex[:8]}.part"
        try:
            shutil.copyfile(check.path, tmp)
            store.put_blob(tmp, check.sha256, verify=True)  # the file did not change while copying
        finally:
            tmp.unlink(missing_ok=True)
    name = (d.filename if d and d.filename else None) or check.path.name
    return StoredBlob(check.sha256, name, "manual", d.url if d else str(check.path), check.format)


class ManualSource(Source):
    """Hosts a program cannot script: the attempt is a list of steps for a person, then ``zhplm import``."""

    kind = "manual"
    hosts = frozenset({"baidu-pan", "iflytek", "wudao", "openi"})
    automatic = False
    ready = False

    def route(self, link: Download) -> Attempt:
        code = f", extraction code (提取码) {link.code}" if link.code else ""
        return Attempt(self.kind, link, why=f"by hand from {HOST_NAMES.get(link.host, link.host)}{code}")

    def fetch(self, attempt: Attempt, ctx: FetchContext) -> Fetched:
        raise ManualDownloadRequired(ctx.record.id, steps(ctx.record, [attempt.download]))


SOURCE = ManualSource()

__all__ = [
    "ARCHIVE_MEMBERS",
    "SOURCE",
    "ImportCheck",
    "ManualSource",
    "accept",
    "archive_kind",
    "archive_members",
    "check_import",
    "copy_folder",
    "steps",
]
