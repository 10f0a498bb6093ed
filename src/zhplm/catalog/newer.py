"""A newer version of the awesome list against the built-in catalog: what is new, changed and gone.

The upstream list keeps growing. :func:`compare` matches each row of a newer list to the built-in row it
continues (same cells; else a shared download link in the same family; else the same name and size), and
:func:`new_records` turns the rows it cannot match into user-catalog records: typed with the arch of the
family's built-in rows where that is unambiguous, kept at catalog level (arch ``unknown``) where it is not.
The built-in catalog is never changed: changed and gone rows are reported, not applied.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zhplm.catalog import awesome, terms
from zhplm.catalog.registry import Catalog, builtin_catalog, check_record
from zhplm.catalog.schema import ModelRecord, record_from_dict

UNKNOWN_ARCH = "unknown"
# Below this name similarity to a sibling, a row of a family with several archs is not typed.
_SIBLING_CUTOFF = 0.6
_ID_CLEAN = re.compile(r"[^a-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class ChangedRow:
    """A built-in row the newer list writes differently: ``columns`` holds (column, built-in, newer)."""

    id: str
    family: str
    line: int
    columns: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True, slots=True)
class NewRow:
    family: str
    section: str
    line: int
    model: str  # the 模型 cell's text
    size: str
    record: ModelRecord  # what ``--add`` registers (arch ``unknown`` when not typed)

    @property
    def typed(self) -> bool:
        return self.record.arch != UNKNOWN_ARCH


@dataclass(frozen=True, slots=True)
class GoneRow:
    id: str
    family: str
    model: str


@dataclass(frozen=True, slots=True)
class ListDiff:
    file: str
    rows: int
    unchanged: int
    new: tuple[NewRow, ...]
    changed: tuple[ChangedRow, ...]
    gone: tuple[GoneRow, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "rows": self.rows,
            "unchanged": self.unchanged,
            "new": [
                {
                    "family": n.family,
                    "section": n.section,
                    "line": n.line,
                    "model": n.model,
                    "size": n.size,
                    "id": n.record.id,
                    "arch": n.record.arch,
                    "typed": n.typed,
                }
                for n in self.new
            ],
            "changed": [
                {
                    "id": c.id,
                    "family": c.family,
                    "line": c.line,
                    "columns": [{"column": k, "built_in": a, "newer": b} for k, a, b in c.columns],
                }
                for c in self.changed
            ],
            "gone": [{"id": g.id, "family": g.family, "model": g.model} for g in self.gone],
        }


def _download_urls(header: Sequence[str], cells: Sequence[str]) -> set[str]:
    roles = awesome.header_roles(header)
    return {
        k.url
        for role, text in zip(roles, cells, strict=True)
        if role in awesome.FRAMEWORK_ROLES or role in ("download", "project")
        for k in awesome.cell_links(text)
    }


def _key(header: Sequence[str], cells: Sequence[str]) -> tuple[str, str]:
    by = dict(zip(awesome.header_roles(header), cells, strict=True))
    return awesome.cell_text(by.get("name", "")), by.get("size", "").strip()


@dataclass
class _Old:
    record: ModelRecord
    header: tuple[str, ...]
    cells: tuple[str, ...]
    matched: bool = False


def compare(doc: awesome.Document, builtin: Catalog, *, file: str, taken: Sequence[str] = ()) -> ListDiff:
    """Match every row of ``doc`` to a built-in row, and build records for the rows that match none.

    ``taken``: ids and aliases (besides the built-in ones) that new records' ids must avoid."""
    headers = {f.title: f.header for f in builtin.families}
    old_by_family: dict[str, list[_Old]] = {}
    for r in builtin:
        header = headers.get(r.family, awesome.DEFAULT_HEADER)
        old_by_family.setdefault(r.family, []).append(
            _Old(r, tuple(header), tuple(awesome.record_cells(header, r)))
        )
    rows = doc.rows
    pairs: list[tuple[awesome.ListedRow, _Old | None]] = [(row, None) for row in rows]

    def header_of(row: awesome.ListedRow) -> tuple[str, ...]:
        return row.family.table.header if row.family.table else ()

    # three passes, strictest first: same cells, a shared download link, the same name and size
    tests = (
        lambda row, old: header_of(row) == old.header and row.row.cells == old.cells,
        lambda row, old: bool(
            _download_urls(header_of(row), row.row.cells) & _download_urls(old.header, old.cells)
        ),
        lambda row, old: _key(header_of(row), row.row.cells) == _key(old.header, old.cells),
    )
    for test in tests:
        for i, (row, match) in enumerate(pairs):
            if match is not None:
                continue
            for old in old_by_family.get(row.family.title, []):
                if not old.matched and test(row, old):
                    old.matched = True
                    pairs[i] = (row, old)
                    break

    unchanged = 0
    changed: list[ChangedRow] = []
    new: list[NewRow] = []
    ids = {k.lower() for r in builtin for k in (r.id, *r.aliases)} | {t.lower() for t in taken}
    domains = {r.domain_zh: r.domain_en for r in builtin}
    for position, (row, prior) in enumerate(pairs):
        header = header_of(row)
        if prior is not None:
            old = prior
            a = dict(zip(old.header, old.cells, strict=True))
            b = dict(zip(header, row.row.cells, strict=True))
            diff = tuple(
                (k, a.get(k, ""), b.get(k, "")) for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k)
            )
            if diff:
                changed.append(ChangedRow(old.record.id, row.family.title, row.row.line, diff))
            else:
                unchanged += 1
            continue
        record = _new_record(row, header, builtin, ids, domains, file=file, position=position)
        ids.update(k.lower() for k in (record.id, *record.aliases))
        name, size = _key(header, row.row.cells)
        new.append(NewRow(row.family.title, row.section.key, row.row.line, name, size, record))
    gone = tuple(
        GoneRow(o.record.id, o.record.family, o.record.name)
        for olds in old_by_family.values()
        for o in olds
        if not o.matched
    )
    return ListDiff(file, len(rows), unchanged, tuple(new), tuple(changed), gone)


