"""Shared test fixtures: an isolated store per test, and the reference-environment runner."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Every test gets its own empty ZHPLM_HOME and never talks to a real hub."""
    home = tmp_path_factory.mktemp("zhplm-home")
    monkeypatch.setenv("ZHPLM_HOME", str(home))
    monkeypatch.delenv("ZHPLM_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", os.environ.get("HF_HUB_OFFLINE", "1"))
    yield home
