"""Run independent reference implementations (TensorFlow, transformers 4.x, …) in ``.venv-ref``.

They clash with our own environment, so each oracle is a script under ``tests/oracles/`` run by the
reference interpreter in a subprocess. Where ``.venv-ref`` is absent the test is skipped locally, but
CI sets ``ZHPLM_REQUIRE_ORACLES=1`` and such a test fails instead: parity is never silently skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REF_PYTHON = ROOT / ".venv-ref" / "bin" / "python"
ORACLES = ROOT / "tests" / "oracles"


def ref_python() -> Path:
    if REF_PYTHON.exists():
        return REF_PYTHON
    msg = "reference environment .venv-ref is missing: run `bash scripts/setup.sh --ref`"
    if os.environ.get("ZHPLM_REQUIRE_ORACLES") == "1":
        pytest.fail(msg)
    pytest.skip(msg)


def run_oracle(script: str, *args: str | os.PathLike[str], timeout: float = 600) -> str:
    """Run ``tests/oracles/<script>`` with the reference Python; return its stdout, fail on error."""
    python = ref_python()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update({"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "PYTHONHASHSEED": "0"})
    proc = subprocess.run(
        [str(python), str(ORACLES / script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        pytest.fail(f"oracle {script} failed with exit {proc.returncode}:\n{proc.stderr[-4000:]}")
    return proc.stdout


def require_original(repo: str) -> Path:
    """The git snapshot of an original repository (``owner/name``) whose code is an oracle but is on no
    package registry (ZEN, Lattice-BERT). Looked up in ``$ZHPLM_ORIGINALS/owner+name`` (default
    ``/work/.mirror``). A fresh machine cannot fetch it, so without it the test is skipped with the command
    that gets it — unless ``ZHPLM_REQUIRE_ORIGINALS=1``, which turns the skip into a failure."""
    root = Path(os.environ.get("ZHPLM_ORIGINALS") or "/work/.mirror") / repo.replace("/", "+")
    for candidate in (root / "repo", root):
        if (candidate / "HEAD").is_file() or (candidate / ".git").is_dir():
            return candidate
    msg = (
        f"no snapshot of {repo} at {root}: the original code is not on any package registry; get it with "
        f'`git clone --bare https://github.com/{repo} "{root}/repo"`'
    )
    if os.environ.get("ZHPLM_REQUIRE_ORIGINALS") == "1":
        pytest.fail(msg)
    pytest.skip(msg)
