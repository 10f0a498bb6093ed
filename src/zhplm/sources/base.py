"""The :class:`Source` protocol and the values that pass between planning, fetching and the store.

Planning and fetching are two questions asked of each source. ``route(link)`` answers "could you fetch
this catalog link, from where, and why?" without touching the network; the planner
(:mod:`zhplm.sources.plan`) orders those answers. ``fetch(attempt, ctx)`` then brings the bytes: a
verified file in the store's ``blobs/`` (:class:`StoredBlob`) or a staged folder (:class:`StagedFolder`).
Extracting, publishing and converting are the caller's job (:mod:`zhplm.get`), so no source ever needs
the converter.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from zhplm.catalog.schema import Download, HubCopy, ModelRecord
from zhplm.sources.store import Store


@dataclass(frozen=True)
class FetchOptions:
    """Network behaviour shared by every source."""

    timeout: float = 30.0
    retries: int = 5
    backoff: float = 1.0
    progress: bool = True
    quiet: bool = False


@dataclass(frozen=True)
class Attempt:
    """One way to get one link: the source that would fetch it, from where, and why."""

    kind: str
    download: Download
    repo: str | None = None  # hub repo for hf / modelscope
    revision: str | None = None
    why: str = ""
    mirror_of: str | None = None  # "hf org/name" when this is another host's copy of a listed link
    copy: HubCopy | None = None  # the catalog's hub copy this attempt fetches (None: a listed link)

    def describe(self) -> str:
        where = (
            f"{self.repo}@{self.revision}" if self.repo and self.revision else self.repo or self.download.url
        )
        return f"{self.kind} {where}"


@dataclass(frozen=True)
class FetchContext:
    """What a source may use while fetching: the row, the store's folders, the network options."""

    record: ModelRecord
    store: Store
    options: FetchOptions


@dataclass(frozen=True)
class StagedFolder:
    """A downloaded folder (a hub snapshot) in the store's staging area, not yet published."""

    path: Path
    source: str
    url: str | None
    format: str | None


@dataclass(frozen=True)
class StoredBlob:
    """A complete, verified file in the store's ``blobs/sha256/``, not yet published under a model."""

    sha256: str
    name: str  # the file name to publish it under (archives are extracted instead)
    source: str
    url: str | None
    format: str | None


Fetched = StagedFolder | StoredBlob


class Source(Protocol):
    """A place bytes come from. Register a new one in :mod:`zhplm.sources.registry`."""

    @property
    def kind(self) -> str:
        """The name users pick it by (``--source``) and the store records."""
        ...

    @property
    def hosts(self) -> frozenset[str]:
        """Catalog hosts this source owns: their links go to it or, if it declines, to manual steps.
        Empty for a generic source (plain http), which is asked about links no owner claims."""
        ...

    @property
    def automatic(self) -> bool:
        """False for a source that needs a person (its attempts become steps, never fetched)."""
        ...

    @property
    def ready(self) -> bool:
        """True when what it brings is always HF / PyTorch weights (tried before other formats)."""
        ...

    def route(self, link: Download) -> Attempt | None:
        """How this source would fetch ``link`` (no network), or None when it cannot."""
        ...

    def mirrors(self, attempt: Attempt) -> Sequence[Attempt]:
        """Copies of another source's attempt that this source knows of (e.g. ModelScope mirrors).
        None by default (a class that subclasses :class:`Source` inherits this)."""
        return ()

    def fetch(self, attempt: Attempt, ctx: FetchContext) -> Fetched:
        """Bring the bytes of ``attempt``, verified; raise a :class:`~zhplm.errors.SourceError` if not."""
        ...


def stage_repo(attempt: Attempt, ctx: FetchContext, fill: Callable[[str, Path], object]) -> StagedFolder:
    """Run ``fill(repo, folder)`` on a fresh staging folder and return it, or remove it if ``fill`` fails."""
    if attempt.repo is None:
        raise ValueError(f"{attempt.describe()} names no repo")
    staged = ctx.store.staging_dir()
    try:
        fill(attempt.repo, staged)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    url = f"{attempt.repo}@{attempt.revision}" if attempt.revision else attempt.repo
    return StagedFolder(staged, attempt.kind, url, attempt.download.format or "hf")


__all__ = [
    "Attempt",
    "FetchContext",
    "FetchOptions",
    "Fetched",
    "Source",
    "StagedFolder",
    "StoredBlob",
    "stage_repo",
]
