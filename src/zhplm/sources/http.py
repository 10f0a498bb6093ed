"""Plain ``http(s)`` downloads with the standard library: resume, retries, timeouts, verification.

``fetch(url, partial_dir, ...)`` writes into a process-unique ``.part`` file, resumes it with
``Range: bytes=N-`` after a dropped connection (also across processes: an abandoned partial of a dead
process is claimed by an atomic rename), and copes with servers that ignore ``Range`` (200: restart
from zero) or answer 416 for an already complete partial. Every request has a timeout; 5xx, 408, 429,
timeouts and dropped connections are retried with exponential backoff (the counter resets whenever
bytes arrive). An HTML page where data was expected is :class:`UnexpectedContentError` (a hook may turn
an interstitial page into the next URL: Google Drive). Size and sha256 are checked at the end; a
mismatch deletes the partial. The caller moves the verified file into the store.
"""

from __future__ import annotations

import contextlib
import email.message
import hashlib
import http.client
import os
import queue
import random
import re
import shutil
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from zhplm import __version__
from zhplm.catalog.schema import Download
from zhplm.errors import (
    ChecksumMismatchError,
    DownloadError,
    RemoteNotFoundError,
    StoreError,
    UnexpectedContentError,
    UnsafeContentError,
)
from zhplm.sources.base import Attempt, FetchContext, Source, StoredBlob
from zhplm.sources.names import safe_basename
from zhplm.sources.progress import Progress

CHUNK = 1 << 20
USER_AGENT = f"zhplm/{__version__} (+https://github.com/; python-urllib)"
HTML_LIMIT = 2 << 20  # read at most this much of an HTML page handed to a hook

# (html text, url of the page) -> next URL to fetch, or None when the page is not a known interstitial
HtmlHandler = Callable[[str, str], str | None]

_ACTIVE: set[str] = set()  # partial files this process is writing right now
_ACTIVE_LOCK = threading.Lock()


@dataclass(frozen=True)
class FetchResult:
    """A complete, verified download (still in the partial folder; the caller publishes it)."""

    path: Path
    sha256: str
    size: int
    url: str  # the final URL (after redirects and interstitial pages)
    filename: str | None  # from Content-Disposition or the URL path, validated; None if unusable
    bytes_received: int  # bytes read from the network by this call (resume makes it < size)
    content_type: str | None
    resumed_from: int  # bytes reused from an earlier partial


class _Retry(Exception):
    """Internal: a transient failure; ``progressed`` tells whether bytes arrived first."""

    def __init__(self, reason: str, progressed: bool = False) -> None:
        super().__init__(reason)
        self.progressed = progressed


class _Restart(Exception):
    """Internal: the partial is unusable (server ignored Range, mismatched Content-Range)."""


def _is_html(head: bytes) -> bool:
    s = head.lstrip()[:64].lower()
    return s.startswith((b"<!doctype html", b"<html", b"<head", b"<!--", b"<body"))


@dataclass(frozen=True)
class _ContentRange:
    """A ``Content-Range`` header: ``bytes start-end/total`` (any part None when absent or ``*``)."""

    start: int | None = None
    end: int | None = None
    total: int | None = None


def _content_range(value: str | None) -> _ContentRange:
    """``bytes a-b/N`` -> start a, end b, total N; ``bytes */N`` -> total N only."""
    if not value:
        return _ContentRange()
    m = re.match(r"\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$", value)
    if not m:
        return _ContentRange()
    a, b, n = m.groups()
    return _ContentRange(
        int(a) if a is not None else None,
        int(b) if b is not None else None,
        int(n) if n and n != "*" else None,
    )


def _filename_from(headers: email.message.Message, url: str) -> str | None:
    name = headers.get_filename()
    if not name:
        path = urllib.parse.urlsplit(url).path
        name = urllib.parse.unquote(path.rsplit("/", 1)[-1]) if path else None
    if not name:
        return None
    try:
        return safe_basename(name)
    except UnsafeContentError:
        return None


class _NoAuthRedirect(urllib.request.HTTPRedirectHandler):
    """Follow redirects but never carry credentials to another host."""

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if (
            new is not None
            and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc
        ):
            for h in ("Authorization", "Cookie"):
                new.remove_header(h)
        return new


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_NoAuthRedirect())


