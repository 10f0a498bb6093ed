"""Filters, ranked search and "how do I get it" for catalog records.

Search is bilingual: each query term is expanded with synonyms (``legal`` ↔ 司法/法律, ``医学`` ↔
医疗/生物医疗/medical, ``finance`` ↔ 金融/财经 …) and matched against ids, names, aliases, family,
both domain labels, publisher, arch and paper titles, and against the concepts of
:mod:`zhplm.catalog.terms`: organisations (百度/Baidu/飞桨 → every ERNIE row), tasks derived from the row
(生成, 摘要, 相似度 …), sections and sizes ("large" is the row's size, never a paper-title word; "110M",
"1.3B", 小模型). Name, alias and family hits outrank concept hits, which outrank domain substrings and
paper titles. Terms are ANDed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zhplm.catalog import terms
from zhplm.catalog.registry import Catalog
from zhplm.catalog.schema import ModelRecord

if TYPE_CHECKING:  # the planner is imported when asked, so reading the catalog stays free of sources
    from zhplm.sources.base import Attempt
    from zhplm.sources.plan import Plan

# Each group is one concept in both languages; a term matching any member searches for all of them.
SYNONYMS: tuple[frozenset[str], ...] = tuple(
    frozenset(g)
    for g in (
        {"legal", "law", "judicial", "司法", "法律", "法务"},
        {
            "medical",
            "medicine",
            "biomedical",
            "clinical",
            "health",
            "医学",
            "医疗",
            "生物医疗",
            "生物医学",
            "医药",
        },
        {"finance", "financial", "fintech", "金融", "财经", "金融科技"},
        {"dialogue", "dialog", "chat", "chitchat", "conversation", "对话", "闲聊", "聊天"},
        {"poetry", "poem", "poems", "诗词", "诗歌", "古诗", "古典诗歌"},
        {"classical", "ancient", "古文", "文言", "文言文"},
        {"couplet", "couplets", "对联"},
        {"prose", "essay", "散文"},
        {"novel", "novels", "fiction", "小说"},
        {"education", "edu", "教育"},
        {"e-commerce", "ecommerce", "电商", "客服"},
        {"sentiment", "emotion", "情感", "情感分析"},
        {"image", "vision", "visual", "multimodal", "multi-modal", "图文", "图像", "视觉", "多模态"},
        {"speech", "audio", "voice", "语音"},
        {"table", "tables", "sql", "text-to-sql", "表格"},
        {"general", "通用"},
        {"english", "bilingual", "中英", "英文"},
        {"generation", "generative", "生成"},
    )
)

_ORGS_BY_PUBLISHER = terms.orgs_by_publisher()

_WEIGHTS = {"id": 10.0, "alias": 8.0, "name": 8.0, "family": 6.0, "domain": 5.0, "arch": 4.0}
_WEIGHTS.update({"publisher": 3.0, "paper": 2.0})
# Concept hits: an exact concept match scores three times its weight, like an exact field match, so that a
# name, alias or family hit (24-30) outranks an organisation, task or size hit (15-18), which outranks a
# domain substring (5) or a paper-title word (2-4).
_SECTION_W, _ORG_W, _TASK_W, _SIZE_W = 6.0, 6.0, 5.0, 5.0


def expand(term: str) -> set[str]:
    t = term.lower()
    out = {t}
    for group in SYNONYMS:
        if t in group or any(len(m) >= 2 and m in t for m in group if not m.isascii()):
            out |= group
    return out


def _names_hit(term: str, names: Iterable[str]) -> int:
    """Length of the longest name the term is (ASCII: exactly) or contains (Chinese, 2+ characters); 0 if none."""
    best = 0
    for n in names:
        m = n.lower()
        if term == m or (not m.isascii() and len(m) >= 2 and m in term):
            best = max(best, len(m))
    return best


def _longest(term: str, table: Iterable[tuple[str, Iterable[str]]]) -> frozenset[str]:
    hits = [(k, _names_hit(term, names)) for k, names in table]
    top = max((n for _, n in hits), default=0)
    return frozenset(k for k, n in hits if n and n == top)


@dataclass(frozen=True, slots=True)
class _Term:
    """One query word and every concept it names (computed once per search, not per record)."""

    text: str
    patterns: tuple[tuple[str, bool, re.Pattern[str] | None], ...]  # (variant, is synonym, ascii word regex)
    orgs: frozenset[str]
    tasks: frozenset[str]
    sections: frozenset[str]
    size_label: str | None
    small: bool
    large: bool
    count: int | None

    @property
    def is_size(self) -> bool:
        return bool(self.size_label or self.small or self.large or self.count)


def _term(raw: str) -> _Term:
    t = raw.lower()
    patterns = tuple(
        (v, v != t, re.compile(rf"(^|[^a-z0-9]){re.escape(v)}") if v.isascii() else None)
        for v in sorted(expand(t))
    )
    return _Term(
        text=t,
        patterns=patterns,
        orgs=_longest(t, ((o.key, o.names) for o in terms.ORGS)),
        tasks=_longest(t, terms.TASKS.items()),
        sections=frozenset(s for s, words in terms.SECTION_WORDS.items() if t in words),
        size_label=terms.size_label_of(t),
        small=t in terms.SMALL_WORDS,
        large=t in terms.LARGE_WORDS,
        count=terms.parse_count(t),
    )


@dataclass(frozen=True, slots=True)
class _Profile:
    """What search compares against, per record (built once per record object)."""

    fields: tuple[tuple[str, str], ...]
    orgs: frozenset[str]
    tasks: frozenset[str]
    listed_size: str
    parameters: int | None


_PROFILES: dict[str, tuple[ModelRecord, _Profile]] = {}


def _profile(r: ModelRecord) -> _Profile:
    cached = _PROFILES.get(r.id)
    if cached is not None and cached[0] is r:
        return cached[1]
    out = [("id", r.id), ("name", r.name), ("family", r.family), ("arch", r.arch)]
    out += [("alias", a) for a in r.aliases]
    out += [("domain", r.domain_zh), ("domain", r.domain_en), ("publisher", r.publisher.name)]
    out += [("paper", p.title) for p in r.papers]
    profile = _Profile(
        fields=tuple((k, v.lower()) for k, v in out if v),
        orgs=frozenset(_ORGS_BY_PUBLISHER.get(r.publisher.name, ())),
        tasks=terms.tasks_of(r),
        listed_size=r.size.lower(),
        parameters=terms.parameters_of(r),
    )
    _PROFILES[r.id] = (r, profile)
    return profile


def _size_score(t: _Term, r: ModelRecord, p: _Profile) -> float:
    """Sizes are compared as sizes: "large" is the row's size, never a word of a paper title."""
    if t.size_label:
        if r.size_label == t.size_label:
            return _SIZE_W * 3
        if re.search(rf"(^|[^a-z]){t.size_label}([^a-z]|$)", p.listed_size):
            return _SIZE_W * 2  # listed as "large(L24)" although its label is its parameter count
        return 0.0
    if t.small:
        small = r.size_label in terms.SMALL_LABELS
        return _SIZE_W * 3 if small or (p.parameters or 1 << 62) < terms.SMALL_PARAMETERS else 0.0
    if t.large:
        return _SIZE_W * 3 if (p.parameters or 0) >= terms.LARGE_PARAMETERS else 0.0
    if t.count is not None and (r.size_label == t.text or terms.count_matches(t.count, p.parameters)):
        return _SIZE_W * 3
    return 0.0


