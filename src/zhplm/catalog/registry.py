"""Load the built-in catalog (``data/*.toml``, one file per family of the list) and index it.

Every file is validated on load: a broken record raises :class:`~zhplm.errors.CatalogError` naming the
file and the field. :class:`Catalog` is the in-memory index (ids and aliases, case-insensitive) that the
query functions, the CLI and the downloader use.
"""

from __future__ import annotations

import difflib
import functools
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from zhplm.catalog.archs import is_known
from zhplm.catalog.schema import (
    SECTIONS,
    FamilyInfo,
    Link,
    ModelRecord,
    Paper,
    _Fields,
    paper_from_dict,
    record_from_dict,
)
from zhplm.errors import CatalogError, UnknownModelError

DATA_PACKAGE = "zhplm.catalog.data"


@dataclass(frozen=True, slots=True)
class ListText:
    """The list's text around the families: preamble, section titles and change log (for md export)."""

    preamble: tuple[str, ...] = ()
    section_titles: tuple[tuple[str, str], ...] = ()  # (key, title) in list order
    changelog_title: str | None = None
    changelog: tuple[str, ...] = ()


class Catalog:
    """All records (built-in first, then user-added), indexed by id and alias (case-insensitive)."""

    def __init__(
        self,
        records: Iterable[ModelRecord],
        families: Sequence[FamilyInfo] = (),
        list_text: ListText | None = None,
        *,
        user_ids: Iterable[str] = (),
    ) -> None:
        self.records: tuple[ModelRecord, ...] = tuple(records)
        self.families: tuple[FamilyInfo, ...] = tuple(families)
        self.list_text = list_text or ListText()
        self.user_ids: frozenset[str] = frozenset(user_ids)
        self._index: dict[str, ModelRecord] = {}
        for r in self.records:
            for key in (r.id, *r.aliases):
                k = key.lower()
                other = self._index.get(k)
                if other is not None and other is not r:
                    raise CatalogError(
                        f"{key!r} names both {other.id!r} and {r.id!r}; ids and aliases must be unique",
                        field=f"{r.id}.aliases" if key != r.id else f"{r.id}.id",
                    )
                self._index[k] = r

    def __iter__(self) -> Iterator[ModelRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.strip().lower() in self._index

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.records)

    def get(self, key: str) -> ModelRecord:
        """The record with this id or alias; UnknownModelError with the closest ids otherwise."""
        record = self._index.get(key.strip().lower())
        if record is None:
            raise UnknownModelError(key, self.suggest(key))
        return record

    def suggest(self, key: str, n: int = 5) -> list[str]:
        """The ids closest to a mistyped id or alias (edit similarity, then substring)."""
        q = key.strip().lower()
        names = list(self._index)
        out: list[str] = []
        for name in difflib.get_close_matches(q, names, n=n * 2, cutoff=0.6):
            rid = self._index[name].id
            if rid not in out:
                out.append(rid)
        if len(out) < n and len(q) >= 3:
            for name in names:
                if q in name or (len(name) >= 3 and name in q):
                    rid = self._index[name].id
                    if rid not in out:
                        out.append(rid)
        return out[:n]

    def family(self, title: str) -> FamilyInfo | None:
        for f in self.families:
            if f.title.lower() == title.lower():
                return f
        return None

    def is_builtin(self, model_id: str) -> bool:
        return model_id not in self.user_ids


# --------------------------------------------------------------------------- loading


def _family_from_dict(raw: Any, file: str) -> FamilyInfo:
    f = _Fields(raw, file=file, path="family")
    papers = tuple(
        paper_from_dict(r, file=file, path=f"family.papers[{i}]") for i, r in enumerate(f.seq("papers"))
    )
    header = f.strs("header")
    if "模型" not in header:
        raise CatalogError("has no 模型 column", file=file, field="family.header")
    info = FamilyInfo(
        title=f.text("title"),
        section=f.text("section", choices=SECTIONS),
        order=f.integer("order"),
        header=header,
        papers=papers,
        notes_label=bool(f.raw.get("notes_label", False)),
        notes=f.strs("notes"),
        file=file,
    )
    f.used.add("notes_label")
    f.done()
    return info


def check_record(record: ModelRecord, *, file: str | None, path: str) -> None:
    """Checks beyond the schema: a known arch, HF links naming their repo, ListCells on real columns."""
    where = f"{path}." if path else ""
    if not is_known(record.arch):
        raise CatalogError(
            f"unknown arch {record.arch!r} (see `zhplm catalog archs`)", file=file, field=f"{where}arch"
        )
    for i, d in enumerate(record.downloads):
        if d.host == "huggingface" and d.column != "project" and not d.hf_repo:
            raise CatalogError(
                "a huggingface download needs hf_repo (org/name)",
                file=file,
                field=f"{where}downloads[{i}].hf_repo",
            )
    for key in (record.id, *record.aliases):
        if not key.strip() or key != key.strip():
            raise CatalogError(
                f"{key!r} has surrounding spaces or is empty", file=file, field=f"{where}aliases"
            )


