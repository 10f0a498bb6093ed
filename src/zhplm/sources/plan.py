"""Which of a row's links to try, in which order: a ready PyTorch / Hugging Face source first.

Planning asks each registered source (:mod:`zhplm.sources.registry`) whether it can fetch a link; it
touches no network and fetches nothing. A link on a host some source owns goes to that source (or, if
it declines, to manual steps); any other link goes to the first generic source that takes it. Sources
may add mirrors of other sources' attempts. Automatic attempts are tried in order of readiness
(HF-layout or PyTorch weights before TF, Paddle, MindSpore), then by source preference (hub before
mirror before plain URL before Google Drive), listed links before mirrors, then as listed. Manual links
are never tried; they become the steps of :class:`~zhplm.errors.ManualDownloadRequired` when nothing
else works.
"""

from __future__ import annotations

from dataclasses import dataclass

from zhplm.catalog.schema import Download, ModelRecord
from zhplm.sources.base import Attempt
from zhplm.sources.registry import all_sources, get_source, kinds

BY_HAND = "manual"  # the kind every link no source can fetch falls back to
_READY_FORMATS = {"hf", "safetensors", "pytorch"}
_FRAMEWORK_RANK = {"pytorch": 0, "tensorflow": 1, "keras": 2, "paddlepaddle": 3, "mindspore": 4, "project": 9}


@dataclass(frozen=True)
class Plan:
    """Every way to get a row: automatic attempts in the order they will be tried, then manual links."""

    model_id: str
    automatic: tuple[Attempt, ...]
    manual: tuple[Attempt, ...]

    def describe(self) -> list[str]:
        """One line per attempt, in order, with why it is there."""
        lines = [f"{i}. {a.describe()}: {a.why}" for i, a in enumerate(self.automatic, 1)]
        start = len(lines) + 1
        lines += [f"{i}. {a.describe()}: {a.why}" for i, a in enumerate(self.manual, start)]
        return lines


def classify(d: Download) -> Attempt:
    """The one attempt a listed link gets (manual when no source can fetch it)."""
    if d.column == "project" or "dead-link" in d.notes:
        why = "a project page, not a file" if d.column == "project" else "the link is dead"
        return Attempt(BY_HAND, d, why=why)
    sources = all_sources()
    owner = next((s for s in sources if d.host in s.hosts), None)
    asked = [owner] if owner is not None else [s for s in sources if not s.hosts and s.automatic]
    for source in asked:
        attempt = source.route(d)
        if attempt is not None:
            return attempt
    fallback = get_source(BY_HAND).route(d)
    assert fallback is not None, "the manual source takes every link"
    return fallback


def _readiness(a: Attempt) -> int:
    d = a.download
    if get_source(a.kind).ready or d.format in _READY_FORMATS:
        return 0
    return 1 + _FRAMEWORK_RANK.get(d.framework, 5)


def plan(record: ModelRecord, only: str | None = None) -> Plan:
    """Every way to get ``record``, in order. ``only`` keeps one source kind."""
    if only is not None:
        get_source(only)  # ValueError naming the choices
    listed = [classify(d) for d in record.downloads]
    mirrors = [m for s in all_sources() for a in listed for m in s.mirrors(a)]
    attempts = listed + mirrors
    auto = [a for a in attempts if get_source(a.kind).automatic]
    manual = [a for a in attempts if not get_source(a.kind).automatic and a.download.column != "project"]
    if only is not None:
        auto = [a for a in auto if a.kind == only]
        if get_source(only).automatic:
            manual = manual if not auto else []
    rank = {k: i for i, k in enumerate(kinds())}
    order = {id(a): i for i, a in enumerate(auto)}
    auto.sort(key=lambda a: (_readiness(a), rank[a.kind], a.mirror_of is not None, order[id(a)]))
    return Plan(record.id, tuple(auto), tuple(manual))


__all__ = ["BY_HAND", "Plan", "classify", "plan"]
