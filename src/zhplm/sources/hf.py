"""The Hugging Face Hub source, through ``huggingface_hub`` (optional extra ``download``).

Honours ``HF_ENDPOINT`` (read at call time, so mirrors such as hf-mirror.com work even when set after
import) and pins the catalog's revision (fnlp BART/CPT: ``v1.0``). Only one weight format is fetched
when a repo carries several (safetensors, else PyTorch, else whatever there is). Files land in
huggingface_hub's cache under ``<ZHPLM_HOME>/hf-cache`` and are then hard-linked (or copied) into the
staging folder; LFS files are re-hashed against the sha256 the Hub names them by.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zhplm import config
from zhplm.catalog.schema import Download
from zhplm.errors import (
    ChecksumMismatchError,
    DownloadError,
    MissingDependencyError,
    OfflineError,
    RemoteNotFoundError,
    SourceError,
)
from zhplm.sources.base import Attempt, FetchContext, Source, StagedFolder, stage_repo
from zhplm.sources.names import safe_relpath
from zhplm.sources.store import sha256_file

# Never needed: other frameworks' exports of the same weights.
ALWAYS_IGNORE = ["*.msgpack", "*.onnx", "*.ot", "*.tflite", "*.gguf", "onnx/*", "coreml/*", "openvino/*"]
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class HubRef:
    """A hub repo a link names, and the revision its URL pins (None: the default branch)."""

    repo: str  # org/name
    revision: str | None


def repo_from_url(url: str) -> HubRef | None:
    """``https://huggingface.co/org/name[/tree/rev]`` -> ``org/name`` and rev (or None)."""
    m = re.search(r"huggingface\.co/(?!datasets/|spaces/)([^/?#]+)/([^/?#]+)(?:/tree/([^/?#]+))?", url)
    if not m:
        return None
    return HubRef(f"{m.group(1)}/{m.group(2)}", m.group(3))


def _hub() -> Any:
    try:
        import huggingface_hub
    except ImportError as exc:
        raise MissingDependencyError(
            "huggingface_hub", "download", "download from the Hugging Face Hub"
        ) from exc
    return huggingface_hub


def choose_ignores(files: list[str]) -> list[str]:
    """Skip duplicate weight formats: keep safetensors if present, else PyTorch, else everything."""
    ignore = list(ALWAYS_IGNORE)
    has = {
        pat: any(fnmatch.fnmatch(f, pat) for f in files) for pat in ("*.safetensors", "*.bin", "*.pt", "*.h5")
    }
    if has["*.safetensors"]:
        ignore += ["*.bin", "*.pt", "*.h5", "*.ckpt*"]
    elif has["*.bin"] or has["*.pt"]:
        ignore += ["*.h5", "*.ckpt*"]
    return ignore


def fetch_repo(
    repo: str,
    dest: Path,
    *,
    cache_dir: Path,
    revision: str | None = None,
    timeout: float = 30.0,
    progress: bool = True,
) -> list[str]:
    """Download ``repo`` (at ``revision``) and place its files in the folder ``dest``."""
    hub = _hub()
    if config.offline():
        raise OfflineError(f"ZHPLM_OFFLINE=1 forbids downloading {repo} from the Hugging Face Hub")
    endpoint = os.environ.get("HF_ENDPOINT") or None
    if endpoint:
        endpoint = endpoint.rstrip("/")
    from huggingface_hub import errors as hf_errors

    try:
        api = hub.HfApi(endpoint=endpoint)
        listing = [f for f in api.list_repo_files(repo, revision=revision) if isinstance(f, str)]
        for name in listing:
            safe_relpath(name)  # refuse the whole repo before any file is written
        kwargs: dict[str, Any] = {
            "revision": revision,
            "cache_dir": str(cache_dir),
            "endpoint": endpoint,
            "etag_timeout": timeout,
            "ignore_patterns": choose_ignores(listing),
        }
        bars: Any = hub.utils
        was_disabled = bars.are_progress_bars_disabled()
        if not progress:
            bars.disable_progress_bars()
        try:
            snapshot = Path(hub.snapshot_download(repo, **kwargs))
        finally:
            if not progress and not was_disabled:
                bars.enable_progress_bars()
    except (
        hf_errors.RepositoryNotFoundError,
        hf_errors.RevisionNotFoundError,
        hf_errors.EntryNotFoundError,
    ) as exc:
        where = f"{repo}@{revision}" if revision else repo
        raise RemoteNotFoundError(f"the Hub has no {where}: {_first_line(exc)}") from exc
    except hf_errors.OfflineModeIsEnabled as exc:
        raise DownloadError(
            f"HF_HUB_OFFLINE is set, so {repo} cannot be fetched from the Hub; unset it or use another source"
        ) from exc
    except SourceError:
        raise
    except (OSError, ValueError, RuntimeError) as exc:
        raise DownloadError(
            f"download of {repo} from {endpoint or 'huggingface.co'} failed: {_first_line(exc)}"
        ) from exc
    except Exception as exc:  # httpx errors and other hub failures
        raise DownloadError(
            f"download of {repo} from {endpoint or 'huggingface.co'} failed: {_first_line(exc)}"
        ) from exc
    return _materialize(snapshot, dest)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _materialize(snapshot: Path, dest: Path) -> list[str]:
    """Link or copy the snapshot's files into ``dest``; re-hash LFS files against their blob names."""
    placed = []
    for p in sorted(snapshot.rglob("*")):
        if p.is_dir():
            continue
        rel = safe_relpath(p.relative_to(snapshot).as_posix())
        real = p.resolve()
        if _SHA_RE.match(real.name):  # blob named by its LFS sha256
            actual = sha256_file(real)
            if actual != real.name:
                real.unlink(missing_ok=True)  # let the next run fetch it again
                raise ChecksumMismatchError(rel, expected=real.name, actual=actual)
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(real, target)
        except OSError:
            shutil.copyfile(real, target)
        placed.append(rel)
    if not placed:
        raise RemoteNotFoundError(f"{snapshot} holds no files")
    return placed


class HfSource(Source):
    """Hugging Face Hub repos (the list's own hub links, or ``hf_repo`` set by curation)."""

    kind = "hf"
    hosts = frozenset({"huggingface"})
    automatic = True
    ready = True

    def route(self, link: Download) -> Attempt | None:
        parsed = repo_from_url(link.url)
        repo = link.hf_repo or (parsed.repo if parsed else None)
        if not repo:
            return None
        revision = link.revision or (parsed.revision if parsed else None)
        return Attempt(self.kind, link, repo, revision, why="a Hugging Face Hub repo")

    def fetch(self, attempt: Attempt, ctx: FetchContext) -> StagedFolder:
        opts = ctx.options
        return stage_repo(
            attempt,
            ctx,
            lambda repo, dest: fetch_repo(
                repo,
                dest,
                cache_dir=ctx.store.hf_cache,
                revision=attempt.revision,
                timeout=opts.timeout,
                progress=opts.progress,
            ),
        )


SOURCE = HfSource()

__all__ = ["ALWAYS_IGNORE", "SOURCE", "HfSource", "HubRef", "choose_ignores", "fetch_repo", "repo_from_url"]
