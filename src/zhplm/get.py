"""Getting a model, top-down: fetch → verify → extract → convert → record. The only module that joins
the sources (:mod:`zhplm.sources`) and the converter (:mod:`zhplm.converter`).

``download(model_id)`` looks the row up in the catalog, returns at once if the store already has it, and
otherwise tries the row's attempts in the planner's order (:mod:`zhplm.sources.plan`): each source
fetches and verifies (size, sha256), an archive is extracted, and the result is published in the store.
A failure is recorded and the next attempt tried; the final error lists every attempt. Rows that only
have manual hosts raise :class:`~zhplm.errors.ManualDownloadRequired` with exact steps;
``import_file(model_id, path)`` then checks and stores the file the user fetched. ``convert=True``
finishes with :func:`zhplm.converter.convert` (skipped with a notice for architectures without a
converter yet) and records the converted folder and its parity result in the store.

A hub copy in Hugging Face layout (a catalog :class:`~zhplm.catalog.schema.HubCopy` with ``weights = "hf"``)
is checked before it is stored (:func:`zhplm.hub_copy.check_folder`: files present, sizes as in the row; a
mismatch is refused and the next way tried) and kept as the converted folder, with a ``zhplm.json`` naming
the copy, unless the row's architecture is one of zhplm's own (then the convert step builds our classes).

``ZHPLM_OFFLINE=1`` uses only the store.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from zhplm import config
from zhplm.catalog.schema import ModelRecord
from zhplm.errors import (
    DownloadError,
    FormatError,
    ManualDownloadRequired,
    MissingDependencyError,
    SourceError,
)
from zhplm.hub_copy import CopyCheck, check_folder, keep_as_converted
from zhplm.sources import manual
from zhplm.sources.base import Attempt, FetchContext, Fetched, FetchOptions, StagedFolder
from zhplm.sources.names import safe_basename
from zhplm.sources.plan import plan
from zhplm.sources.progress import note
from zhplm.sources.registry import get_source
from zhplm.sources.store import Store, StoreEntry

Lookup = Callable[[str], ModelRecord]


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
    opts = FetchOptions(timeout, retries, backoff, (not quiet) if progress is None else progress, quiet)
    entry = None if force else store.present(record.id)
    if entry is None:
        if config.offline():
            store.path_of(record.id)  # raises OfflineError saying what to run
        with store.lock(f"model-{record.id}"):
            entry = None if force else store.present(record.id)  # another process may have finished it
            if entry is None:
                entry = _fetch_first(FetchContext(record, store, opts), source)
    if convert:
        converted = _convert(record, store, entry, quiet=opts.quiet)
        if converted is not None:
            return converted
    return entry.path


@dataclass(frozen=True)
class _Failure:
    attempt: Attempt
    error: BaseException


def _fetch_first(ctx: FetchContext, only: str | None) -> StoreEntry:
    """Try the planned attempts in order until one is fetched, verified and stored."""
    record, quiet = ctx.record, ctx.options.quiet
    the_plan = plan(record, only)
    manual_links = list(the_plan.manual)
    failures: list[_Failure] = []
    for attempt in the_plan.automatic:
        note(f"{record.id}: trying {attempt.describe()}", quiet=quiet)
        try:
            fetched = get_source(attempt.kind).fetch(attempt, ctx)
            check = _check_copy(record, attempt, fetched)
            entry = _publish(record, ctx.store, fetched)
            if check is not None:
                entry = _keep_copy(record, ctx.store, entry, attempt, check, fetched.url)
        except (SourceError, FormatError, MissingDependencyError) as exc:
            if isinstance(exc, ManualDownloadRequired):
                manual_links.append(attempt)
            failures.append(_Failure(attempt, exc))
            note(f"{record.id}: {attempt.kind} failed: {exc}", quiet=quiet)
            continue
        note(f"{record.id}: stored in {entry.path}", quiet=quiet)
        return entry
    tried = "\n".join(f"  - {f.attempt.describe()}: {type(f.error).__name__}: {f.error}" for f in failures)
    if manual_links:
        text = manual.steps(record, [a.download for a in manual_links])
        if failures:
            text += f"\n(Automatic sources were tried first and failed:\n{tried})"
        raise ManualDownloadRequired(record.id, text)
    if not failures:
        which = f" of kind {only!r}" if only else ""
        raise SourceError(f"{record.id} has no download link{which} in the catalog")
    if len(failures) == 1:
        raise failures[0].error
    raise DownloadError(f"could not download {record.id}; tried {len(failures)} source(s):\n{tried}")


def _check_copy(record: ModelRecord, attempt: Attempt, fetched: Fetched) -> CopyCheck | None:
    """Check a hub copy in HF layout before it is stored (the staged folder is removed if it fails)."""
    copy = attempt.copy
    if copy is None or copy.weights != "hf" or not isinstance(fetched, StagedFolder):
        return None
    try:
        return check_folder(record, fetched.path, attempt.describe())
    except BaseException:
        shutil.rmtree(fetched.path, ignore_errors=True)
        raise


def _own_architecture(arch: str) -> bool:
    from zhplm.arch import arch_names, get_arch

    return arch in arch_names() and get_arch(arch).own_model is not None


def _keep_copy(
    record: ModelRecord, store: Store, entry: StoreEntry, attempt: Attempt, check: CopyCheck, url: str | None
) -> StoreEntry:
    """Record a checked HF-layout copy as the converted folder (our own architectures convert instead)."""
    assert attempt.copy is not None
    if _own_architecture(record.arch):
        return entry
    staged = store.staging_dir("convert-")
    try:
        keep_as_converted(record, attempt.copy, entry.path, staged, check, url)
        store.set_converted(record.id, staged)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    kept = store.get(record.id)
    return kept if kept is not None else entry


def _publish(record: ModelRecord, store: Store, fetched: Fetched) -> StoreEntry:
    """Extract a fetched archive (or place a fetched file) and publish it as ``models/<id>``."""
    if isinstance(fetched, StagedFolder):
        try:
            return store.publish(
                record.id, fetched.path, source=fetched.source, url=fetched.url, format=fetched.format
            )
        finally:
            shutil.rmtree(fetched.path, ignore_errors=True)
    staged = store.staging_dir()
    try:
        _extract(store.blob_path(fetched.sha256), fetched.name, staged)
        return store.publish(
            record.id,
            staged,
            source=fetched.source,
            url=fetched.url,
            blob=fetched.sha256,
            format=fetched.format,
        )
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _extract(blob: Path, name: str, dest: Path) -> None:
    """Unpack an archive into ``dest`` (links, ``..`` and bombs refused), or place the file as ``name``."""
    if _is_archive(blob):
        from zhplm.formats import extract_archive

        extract_archive(blob, dest)
        return
    target = dest / safe_basename(name)
    try:
        os.link(blob, target)
    except OSError:
        shutil.copyfile(blob, target)


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
    with store.lock(f"model-{record.id}"):
        entry = _publish(record, store, manual.accept(check, store))
    note(
        f"{record.id}: imported {check.path} ({check.format or 'unknown format'}) into {entry.path}",
        quiet=quiet,
    )
    if convert:
        converted = _convert(record, store, entry, quiet=quiet)
        if converted is not None:
            return converted
    return entry.path


def _convert(record: ModelRecord, store: Store, entry: StoreEntry, *, quiet: bool) -> Path | None:
    """Convert the stored files into ``converted/<id>`` and record it with its parity result."""
    if entry.converted is not None and entry.converted.is_dir():
        return entry.converted
    from zhplm.arch import arch_names

    if record.arch not in arch_names():
        note(
            f"{record.id}: no converter for architecture {record.arch!r} yet; kept the original files",
            quiet=quiet,
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


__all__ = ["Lookup", "default_lookup", "download", "import_file"]
