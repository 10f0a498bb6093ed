"""The awesome list's markdown format: parse it into a document model, and write the model back.

The document model mirrors what the list is made of: a preamble (title, notes, table of contents), five
sections, each with families; a family has paper lines, one table (header + rows of cells, each cell
holding links) and notes (备注 / ``>`` quotes); a trailing change log (``## 更新``). Line numbers are kept
for error reports but are not part of equality, so ``parse(render(doc)) == doc`` is the round-trip test.

Parsing never drops anything silently: every line it cannot place is reported, with its number, in one
:class:`~zhplm.errors.MarkdownParseError`.

``row_fields`` turns one table row into the catalog's field values (name, size, downloads with host,
extraction code and notes, publisher, source, domain); ``render_catalog`` regenerates the list from records.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zhplm.catalog.schema import FamilyInfo, ModelRecord
from zhplm.errors import MarkdownParseError

# Section headings as the list writes them → the schema's Section names. 更新 is the change log.
SECTION_TITLES: dict[str, str] = {
    "NLU系列": "NLU",
    "NLG系列": "NLG",
    "NLU-NLG系列": "NLU-NLG",
    "Multi-Modal": "Multi-Modal",
    "Table": "Table",
}
CHANGELOG_TITLES: frozenset[str] = frozenset({"更新", "更新日志"})

# Table header text (lowercase) → what the column holds.
COLUMN_ROLES: dict[str, str] = {
    "模型": "name",
    "版本": "size",
    "类型": "type",
    "tensorflow": "tensorflow",
    "pytorch": "pytorch",
    "paddlepaddle": "paddlepaddle",
    "paddle": "paddlepaddle",
    "keras": "keras",
    "mindspore": "mindspore",
    "介绍": "project",
    "资源": "project",
    "首页": "project",
    "项目首页": "project",
    "模型下载": "download",
    "下载地址": "download",
    "下载": "download",
    "作者": "publisher",
    "源地址": "source",
    "应用领域": "domain",
    "备注": "remark",
}
FRAMEWORK_ROLES: frozenset[str] = frozenset({"tensorflow", "pytorch", "paddlepaddle", "keras", "mindspore"})
DEFAULT_HEADER: tuple[str, ...] = ("模型", "版本", "TensorFlow", "PyTorch", "作者", "源地址", "应用领域")

_LINK_RE = re.compile(r"\[([^\[\]]*(?:\[[^\[\]]*\][^\[\]]*)*)\]\(([^()\s]*(?:\([^()\s]*\)[^()\s]*)*)\)")
_SECTION_RE = re.compile(r"^##\s+(.*?)\s*$")
_FAMILY_RE = re.compile(r"^###\s+(.*?)\s*$")
_SEPARATOR_CELL_RE = re.compile(r"^:?-{2,}:?$")
_NOTES_LABEL_RE = re.compile(r"^备注\s*[:：]\s*$")


# --------------------------------------------------------------------------- document model


@dataclass(frozen=True, slots=True)
class MdLink:
    label: str
    url: str


@dataclass(frozen=True, slots=True)
class PaperLine:
    """``+ year | title | authors | venue | [`PDF`](url)`` (link labels are kept without backticks)."""

    year: int
    title: str
    authors: str
    venue: str
    links: tuple[MdLink, ...]
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class TableRow:
    cells: tuple[str, ...]  # stripped cell texts, as many as the header has
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[TableRow, ...]
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class FamilyDoc:
    title: str
    papers: tuple[PaperLine, ...] = ()
    table: Table | None = None
    notes_label: bool = False  # a "备注:" line introduces the notes
    notes: tuple[str, ...] = ()  # the text of each ``>`` note line
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class SectionDoc:
    title: str  # as written, e.g. "NLU系列"
    key: str  # schema Section, e.g. "NLU"
    families: tuple[FamilyDoc, ...] = ()
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class ListedRow:
    """One table row of the list with the section and family it sits in."""

    section: SectionDoc
    family: FamilyDoc
    row: TableRow


@dataclass(frozen=True, slots=True)
class Document:
    preamble: tuple[str, ...]  # lines before the first section, verbatim (right-stripped)
    sections: tuple[SectionDoc, ...]
    changelog_title: str | None = None
    changelog: tuple[str, ...] = ()  # lines of the 更新 section, verbatim

    @property
    def families(self) -> list[FamilyDoc]:
        return [f for s in self.sections for f in s.families]

    @property
    def rows(self) -> list[ListedRow]:
        return [
            ListedRow(s, f, r) for s in self.sections for f in s.families if f.table for r in f.table.rows
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON form with line numbers, for ``zhplm catalog import --json``."""
        return {
            "preamble_lines": len(self.preamble),
            "sections": [
                {
                    "title": s.title,
                    "key": s.key,
                    "line": s.line,
                    "families": [_family_dict(f) for f in s.families],
                }
                for s in self.sections
            ],
            "changelog_lines": len(self.changelog),
        }


