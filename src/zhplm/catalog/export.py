"""Export the catalog as JSON (the record schema ``catalog add`` reads), CSV, the list's markdown, or BibTeX.

The markdown export regenerates the awesome list from the catalog data: same sections, families, paper
lines, rows and links in the same order (see :mod:`zhplm.catalog.awesome`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence

from zhplm.catalog import awesome
from zhplm.catalog.query import is_downloadable
from zhplm.catalog.registry import Catalog
from zhplm.catalog.schema import ModelRecord, Paper

FORMATS: tuple[str, ...] = ("json", "csv", "md", "bibtex")

CSV_COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "section",
    "family",
    "size",
    "size_label",
    "arch",
    "domain_zh",
    "domain_en",
    "publisher",
    "source_repo",
    "layers",
    "hidden",
    "heads",
    "parameters",
    "vocab_size",
    "tokenizer",
    "aliases",
    "frameworks",
    "hosts",
    "downloadable",
    "downloads",
)


def to_json(records: Sequence[ModelRecord]) -> str:
    return json.dumps([r.to_dict() for r in records], ensure_ascii=False, indent=2) + "\n"


def to_csv(records: Sequence[ModelRecord]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in records:
        w.writerow(
            [
                r.id,
                r.name,
                r.section,
                r.family,
                r.size,
                r.size_label,
                r.arch,
                r.domain_zh,
                r.domain_en,
                r.publisher.name,
                r.source_repo or "",
                _num(r.layers),
                _num(r.hidden),
                _num(r.heads),
                _num(r.parameters),
                _num(r.vocab_size),
                r.tokenizer or "",
                ";".join(r.aliases),
                ";".join(r.frameworks),
                ";".join(r.hosts),
                "yes" if is_downloadable(r) else "no",
                " ".join(d.url for d in r.downloads),
            ]
        )
    return buf.getvalue()


def _num(v: int | None) -> str:
    return "" if v is None else str(v)


def document(catalog: Catalog, records: Sequence[ModelRecord] | None = None) -> awesome.Document:
    """The list's document model rebuilt from the catalog (all records unless given)."""
    lt = catalog.list_text
    return awesome.document_from_catalog(
        catalog.records if records is None else records,
        catalog.families,
        preamble=lt.preamble,
        section_titles=dict(lt.section_titles) or None,
        changelog_title=lt.changelog_title,
        changelog=lt.changelog,
    )


def to_markdown(catalog: Catalog, records: Sequence[ModelRecord] | None = None) -> str:
    return awesome.render_document(document(catalog, records))


# --------------------------------------------------------------------------- bibtex


def unique_papers(records: Sequence[ModelRecord]) -> list[Paper]:
    seen: dict[str, Paper] = {}
    for r in records:
        for p in r.papers:
            seen.setdefault(p.title.strip().lower(), p)
    return list(seen.values())


def _bib_escape(text: str) -> str:
    return text.replace("\\", "\\textbackslash{}").replace("{", "\\{").replace("}", "\\}").replace("&", "\\&")


def bibtex_key(p: Paper, taken: set[str]) -> str:
    first = p.authors.split(",")[0].strip().rstrip(".")
    surname = first.split()[-1] if first.split() else "anon"
    word = next((w for w in re.findall(r"[A-Za-z][A-Za-z0-9]+", p.title) if len(w) > 2), "")
    base = re.sub(r"[^A-Za-z0-9]", "", surname.lower()) or "paper"
    key = f"{base}{p.year}{word.lower()}"
    if not re.sub(r"[0-9]", "", base):  # non-latin author names: keep the key ascii
        key = f"paper{p.year}{word.lower()}"
    candidate, n = key, 1
    while candidate in taken:
        n += 1
        candidate = f"{key}{n}"
    taken.add(candidate)
    return candidate


def to_bibtex(records: Sequence[ModelRecord]) -> str:
    taken: set[str] = set()
    entries = []
    for p in unique_papers(records):
        authors = p.authors.strip().rstrip(".")
        authors = re.sub(r",?\s*et al\.?$", " and others", authors)
        kind = "article" if p.venue.lower() == "arxiv" else "misc"
        fields = [
            ("title", f"{{{_bib_escape(p.title)}}}"),
            ("author", _bib_escape(authors)),
            ("year", str(p.year)),
        ]
        if p.venue.lower() == "arxiv":
            fields.append(("journal", "arXiv"))
        else:
            fields.append(("howpublished", _bib_escape(p.venue)))
        if p.links:
            fields.append(("url", p.links[0].url))
        body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields)
        entries.append(f"@{kind}{{{bibtex_key(p, taken)},\n{body}\n}}\n")
    return "\n".join(entries)


def export(catalog: Catalog, fmt: str, records: Sequence[ModelRecord] | None = None) -> str:
    chosen = list(catalog.records if records is None else records)
    if fmt == "json":
        return to_json(chosen)
    if fmt == "csv":
        return to_csv(chosen)
    if fmt == "md":
        return to_markdown(catalog, chosen)
    if fmt == "bibtex":
        return to_bibtex(chosen)
    raise ValueError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
