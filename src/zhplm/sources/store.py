"""The local store under ``ZHPLM_HOME``: what is present, where, verified by sha256, and converted.

Layout (every final path appears only complete, by ``os.replace``/``rename`` from a staging path on
the same file system; correctness never depends on the locks, which only save duplicate work)::

    <home>/store.sqlite            index: model id -> folder, source, url, sha256, size, files, converted, parity
    <home>/blobs/sha256/<hex>      raw downloads, content-addressed (the name is the verified sha256)
    <home>/partial/                resumable partial downloads (<key>.<pid>.<rand>.part)
    <home>/models/<id>/            the model as published: extracted archive, hub snapshot, or the file
    <home>/converted/<id>/         the converted HF-layout folder (config.json + safetensors + zhplm.json)
    <home>/hf-cache/               huggingface_hub's own cache (the ``hf`` source)
    <home>/tmp/ <home>/trash/      staging and removal areas (same file system, cleaned by ``gc``)
    <home>/locks/                  filelock files

Helpers the loader uses::

    Store().path_of(model_id)       -> Path of models/<id>/   (OfflineError / StoreError when absent)
    Store().converted_dir(model_id) -> Path of converted/<id>/ (StoreError when not converted yet)
    Store().get(model_id)           -> StoreEntry | None
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zhplm import config
from zhplm.errors import ChecksumMismatchError, OfflineError, StoreError

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*[a-z0-9]$|^[a-z0-9]$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    model_id   TEXT PRIMARY KEY,
    path       TEXT NOT NULL,
    source     TEXT NOT NULL,
    url        TEXT,
    sha256     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    blob       TEXT,
    format     TEXT,
    files      TEXT NOT NULL,
    converted  TEXT,
    parity     TEXT,
    added      REAL NOT NULL,
    updated    REAL NOT NULL
)
"""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def check_model_id(model_id: str) -> str:
    """Model ids become folder names: only catalog-shaped ids are accepted."""
    if not isinstance(model_id, str) or not _ID_RE.match(model_id) or ".." in model_id:
        raise StoreError(f"{model_id!r} is not a valid model id (lowercase letters, digits, '.', '-', '_')")
    return model_id


@dataclass(frozen=True)
class FileInfo:
    sha256: str
    size: int


@dataclass(frozen=True)
class StoreEntry:
    """One indexed model. ``sha256`` is the raw blob's hash for file downloads, else the folder digest."""

    model_id: str
    path: Path
    source: str
    url: str | None
    sha256: str
    size: int
    blob: str | None
    format: str | None
    files: dict[str, FileInfo] = field(default_factory=dict)
    converted: Path | None = None
    parity: str | None = None
    added: float = 0.0
    updated: float = 0.0


@dataclass(frozen=True)
class VerifyResult:
    model_id: str
    ok: bool
    problems: tuple[str, ...] = ()


@dataclass
class GcReport:
    removed: list[str] = field(default_factory=list)
    freed_bytes: int = 0


def manifest(folder: Path) -> dict[str, FileInfo]:
    """sha256 and size of every regular file under ``folder`` (relative POSIX names)."""
    out: dict[str, FileInfo] = {}
    for p in sorted(folder.rglob("*")):
        if p.is_symlink():
            raise StoreError(f"refusing to index a symbolic link in the store: {p}")
        if p.is_file():
            out[p.relative_to(folder).as_posix()] = FileInfo(sha256_file(p), p.stat().st_size)
    return out