def _family_dict(f: FamilyDoc) -> dict[str, Any]:
    return {
        "title": f.title,
        "line": f.line,
        "papers": [
            {
                "year": p.year,
                "title": p.title,
                "authors": p.authors,
                "venue": p.venue,
                "links": [{"label": k.label, "url": k.url} for k in p.links],
                "line": p.line,
            }
            for p in f.papers
        ],
        "header": list(f.table.header) if f.table else [],
        "rows": [
            {
                "line": r.line,
                "cells": [
                    {"text": c, "links": [{"label": k.label, "url": k.url} for k in cell_links(c)]}
                    for c in r.cells
                ],
            }
            for r in (f.table.rows if f.table else ())
        ],
        "notes": list(f.notes),
    }


# --------------------------------------------------------------------------- cells and links


def cell_links(text: str) -> list[MdLink]:
    """Every ``[label](url)`` in a cell, in order."""
    return [MdLink(m.group(1).strip(), m.group(2).strip()) for m in _LINK_RE.finditer(text)]


def link_problem(text: str) -> str | None:
    """Why a piece of markdown holds a broken link, or None."""
    for m in _LINK_RE.finditer(text):
        if not m.group(2).strip():
            return f"link [{m.group(1)}] has an empty URL"
    rest = _LINK_RE.sub("", text)
    if "](" in rest or (re.search(r"\[[^\]]*$", rest) and "(" in rest):
        return f"broken link in {text.strip()!r}"
    return None


def split_row(line: str) -> list[str]:
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|"):
        body = body[:-1]
    return [c.strip() for c in body.split("|")]


