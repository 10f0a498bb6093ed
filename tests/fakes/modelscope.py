"""A small fake of ModelScope's model-file API on loopback (what :mod:`zhplm.sources.modelscope` calls).

``GET /api/v1/models/{org}/{name}/repo/files?Revision=R&Recursive=true`` answers ``Data.Files[]`` with
``Path``, ``Type``, ``Size`` and ``Sha256``; ``GET /api/v1/models/{org}/{name}/repo?Revision=R&FilePath=P``
answers the file. An unknown repo or revision answers 404 with ModelScope's JSON error shape.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from fakes.http_server import FakeServer


class FakeModelScope:
    """Install ModelScope's routes on a :class:`FakeServer` (catch-all handler, like :class:`FakeHub`)."""

    def __init__(self, srv: FakeServer) -> None:
        self.srv = srv
        self.repos: dict[tuple[str, str], dict[str, bytes]] = {}  # (repo, revision) -> files
        srv.fallback = self._handle

    def add(self, repo: str, files: dict[str, bytes], revision: str = "master") -> None:
        self.repos[(repo, revision)] = files

    def _missing(self, h: Any, what: str) -> None:
        body = {"Code": 10010205001, "Message": f"{what} not found", "Success": False}
        FakeServer.send_simple(h, 404, json.dumps(body).encode(), content_type="application/json")

    def _handle(self, h: Any, path: str, query: dict[str, list[str]]) -> None:
        m = re.match(r"^/api/v1/models/([^/]+/[^/]+)/repo(/files)?$", path)
        if not m:
            FakeServer.send_simple(h, 404, b"not found")
            return
        revision = (query.get("Revision") or ["master"])[0]
        files = self.repos.get((m.group(1), revision))
        if files is None:
            self._missing(h, f"model {m.group(1)}@{revision}")
            return
        if m.group(2):
            listing = [
                {
                    "Path": name,
                    "Name": name.rsplit("/", 1)[-1],
                    "Type": "blob",
                    "Size": len(data),
                    "Sha256": hashlib.sha256(data).hexdigest(),
                }
                for name, data in sorted(files.items())
            ]
            doc = {"Code": 200, "Success": True, "Data": {"Files": listing}}
            FakeServer.send_simple(h, 200, json.dumps(doc).encode(), content_type="application/json")
            return
        name = (query.get("FilePath") or [""])[0]
        if name not in files:
            self._missing(h, f"file {name}")
            return
        FakeServer.send_simple(h, 200, files[name], content_type="application/octet-stream")
        self.srv._count(path, 0 if h.command == "HEAD" else len(files[name]))


__all__ = ["FakeModelScope"]
