"""The user catalog: extra records added with ``zhplm catalog add`` (issue 6).

Kept as a JSON list of records (the schema ``zhplm catalog export --format json`` writes) at
:func:`zhplm.config.user_catalog_path`. Added files are validated whole before anything is written; a
bad file is rejected with the field named and the user catalog is left untouched. Writes are atomic
(temporary file in the same folder, then ``os.replace``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from zhplm import config
from zhplm.catalog.registry import Catalog, builtin_catalog, check_record
from zhplm.catalog.schema import ModelRecord, record_from_dict
from zhplm.errors import CatalogError, UnknownModelError


def records_from_json(data: Any, *, file: str) -> list[ModelRecord]:
    """Validate a JSON value holding a list of records (or one record object)."""
    items = data if isinstance(data, list) else [data]
    records = []
    for i, raw in enumerate(items):
        path = f"[{i}]"
        record = record_from_dict(raw, file=file, path=path)
        check_record(record, file=file, path=path)
        records.append(record)
    return records


def read_json_file(path: str | Path) -> Any:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise CatalogError(f"cannot read: {exc}", file=str(p)) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(
            f"not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}", file=str(p)
        ) from exc


def user_records(path: Path | None = None) -> list[ModelRecord]:
    """The records the user added (empty when there is no user catalog)."""
    p = path or config.user_catalog_path()
    if not p.exists():
        return []
    return records_from_json(read_json_file(p), file=str(p))


def _write_atomic(path: Path, records: Sequence[ModelRecord]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps([r.to_dict() for r in records], ensure_ascii=False, indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".user-records-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def merged_catalog(builtin: Catalog, extra: Iterable[ModelRecord]) -> Catalog:
    """The built-in catalog plus user records; a user record may not reuse an id or alias."""
    extra = list(extra)
    return Catalog(
        [*builtin.records, *extra], builtin.families, builtin.list_text, user_ids=[r.id for r in extra]
    )


def add_records(file: str | Path) -> list[ModelRecord]:
    """Validate FILE (a JSON list of records) and register its records in the user catalog."""
    new = records_from_json(read_json_file(file), file=str(file))
    if not new:
        raise CatalogError("holds no records", file=str(file))
    register(new, source=str(file))
    return new


def register(new: Sequence[ModelRecord], *, source: str) -> None:
    """Append validated records to the user catalog, refusing the whole batch if an id or alias repeats."""
    existing = user_records()
    try:
        merged_catalog(builtin_catalog(), [*existing, *new])
    except CatalogError as exc:
        raise CatalogError(
            f"{exc} (ids and aliases may not repeat built-in or added ones)", file=source
        ) from exc
    _write_atomic(config.user_catalog_path(), [*existing, *new])


def remove_record(model_id: str) -> ModelRecord:
    """Remove a user-added record; built-in records cannot be removed."""
    existing = user_records()
    key = model_id.strip().lower()
    keep = [r for r in existing if r.id.lower() != key]
    if len(keep) == len(existing):
        builtin = builtin_catalog()
        if key in builtin:
            raise CatalogError(
                f"{builtin.get(key).id!r} is a built-in record of the list and cannot be removed; "
                "only records added with `zhplm catalog add` can"
            )
        raise UnknownModelError(model_id, [r.id for r in existing][:5])
    removed = next(r for r in existing if r.id.lower() == key)
    _write_atomic(config.user_catalog_path(), keep)
    return removed
