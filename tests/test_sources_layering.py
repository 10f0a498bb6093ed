"""Download is not conversion: ``zhplm.sources`` never imports the converter, and a source is one module
plus one registration (a fake registered here is planned, fetched and offered by the CLI, no table edited).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import zhplm
from fakes.records import link, make_record
from zhplm import config
from zhplm.catalog.schema import Download, ModelRecord
from zhplm.cli.main import main
from zhplm.get import download
from zhplm.sources import registry
from zhplm.sources.base import Attempt, FetchContext, StagedFolder
from zhplm.sources.plan import plan
from zhplm.sources.store import Store

SOURCES = Path(zhplm.__file__).parent / "sources"


def _run(code: str) -> Any:
    """Run ``code`` (which sets ``RESULT``) in a fresh interpreter that imports this zhplm, not an
    installed copy; return ``[RESULT, sorted module names]``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([RESULT, sorted(sys.modules)]))"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, PYTHONPATH=str(Path(zhplm.__file__).parents[1])),
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _zhplm_layers(modules: list[str]) -> set[str]:
    return {".".join(m.split(".")[:2]) for m in modules if m.startswith("zhplm.")}


def test_importing_every_sources_module_loads_neither_converter_nor_arch() -> None:
    names, modules = _run(
        "import importlib, pkgutil\n"
        "import zhplm.sources as s\n"
        "RESULT = [m.name for m in pkgutil.walk_packages(s.__path__, 'zhplm.sources.')]\n"
        "for n in RESULT: importlib.import_module(n)\n"
        "from zhplm.sources.registry import all_sources\n"
        "all_sources()"
    )
    assert {"zhplm.sources.hf", "zhplm.sources.plan", "zhplm.sources.registry"} <= set(names)
    assert not {"zhplm.converter", "zhplm.arch", "zhplm.get"} & _zhplm_layers(modules)


def test_reaching_zhplm_download_loads_no_converter_until_it_converts() -> None:
    functions, modules = _run(
        "import zhplm\nRESULT = [zhplm.download.__module__, zhplm.import_file.__module__]"
    )
    assert functions == ["zhplm.get", "zhplm.get"]
    assert not {"zhplm.converter", "zhplm.arch"} & _zhplm_layers(modules)
    assert not {"torch", "transformers"} & set(modules)