def _arch_for(family: str, name: str, builtin: Catalog) -> tuple[str, str]:
    """(arch, why): the family's one arch, or the arch of the sibling with the closest name."""
    siblings = [r for r in builtin if r.family == family]
    archs = Counter(r.arch for r in siblings)
    if not siblings:
        return UNKNOWN_ARCH, f"family {family!r} is not in the built-in catalog"
    if len(archs) == 1:
        arch = next(iter(archs))
        return arch, f"every built-in {family} row is {arch}"
    scored = sorted(
        ((difflib.SequenceMatcher(None, name.lower(), r.name.lower()).ratio(), r) for r in siblings),
        key=lambda x: -x[0],
    )
    best, sibling = scored[0]
    if best >= _SIBLING_CUTOFF:
        return sibling.arch, f"closest built-in {family} row is {sibling.id} ({sibling.arch})"
    return UNKNOWN_ARCH, f"built-in {family} rows have several archs ({', '.join(sorted(archs))})"


def _slug(text: str) -> str:
    s = _ID_CLEAN.sub("-", text.lower().replace(" ", "-")).strip("-._")
    return re.sub(r"-{2,}", "-", s)


def _new_id(name: str, size_label: str, hub_names: Sequence[str], ids: set[str]) -> str:
    """An ASCII id: the name's when it is ASCII, else the hub repository's name, else what ASCII it has."""
    if name.isascii() and _slug(name):
        base = _slug(name)
    elif hub_names:
        base = _slug(hub_names[0].split("/")[-1])
    else:
        base = _slug(name) or "row"
    if size_label not in ("unknown", "") and size_label not in base:
        base = f"{base}-{_slug(size_label)}"
    if len(base) < 2:
        base = f"{base}-model"
    candidate, n = base, 2
    while candidate in ids:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def _domain_en(domain_zh: str, known: dict[str, str]) -> str:
    if domain_zh in known:
        return known[domain_zh]
    from zhplm.catalog.query import expand

    english = sorted(v for v in expand(domain_zh) if v.isascii() and v != domain_zh.lower())
    return english[0] if english else ""


