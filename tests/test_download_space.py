"""A download that cannot fit on the disk is refused before anything is written (reliability §8 item 10)."""

from __future__ import annotations

import shutil
from collections import namedtuple
from pathlib import Path

import pytest

from fakes.http_server import FakeServer, Route, random_bytes
from zhplm.errors import StoreError
from zhplm.sources import http

DATA = random_bytes(300_000, seed=11)
Usage = namedtuple("Usage", "total used free")


def _tiny_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(10**9, 10**9 - 1000, 1000))


def test_known_size_is_refused_before_any_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _tiny_disk(monkeypatch)
    with FakeServer() as srv:
        srv.add("/m.bin", Route(data=DATA))
        with pytest.raises(StoreError, match="not enough disk space"):
            http.fetch(srv.url("/m.bin"), tmp_path, expected_size=len(DATA), progress=False, backoff=0.01)
        assert srv.count("/m.bin") == 0
    assert not any(p.stat().st_size for p in tmp_path.iterdir())


def test_size_from_the_response_is_checked_before_the_body(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tiny_disk(monkeypatch)
    with FakeServer() as srv:
        srv.add("/m.bin", Route(data=DATA))
        with pytest.raises(StoreError, match="ZHPLM_HOME"):
            http.fetch(srv.url("/m.bin"), tmp_path, progress=False, backoff=0.01)
    assert not any(p.stat().st_size for p in tmp_path.iterdir())


def test_enough_space_downloads(tmp_path: Path) -> None:
    with FakeServer() as srv:
        srv.add("/m.bin", Route(data=DATA))
        result = http.fetch(srv.url("/m.bin"), tmp_path, expected_size=len(DATA), progress=False)
    assert result.path.read_bytes() == DATA
