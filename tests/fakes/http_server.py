"""A threaded loopback HTTP server (127.0.0.1 only) that serves files with injectable faults.

Used by the download tests and the download benchmark. Every response counts the body bytes it
really sent (server side), so a test can prove that a resumed download fetched fewer bytes.

Faults, per route: ``statuses`` (answer these codes first, e.g. ``[503, 500]``), ``drop_after`` (send
the full Content-Length, then cut the connection after N body bytes, for the first ``drop_times``
responses), ``ignore_range`` (always 200 with the whole body), ``truncate_to`` (always declare the full
length and send only N bytes), ``delay`` (sleep before answering), ``throttle`` (bytes per chunk,
seconds between chunks), ``content_type``, and ``handler`` for custom flows (Google-Drive-like pages).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Route:
    data: bytes | None = None
    file: Path | None = None
    content_type: str = "application/octet-stream"
    statuses: list[int] = field(default_factory=list)
    drop_after: int | None = None
    drop_times: int = 1
    ignore_range: bool = False
    truncate_to: int | None = None
    delay: float = 0.0
    throttle: tuple[int, float] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    handler: Callable[[Any, dict[str, list[str]]], None] | None = None
    filename: str | None = None

    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        assert self.file is not None
        return self.file.stat().st_size


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


class FakeServer:
    """``with FakeServer() as srv: srv.add('/f.bin', Route(data=b'...')); srv.url('/f.bin')``."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self.bytes_sent: dict[str, int] = {}
        # called as fallback(handler, path, query) for paths without a route (the fake hub uses it)
        self.fallback: Callable[[Any, str, dict[str, list[str]]], None] | None = None
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                outer._serve(self, head=True)

            def do_GET(self) -> None:
                outer._serve(self, head=False)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, route: Route) -> Route:
        self.routes[path] = route
        return route

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path == path and r.method == "GET")

    # ------------------------------------------------------------------ serving
    def _count(self, path: str, n: int) -> None:
        with self._lock:
            self.bytes_sent[path] = self.bytes_sent.get(path, 0) + n

    def _serve(self, h: BaseHTTPRequestHandler, *, head: bool) -> None:
        parts = urlsplit(h.path)
        query = parse_qs(parts.query)
        with self._lock:
            self.requests.append(Request(h.command, parts.path, query, dict(h.headers.items())))
        route = self.routes.get(parts.path)
        if route is None and self.fallback is not None:
            self.fallback(h, parts.path, query)
            return
        if route is None:
            self.send_simple(h, 404, b"not found")
            return
        if route.delay:
            time.sleep(route.delay)
        if route.handler is not None:
            route.handler(h, query)
            return
        with self._lock:
            status = route.statuses.pop(0) if route.statuses else None
        if status is not None:
            self.send_simple(h, status, f"fault {status}".encode())
            return
        total = route.size()
        start = 0
        code = 200
        rng = h.headers.get("Range")
        if rng and not route.ignore_range:
            m = re.match(r"bytes=(\d+)-$", rng.strip())
            if m:
                start = int(m.group(1))
                if start >= total:
                    self.send_simple(h, 416, b"", {"Content-Range": f"bytes */{total}"})
                    return
                code = 206
        length = total - start
        h.send_response(code)
        h.send_header("Content-Type", route.content_type)
        h.send_header("Content-Length", str(length))
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("Connection", "close")
        if code == 206:
            h.send_header("Content-Range", f"bytes {start}-{total - 1}/{total}")
        if route.filename:
            h.send_header("Content-Disposition", f'attachment; filename="{route.filename}"')
        for k, v in route.headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.close_connection = True
        if head:
            return
        limit = length
        cut = False
        with self._lock:
            if route.drop_after is not None and route.drop_times > 0:
                route.drop_times -= 1
                limit = min(limit, route.drop_after)
                cut = True
        if route.truncate_to is not None:
            limit = min(limit, route.truncate_to)
            cut = True
        self._send_body(h, route, parts.path, start, limit)
        if cut:
            with contextlib.suppress(OSError):
                h.connection.shutdown(socket.SHUT_RDWR)

    def _send_body(self, h: BaseHTTPRequestHandler, route: Route, path: str, start: int, count: int) -> None:
        try:
            if route.data is not None:
                step = route.throttle[0] if route.throttle else 1 << 20
                pos = start
                end = start + count
                while pos < end:
                    chunk = route.data[pos : min(end, pos + step)]
                    h.wfile.write(chunk)
                    self._count(path, len(chunk))
                    pos += len(chunk)
                    if route.throttle:
                        time.sleep(route.throttle[1])
            else:
                assert route.file is not None
                with open(route.file, "rb") as f:
                    if route.throttle is None:
                        sent = h.connection.sendfile(f, start, count)
                        self._count(path, sent)
                    else:
                        f.seek(start)
                        left = count
                        while left > 0:
                            chunk = f.read(min(left, route.throttle[0]))
                            if not chunk:
                                break
                            h.wfile.write(chunk)
                            self._count(path, len(chunk))
                            left -= len(chunk)
                            time.sleep(route.throttle[1])
        except (BrokenPipeError, ConnectionResetError):
            pass

    @staticmethod
    def send_simple(
        h: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        content_type: str = "text/plain",
    ) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Connection", "close")
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.close_connection = True
        if h.command != "HEAD":
            h.wfile.write(body)


@contextlib.contextmanager
def serving(**routes: Route) -> Iterator[FakeServer]:
    with FakeServer() as srv:
        for name, route in routes.items():
            srv.add("/" + name, route)
        yield srv


def random_bytes(n: int, seed: int = 0) -> bytes:
    """Deterministic incompressible-looking bytes (fast: repeats a random 64 KiB block with a counter)."""
    import random as _random

    rng = _random.Random(seed)
    block = rng.randbytes(1 << 16)
    out = bytearray()
    i = 0
    while len(out) < n:
        out += i.to_bytes(8, "little") + block
        i += 1
    return bytes(out[:n])


__all__ = ["FakeServer", "Request", "Route", "random_bytes", "serving"]

if __name__ == "__main__":  # pragma: no cover - manual poking
    with FakeServer() as s:
        s.add("/x", Route(data=os.urandom(1000)))
        print(s.url("/x"))
        time.sleep(3600)
