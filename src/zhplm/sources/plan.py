"""Which of a row's links to try, in which order: a ready PyTorch / Hugging Face source first.

Each link gets a source kind (``hf``, ``modelscope``, ``http``, ``gdrive`` or ``manual``). Automatic links
are tried in order of readiness (HF-layout or PyTorch weights before TF, Paddle, MindSpore), then by
kind (hub before mirror before plain URL before Google Drive), then as listed. Manual links are never
tried; they become the steps of :class:`~zhplm.errors.ManualDownloadRequired` when nothing else works.
"""

from __future__ import annotations

from dataclasses import dataclass

from zhplm.catalog.schema import Download, ModelRecord
from zhplm.sources import gdrive, hf, modelscope

KINDS: tuple[str, ...] = ("hf", "modelscope", "http", "gdrive", "manual")
_KIND_RANK = {k: i for i, k in enumerate(KINDS)}
_READY_FORMATS = {"hf", "safetensors", "pytorch"}
_FRAMEWORK_RANK = {"pytorch": 0, "tensorflow": 1, "keras": 2, "paddlepaddle": 3, "mindspore": 4, "project": 9}


@dataclass(frozen=True)
class Attempt:
    """One link and how it would be fetched."""

    kind: str
    download: Download
    repo: str | None = None  # hub repo for hf / modelscope
    revision: str | None = None

    def describe(self) -> str:
        where = (
            f"{self.repo}@{self.revision}" if self.repo and self.revision else self.repo or self.download.url
        )
        return f"{self.kind} {where}"


def classify(d: Download) -> Attempt:
    """The source kind of one link."""
    if d.column == "project" or "dead-link" in d.notes:
        return Attempt("manual", d)
    if d.host == "huggingface":
        parsed = hf.repo_from_url(d.url)
        repo = d.hf_repo or (parsed[0] if parsed else None)
        if repo:
            return Attempt("hf", d, repo, d.revision or (parsed[1] if parsed else None))
        return Attempt("manual", d)
    if d.host == "modelscope":
        repo = modelscope.repo_from_url(d.url) or d.hf_repo
        return Attempt("modelscope", d, repo, d.revision or "master") if repo else Attempt("manual", d)
    if d.host == "google-drive":
        blocked = {"folder", "login-required", "application-required"} & set(d.notes)
        if gdrive.is_folder(d.url) or blocked or gdrive.file_id(d.url) is None:
            return Attempt("manual", d)
        return Attempt("gdrive", d)
    if d.automatic and d.url.startswith(("http://", "https://")):
        return Attempt("http", d)
    return Attempt("manual", d)


def _readiness(a: Attempt) -> int:
    d = a.download
    if a.kind == "hf" or (d.format in _READY_FORMATS):
        return 0
    return 1 + _FRAMEWORK_RANK.get(d.framework, 5)


def plan(record: ModelRecord, only: str | None = None) -> tuple[list[Attempt], list[Attempt]]:
    """(automatic attempts in order, manual links). ``only`` keeps one source kind."""
    if only is not None and only not in KINDS:
        raise ValueError(f"unknown source {only!r}; choose one of {', '.join(KINDS)}")
    attempts = [classify(d) for d in record.downloads]
    for a in list(attempts):  # known ModelScope mirrors of hub repos
        if a.kind == "hf" and a.repo in modelscope.MIRRORS:
            attempts.append(Attempt("modelscope", a.download, modelscope.MIRRORS[a.repo], "master"))
    auto = [a for a in attempts if a.kind != "manual"]
    manual = [a for a in attempts if a.kind == "manual" and a.download.column != "project"]
    if only is not None:
        auto = [a for a in auto if a.kind == only]
        if only != "manual":
            manual = manual if not auto else []
    order = {id(a): i for i, a in enumerate(auto)}
    auto.sort(key=lambda a: (_readiness(a), _KIND_RANK[a.kind], order[id(a)]))
    return auto, manual


__all__ = ["KINDS", "Attempt", "classify", "plan"]
