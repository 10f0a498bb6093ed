"""``zhplm download / import / store …`` through the real CLI entry point, catalog records via the user overlay."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from fakes.http_server import FakeServer, Route, random_bytes
from fakes.records import link, make_record
from zhplm import config
from zhplm.cli.main import main

DATA = random_bytes(100_000, seed=5)


def _add_records(*records: Any) -> None:
    path = config.user_catalog_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([r.to_dict() for r in records], ensure_ascii=False))


def test_download_then_store_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeServer() as srv:
        srv.add("/w.bin", Route(data=DATA))
        _add_records(make_record([link(srv.url("/w.bin"))], model_id="zz-test-model"))
        assert main(["download", "zz-test-model", "--quiet", "--no-convert"]) == 0
    folder = Path(capsys.readouterr().out.strip())
    assert (folder / "w.bin").read_bytes() == DATA

    assert main(["store", "list"]) == 0
    out = capsys.readouterr().out
    assert "zz-test-model" in out and "http" in out

    assert main(["store", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["id"] == "zz-test-model" and listed[0]["size"] == len(DATA)

    assert main(["store", "path", "zz-test-model"]) == 0
    assert capsys.readouterr().out.strip() == str(folder)

    assert main(["store", "verify"]) == 0
    target = folder / "w.bin"
    os.chmod(target, 0o644)
    target.write_bytes(b"tampered")
    assert main(["store", "verify", "zz-test-model"]) == 6
    assert "changed file: w.bin" in capsys.readouterr().out

    assert main(["store", "remove", "zz-test-model"]) == 0
    assert main(["store", "gc"]) == 0
    assert "blobs/sha256/" in capsys.readouterr().out
    assert main(["store", "remove", "zz-test-model"]) == 1


def test_manual_download_prints_steps_and_import_takes_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _add_records(
        make_record(
            [
                link(
                    "https://pan.baidu.com/s/1zz",
                    host="baidu-pan",
                    code="q1w2",
                    column="tensorflow",
                    format="hf",
                )
            ],
            model_id="zz-manual-model",
        )
    )
    assert main(["download", "zz-manual-model", "--quiet"]) == 4
    out = capsys.readouterr().out
    assert "https://pan.baidu.com/s/1zz" in out and "q1w2" in out and "zhplm import zz-manual-model" in out

    src = tmp_path / "dl"
    src.mkdir()
    (src / "config.json").write_text("{}")
    (src / "model.safetensors").write_bytes(DATA)
    assert main(["import", "zz-manual-model", str(src), "--quiet", "--no-convert"]) == 0
    assert (Path(capsys.readouterr().out.strip()) / "model.safetensors").read_bytes() == DATA


def test_offline_download_of_a_missing_model(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _add_records(make_record([link("http://127.0.0.1:9/never.bin")], model_id="zz-test-model"))
    monkeypatch.setenv("ZHPLM_OFFLINE", "1")
    assert main(["download", "zz-test-model", "--quiet"]) == 5
    assert "zhplm download zz-test-model" in capsys.readouterr().err