def _new_record(
    row: awesome.ListedRow,
    header: Sequence[str],
    builtin: Catalog,
    ids: set[str],
    domains: dict[str, str],
    *,
    file: str,
    position: int,
) -> ModelRecord:
    fields = awesome.row_fields(header, row.row.cells)
    name = fields.get("name") or row.family.title
    size = fields.get("size", "")
    size_label = terms.normalise_size(size)
    arch, why = _arch_for(row.family.title, name, builtin)
    siblings = [r for r in builtin if r.family == row.family.title and r.arch == arch]
    for d in fields["downloads"]:
        d["framework"] = d["column"]
        if d["host"] == "huggingface" and "hf_repo" not in d and d["column"] != "project":
            d["host"], d["notes"] = "other", [*d["notes"], "page"]  # a hub page, not a repository
        if d["host"] == "huggingface" and "hf_repo" in d:
            d["format"] = "hf"  # a hub repository is a model folder, whatever its column says
        elif arch != UNKNOWN_ARCH:
            # what the family's other links in the same column (and on the same host) hold, when they agree
            same = [x for r in siblings for x in r.downloads if x.column == d["column"] and x.format]
            for pool in ([x for x in same if x.host == d["host"]], same):
                formats = {x.format for x in pool}
                if len(formats) == 1:
                    d["format"] = formats.pop()
                    break
    tokenizers = {r.tokenizer for r in siblings if r.tokenizer}
    where = f"{Path(file).name} line {row.row.line}"
    hub = [d["hf_repo"] for d in fields["downloads"] if d.get("hf_repo")]
    model_id = _new_id(name, size_label, hub, ids)
    # the listed name and hub repositories find the row too (`zhplm info 天鹰`), where no other row has them
    aliases = [a for a in dict.fromkeys([name, *hub]) if a.lower() not in ids and a.lower() != model_id]
    raw: dict[str, Any] = {
        **fields,
        "id": model_id,
        "aliases": aliases,
        "name": name,
        "section": row.section.key,
        "family": row.family.title,
        "size": size,
        "size_label": size_label,
        "arch": arch,
        "domain_zh": fields.get("domain_zh", ""),
        "domain_en": _domain_en(fields.get("domain_zh", ""), domains),
        "publisher": fields.get("publisher") or {"name": ""},
        "papers": [
            {
                "year": p.year,
                "title": p.title,
                "authors": p.authors,
                "venue": p.venue,
                "links": [{"label": k.label, "url": k.url} for k in p.links],
            }
            for p in row.family.papers
        ],
        "order": 10_000 + position,
        "notes": [
            f"imported from a newer list ({where}) by `zhplm catalog import --add`; "
            + (f"arch {arch}: {why}" if arch != UNKNOWN_ARCH else f"arch not identified: {why}")
        ],
    }
    if len(tokenizers) == 1 and arch != UNKNOWN_ARCH:
        raw["tokenizer"] = tokenizers.pop()
    raw = {k: v for k, v in raw.items() if v is not None}
    record = record_from_dict(raw, file=file, path=f"line {row.row.line}")
    check_record(record, file=file, path=f"line {row.row.line}")
    return record


@dataclass(frozen=True, slots=True)
class ImportResult:
    """``zhplm catalog import [--add]``: the comparison, and what was registered in the user catalog."""

    diff: ListDiff
    document: awesome.Document
    added: tuple[str, ...] = ()  # ids written to the user catalog by this call
    already: tuple[str, ...] = ()  # new rows an earlier ``--add`` registered (left as they are)


def import_list(path: str | Path, *, add: bool = False) -> ImportResult:
    """Parse a version of the list, compare it with the built-in catalog and, with ``add``, register its
    new rows in the user catalog (an overlay: the built-in data files are never written)."""
    from zhplm.catalog.overlay import register, user_records

    doc = awesome.parse_file(path)  # MarkdownParseError lists every bad line
    users = user_records()
    previous = {(r.family, r.name, r.size): r for r in users}
    taken = [k for r in users for k in (r.id, *r.aliases)]
    diff = compare(doc, builtin_catalog(), file=str(path), taken=taken)
    rows: list[NewRow] = []
    fresh: list[ModelRecord] = []
    already: list[str] = []
    for n in diff.new:
        before = previous.get((n.family, n.record.name, n.record.size))
        if before is not None:
            already.append(before.id)
            rows.append(dataclasses.replace(n, record=before))
        else:
            fresh.append(n.record)
            rows.append(n)
    diff = dataclasses.replace(diff, new=tuple(rows))
    if add and fresh:
        register(fresh, source=str(path))
    return ImportResult(diff, doc, tuple(r.id for r in fresh) if add else (), tuple(already))


__all__ = [
    "UNKNOWN_ARCH",
    "ChangedRow",
    "GoneRow",
    "ImportResult",
    "ListDiff",
    "NewRow",
    "compare",
    "import_list",
]
