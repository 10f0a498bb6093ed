"""Two processes downloading one model; a download killed with SIGKILL and restarted; no lock at all."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import zhplm
from fakes.http_server import FakeServer, Route, random_bytes
from fakes.records import link, make_record
from zhplm.get import download
from zhplm.sources.store import Store

DATA = random_bytes(2_000_000, seed=3)
SHA = hashlib.sha256(DATA).hexdigest()
SCRIPT = Path(__file__).parent / "fakes" / "run_download.py"


def _spawn(record_json: str) -> subprocess.Popen[str]:
    # the same zhplm as this process (a worktree's src/, not whatever the venv has installed)
    paths = [str(Path(__file__).parent), str(Path(zhplm.__file__).parents[1])]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), record_json],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _record_json(url: str) -> str:
    return json.dumps(make_record([link(url, sha256=SHA, size=len(DATA))]).to_dict())


def _assert_one_good_copy(store: Store) -> None:
    assert [p.name for p in store.blobs_dir.iterdir()] == [SHA]
    assert (store.models_dir / "demo-model" / "m.bin").read_bytes() == DATA
    assert [r.ok for r in store.verify()] == [True]
    assert not list(store.tmp_dir.iterdir())
    assert not list(store.partial_dir.iterdir())


def test_two_processes_download_one_model() -> None:
    with FakeServer() as srv:
        srv.add("/m.bin", Route(data=DATA, throttle=(128_000, 0.02)))
        rec = _record_json(srv.url("/m.bin"))
        procs = [_spawn(rec), _spawn(rec)]
        outs = [p.communicate(timeout=60) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
        assert outs[0][0] == outs[1][0]  # same folder
        assert srv.count("/m.bin") == 1  # the lock saved the second download
    _assert_one_good_copy(Store())


def test_concurrent_downloads_stay_correct_without_the_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    @contextlib.contextmanager
    def no_lock(self: Store, name: str, timeout: float = -1) -> Iterator[None]:
        yield  # like flock on a file system where it silently succeeds for everyone

    monkeypatch.setattr(Store, "lock", no_lock)
    with FakeServer() as srv:
        srv.add("/m.bin", Route(data=DATA, throttle=(128_000, 0.02)))
        rec = make_record([link(srv.url("/m.bin"), sha256=SHA, size=len(DATA))])
        results: list[Path | BaseException] = []

        def run() -> None:
            try:
                results.append(download(rec, convert=False, quiet=True))
            except BaseException as exc:
                results.append(exc)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert srv.count("/m.bin") == 2  # no lock: both really downloaded
    assert all(isinstance(r, Path) for r in results), results
    _assert_one_good_copy(Store())


def test_sigkilled_download_leaves_no_half_file_and_resumes() -> None:
    with FakeServer() as srv:
        srv.add("/m.bin", Route(data=DATA, throttle=(32_000, 0.02)))
        proc = _spawn(_record_json(srv.url("/m.bin")))
        deadline = time.monotonic() + 30
        while srv.bytes_sent.get("/m.bin", 0) < len(DATA) // 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        first = -1
        while first != srv.bytes_sent["/m.bin"]:  # let the dead connection's server thread notice
            first = srv.bytes_sent["/m.bin"]
            time.sleep(0.2)
        assert len(DATA) // 2 <= first < len(DATA)
        store = Store()
        assert not (store.models_dir / "demo-model").exists()
        assert not store.blobs_dir.exists() or not list(store.blobs_dir.iterdir())
        assert store.get("demo-model") is None
        partials = list(store.partial_dir.iterdir())
        assert len(partials) == 1 and 0 < partials[0].stat().st_size < len(DATA)
        kept = partials[0].stat().st_size

        srv.routes["/m.bin"].throttle = None
        rec = make_record([link(srv.url("/m.bin"), sha256=SHA, size=len(DATA))])
        path = download(rec, convert=False, quiet=True)
        second = srv.bytes_sent["/m.bin"] - first
    assert (path / "m.bin").read_bytes() == DATA
    assert second == len(DATA) - kept < len(DATA)  # resumed, not restarted
    _assert_one_good_copy(Store())