def check_list_cells(record: ModelRecord, header: Sequence[str], *, file: str | None, path: str) -> None:
    """A verbatim cell must name a real column and carry exactly the links the record's fields hold there,
    so that editing a download without its cell cannot make the md export lie."""
    from zhplm.catalog import awesome

    canonical = dict(zip(header, awesome.canonical_cells(header, record), strict=True))
    for i, cell in enumerate(record.list_cells):
        where = f"{path}.list_cells[{i}]"
        if cell.column not in canonical:
            raise CatalogError(
                f"column {cell.column!r} is not in the family's table header", file=file, field=where
            )
        want = [k.url for k in awesome.cell_links(canonical[cell.column])]
        got = [k.url for k in awesome.cell_links(cell.text)]
        if want and got != want:
            raise CatalogError(
                f"its links {got} differ from the record's {want} for column {cell.column!r}",
                file=file,
                field=where,
            )


def parse_family_file(text: str, file: str) -> tuple[FamilyInfo, list[ModelRecord]]:
    """Parse and validate one family data file."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"not valid TOML: {exc}", file=file) from exc
    extra = sorted(set(raw) - {"family", "models"})
    if extra:
        raise CatalogError(f"unknown top-level key(s): {', '.join(extra)}", file=file)
    family = _family_from_dict(raw.get("family"), file)
    models = raw.get("models", [])
    if not isinstance(models, list):
        raise CatalogError("must be an array of tables", file=file, field="models")
    records = []
    for i, m in enumerate(models):
        path = f"models[{i}]"
        if not isinstance(m, dict):
            raise CatalogError("expected a table", file=file, field=path)
        for key, want in (("section", family.section), ("family", family.title)):
            if key in m and m[key] != want:
                raise CatalogError(
                    f"{m[key]!r} differs from the file's family ({want!r})", file=file, field=f"{path}.{key}"
                )
        merged = {"section": family.section, "family": family.title, **m}
        merged["papers"] = [_paper_dict(p) for p in family.papers]
        record = record_from_dict(merged, file=file, path=path)
        check_record(record, file=file, path=path)
        check_list_cells(record, family.header, file=file, path=path)
        records.append(record)
    return family, records


def _paper_dict(p: Paper) -> dict[str, Any]:
    return {
        "year": p.year,
        "title": p.title,
        "authors": p.authors,
        "venue": p.venue,
        "links": [{"label": k.label, "url": k.url} for k in p.links],
    }


def _parse_list_text(text: str, file: str) -> ListText:
    raw = tomllib.loads(text)
    f = _Fields(raw, file=file, path="")
    sections = []
    for i, s in enumerate(f.seq("sections")):
        sf = f.sub("sections", i, s)
        sections.append((sf.text("key", choices=SECTIONS), sf.text("title")))
        sf.done()
    out = ListText(
        preamble=f.strs("preamble"),
        section_titles=tuple(sections),
        changelog_title=f.text("changelog_title", optional=True),
        changelog=f.strs("changelog"),
    )
    f.done()
    return out


@dataclass(frozen=True)
class BuiltinData:
    """What the packaged data files hold: the families, the records and the list's own text."""

    families: tuple[FamilyInfo, ...]
    records: tuple[ModelRecord, ...]
    list_text: ListText


@functools.lru_cache(maxsize=1)
def load_builtin() -> BuiltinData:
    """The packaged catalog, validated (cached: the data files do not change at run time)."""
    root = resources.files(DATA_PACKAGE)
    families: list[FamilyInfo] = []
    records: list[ModelRecord] = []
    list_text = ListText()
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        text = entry.read_text(encoding="utf-8")
        name = f"catalog/data/{entry.name}"
        if entry.name == "_list.toml":
            list_text = _parse_list_text(text, name)
            continue
        family, recs = parse_family_file(text, name)
        families.append(family)
        records.extend(recs)
    families.sort(key=lambda f: f.order)
    records.sort(key=lambda r: r.order)
    return BuiltinData(tuple(families), tuple(records), list_text)


def builtin_catalog() -> Catalog:
    data = load_builtin()
    return Catalog(data.records, data.families, data.list_text)


__all__ = [
    "BuiltinData",
    "Catalog",
    "Link",
    "ListText",
    "builtin_catalog",
    "check_record",
    "load_builtin",
    "parse_family_file",
]
