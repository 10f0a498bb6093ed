"""What the side-by-side benches share (bench_multimodal.py, bench_clip.py): one long-lived worker process per
side, loaded and warmed up once, and a parent that alternates them round by round.

Why workers: a model loaded in the parent would share its allocator and threads with the other side, and a
fresh process per measurement times loading and first-call costs instead of the steady state. Each worker runs
in its own virtualenv (the original code in ``.venv-ref``, zhplm in ``.venv``), with the same thread count.

Protocol (both sides, :func:`serve`): after loading and one warm-up round the worker prints ``READY``; each
stdin line ``round`` runs one timed round and prints ``RESULT {json of seconds}``; ``save PATH`` writes the
last round's outputs (npz) and prints ``RESULT {}``. This module imports numpy only, so that it runs in both
virtualenvs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REF_PYTHON = ROOT / ".venv-ref" / "bin" / "python"
OURS_PYTHON = ROOT / ".venv" / "bin" / "python"

Round = Callable[[], tuple[dict[str, float], dict[str, np.ndarray]]]


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def serve(one_round: Round) -> None:
    """The worker's side of the protocol: warm up, ``READY``, then ``round`` / ``save PATH`` from stdin."""
    _, outputs = one_round()
    print("READY", flush=True)
    for line in sys.stdin:
        command = line.split()
        if command[0] == "round":
            times, outputs = one_round()
            print("RESULT " + json.dumps(times), flush=True)
        elif command[0] == "save":
            np.savez(command[1], **outputs)
            print("RESULT {}", flush=True)


def worker_env() -> dict[str, str]:
    """The parent's environment without its virtualenv, with this worktree's ``src`` first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update({"PYTHONPATH": str(ROOT / "src"), "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""})
    return env


class Worker:
    """A long-lived worker process: ``ask("round")`` → seconds per measurement, ``ask("save PATH")``."""

    def __init__(self, name: str, argv: list[str]) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=worker_env(), cwd=str(ROOT)
        )
        self._wait("READY")

    def _wait(self, tag: str) -> str:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(tag):
                return line[len(tag) :].strip()
        raise RuntimeError(f"worker {self.name} ended (exit {self.proc.wait()}); see its stderr above")

    def ask(self, command: str) -> dict[str, float]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        result: dict[str, float] = json.loads(self._wait("RESULT "))
        return result

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=120)


def alternate(
    sides: dict[str, Worker], rounds: int, tmp: Path, label: str
) -> tuple[dict[str, dict[str, list[float]]], dict[str, dict[str, np.ndarray]]]:
    """``rounds`` rounds over every side, the order reversed every other round (no side always goes first
    into a cache or a quiet moment); then each side's last outputs, and the workers are closed."""
    times: dict[str, dict[str, list[float]]] = {name: {} for name in sides}
    names = list(sides)
    for r in range(rounds):
        print(f"{label}: round {r + 1} of {rounds}", file=sys.stderr, flush=True)
        for name in names if r % 2 == 0 else names[::-1]:
            for key, seconds in sides[name].ask("round").items():
                times[name].setdefault(key, []).append(seconds)
    outputs = {}
    for name, worker in sides.items():
        worker.ask(f"save {tmp / f'{label}-{name}.npz'}")
        worker.close()
        with np.load(tmp / f"{label}-{name}.npz") as npz:
            outputs[name] = {k: npz[k] for k in npz.files}
    return times, outputs


def ratio(ref: list[float], ours: list[float]) -> str:
    """Median of the per-round ratios ref seconds / ours seconds (> 1: ours faster), with [min–max]."""
    per_round = [a / b for a, b in zip(ref, ours, strict=True)]
    return f"{statistics.median(per_round):5.2f}x [{min(per_round):.2f}–{max(per_round):.2f}]"


def cpu_name() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def add_options(p: argparse.ArgumentParser, precisions: tuple[str, ...], out: Path, quick: str) -> None:
    """The options every side-by-side bench takes (``quick``: what ``--quick`` makes smaller)."""
    p.add_argument("--rounds", type=int, default=None, help="timed rounds (default 3; --quick: 1)")
    p.add_argument("--quick", action="store_true", help=f"{quick} and 1 round (a smoke run)")
    p.add_argument("--precisions", nargs="+", choices=precisions, default=list(precisions))
    p.add_argument("--out", type=Path, default=out)


class Results:
    """The results file: the exact command first (so that it can be rerun), the CPU and the load average, then
    what ``say`` is given; each line is printed as it comes. ``rounds`` and ``precisions`` (fp32 always, as
    the baseline of the others) are resolved from the options."""

    def __init__(self, script: str, args: argparse.Namespace, threads: int, more: str = "") -> None:
        self.out: Path = args.out
        self.rounds: int = args.rounds or (1 if args.quick else 3)
        self.precisions = list(dict.fromkeys(["fp32", *args.precisions]))
        self.lines: list[str] = []
        self.say(
            f"# PYTHONPATH=src .venv/bin/python bench/{script}"
            + (" --quick" if args.quick else "")
            + f" --rounds {self.rounds}{more} --precisions {' '.join(self.precisions)}"
        )
        self.say(f"# CPU: {cpu_name()}; {threads} threads per side; load average at start {os.getloadavg()[0]:.1f} (shared machine)")  # fmt: skip

    def say(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)

    def write(self, *, end: bool = False) -> None:
        """Write what is there (a slow machine still leaves what it measured); ``end``: the load at the end."""
        if end:
            self.say(f"# load average at end {os.getloadavg()[0]:.1f}")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text("\n".join(self.lines) + "\n", encoding="utf-8")
