"""Run independent reference implementations (TensorFlow, transformers 4.x, …) in ``.venv-ref``.

They clash with our own environment, so each oracle is a script under ``tests/oracles/`` run by the
reference interpreter in a subprocess. One rule for everything an oracle needs (``.venv-ref``, the git
snapshots of original code listed in ``tests/oracles/SNAPSHOTS.txt``): missing, the test is skipped on a
developer's machine, but it FAILS, with the command that provides it, under CI (``CI=true``) or with
``ZHPLM_REQUIRE_ORACLES=1`` (set by scripts/test.sh): parity is never silently skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[1]
REF_PYTHON = ROOT / ".venv-ref" / "bin" / "python"
ORACLES = ROOT / "tests" / "oracles"
SNAPSHOTS_FILE = ORACLES / "SNAPSHOTS.txt"


def oracles_required() -> bool:
    """Under CI or ``ZHPLM_REQUIRE_ORACLES=1`` a missing oracle is a failure, not a skip."""
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("ZHPLM_REQUIRE_ORACLES") == "1"


def missing(msg: str) -> NoReturn:
    if oracles_required():
        pytest.fail(msg)
    pytest.skip(msg)


def ref_python() -> Path:
    if REF_PYTHON.exists():
        return REF_PYTHON
    missing("reference environment .venv-ref is missing: run `bash scripts/setup.sh --ref`")


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


def snapshots() -> dict[str, str]:
    """``OWNER/NAME`` -> pinned commit, from tests/oracles/SNAPSHOTS.txt (the one list of snapshots)."""
    pins = {}
    for line in SNAPSHOTS_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            repo, commit = line.split()
            pins[repo] = commit
    return pins


def originals_root() -> Path:
    return Path(os.environ.get("ZHPLM_ORIGINALS") or "/work/.mirror")


def fetch_command(repo: str) -> str:
    root = originals_root() / repo.replace("/", "+")
    return f'git clone --bare https://github.com/{repo} "{root}/repo"'


def snapshot_git_dir(repo: str) -> Path | None:
    root = originals_root() / repo.replace("/", "+")
    for candidate in (root / "repo", root):
        if (candidate / "HEAD").is_file() and (candidate / "objects").is_dir():
            return candidate
        if (candidate / ".git").is_dir():
            return candidate / ".git"
    return None


def require_original(repo: str) -> Path:
    """The git snapshot of an original repository (``owner/name``, listed in SNAPSHOTS.txt) whose code is
    an oracle but is on no package registry. Looked up in ``$ZHPLM_ORIGINALS/owner+name`` (default
    ``/work/.mirror``); it must hold the pinned commit. Missing: skipped locally, failed under CI
    (see :func:`oracles_required`), in both cases with the command that fetches it."""
    pins = snapshots()
    assert repo in pins, f"{repo} is not listed in {SNAPSHOTS_FILE}: add it with its commit"
    git_dir = snapshot_git_dir(repo)
    if git_dir is None:
        missing(
            f"no snapshot of {repo} under {originals_root()}: the original code is on no package "
            f"registry; get it with `{fetch_command(repo)}`"
        )
    has = subprocess.run(
        ["git", "--git-dir", str(git_dir), "cat-file", "-e", pins[repo] + "^{commit}"], capture_output=True
    )
    if has.returncode != 0:
        missing(
            f"the snapshot of {repo} at {git_dir} lacks the pinned commit {pins[repo]}: refresh it with "
            f"`git --git-dir {git_dir} fetch https://github.com/{repo}` (or `{fetch_command(repo)}`)"
        )
    return git_dir