def _term_score(t: _Term, r: ModelRecord, p: _Profile) -> float:
    if t.is_size:
        return _size_score(t, r, p)
    best = 0.0
    if t.orgs & p.orgs:
        best = _ORG_W * 3
    if t.tasks & p.tasks:
        best = max(best, _TASK_W * 3)
    if r.section in t.sections:
        best = max(best, _SECTION_W * 3)
    for variant, synonym, word in t.patterns:
        for kind, value in p.fields:
            w = _WEIGHTS[kind]
            if value == variant:
                score = w * 3
            elif word is not None and word.search(value):
                score = w * (2 if value.startswith(variant) else 1.5)
            elif variant in value and (word is None or len(variant) >= 3):
                score = w
            else:
                continue
            if synonym:
                score *= 0.9  # a synonym ranks just below the literal word
            best = max(best, score)
    return best


def search(catalog: Catalog, query: str) -> list[ModelRecord]:
    """Records matching every term of the query, best first (ties keep the list's order)."""
    words = [t for t in re.split(r"[\s,，、]+", query.strip()) if t]
    if not words:
        return []
    parsed = [_term(w) for w in words]
    scored = []
    for r in catalog:
        p = _profile(r)
        total = 0.0
        for t in parsed:
            s = _term_score(t, r, p)
            if s == 0:
                break
            total += s
        else:
            scored.append((-total, r.order, r.id, r))
    scored.sort(key=lambda x: x[:3])
    return [x[3] for x in scored]