class _Partial:
    """A process-unique partial file for one download key, claiming an abandoned one if present."""

    def __init__(self, partial_dir: Path, key: str) -> None:
        partial_dir.mkdir(parents=True, exist_ok=True)
        self.path = partial_dir / f"{key}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part"
        with _ACTIVE_LOCK:
            _ACTIVE.add(self.path.name)
            claimed = self._claim(partial_dir, key)
        if not claimed:
            self.path.touch()
        self.file: BinaryIO = open(self.path, "r+b")  # noqa: SIM115 - closed in close()
        self.file.seek(0, os.SEEK_END)

    def _claim(self, partial_dir: Path, key: str) -> bool:
        candidates = []
        for p in partial_dir.glob(f"{key}.*.part"):
            parts = p.name.split(".")
            if len(parts) != 4 or not parts[1].isdigit() or p.name in _ACTIVE:
                continue
            pid = int(parts[1])
            if pid != os.getpid() and _alive(pid):
                continue  # another live process is writing it
            with contextlib.suppress(OSError):
                candidates.append((p.stat().st_size, p))
        for _, p in sorted(candidates, reverse=True):
            try:
                os.rename(p, self.path)  # atomic: only one claimer wins
                return True
            except OSError:
                continue
        return False

    @property
    def size(self) -> int:
        return self.file.tell()

    def truncate(self) -> None:
        self.file.seek(0)
        self.file.truncate()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
        with _ACTIVE_LOCK:
            _ACTIVE.discard(self.path.name)

    def delete(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def download_key(url: str, expected_size: int | None, expected_sha256: str | None) -> str:
    return hashlib.sha256(f"{url}|{expected_size}|{expected_sha256}".encode()).hexdigest()[:32]


def fetch(
    url: str,
    partial_dir: Path,
    *,
    expected_size: int | None = None,
    expected_sha256: str | None = None,
    timeout: float = 30.0,
    retries: int = 5,
    backoff: float = 1.0,
    progress: bool = True,
    desc: str | None = None,
    html_handler: HtmlHandler | None = None,
    headers: dict[str, str] | None = None,
    max_hops: int = 3,
) -> FetchResult:
    """Download ``url`` into ``partial_dir`` and verify it; see the module docstring."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise DownloadError(f"not an http(s) URL: {url}")
    key = download_key(url, expected_size, expected_sha256)
    part = _Partial(partial_dir, key)
    opener = _opener()
    sink = _Sink(part)
    resumed_from = part.size
    current = url
    received = 0
    failures = 0
    high_water = part.size
    hops = 0
    content_type: str | None = None
    filename: str | None = None
    sink.bar = Progress(
        desc or _filename_from(email.message.Message(), url) or url, expected_size, enabled=progress
    )
    sink.bar.update(resumed_from)
    if expected_size is not None:
        check_disk_space(partial_dir, expected_size - resumed_from, url)
    try:
        while True:
            offset = part.size
            if expected_size is not None and offset > expected_size:
                sink.reset()
                offset = 0
            if expected_size is not None and offset == expected_size and offset > 0:
                break  # a complete partial: nothing to ask the server (no 416 loop)
            try:
                try:
                    outcome = _one_request(opener, current, sink, offset, timeout, headers)
                finally:
                    sink.sync()
            except _Restart:
                sink.reset()
                continue
            except _Retry as exc:
                # the counter resets only when the file grew past its best size (no endless
                # loop on a server that always sends the same truncated prefix)
                grew = exc.progressed and part.size > high_water
                high_water = max(high_water, part.size)
                failures = 1 if grew else failures + 1
                if failures > retries:
                    raise DownloadError(
                        f"download of {url} failed after {retries + 1} attempt(s): {exc}. "
                        "Run the same command again to resume."
                    ) from None
                delay = min(backoff * 2 ** (failures - 1), 30.0) * (0.5 + random.random() / 2)
                time.sleep(delay)
                continue
            if outcome.html is not None:
                nxt = html_handler(outcome.html, current) if html_handler is not None else None
                hops += 1
                if nxt is None or hops > max_hops:
                    raise UnexpectedContentError(
                        f"{current} returned an HTML page where a model file was expected "
                        f"(a login, quota or warning page?): {_html_title(outcome.html)!r}"
                    )
                current = nxt
                continue
            received += outcome.received
            content_type = outcome.content_type
            filename = outcome.filename or filename
            if outcome.status == "done":
                break
        size = part.size
        digest = sink.hasher.hexdigest()
        part.file.flush()
        os.fsync(part.file.fileno())
        if expected_size is not None and size != expected_size:
            part.delete()
            raise ChecksumMismatchError(url, expected=str(expected_size), actual=str(size), what="size")
        if expected_sha256 is not None and digest != expected_sha256.lower():
            part.delete()
            raise ChecksumMismatchError(url, expected=expected_sha256, actual=digest)
        part.close()
        return FetchResult(
            path=part.path,
            sha256=digest,
            size=size,
            url=current,
            filename=filename,
            bytes_received=received,
            content_type=content_type,
            resumed_from=resumed_from,
        )
    except (UnexpectedContentError, ChecksumMismatchError, RemoteNotFoundError):
        part.delete()
        raise
    finally:
        part.close()
        sink.bar.close()


def _html_title(html: str) -> str:
    m = re.search(r"<title[^>]*>(.*?)</title>", html, re.S | re.I)
    return (m.group(1) if m else html[:80]).strip()


class _Worker:
    """A thread applying ``fn`` to queued chunks, so hashing and disk writes overlap the network reads.

    (hashlib and file writes release the GIL.) An error stops the work and is raised by ``put``/``finish``.
    """

    def __init__(self, fn: Callable[[bytes], Any]) -> None:
        self.fn = fn
        self.error: BaseException | None = None
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=32)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self.fn(item)
                except BaseException as exc:
                    self.error = exc

    def put(self, chunk: bytes) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(chunk)

    def finish(self) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


class _Sink:
    """The partial file, the running sha256 of its content, and the progress bar, reset together.

    ``feed`` hands each chunk to a writer thread and a hasher thread; ``sync`` waits for both, so the
    partial file's size is exact whenever the fetch loop looks at it.
    """

    def __init__(self, part: _Partial) -> None:
        self.part = part
        self.hasher = hashlib.sha256()
        self.bar = Progress("", None, enabled=False)
        self._workers: tuple[_Worker, _Worker] | None = None
        if part.size:
            part.file.seek(0)
            while chunk := part.file.read(CHUNK):
                self.hasher.update(chunk)
            part.file.seek(0, os.SEEK_END)

    def feed(self, chunk: bytes) -> None:
        if self._workers is None:
            self._workers = (_Worker(self.part.file.write), _Worker(self.hasher.update))
        try:
            for w in self._workers:
                w.put(chunk)
        except OSError as exc:
            self.sync()
            raise StoreError(f"cannot write the download to {self.part.path}: {exc}") from exc
        self.bar.update(len(chunk))

    def sync(self) -> None:
        workers, self._workers = self._workers, None
        if workers is None:
            return
        errors = []
        for w in workers:
            try:
                w.finish()
            except BaseException as exc:
                errors.append(exc)
        self.part.file.flush()
        if errors:
            first = errors[0]
            if isinstance(first, OSError):
                raise StoreError(f"cannot write the download to {self.part.path}: {first}") from first
            raise first

    def reset(self) -> None:
        self.sync()
        self.part.truncate()
        self.hasher = hashlib.sha256()
        self.bar.reset()


def check_disk_space(folder: Path, needed: int, url: str) -> None:
    """Refuse early, before writing, when ``folder``'s file system cannot hold ``needed`` more bytes
    (plus a small margin): a full disk otherwise surfaces as a truncated download much later."""
    free = shutil.disk_usage(folder).free
    margin = 64 * 1024 * 1024
    if needed > 0 and free < needed + margin:
        raise StoreError(
            f"not enough disk space for {url}: {needed / 1e9:.2f} GB needed, {free / 1e9:.2f} GB free "
            f"in {folder}; free some space or point ZHPLM_HOME at a larger disk"
        )


@dataclass(frozen=True)
class _Reply:
    """What one GET gave: ``done`` (``received`` bytes fed to the sink) or ``html`` (a page instead of
    the file, its text in ``html``), with the content type and the server's file name."""

    status: str
    received: int = 0
    content_type: str | None = None
    filename: str | None = None
    html: str | None = None


def _one_request(
    opener: urllib.request.OpenerDirector,
    url: str,
    sink: _Sink,
    offset: int,
    timeout: float,
    extra_headers: dict[str, str] | None,
) -> _Reply:
    """One GET from ``offset``."""
    hdrs = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **(extra_headers or {})}
    if offset:
        hdrs["Range"] = f"bytes={offset}-"
    req = urllib.request.Request(url, headers=hdrs)
    try:
        resp = opener.open(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        with contextlib.suppress(Exception):
            exc.close()
        code = exc.code
        if code == 416 and offset:
            total = _content_range(exc.headers.get("Content-Range") if exc.headers else None).total
            if total == offset:
                return _Reply("done")  # the partial already holds the whole file
            raise _Restart() from None
        if code in (404, 410):
            raise RemoteNotFoundError(f"{url} does not exist (HTTP {code})") from None
        if code in (408, 425, 429) or code >= 500:
            raise _Retry(f"HTTP {code} from {url}") from None
        raise DownloadError(f"{url} answered HTTP {code} {exc.reason}") from None
    except (
        urllib.error.URLError,
        TimeoutError,
        ConnectionError,
        http.client.HTTPException,
    ) as exc:
        reason = getattr(exc, "reason", exc)
        raise _Retry(f"cannot reach {url}: {reason}") from None
    except OSError as exc:
        raise _Retry(f"cannot reach {url}: {exc}") from None
    with resp:
        status = resp.status
        ctype = resp.headers.get_content_type() if resp.headers.get("Content-Type") else None
        fname = _filename_from(resp.headers, resp.geturl())
        length_h = resp.headers.get("Content-Length")
        length = int(length_h) if length_h and length_h.isdigit() else None
        if status == 206:
            if _content_range(resp.headers.get("Content-Range")).start != offset:
                raise _Restart()
        elif status == 200:
            if offset:  # the server ignored Range: keep this full response, drop the partial
                sink.reset()
                offset = 0
        else:
            raise DownloadError(f"{url} answered HTTP {status}")
        if length is not None:
            check_disk_space(sink.part.path.parent, length, url)
        if ctype == "text/html" and not offset:
            return _Reply("html", content_type=ctype, html=resp.read(HTML_LIMIT).decode("utf-8", "replace"))
        got = 0
        first = not offset
        while True:
            try:
                # read1: return what has arrived (one recv), so a stall times out without losing bytes
                chunk = resp.read1(CHUNK)
            except (TimeoutError, ConnectionError, http.client.HTTPException, OSError) as exc:
                sink.sync()
                raise _Retry(
                    f"connection to {url} broke after {got} bytes: {exc}", progressed=got > 0
                ) from None
            n = len(chunk)
            if not n:
                break
            if first:
                first = False
                if _is_html(chunk[:512]):
                    rest = resp.read(HTML_LIMIT).decode("utf-8", "replace")
                    return _Reply("html", content_type=ctype, html=chunk.decode("utf-8", "replace") + rest)
            sink.feed(chunk)
            got += n
        sink.sync()
        if length is not None and got < length:
            raise _Retry(f"{url} sent {got} of {length} bytes", progressed=got > 0)
        return _Reply("done", got, ctype, fname)


def get_json(url: str, *, timeout: float = 30.0, retries: int = 3, backoff: float = 1.0) -> Any:
    """GET a small JSON document (a hub API listing) with a timeout and retries on transient errors."""
    import json

    opener = _opener()
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
    last = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(min(backoff * 2 ** (attempt - 1), 30.0))
        try:
            with opener.open(req, timeout=timeout) as resp:
                body = resp.read(64 << 20)
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 410):
                raise RemoteNotFoundError(f"{url} does not exist (HTTP {exc.code})") from None
            if exc.code in (408, 425, 429) or exc.code >= 500:
                last = f"HTTP {exc.code}"
                continue
            raise DownloadError(f"{url} answered HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            last = str(getattr(exc, "reason", exc))
            continue
        try:
            return json.loads(body)
        except ValueError:
            raise UnexpectedContentError(f"{url} did not return JSON: {body[:80]!r}") from None
    raise DownloadError(f"cannot get {url} after {retries + 1} attempt(s): {last}")


def default_progress_enabled(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def fetch_blob(
    attempt: Attempt, ctx: FetchContext, url: str, html_handler: HtmlHandler | None = None
) -> StoredBlob:
    """:func:`fetch` the link's file (checked against the catalog's size and sha256) into ``blobs/``."""
    d = attempt.download
    opts = ctx.options
    res = fetch(
        url,
        ctx.store.partial_dir,
        expected_size=d.size,
        expected_sha256=d.sha256,
        timeout=opts.timeout,
        retries=opts.retries,
        backoff=opts.backoff,
        progress=opts.progress,
        desc=ctx.record.id,
        html_handler=html_handler,
    )
    ctx.store.put_blob(res.path, res.sha256)
    name = d.filename or res.filename or "download.bin"
    return StoredBlob(res.sha256, name, attempt.kind, d.url, d.format)


class HttpSource(Source):
    """Plain http(s) file links on any host no other source owns."""

    kind = "http"
    hosts: frozenset[str] = frozenset()
    automatic = True
    ready = False

    def route(self, link: Download) -> Attempt | None:
        if link.automatic and link.url.startswith(("http://", "https://")):
            return Attempt(self.kind, link, why="a direct file link")
        return None

    def fetch(self, attempt: Attempt, ctx: FetchContext) -> StoredBlob:
        return fetch_blob(attempt, ctx, attempt.download.url)


SOURCE = HttpSource()

__all__ = [
    "SOURCE",
    "FetchResult",
    "HtmlHandler",
    "HttpSource",
    "download_key",
    "fetch",
    "fetch_blob",
    "get_json",
]