def tree_digest(files: dict[str, FileInfo]) -> str:
    """One sha256 for a folder: over the sorted ``sha256 size name`` lines of its files."""
    h = hashlib.sha256()
    for name in sorted(files):
        info = files[name]
        h.update(f"{info.sha256} {info.size} {name}\n".encode())
    return h.hexdigest()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Store:
    """The store rooted at ``root`` (default: ``zhplm.config.home()``, read at construction)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else config.home()

    # ------------------------------------------------------------------ layout
    @property
    def blobs_dir(self) -> Path:
        return self.root / "blobs" / "sha256"

    @property
    def partial_dir(self) -> Path:
        return self.root / "partial"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def converted_root(self) -> Path:
        return self.root / "converted"

    @property
    def hf_cache(self) -> Path:
        return self.root / "hf-cache"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    @property
    def locks_dir(self) -> Path:
        return self.root / "locks"

    @property
    def index_path(self) -> Path:
        return self.root / "store.sqlite"

    def _mkdir(self, path: Path) -> Path:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {path}: {exc}. Set ZHPLM_HOME to a writable folder.") from exc
        return path

    # ------------------------------------------------------------------ locks and staging
    @contextlib.contextmanager
    def lock(self, name: str, timeout: float = -1) -> Iterator[None]:
        """A cross-process lock named ``name`` (saves duplicate work; correctness never needs it)."""
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
        path = self._mkdir(self.locks_dir) / f"{safe}.lock"
        try:
            from filelock import FileLock
        except ImportError:  # pragma: no cover - filelock is a core dependency
            yield
            return
        with FileLock(str(path), timeout=timeout):
            yield

    def staging_dir(self, prefix: str = "stage-") -> Path:
        """A fresh folder on the store's file system, to be renamed into place or removed."""
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self._mkdir(self.tmp_dir)))

    # ------------------------------------------------------------------ blobs
    def blob_path(self, sha256: str) -> Path:
        if not _SHA_RE.match(sha256):
            raise StoreError(f"{sha256!r} is not a sha256 hex digest")
        return self.blobs_dir / sha256

    def has_blob(self, sha256: str) -> bool:
        return self.blob_path(sha256).is_file()

    def put_blob(self, src: Path, sha256: str, *, verify: bool = False) -> Path:
        """Move a complete, verified file into ``blobs/`` under its sha256 (atomic; idempotent)."""
        dest = self.blob_path(sha256)
        if verify:
            actual = sha256_file(src)
            if actual != sha256:
                src.unlink(missing_ok=True)
                raise ChecksumMismatchError(str(src), expected=sha256, actual=actual)
        self._mkdir(self.blobs_dir)
        os.replace(src, dest)  # same content under the same name: a racing writer loses nothing
        with contextlib.suppress(OSError):
            os.chmod(dest, 0o444)
        return dest

    # ------------------------------------------------------------------ index
    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        self._mkdir(self.root)
        try:
            con = sqlite3.connect(self.index_path, timeout=60, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store index {self.index_path}: {exc}") from exc
        try:
            con.execute(_SCHEMA)
            yield con
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"the store index {self.index_path} is unusable: {exc}") from exc
        finally:
            con.close()

    def _entry(self, row: tuple[Any, ...]) -> StoreEntry:
        (mid, path, source, url, sha, size, blob, fmt, files, converted, parity, added, updated) = row
        return StoreEntry(
            model_id=mid,
            path=self.root / path,
            source=source,
            url=url,
            sha256=sha,
            size=size,
            blob=blob,
            format=fmt,
            files={k: FileInfo(v[0], v[1]) for k, v in json.loads(files).items()},
            converted=self.root / converted if converted else None,
            parity=parity,
            added=added,
            updated=updated,
        )

    _COLUMNS = (
        "model_id, path, source, url, sha256, size, blob, format, files, converted, parity, added, updated"
    )

    def get(self, model_id: str) -> StoreEntry | None:
        check_model_id(model_id)
        with self._db() as con:
            row = con.execute(
                f"SELECT {self._COLUMNS} FROM models WHERE model_id = ?", (model_id,)
            ).fetchone()
        return self._entry(row) if row else None

    def entries(self) -> list[StoreEntry]:
        with self._db() as con:
            rows = con.execute(f"SELECT {self._COLUMNS} FROM models ORDER BY model_id").fetchall()
        return [self._entry(r) for r in rows]

    def present(self, model_id: str) -> StoreEntry | None:
        """The entry if it is indexed and its folder exists."""
        entry = self.get(model_id)
        return entry if entry is not None and entry.path.is_dir() else None

    # ------------------------------------------------------------------ publishing
    def publish(
        self,
        model_id: str,
        staged: Path,
        *,
        source: str,
        url: str | None,
        blob: str | None = None,
        format: str | None = None,
    ) -> StoreEntry:
        """Move the complete folder ``staged`` to ``models/<id>`` and index it.

        If another process published the model meanwhile, its copy is kept and ``staged`` removed.
        """
        check_model_id(model_id)
        files = manifest(staged)
        if not files:
            shutil.rmtree(staged, ignore_errors=True)
            raise StoreError(f"nothing to store for {model_id}: the download produced no files")
        size = sum(f.size for f in files.values())
        dest = self._mkdir(self.models_dir) / model_id
        existing = self.get(model_id)
        if dest.exists() and (existing is None or existing.files != files):
            self._discard(dest)  # stale or different content: replace it
        try:
            os.rename(staged, dest)
        except OSError:
            if not dest.is_dir():
                shutil.rmtree(staged, ignore_errors=True)
                raise
            shutil.rmtree(staged, ignore_errors=True)  # a racing process won; same model, keep theirs
            files = manifest(dest)
            size = sum(f.size for f in files.values())
        now = time.time()
        sha = blob or tree_digest(files)
        rel = dest.relative_to(self.root).as_posix()
        files_json = json.dumps({k: [v.sha256, v.size] for k, v in files.items()}, sort_keys=True)
        with self._db() as con:
            con.execute(
                "INSERT INTO models (model_id, path, source, url, sha256, size, blob, format, files, added, updated)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(model_id) DO UPDATE SET path=excluded.path, source=excluded.source,"
                " url=excluded.url, sha256=excluded.sha256, size=excluded.size, blob=excluded.blob,"
                " format=excluded.format, files=excluded.files, updated=excluded.updated",
                (model_id, rel, source, url, sha, size, blob, format, files_json, now, now),
            )
        entry = self.get(model_id)
        assert entry is not None
        return entry

    def set_converted(self, model_id: str, staged: Path, *, parity: str | None = None) -> Path:
        """Move a converted folder into ``converted/<id>`` and record it (and its parity result)."""
        if self.get(model_id) is None:
            raise StoreError(f"{model_id} is not in the store; download or import it before converting")
        dest = self._mkdir(self.converted_root) / model_id
        if dest.exists():
            self._discard(dest)
        os.rename(staged, dest)
        with self._db() as con:
            con.execute(
                "UPDATE models SET converted = ?, parity = ?, updated = ? WHERE model_id = ?",
                (dest.relative_to(self.root).as_posix(), parity, time.time(), model_id),
            )
        return dest

    def set_parity(self, model_id: str, parity: str | None) -> None:
        """Record a parity result (e.g. JSON of max abs diffs) for a converted model."""
        if self.get(model_id) is None:
            raise StoreError(f"{model_id} is not in the store")
        with self._db() as con:
            con.execute(
                "UPDATE models SET parity = ?, updated = ? WHERE model_id = ?",
                (parity, time.time(), model_id),
            )

    # ------------------------------------------------------------------ lookup for the loader
    def path_of(self, model_id: str) -> Path:
        """The folder of a stored model, or a clear error saying what to run."""
        entry = self.present(model_id)
        if entry is not None:
            return entry.path
        if config.offline():
            raise OfflineError(
                f"{model_id} is not in the store ({self.root}) and ZHPLM_OFFLINE=1 forbids downloading it. "
                f"Run `zhplm download {model_id}` on a machine with network access (same ZHPLM_HOME), "
                f"or `zhplm import {model_id} PATH` with a file you downloaded by hand."
            )
        raise StoreError(
            f"{model_id} is not in the store ({self.root}). Run `zhplm download {model_id}` "
            f"(or `zhplm import {model_id} PATH` for a file you downloaded by hand)."
        )

    def converted_dir(self, model_id: str) -> Path:
        """The converted HF-layout folder of a stored model, or a clear error saying what to run."""
        self.path_of(model_id)
        entry = self.get(model_id)
        assert entry is not None
        if entry.converted is None or not entry.converted.is_dir():
            raise StoreError(f"{model_id} is stored but not converted yet. Run `zhplm convert {model_id}`.")
        return entry.converted

    # ------------------------------------------------------------------ maintenance
    def verify(self, model_id: str | None = None) -> list[VerifyResult]:
        """Re-hash every stored file (and the raw blob) against the index."""
        entries = [self.get(model_id)] if model_id is not None else self.entries()
        if model_id is not None and entries[0] is None:
            raise StoreError(f"{model_id} is not in the store")
        results = []
        for entry in entries:
            assert entry is not None
            problems: list[str] = []
            if not entry.path.is_dir():
                problems.append(f"folder missing: {entry.path}")
            else:
                try:
                    actual = manifest(entry.path)
                except StoreError as exc:
                    problems.append(str(exc))
                    actual = {}
                for name, info in entry.files.items():
                    got = actual.get(name)
                    if got is None:
                        problems.append(f"missing file: {name}")
                    elif got != info:
                        problems.append(f"changed file: {name} (sha256 {got.sha256}, expected {info.sha256})")
                problems += [f"unexpected file: {n}" for n in sorted(set(actual) - set(entry.files))]
            if entry.blob and self.has_blob(entry.blob):
                actual_blob = sha256_file(self.blob_path(entry.blob))
                if actual_blob != entry.blob:
                    problems.append(f"raw download blobs/sha256/{entry.blob} hashes to {actual_blob}")
            results.append(VerifyResult(entry.model_id, not problems, tuple(problems)))
        return results

    def _discard(self, path: Path) -> None:
        """Rename a folder out of the way (atomic for readers), then delete it."""
        trash = self._mkdir(self.root / "trash") / f"{path.name}.{uuid.uuid4().hex[:8]}"
        try:
            os.rename(path, trash)
        except FileNotFoundError:
            return
        shutil.rmtree(trash, ignore_errors=True)

    def remove(self, model_id: str) -> bool:
        """Forget a model: its folder, converted folder and index row (blobs go at the next ``gc``)."""
        entry = self.get(model_id)
        folder = self.models_dir / model_id
        conv = self.converted_root / model_id
        found = entry is not None or folder.exists() or conv.exists()
        with self._db() as con:
            con.execute("DELETE FROM models WHERE model_id = ?", (model_id,))
        for p in (folder, conv):
            if p.exists():
                self._discard(p)
        return found

    def gc(self, *, max_age_s: float = 24 * 3600) -> GcReport:
        """Delete unreferenced blobs, unindexed folders, abandoned partials and old staging folders."""
        report = GcReport()
        entries = self.entries()
        keep_blobs = {e.blob for e in entries if e.blob}
        keep_models = {e.model_id for e in entries}

        def drop(p: Path) -> None:
            size = (
                sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size
            )
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            report.removed.append(p.relative_to(self.root).as_posix())
            report.freed_bytes += size

        if self.blobs_dir.is_dir():
            for b in self.blobs_dir.iterdir():
                if b.name not in keep_blobs:
                    drop(b)
        for root, keep in ((self.models_dir, keep_models), (self.converted_root, keep_models)):
            if root.is_dir():
                for d in root.iterdir():
                    if d.name not in keep:
                        drop(d)
        now = time.time()
        if self.partial_dir.is_dir():
            for p in self.partial_dir.iterdir():
                pid = _partial_pid(p.name)
                if (pid is None or not _pid_alive(pid)) and now - p.stat().st_mtime > max_age_s:
                    drop(p)
        for area in (self.tmp_dir, self.root / "trash"):
            if area.is_dir():
                for p in area.iterdir():
                    if area.name == "trash" or now - p.stat().st_mtime > max_age_s:
                        drop(p)
        return report


def _partial_pid(name: str) -> int | None:
    """``<key>.<pid>.<rand>.part`` -> pid."""
    parts = name.split(".")
    if len(parts) == 4 and parts[3] == "part" and parts[1].isdigit():
        return int(parts[1])
    return None


__all__ = [
    "FileInfo",
    "GcReport",
    "Store",
    "StoreEntry",
    "VerifyResult",
    "check_model_id",
    "manifest",
    "sha256_file",
    "tree_digest",
]
