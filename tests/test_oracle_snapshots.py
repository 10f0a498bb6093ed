"""Every git snapshot of original code that a parity test runs is present with its pinned commit, and a
missing one fails (with the command that fetches it) under CI instead of skipping."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from oracle import ROOT, SNAPSHOTS_FILE, oracles_required, require_original, snapshots


def test_the_list_names_every_snapshot_the_tests_use() -> None:
    pins = snapshots()
    assert pins and all(re.fullmatch(r"[0-9a-f]{40}", c) for c in pins.values())
    used = set()
    for f in [*(ROOT / "tests").glob("test_*.py"), *(ROOT / "tests" / "oracles").glob("*.py")]:
        used |= set(re.findall(r'require_original\("([^"]+)"\)', f.read_text(encoding="utf-8")))
    assert used, "no test calls require_original"
    assert used <= set(pins), f"used but not listed in {SNAPSHOTS_FILE.name}: {sorted(used - set(pins))}"


@pytest.mark.parametrize("repo", sorted(snapshots()))
def test_snapshot_is_present(repo: str) -> None:
    require_original(repo)


def _run_missing(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    test = tmp_path / "test_probe.py"
    test.write_text(
        "from oracle import require_original\ndef test_probe():\n    require_original('sinovation/ZEN')\n",
        encoding="utf-8",
    )
    base = {"PATH": "/usr/bin:/bin", "ZHPLM_ORIGINALS": str(tmp_path / "nothing"), "PYTHONPATH": ""}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rs",
            str(test),
            "--rootdir",
            str(tmp_path),
            f"--confcutdir={tmp_path}",
            "-o",
            f"pythonpath={ROOT / 'tests'}",
        ],
        capture_output=True,
        text=True,
        env={**base, **env},
        cwd=tmp_path,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "outcome"),
    [({}, "1 skipped"), ({"CI": "true"}, "1 failed"), ({"ZHPLM_REQUIRE_ORACLES": "1"}, "1 failed")],
)
def test_a_missing_snapshot_fails_under_ci(env: dict[str, str], outcome: str, tmp_path: Path) -> None:
    proc = _run_missing(env, tmp_path)
    assert outcome in proc.stdout, proc.stdout + proc.stderr
    assert "git clone --bare https://github.com/sinovation/ZEN" in proc.stdout


def test_the_rule_reads_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZHPLM_REQUIRE_ORACLES", raising=False)
    monkeypatch.setenv("CI", "true")
    assert oracles_required()
    monkeypatch.setenv("CI", "false")
    assert not oracles_required()