def cell_text(text: str) -> str:
    """A cell's visible text: links by their labels, <p>/<br> markup removed, whitespace collapsed."""
    text = _LINK_RE.sub(lambda m: m.group(1), text)
    text = re.sub(r"</?p>", " ", text)
    text = re.sub(r"</?br\s*/?>", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def render_links(links: Sequence[MdLink]) -> str:
    """The canonical cell for a list of links: one link alone, several as <p>a<br>b</p>."""
    parts = [f"[{k.label}]({k.url})" for k in links]
    if len(parts) <= 1:
        return "".join(parts)
    return "<p>" + "<br>".join(parts) + "</p>"


# --------------------------------------------------------------------------- parsing


def parse_markdown(text: str, *, file: str | None = None) -> Document:
    """Parse the list. Raises MarkdownParseError listing every line that could not be placed."""
    return _Parser(text.splitlines(), file).run()


def parse_file(path: str | Path) -> Document:
    p = Path(path)
    return parse_markdown(p.read_text(encoding="utf-8"), file=str(p))


class _Parser:
    def __init__(self, lines: list[str], file: str | None) -> None:
        self.lines = lines
        self.file = file
        self.problems: list[tuple[int, str]] = []
        self.preamble: list[str] = []
        self.sections: list[SectionDoc] = []
        self.changelog_title: str | None = None
        self.changelog: list[str] = []
        # the open section and family
        self.section: tuple[str, str, int] | None = None
        self.families: list[FamilyDoc] = []
        self.family: dict[str, Any] | None = None
        self.mode = "preamble"  # preamble | section | changelog | skip

    def problem(self, n: int, msg: str) -> None:
        self.problems.append((n, msg))

    def run(self) -> Document:
        i = 0
        while i < len(self.lines):
            n = i + 1
            line = self.lines[i].rstrip()
            stripped = line.strip()
            m = _SECTION_RE.match(stripped)
            if m and not stripped.startswith("###"):
                self.close_section()
                title = m.group(1)
                if title in SECTION_TITLES:
                    self.section = (title, SECTION_TITLES[title], n)
                    self.mode = "section"
                elif title in CHANGELOG_TITLES:
                    self.changelog_title = title
                    self.mode = "changelog"
                else:
                    self.problem(
                        n,
                        f"unknown section {title!r} (expected one of: "
                        f"{', '.join([*SECTION_TITLES, *sorted(CHANGELOG_TITLES)])})",
                    )
                    self.mode = "skip"
                i += 1
                continue
            if self.mode == "preamble":
                self.preamble.append(line)
            elif self.mode == "changelog":
                self.changelog.append(line)
            elif self.mode == "section":
                i = self.section_line(i)
                continue
            elif stripped:  # lines under an unknown section
                self.problem(n, "line under an unknown section")
            i += 1
        self.close_section()
        if not self.sections and not self.problems:
            self.problem(1, "no section (## NLU系列, ## NLG系列, …) found")
        if self.problems:
            raise MarkdownParseError(sorted(self.problems), file=self.file)
        return Document(
            preamble=tuple(_trim(self.preamble)),
            sections=tuple(self.sections),
            changelog_title=self.changelog_title,
            changelog=tuple(_trim(self.changelog)),
        )

    # -- inside a section

    def section_line(self, i: int) -> int:
        n = i + 1
        stripped = self.lines[i].strip()
        m = _FAMILY_RE.match(stripped)
        if m and not stripped.startswith("####"):
            self.close_family()
            self.family = {
                "title": m.group(1),
                "papers": [],
                "table": None,
                "notes": [],
                "label": False,
                "line": n,
            }
            return i + 1
        if not stripped:
            return i + 1
        if self.family is None:
            self.problem(n, "text outside a family (expected a '### Family' heading first)")
            return i + 1
        if stripped.startswith("+ "):
            paper = self.paper(stripped[2:], n)
            if paper is not None:
                self.family["papers"].append(paper)
            return i + 1
        if stripped.startswith("|"):
            return self.table(i)
        if stripped.startswith(">"):
            note = stripped[1:].strip()
            problem = link_problem(note)
            if problem:
                self.problem(n, problem)
            self.family["notes"].append(note)
            return i + 1
        if _NOTES_LABEL_RE.match(stripped):
            self.family["label"] = True
            return i + 1
        if stripped.startswith("#"):
            self.problem(n, f"unexpected heading {stripped!r} inside a section")
        else:
            self.problem(n, f"unrecognised line in family {self.family['title']!r}: {stripped[:60]!r}")
        return i + 1

    def paper(self, body: str, n: int) -> PaperLine | None:
        parts = [p.strip() for p in body.split("|")]
        if len(parts) < 5:
            self.problem(
                n, f"paper line has {len(parts)} fields, expected year | title | authors | venue | link"
            )
            return None
        year, title, authors, venue, *rest = parts
        if not re.fullmatch(r"\d{4}", year):
            self.problem(n, f"paper line: year {year!r} is not a 4-digit year")
            return None
        links: list[MdLink] = []
        for part in rest:
            problem = link_problem(part)
            found = cell_links(part)
            if problem or not found or _LINK_RE.sub("", part).strip():
                self.problem(n, problem or f"paper line: {part!r} is not a link")
                return None
            links.extend(MdLink(k.label.strip("`").strip(), k.url) for k in found)
        return PaperLine(int(year), title, authors, venue, tuple(links), n)

    def table(self, i: int) -> int:
        assert self.family is not None
        n = i + 1
        header = split_row(self.lines[i])
        if self.family["table"] is not None:
            self.problem(n, f"a second table in family {self.family['title']!r}")
        unknown = [h for h in header if h.lower() not in COLUMN_ROLES]
        if unknown:
            self.problem(n, f"unknown table column(s): {', '.join(repr(h) for h in unknown)}")
        if "模型" not in header:
            self.problem(n, "table header has no 模型 column")
        sep_ok = i + 1 < len(self.lines) and all(
            _SEPARATOR_CELL_RE.match(c) for c in split_row(self.lines[i + 1]) if c
        )
        if not sep_ok:
            self.problem(n + 1, "table header is not followed by a '| ---- |' separator row")
            return i + 1
        rows: list[TableRow] = []
        j = i + 2
        while j < len(self.lines) and self.lines[j].strip().startswith("|"):
            cells = split_row(self.lines[j])
            while len(cells) > len(header) and cells[-1] == "":
                cells.pop()
            if len(cells) != len(header):
                self.problem(j + 1, f"table row has {len(cells)} cells, the header has {len(header)}")
            else:
                for c in cells:
                    problem = link_problem(c)
                    if problem:
                        self.problem(j + 1, problem)
                rows.append(TableRow(tuple(cells), j + 1))
            j += 1
        self.family["table"] = Table(tuple(header), tuple(rows), n)
        return j

    def close_family(self) -> None:
        f = self.family
        if f is not None:
            self.families.append(
                FamilyDoc(
                    title=f["title"],
                    papers=tuple(f["papers"]),
                    table=f["table"],
                    notes_label=f["label"],
                    notes=tuple(f["notes"]),
                    line=f["line"],
                )
            )
        self.family = None

    def close_section(self) -> None:
        self.close_family()
        if self.section is not None:
            title, key, n = self.section
            self.sections.append(SectionDoc(title, key, tuple(self.families), n))
        self.section = None
        self.families = []


def _trim(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


# --------------------------------------------------------------------------- rendering


def render_document(doc: Document) -> str:
    """Write a document back as markdown (canonical spacing; content identical)."""
    out: list[str] = [*doc.preamble, ""]
    for s in doc.sections:
        out += [f"## {s.title}", ""]
        for f in s.families:
            out += [f"### {f.title}", ""]
            if f.papers:
                out += [render_paper(p) for p in f.papers]
                out.append("")
            if f.table is not None:
                out.append(render_row(f.table.header))
                out.append(render_row(["----"] * len(f.table.header)))
                out += [render_row(r.cells) for r in f.table.rows]
                out.append("")
            if f.notes_label:
                out += ["备注: ", ""]
            for note in f.notes:
                out += [f"> {note}", ""]
        out.append("")
    if doc.changelog_title is not None:
        out += [f"## {doc.changelog_title}", "", *doc.changelog]
    return "\n".join(out).rstrip("\n") + "\n"


def render_paper(p: PaperLine) -> str:
    links = " | ".join(f"[`{k.label}`]({k.url})" for k in p.links)
    return f"+ {p.year} | {p.title} | {p.authors} | {p.venue} | {links}"


def render_row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


# --------------------------------------------------------------------------- rows → catalog fields

_HOST_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"(^|\.)huggingface\.co$", "huggingface"),
    (r"(^|\.)hf-mirror\.com$", "huggingface"),
    (r"^drive\.google\.com$", "google-drive"),
    (r"^storage\.googleapis\.com$", "google-storage"),
    (r"^pan\.baidu\.com$", "baidu-pan"),
    (r"^pan\.iflytek\.com$", "iflytek"),
    (r"\.aliyuncs\.com$", "aliyun-oss"),
    (r"jdcloud", "jdcloud"),
    (r"\.bcebos\.com$", "bcebos"),
    (r"(^|\.)wudaoai\.cn$", "wudao"),
    (r"(^|\.)openi\.org\.cn$", "openi"),
    (r"(^|\.)modelscope\.cn$", "modelscope"),
)


