"""Run one hostile case in a child process under a wall-clock and an address-space limit.

A reader that hangs or tries to allocate gigabytes must not take the test run (or the machine) with it:
the child gets ``RLIMIT_AS`` (so a runaway allocation becomes a ``MemoryError`` there) and the parent
kills it after ``timeout`` seconds. The child reports what the snippet raised as one JSON line, and
:func:`expect_error` asserts that it was the zhplm error we want, naming the file.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MARK = "@@HOSTILE@@"
GiB = 1 << 30
TIMEOUT = 20.0
MEMORY = int(1.5 * GiB)

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
out = {}
try:
    ns = {"__name__": "__hostile__"}
    exec(compile(sys.argv[1], "<hostile case>", "exec"), ns)
    out["result"] = repr(ns.get("result"))[:4000]
except BaseException as e:
    out["error"] = type(e).__name__
    out["mro"] = [f"{c.__module__}.{c.__qualname__}" for c in type(e).__mro__]
    out["message"] = str(e)[:4000]
out["seconds"] = time.perf_counter() - t0
sys.stdout.write("\n" + MARK + json.dumps(out) + "\n")
""".replace("MARK", repr(MARK))


@dataclass
class Outcome:
    error: str | None = None
    mro: list[str] = field(default_factory=list)
    message: str = ""
    result: str | None = None
    seconds: float = 0.0
    stderr: str = ""

    def raised(self, cls: type[BaseException]) -> bool:
        return f"{cls.__module__}.{cls.__qualname__}" in self.mro


def run_bounded(
    code: str, *, timeout: float = TIMEOUT, memory: int = MEMORY, cwd: Path | None = None, **params: Any
) -> Outcome:
    """Run ``code`` (Python, with ``params`` bound as variables) in a limited child; report its outcome.

    The snippet may set ``result``; an exception is reported, not raised. Exceeding ``timeout`` fails
    the calling test with the case's code, which is the point: hostile input must not hang a reader.
    """
    prelude = "".join(f"{k} = {v!r}\n" for k, v in params.items())
    body = prelude + textwrap.dedent(code)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests"), env.get("PYTHONPATH", "")])
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"

    def limit() -> None:  # runs in the child, before exec
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    try:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, body],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=cwd,
            preexec_fn=limit,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(f"hostile case ran past {timeout:g} s:\n{body}") from None
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            data = json.loads(line[len(MARK) :])
            return Outcome(
                error=data.get("error"),
                mro=data.get("mro", []),
                message=data.get("message", ""),
                result=data.get("result"),
                seconds=data["seconds"],
                stderr=proc.stderr[-4000:],
            )
    raise AssertionError(
        f"hostile case died without a report (exit {proc.returncode}, killed by the memory limit?):\n"
        f"{body}\n--- stderr ---\n{proc.stderr[-4000:]}"
    )


def expect_error(
    out: Outcome, cls: type[BaseException], *, names: str | Path | None = None, says: str = ""
) -> None:
    """Assert the child raised ``cls`` (or a subclass), naming ``names`` and containing ``says``."""
    assert out.raised(cls), (
        f"expected {cls.__name__}, got {out.error or 'no error'}: {out.message or out.result}\n{out.stderr}"
    )
    if names is not None:
        assert str(names) in out.message, f"the message does not name {names}: {out.message}"
    if says:
        assert says in out.message, f"the message does not say {says!r}: {out.message}"


# Snippets the cases share. Each reads every name, shape, dtype and tensor (and the metadata) of a
# checkpoint, which is what `zhplm inspect` / `convert` would do.
READ_ALL = """
from zhplm.formats import open_checkpoint
with open_checkpoint(path, **options) as r:
    n = 0
    for k in r.keys():
        r.shape(k); r.dtype(k); r.get(k); n += 1
    r.metadata()
result = n
"""

OPEN_ONLY = """
import time
from zhplm.formats import open_checkpoint
t = time.perf_counter()
with open_checkpoint(path, **options) as r:
    result = (len(r.keys()), time.perf_counter() - t)
"""


def read_all(path: Path, **options: Any) -> Outcome:
    return run_bounded(READ_ALL, path=str(path), options=options)


def open_only(path: Path, **options: Any) -> Outcome:
    return run_bounded(OPEN_ONLY, path=str(path), options=options)
