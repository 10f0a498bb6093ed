"""Getting a model's files into the local store: automatic downloads where the host allows, guided manual
import where it does not.

``download(model_id)`` looks the row up in the catalog, returns at once if the store already has it, and
otherwise tries the row's links in order (:mod:`zhplm.sources.plan`): ``hf`` (huggingface_hub,
``HF_ENDPOINT``, pinned revisions), ``modelscope`` (plain HTTP API), plain ``http(s)`` (resume, size +
sha256) and Google Drive (confirm pages). Each failure is recorded and the next link tried; the final
error lists every attempt. Rows that only have manual hosts raise :class:`ManualDownloadRequired` with
exact steps; ``import_file(model_id, path)`` then checks and stores the file the user fetched. Archives
are extracted with :func:`zhplm.formats.extract_archive`; ``convert=True`` finishes with
:func:`zhplm.converter.convert` (skipped with a notice for architectures without a converter yet).

``ZHPLM_OFFLINE=1`` uses only the store. The store itself (layout, ``path_of``/``converted_dir`` for the
loader, verify/remove/gc) is :mod:`zhplm.sources.store`.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from zhplm import config
from zhplm.catalog.schema import Download, ModelRecord
from zhplm.errors import (
    DownloadError,
    FormatError,
    ManualDownloadRequired,
    MissingDependencyError,
    SourceError,
)
from zhplm.sources import gdrive, hf, http, manual, modelscope
from zhplm.sources.names import safe_basename
from zhplm.sources.plan import Attempt, plan
from zhplm.sources.progress import note
from zhplm.sources.store import Store, StoreEntry

Lookup = Callable[[str], ModelRecord]
# The conversion seam: the first of these modules that exists provides


@dataclass(frozen=True)
class Options:
    timeout: float = 30.0
    retries: int = 5
    backoff: float = 1.0
    progress: bool = True
    quiet: bool = False


def default_lookup(model_id: str) -> ModelRecord:
    """The catalog record for an id or alias (``zhplm.catalog.get_catalog().get``)."""
    catalog: Any = importlib.import_module("zhplm.catalog")
    return cast(ModelRecord, catalog.get_catalog().get(model_id))


def _record(model: str | ModelRecord, lookup: Lookup | None) -> ModelRecord:
    return model if isinstance(model, ModelRecord) else (lookup or default_lookup)(model)


def download(
    model: str | ModelRecord,
    *,
    source: str | None = None,
    convert: bool = True,
    force: bool = False,
    quiet: bool = False,
    progress: bool | None = None,
    timeout: float = 30.0,
    retries: int = 5,
    backoff: float = 1.0,
    store: Store | None = None,
    lookup: Lookup | None = None,
) -> Path:
    """Fetch, verify, extract [and convert] a model; return its converted folder (or its stored folder).

    ``source`` restricts the links tried to one kind (hf, modelscope, http, gdrive, manual). ``force``
    fetches again even when the store has the model. ``lookup`` replaces the catalog (tests, tools).
    """
    record = _record(model, lookup)
    store = store or Store()
    opts = Options(timeout, retries, backoff, (not quiet) if progress is None else progress, quiet)
    entry = None if force else store.present(record.id)
    if entry is None:
        if config.offline():
            store.path_of(record.id)  # raises OfflineError saying what to run
        with store.lock(f"model-{record.id}"):
            entry = None if force else store.present(record.id)  # another process may have finished it
            if entry is None:
                entry = _fetch_any(record, store, source, opts)
    if convert:
        converted = _convert_step(record, store, entry, opts)
        if converted is not None:
            return converted
    return entry.path


def _fetch_any(record: ModelRecord, store: Store, only: str | None, opts: Options) -> StoreEntry:
    attempts, manual_links = plan(record, only)
    failures: list[tuple[Attempt, BaseException]] = []
    for attempt in attempts:
        note(f"{record.id}: trying {attempt.describe()}", quiet=opts.quiet)
        try:
            entry = _run(attempt, record, store, opts)
        except (SourceError, FormatError, MissingDependencyError) as exc:
            if isinstance(exc, ManualDownloadRequired):
                manual_links.append(attempt)
            failures.append((attempt, exc))
            note(f"{record.id}: {attempt.kind} failed: {exc}", quiet=opts.quiet)
            continue
        note(f"{record.id}: stored in {entry.path}", quiet=opts.quiet)
        return entry
    tried = "\n".join(f"  - {a.describe()}: {type(e).__name__}: {e}" for a, e in failures)
    if manual_links:
        text = manual.steps(record, [a.download for a in manual_links])
        if failures:
            text += f"\n(Automatic sources were tried first and failed:\n{tried})"
        raise ManualDownloadRequired(record.id, text)
    if not failures:
        which = f" of kind {only!r}" if only else ""
        raise SourceError(f"{record.id} has no download link{which} in the catalog")
    if len(failures) == 1:
        raise failures[0][1]
    raise DownloadError(f"could not download {record.id}; tried {len(failures)} source(s):\n{tried}")


def _run(attempt: Attempt, record: ModelRecord, store: Store, opts: Options) -> StoreEntry:
    d = attempt.download
    if attempt.kind in ("hf", "modelscope"):
        assert attempt.repo is not None
        staged = store.staging_dir()
        try:
            if attempt.kind == "hf":
                hf.fetch_repo(
                    attempt.repo,
                    staged,
                    cache_dir=store.hf_cache,
                    revision=attempt.revision,
                    timeout=opts.timeout,
                    progress=opts.progress,
                )
            else:
                modelscope.fetch_repo(
                    attempt.repo,
                    staged,
                    store.partial_dir,
                    revision=attempt.revision or "master",
                    timeout=opts.timeout,
                    retries=opts.retries,
                    backoff=opts.backoff,
                    progress=opts.progress,
                )
            url = f"{attempt.repo}@{attempt.revision}" if attempt.revision else attempt.repo
            return store.publish(record.id, staged, source=attempt.kind, url=url, format=d.format or "hf")
        finally:
            shutil.rmtree(staged, ignore_errors=True)
    url = gdrive.direct_url(d.url, record.id) if attempt.kind == "gdrive" else d.url
    res = http.fetch(
        url,
        store.partial_dir,
        expected_size=d.size,
        expected_sha256=d.sha256,
        timeout=opts.timeout,
        retries=opts.retries,
        backoff=opts.backoff,
        progress=opts.progress,
        desc=f"{record.id}",
        html_handler=gdrive.confirm_url if attempt.kind == "gdrive" else None,
    )
    store.put_blob(res.path, res.sha256)
    name = d.filename or res.filename or "download.bin"
    return _publish_blob(record, store, res.sha256, name, source=attempt.kind, url=d.url, fmt=d.format)


def _is_archive(path: Path) -> bool:
    kind = manual.archive_kind(path)
    if kind is None:
        return False
    if kind == "zip":  # a torch.save zip checkpoint is a file, not an archive to unpack
        members = manual.archive_members(path, "zip")
        if (
            any(m.endswith("/data.pkl") or m == "data.pkl" for m in members)
            and len({m.split("/", 1)[0] for m in members}) == 1
        ):
            return False
    return True


def _publish_blob(
    record: ModelRecord, store: Store, sha: str, name: str, *, source: str, url: str | None, fmt: str | None
) -> StoreEntry:
    blob = store.blob_path(sha)
    staged = store.staging_dir()
    try:
        if _is_archive(blob):
            from zhplm.formats import extract_archive

            extract_archive(blob, staged)
        else:
            target = staged / safe_basename(name)
            try:
                os.link(blob, target)
            except OSError:
                shutil.copyfile(blob, target)
        return store.publish(record.id, staged, source=source, url=url, blob=sha, format=fmt)
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def import_file(
    model: str | ModelRecord,
    path: str | Path,
    *,
    convert: bool = False,
    quiet: bool = False,
    store: Store | None = None,
    lookup: Lookup | None = None,
) -> Path:
    """Check a file (or folder) the user downloaded by hand, store it, and continue as if downloaded."""
    record = _record(model, lookup)
    store = store or Store()
    check = manual.check_import(record, path)
    d: Download | None = check.download
    with store.lock(f"model-{record.id}"):
        if check.kind == "folder":
            staged = store.staging_dir()
            try:
                manual.copy_folder(check.path, staged)  # links only inside the folder, no loops
                entry = store.publish(
                    record.id, staged, source="manual", url=str(check.path), format=check.format
                )
            finally:
                shutil.rmtree(staged, ignore_errors=True)
        else:
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
            entry = _publish_blob(
                record,
                store,
                check.sha256,
                name,
                source="manual",
                url=d.url if d else str(check.path),
                fmt=check.format,
            )
    note(
        f"{record.id}: imported {check.path} ({check.format or 'unknown format'}) into {entry.path}",
        quiet=quiet,
    )
    if convert:
        converted = _convert_step(record, store, entry, Options(quiet=quiet))
        if converted is not None:
            return converted
    return entry.path


def _convert_step(record: ModelRecord, store: Store, entry: StoreEntry, opts: Options) -> Path | None:
    """Convert the stored files into ``converted/<id>`` with :func:`zhplm.converter.convert`."""
    if entry.converted is not None and entry.converted.is_dir():
        return entry.converted
    from zhplm.arch import available_archs

    if record.arch not in available_archs():
        note(
            f"{record.id}: no converter for architecture {record.arch!r} yet; kept the original files",
            quiet=opts.quiet,
        )
        return None
    from zhplm.converter import convert

    with store.lock(f"convert-{record.id}"):
        current = store.get(record.id)
        if current is not None and current.converted is not None and current.converted.is_dir():
            return current.converted
        staged = store.staging_dir("convert-")
        try:
            result = convert(entry.path, staged / record.id, model_id=record.id)
            out = result.out or staged / record.id
            parity = None
            with contextlib.suppress(OSError, ValueError):
                prov = json.loads((out / "zhplm.json").read_text(encoding="utf-8"))
                if isinstance(prov, dict) and prov.get("parity") is not None:
                    parity = json.dumps(prov["parity"], sort_keys=True)
            return store.set_converted(record.id, out, parity=parity)
        finally:
            shutil.rmtree(staged, ignore_errors=True)


def path_of(model_id: str) -> Path:
    """The stored folder of a model (see :meth:`Store.path_of`)."""
    return Store().path_of(model_id)


def converted_dir(model_id: str) -> Path:
    """The converted HF-layout folder of a model (see :meth:`Store.converted_dir`)."""
    return Store().converted_dir(model_id)


__all__ = [
    "Store",
    "StoreEntry",
    "converted_dir",
    "default_lookup",
    "download",
    "import_file",
    "path_of",
]