def host_kind(url: str) -> str:
    """Classify a download URL by who serves it (see schema.HOST_KINDS)."""
    m = re.match(r"^[a-z]+://([^/?#]+)(/[^?#]*)?", url.strip(), re.I)
    if not m:
        return "other"
    host, path = m.group(1).lower(), m.group(2) or ""
    host = host.split("@")[-1].split(":")[0]
    for pattern, kind in _HOST_PATTERNS:
        if re.search(pattern, host):
            return kind
    if host == "github.com" and "/releases" in path:
        return "github-release"
    return "other"


def extraction_code(text: str, host: str) -> str | None:
    """``百度网盘-8qvb`` → ``8qvb``: the code a manual host asks for, carried in the link text."""
    if host not in {"baidu-pan", "iflytek"}:
        return None
    m = re.search(r"-\s*([A-Za-z0-9]{4})\s*$", text)
    return m.group(1) if m else None


REMARK_NOTES: dict[str, str] = {"需要登陆才能下载": "login-required", "需要登录才能下载": "login-required"}
REMARK_NOTES["需要申请才能下载"] = "application-required"


def hf_repo_from_url(url: str) -> str | None:
    m = re.match(
        r"^https?://(?:www\.)?(?:huggingface\.co|hf-mirror\.com)/([^/?#]+)/([^/?#]+)/?$", url.strip()
    )
    return f"{m.group(1)}/{m.group(2)}" if m else None


