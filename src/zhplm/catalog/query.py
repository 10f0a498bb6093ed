"""Filters, ranked search and "how do I get it" for catalog records.

Search is bilingual: each query term is expanded with synonyms (``legal`` ↔ 司法/法律, ``医学`` ↔
医疗/生物医疗/medical, ``finance`` ↔ 金融/财经 …) and matched against ids, names, aliases, family,
both domain labels, publisher, arch and paper titles; fields weigh differently and exact matches
outrank substrings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

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

_WEIGHTS = {"id": 10.0, "alias": 8.0, "name": 8.0, "family": 6.0, "domain": 5.0, "arch": 4.0}
_WEIGHTS.update({"publisher": 3.0, "paper": 2.0})


def expand(term: str) -> set[str]:
    t = term.lower()
    out = {t}
    for group in SYNONYMS:
        if t in group or any(len(m) >= 2 and m in t for m in group if not m.isascii()):
            out |= group
    return out


def _fields(r: ModelRecord) -> list[tuple[str, str]]:
    out = [("id", r.id), ("name", r.name), ("family", r.family), ("arch", r.arch)]
    out += [("alias", a) for a in r.aliases]
    out += [("domain", r.domain_zh), ("domain", r.domain_en), ("publisher", r.publisher.name)]
    out += [("paper", p.title) for p in r.papers]
    return [(k, v.lower()) for k, v in out if v]


def _term_score(term: str, fields: list[tuple[str, str]]) -> float:
    best = 0.0
    for variant in expand(term):
        ascii_word = variant.isascii()
        for kind, value in fields:
            w = _WEIGHTS[kind]
            if value == variant:
                score = w * 3
            elif ascii_word and re.search(rf"(^|[^a-z0-9]){re.escape(variant)}", value):
                score = w * (2 if value.startswith(variant) else 1.5)
            elif variant in value and (not ascii_word or len(variant) >= 3):
                score = w
            else:
                continue
            if variant != term.lower():
                score *= 0.9  # a synonym ranks just below the literal word
            best = max(best, score)
    return best


def search(catalog: Catalog, query: str) -> list[ModelRecord]:
    """Records matching every term of the query, best first (ties keep the list's order)."""
    terms = [t for t in re.split(r"[\s,，、]+", query.strip()) if t]
    if not terms:
        return []
    scored = []
    for r in catalog:
        fields = _fields(r)
        total = 0.0
        for t in terms:
            s = _term_score(t, fields)
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
    if not the_plan.automatic and not the_plan.manual:
        if the_plan.skipped:
            steps.append(f"every way is left out by the {the_plan.order_from} source order; change it")
        else:
            steps.append("the list gives no download for this model; see its project page")
    return Acquisition(the_plan, tuple(steps))


def columns_of(records: Iterable[ModelRecord]) -> list[str]:
    return sorted({d.framework for r in records for d in r.downloads})