def _converter_imports(tree: ast.AST) -> list[int]:
    """Lines that import zhplm.converter, directly, from zhplm, or by name through importlib."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            named = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            named = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            named = [node.value]
        else:
            continue
        if any(n == "zhplm.converter" or n.startswith("zhplm.converter.") for n in named):
            lines.append(node.lineno)
    return lines


def test_no_module_under_sources_imports_the_converter() -> None:
    files = sorted(SOURCES.rglob("*.py"))
    assert len(files) >= 10
    found = {f.name: _converter_imports(ast.parse(f.read_text(encoding="utf-8"))) for f in files}
    assert {name: lines for name, lines in found.items() if lines} == {}
    # the scan itself sees the forms it looks for (else the assertion above proves nothing)
    probe = (
        "import zhplm.converter\nfrom zhplm import converter\nimportlib.import_module('zhplm.converter')\n"
    )
    assert _converter_imports(ast.parse(probe)) == [1, 2, 3]


# ---------------------------------------------------------------- a source added from outside


class FakeSource:
    """Owns the jdcloud host (plain http fetches those links today) and fetches from a dict."""

    kind = "fake"
    hosts = frozenset({"jdcloud"})
    automatic = True
    ready = False

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.fetched: list[Attempt] = []

    def route(self, link: Download) -> Attempt | None:
        if not link.url.startswith("https://jd.example/"):
            return None  # declined: the planner falls back to manual steps
        return Attempt(self.kind, link, why="the fake store")

    def mirrors(self, attempt: Attempt) -> Sequence[Attempt]:
        return ()

    def fetch(self, attempt: Attempt, ctx: FetchContext) -> StagedFolder:
        self.fetched.append(attempt)
        staged = ctx.store.staging_dir()
        for name, data in self.files.items():
            (staged / name).write_bytes(data)
        return StagedFolder(staged, self.kind, attempt.download.url, "safetensors")


@pytest.fixture
def fake() -> Iterator[FakeSource]:
    source = FakeSource({"model.safetensors": b"not really weights", "config.json": b"{}"})
    registry.register(source)
    try:
        yield source
    finally:
        registry.unregister(source.kind)


def _jd_record(model_id: str = "demo-model") -> ModelRecord:
    return make_record(
        [
            link("https://jd.example/w.bin", host="jdcloud"),
            link("https://jd.example/other/w.bin", host="jdcloud", column="tensorflow"),
        ],
        model_id=model_id,
    )


def test_without_the_fake_source_jdcloud_links_are_plain_http() -> None:
    rec = _jd_record()
    assert [a.kind for a in plan(rec).automatic] == ["http", "http"]
    assert "fake" not in registry.kinds()
    with pytest.raises(ValueError, match="unknown source 'fake'"):
        plan(rec, "fake")


def test_a_registered_source_is_planned_and_fetched(fake: FakeSource) -> None:
    rec = _jd_record()
    p = plan(rec)
    assert [a.kind for a in p.automatic] == ["fake", "fake"]
    assert [a.download.framework for a in p.automatic] == ["pytorch", "tensorflow"]
    assert p.describe()[0] == "1. fake https://jd.example/w.bin: the fake store"
    assert plan(rec, "fake").automatic == p.automatic

    path = download(rec, convert=False, quiet=True)
    assert (path / "model.safetensors").read_bytes() == b"not really weights"
    entry = Store().get("demo-model")
    assert entry is not None and entry.source == "fake" and entry.url == "https://jd.example/w.bin"
    assert [a.download.url for a in fake.fetched] == ["https://jd.example/w.bin"]

    with pytest.raises(ValueError, match="already registered"):
        registry.register(FakeSource({}))


def test_a_link_the_owning_source_declines_becomes_manual_steps(fake: FakeSource) -> None:
    rec = make_record([link("https://elsewhere.example/w.bin", host="jdcloud", code="j1k2")])
    p = plan(rec)
    assert p.automatic == () and [a.kind for a in p.manual] == ["manual"]
    assert p.describe() == [
        "1. manual https://elsewhere.example/w.bin: by hand from jdcloud, extraction code (提取码) j1k2"
    ]


def test_the_cli_offers_and_uses_a_registered_source(
    fake: FakeSource, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config.user_catalog_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([_jd_record("zz-fake-model").to_dict()]))
    assert main(["download", "zz-fake-model", "--source", "fake", "--quiet", "--no-convert"]) == 0
    folder = Path(capsys.readouterr().out.strip())
    assert (folder / "config.json").read_bytes() == b"{}" and len(fake.fetched) == 1


# ---------------------------------------------------------------- ownership and mirrors through the registry


def test_a_hub_link_without_a_repo_is_manual_not_plain_http() -> None:
    rec = make_record([link("https://huggingface.co/", host="huggingface")])
    p = plan(rec)
    assert p.automatic == () and [a.kind for a in p.manual] == ["manual"]


def test_modelscope_mirrors_of_hub_repos_come_after_the_listed_links(monkeypatch: pytest.MonkeyPatch) -> None:
    from zhplm.sources import modelscope

    monkeypatch.setattr(modelscope, "MIRRORS", {"org/a": "ms/a"})
    rec = make_record(
        [
            link("https://huggingface.co/org/a", host="huggingface", hf_repo="org/a"),
            link("https://modelscope.cn/models/ms/listed", host="modelscope", format="pytorch"),
        ]
    )
    p = plan(rec)
    assert [a.describe() for a in p.automatic] == [
        "hf org/a",
        "modelscope ms/listed@master",
        "modelscope ms/a@master",
    ]
    assert p.automatic[2].mirror_of == "hf org/a" and "mirror of hf org/a" in p.automatic[2].why
    assert [a.describe() for a in plan(rec, "modelscope").automatic] == [
        "modelscope ms/listed@master",
        "modelscope ms/a@master",
    ]