def header_roles(header: Sequence[str]) -> list[str]:
    return [COLUMN_ROLES.get(h.strip().lower(), "unknown") for h in header]


def row_fields(header: Sequence[str], cells: Sequence[str]) -> dict[str, Any]:
    """What a row says, as catalog field values (before curation).

    Downloads carry url, text, column, host, extraction code and notes; the download-column framework of
    a generic 模型下载 column is unknown here and defaults to pytorch (curation corrects it).
    """
    roles = header_roles(header)
    out: dict[str, Any] = {"downloads": []}
    remark_notes: list[str] = []
    for role, text in zip(roles, cells, strict=True):
        if role == "name":
            out["name"] = cell_text(text)
        elif role == "size":
            out["size"] = text
        elif role == "type":
            out["model_type"] = text or None
        elif role == "domain":
            out["domain_zh"] = text
        elif role == "remark":
            out["remark"] = text or None
            remark_notes += [note for key, note in REMARK_NOTES.items() if key in text]
        elif role == "publisher":
            links = cell_links(text)
            if links:
                out["publisher"] = {"name": links[0].label.strip(), "url": links[0].url}
            else:
                out["publisher"] = {"name": cell_text(text)}
        elif role == "source":
            links = cell_links(text)
            if links:
                out["source_label"] = links[0].label
                url = links[0].url
                out["source_repo"] = url if url.startswith(("http://", "https://")) else None
        elif role in FRAMEWORK_ROLES or role in {"project", "download"}:
            column = role if role in FRAMEWORK_ROLES else ("project" if role == "project" else "pytorch")
            for link in cell_links(text):
                host = host_kind(link.url)
                notes: list[str] = []
                if host == "google-drive" and "/folders/" in link.url:
                    notes.append("folder")
                if host == "baidu-pan":
                    notes.append("folder")
                if "Expires=" in link.url and "Signature=" in link.url:
                    notes.append("expired-signature")
                d: dict[str, Any] = {"url": link.url, "text": link.label, "column": column, "host": host}
                code = extraction_code(link.label, host)
                if code:
                    d["code"] = code
                if host == "huggingface":
                    repo = hf_repo_from_url(link.url)
                    if repo:
                        d["hf_repo"] = repo
                d["notes"] = notes
                out["downloads"].append(d)
    for d in out["downloads"]:
        if d["column"] != "project":
            d["notes"] = list(dict.fromkeys([*d["notes"], *remark_notes]))
    return out


