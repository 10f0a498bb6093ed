"""Which ways to get a row to try, in which order, and why: the one place that decides.

Planning asks each registered source (:mod:`zhplm.sources.registry`) whether it can fetch a link; it
touches no network and fetches nothing. A row's ways are its listed links and its curated hub copies
(:class:`~zhplm.catalog.schema.HubCopy`, routed as links of their hub). A link on a host some source owns
goes to that source (or, if it declines, to manual steps); any other link goes to the first generic
source that takes it. Sources may add mirrors of other sources' attempts. The same repo or URL twice
(UER rows list one repo under two columns) is one attempt.

Automatic attempts are tried in the **source order** (``--source``, else ``ZHPLM_SOURCES`` or the config
file's ``sources``, else the registry's: hub, ModelScope, direct link, Google Drive), then by readiness
(HF-layout or PyTorch weights before TF, Paddle, MindSpore), listed links before copies and mirrors, then
as listed. Kinds the order leaves out are reported as skipped, never tried. Manual links are never tried;
they become the steps of :class:`~zhplm.errors.ManualDownloadRequired` when nothing else works.

``zhplm info``, ``zhplm list --downloadable`` and ``zhplm download [--plan]`` all read this plan, so they
cannot disagree. Nothing here imports more than the source modules (no torch, no converter).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from zhplm import config
from zhplm.catalog.schema import Download, HubCopy, ModelRecord
from zhplm.errors import ConfigError
from zhplm.sources.base import Attempt
from zhplm.sources.registry import all_sources, get_source, kinds

BY_HAND = "manual"  # the kind every link no source can fetch falls back to
_READY_FORMATS = {"hf", "safetensors", "pytorch"}
_FRAMEWORK_RANK = {"pytorch": 0, "tensorflow": 1, "keras": 2, "paddlepaddle": 3, "mindspore": 4, "project": 9}


@dataclass(frozen=True)
class Plan:
    """Every way to get a row: automatic attempts in the order they will be tried, then manual links,
    then automatic ways the source order leaves out (``skipped``, never tried)."""

    model_id: str
    automatic: tuple[Attempt, ...]
    manual: tuple[Attempt, ...]
    skipped: tuple[Attempt, ...] = ()
    order: tuple[str, ...] = ()  # the source kinds tried, in order
    order_from: str = "default"  # where the order came from: default, --source, ZHPLM_SOURCES, config file

    @property
    def downloadable(self) -> bool:
        """An automatic way exists (the meaning of ``zhplm list --downloadable``)."""
        return bool(self.automatic)

    def describe(self) -> list[str]:
        """One line per way, in the order tried, with why it is there; then what is left out."""
        lines = [f"{i}. {a.describe()}: {a.why}" for i, a in enumerate(self.automatic, 1)]
        start = len(lines) + 1
        lines += [f"{i}. {a.describe()}: {a.why}" for i, a in enumerate(self.manual, start)]
        lines += [f"-  {a.describe()}: {a.why}; not tried ({self.order_from} order)" for a in self.skipped]
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


def _copy_why(copy: HubCopy) -> str:
    where = "the Hugging Face Hub" if copy.hub == "hf" else "ModelScope"
    if copy.hub == "hf" and os.environ.get("HF_ENDPOINT"):
        where += f" via HF_ENDPOINT {os.environ['HF_ENDPOINT'].rstrip('/')}"
    who = "the authors' copy" if copy.publisher == "authors" else "a third-party copy"
    what = (
        "already in HF layout" if copy.weights == "hf" else f"original {copy.format} weights, converted here"
    )
    return f"{who} on {where}, {what}" + (f" ({copy.note})" if copy.note else "")


def copy_attempt(copy: HubCopy) -> Attempt | None:
    """The attempt a hub copy gets (None when its hub's source is not registered or declines it)."""
    d = copy.as_download()
    owner = next((s for s in all_sources() if d.host in s.hosts), None)
    attempt = owner.route(d) if owner is not None else None
    if attempt is None:
        return None
    return dataclasses.replace(attempt, why=_copy_why(copy), copy=copy)


def _readiness(a: Attempt) -> int:
    d = a.download
    if d.format in _READY_FORMATS or (d.format is None and get_source(a.kind).ready):
        return 0
    return 1 + _FRAMEWORK_RANK.get(d.framework, 5)


def _key(a: Attempt) -> tuple[str, str, str]:
    return (a.kind, a.repo or a.download.url, a.revision or "")


def source_order(only: str | None = None) -> tuple[tuple[str, ...], str]:
    """The automatic source kinds to try, in order, and where that order came from."""
    known = kinds()
    if only is not None:
        get_source(only)  # ValueError naming the choices
        return (only,), "--source"
    wanted = config.sources()
    if wanted is None:
        return tuple(k for k in known if get_source(k).automatic), "default"
    origin = "ZHPLM_SOURCES" if os.environ.get("ZHPLM_SOURCES", "").strip() else str(config.config_path())
    unknown = [k for k in wanted if k not in known]
    if unknown:
        raise ConfigError(
            f"{origin} names unknown source(s) {', '.join(unknown)}; choose from {', '.join(known)}"
        )
    return tuple(dict.fromkeys(k for k in wanted if get_source(k).automatic)), origin


def plan(record: ModelRecord, only: str | None = None) -> Plan:
    """Every way to get ``record``, in order. ``only`` keeps one source kind (``--source``)."""
    order, origin = source_order(only)
    listed = [classify(d) for d in record.downloads]
    copies = [a for a in (copy_attempt(c) for c in record.hub_copies) if a is not None]
    mirrors = [m for s in all_sources() for a in (*listed, *copies) for m in s.mirrors(a)]
    attempts: list[Attempt] = []
    seen: set[tuple[str, str, str]] = set()
    for a in (*listed, *copies, *mirrors):
        if a.kind != BY_HAND and _key(a) in seen:
            continue  # the same repo or file reached twice: one attempt
        seen.add(_key(a))
        attempts.append(a)
    auto = [a for a in attempts if get_source(a.kind).automatic]
    manual = [a for a in attempts if not get_source(a.kind).automatic and a.download.column != "project"]
    kept = [a for a in auto if a.kind in order]
    skipped = [a for a in auto if a.kind not in order]
    if only is not None and get_source(only).automatic and kept:
        manual = []  # --source picked a way that exists: no steps by hand
    rank = {k: i for i, k in enumerate(order)}
    position = {id(a): i for i, a in enumerate(kept)}
    kept.sort(
        key=lambda a: (
            rank[a.kind],
            _readiness(a),
            a.mirror_of is not None or a.copy is not None,
            position[id(a)],
        )
    )
    return Plan(record.id, tuple(kept), tuple(manual), tuple(skipped), order, origin)


def downloadable(record: ModelRecord) -> bool:
    """An automatic way to get ``record`` exists in the current source order."""
    return plan(record).downloadable


__all__ = ["BY_HAND", "Plan", "classify", "copy_attempt", "downloadable", "plan", "source_order"]
