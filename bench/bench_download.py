"""Download benchmark: zhplm's http source against curl on the same loopback file, and resume savings.

Generates a file (default 300 MiB) in bench/_work/, serves it from a separate process on 127.0.0.1
(tests/fakes/http_server.py, sendfile), then times ``curl -o`` and ``zhplm.sources.http.fetch`` (which
also computes the sha256 and fsyncs) alternately, several rounds, and reports the median throughput and
the ratio. The resume row cuts the connection at 50 % and counts the bytes the server sent.

    .venv/bin/python bench/bench_download.py [--mib 300] [--rounds 3] [--out bench/results/download.txt]
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fakes.http_server import FakeServer, Route  # noqa: E402
from zhplm.sources import http  # noqa: E402

WORK = ROOT / "bench" / "_work"


def _serve(path: str, drop_after: int | None, conn: Any) -> None:
    with FakeServer() as srv:
        srv.add("/f.bin", Route(file=Path(path)))
        srv.add("/drop.bin", Route(file=Path(path), drop_after=drop_after))
        conn.send(srv.base)
        while True:
            msg = conn.recv()
            if msg == "stats":
                conn.send(dict(srv.bytes_sent))
            else:
                return


def _make_file(path: Path, mib: int) -> str:
    if not path.exists() or path.stat().st_size != mib << 20:
        with open(path, "wb") as f:
            for _ in range(mib):
                f.write(os.urandom(1 << 20))
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def _curl(url: str, out: Path) -> float:
    t = time.perf_counter()
    subprocess.run(["curl", "-sS", "--fail", "-o", str(out), url], check=True)
    dt = time.perf_counter() - t
    out.unlink()
    return dt


def _ours(url: str, partial: Path, sha: str) -> float:
    t = time.perf_counter()
    res = http.fetch(url, partial, expected_sha256=sha, progress=False)
    dt = time.perf_counter() - t
    res.path.unlink()
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if shutil.which("curl") is None:
        sys.exit("curl is needed for the comparison")
    WORK.mkdir(parents=True, exist_ok=True)
    src = WORK / "payload.bin"
    size = args.mib << 20
    sha = _make_file(src, args.mib)
    partial = WORK / "partial"
    shutil.rmtree(partial, ignore_errors=True)

    parent, child = mp.Pipe()
    proc = mp.Process(target=_serve, args=(str(src), size // 2, child), daemon=True)
    proc.start()
    base = parent.recv()
    url = f"{base}/f.bin"
    curl_t: list[float] = []
    ours_t: list[float] = []
    _curl(url, WORK / "warm.bin")  # warm the page cache and the server
    for _ in range(args.rounds):
        curl_t.append(_curl(url, WORK / "curl.bin"))
        ours_t.append(_ours(url, partial, sha))

    parent.send("stats")
    before = parent.recv().get("/drop.bin", 0)
    t = time.perf_counter()
    res = http.fetch(f"{base}/drop.bin", partial, expected_sha256=sha, progress=False, backoff=0.01)
    resume_t = time.perf_counter() - t
    parent.send("stats")
    sent = parent.recv().get("/drop.bin", 0) - before
    assert res.sha256 == sha and res.size == size
    res.path.unlink()
    parent.send("stop")
    proc.join(5)

    mibs = args.mib
    c = statistics.median(curl_t)
    o = statistics.median(ours_t)
    restart_bytes = size // 2 + size  # what a downloader without Range would pull
    lines = [
        "zhplm download benchmark (bench/bench_download.py)",
        f"machine: {platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}, "
        f"{subprocess.run(['curl', '--version'], capture_output=True, text=True).stdout.split()[1]} curl",
        f"file: {mibs} MiB random bytes on 127.0.0.1 (server: separate process, sendfile); "
        f"{args.rounds} rounds, median",
        "",
        f"{'client':<38}{'seconds':>9}{'MiB/s':>10}{'vs curl':>9}",
        f"{'curl -o FILE':<38}{c:>9.3f}{mibs / c:>10.0f}{1.0:>9.2f}",
        f"{'zhplm http.fetch (+sha256, fsync)':<38}{o:>9.3f}{mibs / o:>10.0f}{c / o:>9.2f}",
        "",
        "resume after a connection cut at 50 %:",
        f"  bytes sent by the server   {sent:>14,}  ({sent / size:.2f} x file size, {resume_t:.2f} s)",
        f"  without resume (restart)   {restart_bytes:>14,}  (1.50 x)",
        f"  saved by resuming          {restart_bytes - sent:>14,}  ({(restart_bytes - sent) / size:.2f} x file size)",
        "",
        f"raw seconds: curl {[round(x, 3) for x in curl_t]}, zhplm {[round(x, 3) for x in ours_t]}",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