# --------------------------------------------------------------------------- catalog → markdown


def listed_value(record: ModelRecord, field_name: str, value: str | None) -> str | None:
    """The list's own text for a field a Correction changed, else the record's value."""
    for c in record.corrections:
        if c.field == field_name:
            return c.listed
    return value


def canonical_cells(header: Sequence[str], record: ModelRecord) -> list[str]:
    """A row's cells regenerated from the record's fields alone (no ListCell overrides)."""
    roles = header_roles(header)
    frameworks = {r for r in roles if r in FRAMEWORK_ROLES}
    cells: list[str] = []
    for role in roles:
        if role == "name":
            cells.append(record.name)
        elif role == "size":
            cells.append(listed_value(record, "size", record.size) or "")
        elif role == "type":
            cells.append(record.model_type or "")
        elif role == "domain":
            cells.append(record.domain_zh)
        elif role == "remark":
            cells.append(record.remark or "")
        elif role == "publisher":
            p = record.publisher
            cells.append(f"[{p.name}]({p.url})" if p.url else p.name)
        elif role == "source":
            url = listed_value(record, "source_repo", record.source_repo)
            label = record.source_label or "github"
            cells.append(f"[{label}]({url})" if url else (record.source_label or ""))
        elif role in FRAMEWORK_ROLES:
            cells.append(render_links([MdLink(d.text, d.url) for d in record.downloads if d.column == role]))
        elif role == "project":
            cells.append(
                render_links([MdLink(d.text, d.url) for d in record.downloads if d.column == "project"])
            )
        elif role == "download":
            chosen = [d for d in record.downloads if d.column != "project" and d.column not in frameworks]
            cells.append(render_links([MdLink(d.text, d.url) for d in chosen]))
        else:
            cells.append("")
    return cells


def record_cells(header: Sequence[str], record: ModelRecord) -> list[str]:
    """A row's cells as the list writes them: canonical cells, with the record's ListCell overrides."""
    cells = canonical_cells(header, record)
    raw = {c.column: c.text for c in record.list_cells}
    return [raw.get(h, cell) for h, cell in zip(header, cells, strict=True)]


def document_from_catalog(
    records: Iterable[ModelRecord],
    families: Sequence[FamilyInfo],
    *,
    preamble: Sequence[str] = (),
    section_titles: dict[str, str] | None = None,
    changelog_title: str | None = None,
    changelog: Sequence[str] = (),
) -> Document:
    """Rebuild the list's document from catalog data (families in order, rows by ``order``)."""
    titles = section_titles or {v: k for k, v in SECTION_TITLES.items()}
    by_family: dict[tuple[str, str], list[ModelRecord]] = {}
    for r in records:
        by_family.setdefault((r.section, r.family), []).append(r)
    known = {(f.section, f.title) for f in families}
    extra = [
        FamilyInfo(title=fam, section=sec, order=10_000 + i, header=DEFAULT_HEADER)  # type: ignore[arg-type]
        for i, (sec, fam) in enumerate(k for k in by_family if k not in known)
    ]
    sections: list[SectionDoc] = []
    for key, title in titles.items():
        fams = sorted((f for f in [*families, *extra] if f.section == key), key=lambda f: f.order)
        docs = []
        for f in fams:
            rows = sorted(by_family.get((f.section, f.title), []), key=lambda r: (r.order, r.id))
            docs.append(
                FamilyDoc(
                    title=f.title,
                    papers=tuple(
                        PaperLine(
                            p.year,
                            p.title,
                            p.authors,
                            p.venue,
                            tuple(MdLink(k.label, k.url) for k in p.links),
                        )
                        for p in f.papers
                    ),
                    table=Table(f.header, tuple(TableRow(tuple(record_cells(f.header, r))) for r in rows)),
                    notes_label=f.notes_label,
                    notes=f.notes,
                )
            )
        if docs:
            sections.append(SectionDoc(title, key, tuple(docs)))
    return Document(tuple(preamble), tuple(sections), changelog_title, tuple(changelog))
