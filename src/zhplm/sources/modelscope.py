"""ModelScope (mirrors of many Chinese models) through its plain HTTP API, without the modelscope package.

Listing: ``GET {endpoint}/api/v1/models/{org}/{name}/repo/files?Revision=R&Recursive=true`` gives
``Data.Files[]`` with ``Path``, ``Type`` (blob/tree), ``Size`` and ``Sha256``. Each file then comes from
``{endpoint}/api/v1/models/{org}/{name}/repo?Revision=R&FilePath=P`` through :mod:`zhplm.sources.http`
(resume, size and sha256 checked). Every listed name is validated before any file is written.
``MODELSCOPE_ENDPOINT`` (a URL) or ``MODELSCOPE_DOMAIN`` (a host) moves the endpoint.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from zhplm.catalog.schema import Download
from zhplm.errors import RemoteNotFoundError, UnexpectedContentError
from zhplm.sources import http
from zhplm.sources.base import Attempt, FetchContext, Source, StagedFolder, stage_repo
from zhplm.sources.names import safe_relpath

DEFAULT_ENDPOINT = "https://www.modelscope.cn"

# Hugging Face repos known to be mirrored on ModelScope under another id (hf repo -> modelscope repo).
# Filled by curation; a catalog Download with host "modelscope" is the primary way to name a mirror.
MIRRORS: dict[str, str] = {}


def endpoint() -> str:
    url = os.environ.get("MODELSCOPE_ENDPOINT")
    if url:
        return url.rstrip("/")
    domain = os.environ.get("MODELSCOPE_DOMAIN")
    if domain:
        return (domain if "://" in domain else f"https://{domain}").rstrip("/")
    return DEFAULT_ENDPOINT


def repo_from_url(url: str) -> str | None:
    """``https://modelscope.cn/models/org/name[/...]`` -> ``org/name``."""
    m = re.search(r"modelscope\.cn/models/([^/?#]+)/([^/?#]+)", url)
    return f"{m.group(1)}/{m.group(2)}" if m else None


@dataclass(frozen=True)
class RemoteFile:
    path: str
    size: int | None
    sha256: str | None


def list_files(
    repo: str, revision: str = "master", *, base: str | None = None, timeout: float = 30.0
) -> list[RemoteFile]:
    """The repo's files (names validated; a bad name fails the whole listing before anything is written)."""
    base = base or endpoint()
    q = urllib.parse.urlencode({"Revision": revision, "Recursive": "true"})
    url = f"{base}/api/v1/models/{repo}/repo/files?{q}"
    doc = http.get_json(url, timeout=timeout)
    if not isinstance(doc, dict):
        raise UnexpectedContentError(f"{url} returned an unexpected listing")
    if doc.get("Code") not in (200, None) or doc.get("Success") is False:
        raise RemoteNotFoundError(
            f"ModelScope has no {repo}@{revision}: {doc.get('Message', doc.get('Code'))}"
        )
    files = (doc.get("Data") or {}).get("Files")
    if not isinstance(files, list):
        raise UnexpectedContentError(f"{url} returned a listing without Data.Files")
    out = []
    for f in files:
        if not isinstance(f, dict) or f.get("Type") == "tree":
            continue
        name = safe_relpath(str(f.get("Path") or f.get("Name") or ""))
        size = f.get("Size")
        sha = f.get("Sha256")
        out.append(
            RemoteFile(
                name,
                size if isinstance(size, int) and size >= 0 else None,
                sha.lower() if isinstance(sha, str) and re.fullmatch(r"[0-9a-fA-F]{64}", sha) else None,
            )
        )
    if not out:
        raise RemoteNotFoundError(f"ModelScope repo {repo}@{revision} lists no files")
    return out


def file_url(repo: str, path: str, revision: str = "master", *, base: str | None = None) -> str:
    q = urllib.parse.urlencode({"Revision": revision, "FilePath": path})
    return f"{base or endpoint()}/api/v1/models/{repo}/repo?{q}"


def fetch_repo(
    repo: str,
    dest: Path,
    partial_dir: Path,
    *,
    revision: str = "master",
    timeout: float = 30.0,
    retries: int = 5,
    backoff: float = 1.0,
    progress: bool = True,
) -> list[RemoteFile]:
    """Download every file of ``repo`` into the folder ``dest`` (verified by size and sha256)."""
    base = endpoint()
    files = list_files(repo, revision, base=base, timeout=timeout)
    for f in files:
        res = http.fetch(
            file_url(repo, f.path, revision, base=base),
            partial_dir,
            expected_size=f.size,
            expected_sha256=f.sha256,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            progress=progress,
            desc=f.path,
        )
        target = dest / f.path
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(res.path, target)
    return files


class ModelScopeSource(Source):
    """ModelScope repos: the list's own ModelScope links, and known mirrors of Hugging Face repos."""

    kind = "modelscope"
    hosts = frozenset({"modelscope"})
    automatic = True
    ready = False

    def route(self, link: Download) -> Attempt | None:
        repo = repo_from_url(link.url) or link.hf_repo
        if not repo:
            return None
        return Attempt(self.kind, link, repo, link.revision or "master", why="a ModelScope repo")

    def mirrors(self, attempt: Attempt) -> Sequence[Attempt]:
        mirror = MIRRORS.get(attempt.repo or "") if attempt.kind == "hf" else None
        if mirror is None:
            return ()
        why = f"the ModelScope mirror of {attempt.describe()}"
        return (Attempt(self.kind, attempt.download, mirror, "master", why, attempt.describe()),)

    def fetch(self, attempt: Attempt, ctx: FetchContext) -> StagedFolder:
        opts = ctx.options
        return stage_repo(
            attempt,
            ctx,
            lambda repo, dest: fetch_repo(
                repo,
                dest,
                ctx.store.partial_dir,
                revision=attempt.revision or "master",
                timeout=opts.timeout,
                retries=opts.retries,
                backoff=opts.backoff,
                progress=opts.progress,
            ),
        )


SOURCE = ModelScopeSource()

__all__ = [
    "DEFAULT_ENDPOINT",
    "MIRRORS",
    "SOURCE",
    "ModelScopeSource",
    "RemoteFile",
    "endpoint",
    "fetch_repo",
    "file_url",
    "list_files",
    "repo_from_url",
]
