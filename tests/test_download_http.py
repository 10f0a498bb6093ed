"""The plain http(s) source against a loopback server with injected faults (127.0.0.1 only)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from fakes.http_server import FakeServer, Route, random_bytes
from zhplm.errors import ChecksumMismatchError, DownloadError, RemoteNotFoundError, UnexpectedContentError
from zhplm.sources import http

DATA = random_bytes(300_000, seed=1)
SHA = hashlib.sha256(DATA).hexdigest()


def _fetch(url: str, tmp_path: Path, **kw: object) -> http.FetchResult:
    kw.setdefault("backoff", 0.01)
    kw.setdefault("timeout", 5.0)
    kw.setdefault("progress", False)
    return http.fetch(url, tmp_path / "partial", **kw)  # type: ignore[arg-type]


def _leftovers(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "partial").glob("*"))


def test_plain_download_verifies_size_and_sha(tmp_path: Path) -> None:
    with FakeServer() as srv:
        srv.add("/m.bin", Route(data=DATA))
        res = _fetch(srv.url("/m.bin"), tmp_path, expected_size=len(DATA), expected_sha256=SHA)
    assert res.path.read_bytes() == DATA
    assert (res.sha256, res.size, res.filename, res.resumed_from) == (SHA, len(DATA), "m.bin", 0)
    assert srv.bytes_sent["/m.bin"] == len(DATA)


def test_dropped_connection_resumes_with_range(tmp_path: Path) -> None:
    half = len(DATA) // 2
    with FakeServer() as srv:
        srv.add("/m.bin", Route(data=DATA, drop_after=half))
        res = _fetch(srv.url("/m.bin"), tmp_path, expected_sha256=SHA)
    assert hashlib.sha256(res.path.read_bytes()).hexdigest() == SHA
    gets = [r for r in srv.requests if r.method == "GET"]
    assert len(gets) == 2
    assert "Range" not in gets[0].headers
    assert gets[1].headers["Range"] == f"bytes={half}-"
    # server side: the second response carried only the missing half
    assert srv.bytes_sent["/m.bin"] == len(DATA)


def test_interrupted_download_resumes_in_a_later_call(tmp_path: Path) -> None:
    half = len(DATA) // 2
    with FakeServer() as srv:
        route = srv.add("/m.bin", Route(data=DATA, drop_after=half))
        with pytest.raises(DownloadError, match="again to resume"):
            _fetch(srv.url("/m.bin"), tmp_path, expected_sha256=SHA, retries=0)
        first = srv.bytes_sent["/m.bin"]
        assert first == half
        assert route.drop_times == 0
        res = _fetch(srv.url("/m.bin"), tmp_path, expected_sha256=SHA)
    second = srv.bytes_sent["/m.bin"] - first
    assert second == len(DATA) - half < len(DATA)
    assert res.resumed_from == half
    assert res.path.read_bytes() == DATA
    assert _leftovers(tmp_path) == [res.path.name]  # the one verified file, nothing else


def test_server_ignoring_range_restarts_from_zero(tmp_path: Path) -> None:
    half = len(DATA) // 2
    with FakeServer() as srv:
        srv.add("/m.bin", Route(data=DATA, drop_after=half, ignore_range=True))
        res = _fetch(srv.url("/m.bin"), tmp_path, expected_sha256=SHA)
    assert res.size == len(DATA)  # not half + whole
    assert res.path.read_bytes() == DATA
    assert srv.bytes_sent["/m.bin"] == half + len(DATA)


def _plant_partial(tmp_path: Path, url: str, data: bytes, **expect: object) -> Path:
    key = http.download_key(url, expect.get("size"), expect.get("sha"))  # type: ignore[arg-type]
    p = tmp_path / "partial" / f"{key}.{os.getpid()}.deadbeef.part"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def test_complete_partial_answered_416_is_accepted(tmp_path: Path) -> None:
    with FakeServer() as srv:
        srv.add("/m.bin", Route(data=DATA))
        url = srv.url("/m.bin")
        _plant_partial(tmp_path, url, DATA, sha=SHA)
        res = _fetch(url, tmp_path, expected_sha256=SHA)
    assert res.sha256 == SHA and res.resumed_from == len(DATA)
    assert srv.bytes_sent.get("/m.bin", 0) == 0
    assert [r.headers.get("Range") for r in srv.requests] == [f"bytes={len(DATA)}-"]


def test_complete_partial_with_known_size_needs_no_request(tmp_path: Path) -> None:
    with FakeServer() as srv:
        srv.add("/m.bin", Route(data=DATA))
        url = srv.url("/m.bin")
        _plant_partial(tmp_path, url, DATA, size=len(DATA), sha=SHA)
        res = _fetch(url, tmp_path, expected_size=len(DATA), expected_sha256=SHA)
    assert res.sha256 == SHA and srv.requests == []


def test_corrupt_partial_is_caught_by_sha256(tmp_path: Path) -> None:
    with FakeServer() as srv:
        srv.add("/m.bin", Route(data=DATA))
        url = srv.url("/m.bin")
        _plant_partial(tmp_path, url, b"X" * 1000, sha=SHA)
        with pytest.raises(ChecksumMismatchError):
            _fetch(url, tmp_path, expected_sha256=SHA)
        assert _leftovers(tmp_path) == []  # the bad partial is gone, so the next run starts clean
        assert _fetch(url, tmp_path, expected_sha256=SHA).sha256 == SHA


def test_truncated_bodies_fail_after_retries(tmp_path: Path) -> None:
    with FakeServer() as srv:
        srv.add("/m.bin", Route(data=DATA, truncate_to=1000, ignore_range=True))
        with pytest.raises(DownloadError, match=r"3 attempt"):
            _fetch(srv.url("/m.bin"), tmp_path, expected_sha256=SHA, retries=2)
    assert srv.count("/m.bin") == 3


def test_wrong_sha256_deletes_the_partial(tmp_path: Path) -> None:
    with FakeServer() as srv:
        srv.add("/m.bin", Route(data=DATA))
        with pytest.raises(ChecksumMismatchError) as info:
            _fetch(srv.url("/m.bin"), tmp_path, expected_sha256="0" * 64)
    assert info.value.actual == SHA
    assert _leftovers(tmp_path) == []


def test_wrong_size_is_a_checksum_error(tmp_path: Path) -> None:
    with FakeServer() as srv:
        srv.add("/m.bin", Route(data=DATA))
        with pytest.raises(ChecksumMismatchError, match="size"):
            _fetch(srv.url("/m.bin"), tmp_path, expected_size=len(DATA) + 5)
    assert _leftovers(tmp_path) == []


def test_server_errors_are_retried_then_succeed(tmp_path: Path) -> None:
    with FakeServer() as srv:
        srv.add("/m.bin", Route(data=DATA, statuses=[503, 500, 429]))
        res = _fetch(srv.url("/m.bin"), tmp_path, expected_sha256=SHA)
    assert res.sha256 == SHA
    assert srv.count("/m.bin") == 4


def test_persistent_server_errors_give_up(tmp_path: Path) -> None:
    with FakeServer() as srv:
        srv.add("/m.bin", Route(data=DATA, statuses=[502] * 10))
        with pytest.raises(DownloadError, match="HTTP 502"):
            _fetch(srv.url("/m.bin"), tmp_path, retries=2)
    assert srv.count("/m.bin") == 3


def test_missing_file_is_not_retried(tmp_path: Path) -> None:
    with FakeServer() as srv, pytest.raises(RemoteNotFoundError):
        _fetch(srv.url("/nothing.bin"), tmp_path)
    assert len(srv.requests) == 1


def test_slow_server_times_out(tmp_path: Path) -> None:
    with FakeServer() as srv:
        srv.add("/m.bin", Route(data=DATA, delay=1.0))
        with pytest.raises(DownloadError, match="timed out"):
            _fetch(srv.url("/m.bin"), tmp_path, timeout=0.2, retries=1)


def test_stalled_body_times_out_and_resumes(tmp_path: Path) -> None:
    with FakeServer() as srv:
        # 10 KB chunks every 0.3 s: the first read succeeds, the next times out, then resume completes
        srv.add("/m.bin", Route(data=DATA[:30_000], throttle=(10_000, 0.3)))
        res = _fetch(srv.url("/m.bin"), tmp_path, timeout=0.15, retries=20)
    assert res.path.read_bytes() == DATA[:30_000]
    assert any("Range" in r.headers for r in srv.requests)


@pytest.mark.parametrize(
    ("ctype", "body"),
    [
        ("text/html", b"<p>quota exceeded</p>"),
        ("application/octet-stream", b"\n  <!DOCTYPE html><html><title>Sign in</title></html>"),
    ],
)
def test_html_instead_of_data_is_rejected(tmp_path: Path, ctype: str, body: bytes) -> None:
    with FakeServer() as srv:
        srv.add("/m.bin", Route(data=body, content_type=ctype))
        with pytest.raises(UnexpectedContentError, match="HTML"):
            _fetch(srv.url("/m.bin"), tmp_path)
    assert _leftovers(tmp_path) == []


def test_unsafe_content_disposition_name_is_dropped(tmp_path: Path) -> None:
    with FakeServer() as srv:
        srv.add("/m.bin", Route(data=DATA, filename="../../evil.bin"))
        res = _fetch(srv.url("/m.bin"), tmp_path)
    assert res.filename is None


def test_only_http_urls(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="http"):
        _fetch("file:///etc/passwd", tmp_path)
