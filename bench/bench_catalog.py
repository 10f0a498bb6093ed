"""Time the catalog paths users hit: interpreter + `import zhplm`, and the catalog CLI commands.

Each command runs in a fresh subprocess (what a user pays), N times; the table shows min / median / max
wall time. In-process timings show where the time goes (loading the TOML files, search, export).

    .venv/bin/python bench/bench_catalog.py [--repeat N] > bench/results/catalog.txt
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

COMMANDS: list[tuple[str, list[str]]] = [
    ("python -c pass (baseline)", ["-c", "pass"]),
    ("import zhplm", ["-c", "import zhplm"]),
    ("zhplm --version", ["-m", "zhplm", "--version"]),
    ("zhplm list --json", ["-m", "zhplm", "list", "--json"]),
    (
        "zhplm list --section NLU --downloadable",
        ["-m", "zhplm", "list", "--section", "NLU", "--downloadable"],
    ),
    ("zhplm search legal", ["-m", "zhplm", "search", "legal"]),
    ("zhplm search 医学 --json", ["-m", "zhplm", "search", "医学", "--json"]),
    ("zhplm search 百度 小模型 --json", ["-m", "zhplm", "search", "百度", "小模型", "--json"]),
    ("zhplm info macbert-base", ["-m", "zhplm", "info", "macbert-base"]),
    ("zhplm catalog export --format md", ["-m", "zhplm", "catalog", "export", "--format", "md"]),
]


def time_subprocess(args: list[str], repeat: int) -> list[float]:
    out = []
    env = {**os.environ, "ZHPLM_HOME": os.environ.get("ZHPLM_HOME", "/tmp/zhplm-bench-home")}
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        out.append(time.perf_counter() - t)
    return out


def time_call(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def row(name: str, samples: list[float]) -> str:
    ms = [s * 1000 for s in samples]
    return f"{name:<44} {min(ms):>8.1f} {statistics.median(ms):>8.1f} {max(ms):>8.1f}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"# bench_catalog  python {platform.python_version()}  {platform.machine()}  {os.cpu_count()} cpus")
    print(f"# load average at start: {load} (a shared machine: compare min columns)")
    print(f"# subprocess wall time, {args.repeat} runs each (ms)")
    print(f"{'command':<44} {'min':>8} {'median':>8} {'max':>8}")
    for name, cmd in COMMANDS:
        print(row(name, time_subprocess(cmd, args.repeat)))

    from zhplm.catalog import export, get_catalog, search
    from zhplm.catalog.registry import load_builtin

    def cold_load() -> object:
        load_builtin.cache_clear()
        return load_builtin()

    print()
    print(f"# in-process (ms), {args.repeat * 3} runs each")
    print(f"{'operation':<44} {'min':>8} {'median':>8} {'max':>8}")
    n = args.repeat * 3
    print(row("load + validate 49 TOML files (cold)", time_call(cold_load, n)))
    print(row("get_catalog() (cached data, index build)", time_call(get_catalog, n)))
    print(row("search('legal')", time_call(lambda: search("legal"), n)))
    print(row("search('医学 base')", time_call(lambda: search("医学 base"), n)))
    print(row("search('生成 large')", time_call(lambda: search("生成 large"), n)))
    print(row("search('阿里 小模型 110M')", time_call(lambda: search("阿里 小模型 110M"), n)))
    cat = get_catalog()
    print(row("export md (150 rows)", time_call(lambda: export.to_markdown(cat), n)))
    print(row("export json (150 rows)", time_call(lambda: export.to_json(cat.records), n)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
