"""A small fake of the Hugging Face Hub API on loopback, enough for ``snapshot_download``/``hf_hub_download``.

Endpoints (as huggingface_hub 2.x calls them): ``GET /api/models/{repo}/revision/{rev}`` (model info with
``sha`` and ``siblings``), ``GET /api/models/{repo}/tree/{rev}`` (recursive listing with ``oid``, ``size``
and ``lfs``), and ``HEAD``/``GET /{repo}/resolve/{rev}/{path}`` with ``X-Repo-Commit``, ``ETag``,
``X-Linked-Etag`` and ``X-Linked-Size``. Revisions are branch/tag names mapped to commit hashes; a commit
hash is accepted too. Large files are "LFS" (their etag is their sha256, as on the real Hub).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from fakes.http_server import FakeServer, Route

LFS_THRESHOLD = 1024


@dataclass
class FakeRepo:
    repo_id: str
    # revision name -> (commit sha, {path: bytes})
    revisions: dict[str, tuple[str, dict[str, bytes]]] = field(default_factory=dict)

    def add(self, revision: str, files: dict[str, bytes]) -> str:
        commit = hashlib.sha1(f"{self.repo_id}@{revision}".encode()).hexdigest()
        self.revisions[revision] = (commit, files)
        return commit

    def resolve(self, rev: str) -> tuple[str, dict[str, bytes]] | None:
        rev = unquote(rev)
        if rev in self.revisions:
            return self.revisions[rev]
        for commit, files in self.revisions.values():
            if commit == rev:
                return commit, files
        return None


def _git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _etag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest() if len(data) >= LFS_THRESHOLD else _git_oid(data)


class FakeHub:
    """Install the hub's routes on a :class:`FakeServer` (catch-all handler keyed on path prefixes)."""

    def __init__(self, srv: FakeServer) -> None:
        self.srv = srv
        self.repos: dict[str, FakeRepo] = {}
        self.corrupt: set[str] = set()  # paths whose served bytes are altered (to test re-hashing)
        srv.fallback = self._handle

    def repo(self, repo_id: str) -> FakeRepo:
        return self.repos.setdefault(repo_id, FakeRepo(repo_id))

    def _json(self, h: Any, obj: Any, status: int = 200) -> None:
        FakeServer.send_simple(h, status, json.dumps(obj).encode(), content_type="application/json")

    def _not_found(self, h: Any, what: str) -> None:
        FakeServer.send_simple(
            h, 404, json.dumps({"error": what}).encode(), {"X-Error-Code": "RepoNotFound"}, "application/json"
        )

    def _handle(self, h: Any, path: str, query: dict[str, list[str]]) -> None:
        m = re.match(r"^/api/models/([^/]+/[^/]+)/revision/(.+)$", path)
        if m:
            repo = self.repos.get(m.group(1))
            found = repo.resolve(m.group(2)) if repo else None
            if repo is None or found is None:
                self._not_found(h, "Repository not found")
                return
            commit, files = found
            self._json(
                h,
                {
                    "id": repo.repo_id,
                    "modelId": repo.repo_id,
                    "sha": commit,
                    "private": False,
                    "siblings": [{"rfilename": p} for p in sorted(files)],
                },
            )
            return
        m = re.match(r"^/api/models/([^/]+/[^/]+)/tree/([^/]+)(/.*)?$", path)
        if m:
            repo = self.repos.get(m.group(1))
            found = repo.resolve(m.group(2)) if repo else None
            if repo is None or found is None:
                self._not_found(h, "Repository not found")
                return
            _, files = found
            entries = []
            for p, data in sorted(files.items()):
                e: dict[str, Any] = {"type": "file", "path": p, "size": len(data), "oid": _git_oid(data)}
                if len(data) >= LFS_THRESHOLD:
                    e["lfs"] = {
                        "oid": hashlib.sha256(data).hexdigest(),
                        "size": len(data),
                        "pointerSize": 134,
                    }
                entries.append(e)
            self._json(h, entries)
            return
        m = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
        if m:
            repo = self.repos.get(m.group(1))
            found = repo.resolve(m.group(2)) if repo else None
            name = unquote(m.group(3))
            if repo is None or found is None or name not in found[1]:
                FakeServer.send_simple(h, 404, b"Entry not found", {"X-Error-Code": "EntryNotFound"})
                return
            commit, files = found
            data = files[name]
            etag = _etag(data)
            body = data if name not in self.corrupt else bytes([data[0] ^ 1]) + data[1:]
            headers = {"X-Repo-Commit": commit, "ETag": f'"{etag}"', "Accept-Ranges": "bytes"}
            if len(data) >= LFS_THRESHOLD:
                headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))})
            FakeServer.send_simple(h, 200, body, headers, "application/octet-stream")
            self.srv._count(path, 0 if h.command == "HEAD" else len(body))
            return
        FakeServer.send_simple(h, 404, b"not found")


__all__ = ["FakeHub", "FakeRepo", "Route"]