# --------------------------------------------------------------------------- filters


def _matches_section(r: ModelRecord, value: str) -> bool:
    v = value.lower().removesuffix("系列")
    return r.section.lower() == v or r.section.lower().replace("-", "") == v.replace("-", "")


def _matches_domain(r: ModelRecord, value: str) -> bool:
    labels = (r.domain_zh.lower(), r.domain_en.lower())
    return any(v in label for v in expand(value) for label in labels)


def _matches_size(r: ModelRecord, value: str) -> bool:
    v = value.lower()
    return r.size_label.lower() == v or r.size.lower() == v


def list_models(
    catalog: Catalog,
    *,
    section: str | None = None,
    family: str | None = None,
    arch: str | None = None,
    domain: str | None = None,
    framework: str | None = None,
    host: str | None = None,
    size: str | None = None,
    downloadable: bool | None = None,
) -> list[ModelRecord]:
    """Records passing every given filter, in the list's order."""
    out = []
    for r in catalog:
        if section and not _matches_section(r, section):
            continue
        if family and r.family.lower() != family.lower():
            continue
        if arch and r.arch != arch.lower():
            continue
        if domain and not _matches_domain(r, domain):
            continue
        if framework and framework.lower() not in r.frameworks:
            continue
        if host and host.lower() not in r.hosts:
            continue
        if size and not _matches_size(r, size):
            continue
        if downloadable is not None and is_downloadable(r) != downloadable:
            continue
        out.append(r)
    return out


# --------------------------------------------------------------------------- how to get it


@dataclass(frozen=True, slots=True)
class Acquisition:
    """How to obtain a model, as the planner (:func:`zhplm.sources.plan.plan`) decides it: every way in the
    order it will be tried (``plan.describe()``), and the steps a person follows."""

    plan: Plan
    steps: tuple[str, ...]

    @property
    def automatic(self) -> tuple[Attempt, ...]:
        return self.plan.automatic

    @property
    def manual(self) -> tuple[Attempt, ...]:
        return self.plan.manual


def is_downloadable(record: ModelRecord) -> bool:
    """An automatic way exists in the current source order: the planner's answer, not the catalog's."""
    from zhplm.sources.plan import plan

    return plan(record).downloadable


def how_to_get(record: ModelRecord, only: str | None = None) -> Acquisition:
    """The planner's ways for ``record`` (``only``: one source kind) and the steps that follow from them."""
    from zhplm.sources.manual import HOST_NAMES
    from zhplm.sources.plan import plan

    the_plan = plan(record, only)
    steps: list[str] = []
    if the_plan.automatic:
        first = the_plan.automatic[0]
        steps.append(f"zhplm download {record.id}  (tries {first.describe()} first)")
    for a in the_plan.manual:
        d = a.download
        host = HOST_NAMES.get(d.host, d.host)
        what = f"{d.framework} weights" + (f" ({d.format})" if d.format else "")
        line = f"open {d.url} on {host} and download the {what}"
        if d.code:
            line += f"; extraction code {d.code}"
        if "login-required" in d.notes:
            line += "; log in first"
        if "application-required" in d.notes:
            line += "; access must be applied for first"
        if "folder" in d.notes:
            line += "; it is a shared folder: download every file in it"
        if "page" in d.notes:
            line += "; it is a web page: follow its download instructions"
        steps.append(line)
    if the_plan.manual:
        steps.append(f"then hand the file to zhplm: zhplm import {record.id} PATH")
    from zhplm.catalog.archs import refusal

    if refusal(record.arch) is not None:
        steps.append(
            f"then zhplm inspect PATH lists its tensors; converting or loading it is refused: {refusal(record.arch)}"
        )
    if not the_plan.automatic and not the_plan.manual:
        if the_plan.skipped:
            steps.append(f"every way is left out by the {the_plan.order_from} source order; change it")
        else:
            steps.append("the list gives no download for this model; see its project page")
    return Acquisition(the_plan, tuple(steps))


def columns_of(records: Iterable[ModelRecord]) -> list[str]:
    return sorted({d.framework for r in records for d in r.downloads})
