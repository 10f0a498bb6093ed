"""The whole path a user takes: register a row, `zhplm download ID` (loopback server, zip of a TF1 BERT
written by TensorFlow), then `zhplm.load(ID)` and `zhplm fill-mask ID` work right away, offline too."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

import zhplm
from fakes.http_server import FakeServer, Route
from oracle import run_oracle
from zhplm.cli.main import main
from zhplm.sources.store import Store


@pytest.fixture(scope="module")
def tf_zip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    tmp = tmp_path_factory.mktemp("release")
    ckpt = tmp / "chinese_L-2_H-32_A-4"
    run_oracle("bert_family.py", "write", "--arch", "bert", "--out", str(ckpt), "--seed", "3")
    archive = tmp / "release.zip"
    with zipfile.ZipFile(archive, "w") as zf:  # the Google layout: one top folder
        for f in sorted(ckpt.iterdir()):
            zf.write(f, f"chinese_L-2_H-32_A-4/{f.name}")
    return archive.read_bytes()


def _register(tmp_path: Path, url: str, data: bytes) -> None:
    record = {
        "id": "tiny-bert-zh",
        "name": "Tiny BERT (test mirror)",
        "section": "NLU",
        "family": "BERT",
        "size": "tiny",
        "size_label": "tiny",
        "arch": "bert",
        "domain_zh": "通用",
        "domain_en": "general",
        "publisher": {"name": "zhplm tests"},
        "downloads": [
            {
                "url": url,
                "text": "mirror",
                "column": "tensorflow",
                "host": "other",
                "format": "tf1",
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
            }
        ],
    }
    path = tmp_path / "records.json"
    path.write_text(json.dumps([record], ensure_ascii=False), encoding="utf-8")
    assert main(["catalog", "add", str(path)]) == 0


@pytest.mark.oracle
def test_download_then_load_and_fill_mask(
    tmp_path: Path, tf_zip: bytes, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeServer() as srv:
        srv.add("/bert/chinese_L-2_H-32_A-4.zip", Route(data=tf_zip))
        _register(tmp_path, srv.url("/bert/chinese_L-2_H-32_A-4.zip"), tf_zip)
        assert main(["download", "tiny-bert-zh", "--quiet"]) == 0
        assert main(["download", "tiny-bert-zh", "--quiet"]) == 0  # already there: no second fetch
        assert srv.count("/bert/chinese_L-2_H-32_A-4.zip") == 1
    converted = Store().converted_dir("tiny-bert-zh")
    prov = json.loads((converted / "zhplm.json").read_text())
    assert prov["model_id"] == "tiny-bert-zh" and prov["reader"] == "tf1" and prov["arch"] == "bert"

    monkeypatch.setenv("ZHPLM_OFFLINE", "1")  # from here on the store alone must do
    model, _tokenizer, _, path = zhplm.load("tiny-bert-zh")
    assert path == converted and type(model).__name__ == "BertForPreTraining" and not model.training
    capsys.readouterr()
    assert main(["fill-mask", "tiny-bert-zh", "中国的[MASK]是", "--top-k", "3", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1 and len(rows[0]) == 3
    assert rows[0][0]["score"] >= rows[0][1]["score"] >= rows[0][2]["score"]
