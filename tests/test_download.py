"""download() / import_file() end to end against loopback servers: ordering, fallback, manual steps,
offline mode, Google-Drive confirm pages, ModelScope listing, remote-name safety."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from fakes.http_server import FakeServer, Route, random_bytes
from fakes.records import link, make_record
from zhplm.errors import (
    ChecksumMismatchError,
    DownloadError,
    ManualDownloadRequired,
    OfflineError,
    SourceError,
    UnexpectedContentError,
    UnsafeContentError,
)
from zhplm.get import download, import_file
from zhplm.sources.manual import steps as manual_steps
from zhplm.sources.names import safe_relpath
from zhplm.sources.plan import plan
from zhplm.sources.store import Store

DATA = random_bytes(200_000, seed=7)
SHA = hashlib.sha256(DATA).hexdigest()


def _dl(record: Any, **kw: Any) -> Path:
    kw.setdefault("convert", False)
    kw.setdefault("quiet", True)
    kw.setdefault("backoff", 0.01)
    kw.setdefault("timeout", 5)
    return download(record, **kw)


def test_http_file_is_stored_verified_and_reused() -> None:
    with FakeServer() as srv:
        srv.add("/w/model.bin", Route(data=DATA))
        rec = make_record([link(srv.url("/w/model.bin"), sha256=SHA, size=len(DATA))])
        path = _dl(rec)
        assert (path / "model.bin").read_bytes() == DATA
        entry = Store().get("demo-model")
        assert entry is not None and entry.blob == SHA and entry.source == "http"
        assert Store().has_blob(SHA)
        assert _dl(rec) == path
        assert srv.count("/w/model.bin") == 1  # the second call used the store
    assert not list(Store().partial_dir.iterdir())


def test_pytorch_links_are_tried_before_tensorflow_and_failures_fall_back() -> None:
    with FakeServer() as srv:
        srv.add("/tf.bin", Route(data=DATA))
        rec = make_record(
            [
                link(srv.url("/tf.bin"), column="tensorflow", text="TensorFlow"),
                link(srv.url("/missing.bin")),  # pytorch, listed second, tried first, 404
            ]
        )
        auto = plan(rec).automatic
        assert [a.download.framework for a in auto] == ["pytorch", "tensorflow"]
        path = _dl(rec)
        assert (path / "tf.bin").read_bytes() == DATA
        assert [r.path for r in srv.requests] == ["/missing.bin", "/tf.bin"]


def test_hf_links_rank_first() -> None:
    rec = make_record(
        [
            link("https://example.org/w.zip", column="tensorflow"),
            link("https://huggingface.co/org/name", host="huggingface", hf_repo="org/name", revision="v1.0"),
        ]
    )
    auto = plan(rec).automatic
    assert (auto[0].kind, auto[0].repo, auto[0].revision) == ("hf", "org/name", "v1.0")


def test_final_error_lists_each_attempt() -> None:
    with FakeServer() as srv:
        srv.add(
            "/html.bin", Route(data=b"<html><title>Quota exceeded</title></html>", content_type="text/html")
        )
        rec = make_record([link(srv.url("/gone.bin")), link(srv.url("/html.bin"), column="tensorflow")])
        with pytest.raises(DownloadError) as info:
            _dl(rec)
    msg = str(info.value)
    assert "tried 2 source(s)" in msg
    assert "/gone.bin: RemoteNotFoundError" in msg and "/html.bin: UnexpectedContentError" in msg
    assert Store().get("demo-model") is None


def test_manual_hosts_raise_exact_steps() -> None:
    rec = make_record(
        [
            link(
                "https://pan.baidu.com/s/1abc",
                host="baidu-pan",
                code="x7k2",
                column="tensorflow",
                format="tf1",
                filename="chinese_wwm_L-12_H-768_A-12.zip",
            )
        ]
    )
    with pytest.raises(ManualDownloadRequired) as info:
        _dl(rec)
    steps = info.value.steps
    assert "https://pan.baidu.com/s/1abc" in steps and "x7k2" in steps
    assert "chinese_wwm_L-12_H-768_A-12.zip" in steps and "*.index" in steps
    assert "zhplm import demo-model /path/to/chinese_wwm_L-12_H-768_A-12.zip" in steps


def test_failed_automatic_source_then_manual_steps_say_what_was_tried() -> None:
    with FakeServer() as srv:
        rec = make_record(
            [link(srv.url("/nope.bin")), link("https://pan.baidu.com/s/1x", host="baidu-pan", code="abcd")]
        )
        with pytest.raises(ManualDownloadRequired) as info:
            _dl(rec)
    assert "abcd" in info.value.steps and "/nope.bin: RemoteNotFoundError" in info.value.steps


def test_no_links_is_a_clear_error() -> None:
    with pytest.raises(SourceError, match="no download link"):
        _dl(make_record([]))


def test_offline_uses_only_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeServer() as srv:
        srv.add("/m.bin", Route(data=DATA))
        rec = make_record([link(srv.url("/m.bin"))])
        other = make_record([link(srv.url("/m.bin"))], model_id="other-model")
        path = _dl(rec)
        monkeypatch.setenv("ZHPLM_OFFLINE", "1")
        assert _dl(rec) == path
        with pytest.raises(OfflineError, match="zhplm download other-model"):
            _dl(other)
        assert srv.count("/m.bin") == 1


# ---------------------------------------------------------------- Google Drive


def _gdrive_routes(srv: FakeServer, *, quota: bool = False) -> None:
    def uc(h: Any, q: dict[str, list[str]]) -> None:
        if quota:
            page = b"<html><title>Google Drive - Quota exceeded</title><body>Too many users</body></html>"
        else:
            page = (
                b"<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>"
                b'<form id="download-form" action="/download" method="get">'
                b'<input type="hidden" name="id" value="' + q["id"][0].encode() + b'">'
                b'<input type="hidden" name="export" value="download">'
                b'<input type="hidden" name="confirm" value="t">'
                b'<input type="hidden" name="uuid" value="1234-abcd"></form></body></html>'
            )
        FakeServer.send_simple(h, 200, page, content_type="text/html; charset=utf-8")

    def dl(h: Any, q: dict[str, list[str]]) -> None:
        if q.get("confirm") != ["t"] or q.get("uuid") != ["1234-abcd"]:
            FakeServer.send_simple(h, 403, b"no")
            return
        FakeServer.send_simple(
            h,
            200,
            DATA,
            {"Content-Disposition": 'attachment; filename="mc_bert.bin"'},
            "application/octet-stream",
        )

    srv.add("/uc", Route(handler=uc))
    srv.add("/download", Route(handler=dl))


def test_google_drive_confirm_page_is_followed() -> None:
    with FakeServer() as srv:
        _gdrive_routes(srv)
        url = srv.url("/uc?export=download&id=1AbCdEfGhIjKlMnOp")
        rec = make_record([link(url, host="google-drive")])
        assert plan(rec).automatic[0].kind == "gdrive"
        path = _dl(rec, source="gdrive")
        assert (path / "mc_bert.bin").read_bytes() == DATA
        assert [r.path for r in srv.requests] == ["/uc", "/download"]


def test_google_drive_quota_page_is_an_error_not_a_checkpoint() -> None:
    with FakeServer() as srv:
        _gdrive_routes(srv, quota=True)
        rec = make_record([link(srv.url("/uc?export=download&id=1AbCdEfGhIjKlMnOp"), host="google-drive")])
        with pytest.raises(UnexpectedContentError, match="Quota exceeded"):
            _dl(rec)
    assert Store().get("demo-model") is None
    assert not any(Store().blobs_dir.glob("*")) if Store().blobs_dir.exists() else True


def test_google_drive_folder_is_manual() -> None:
    rec = make_record([link("https://drive.google.com/drive/folders/1AbCdEfGhIjKlMnOp", host="google-drive")])
    with pytest.raises(ManualDownloadRequired, match="drive/folders"):
        _dl(rec)


# ---------------------------------------------------------------- ModelScope


def _modelscope(srv: FakeServer, files: dict[str, bytes], listed: list[str] | None = None) -> None:
    listing = {
        "Code": 200,
        "Success": True,
        "Data": {
            "Files": [{"Path": "sub", "Type": "tree", "Size": 0}]
            + [
                {
                    "Path": name,
                    "Name": name.rsplit("/", 1)[-1],
                    "Type": "blob",
                    "Size": len(files.get(name, b"")),
                    "Sha256": hashlib.sha256(files.get(name, b"")).hexdigest(),
                }
                for name in (listed if listed is not None else files)
            ]
        },
    }

    def files_h(h: Any, q: dict[str, list[str]]) -> None:
        assert q["Revision"] == ["master"] and q["Recursive"] == ["true"]
        FakeServer.send_simple(h, 200, json.dumps(listing).encode(), content_type="application/json")

    def file_h(h: Any, q: dict[str, list[str]]) -> None:
        FakeServer.send_simple(h, 200, files[q["FilePath"][0]], content_type="application/octet-stream")

    srv.add("/api/v1/models/org/name/repo/files", Route(handler=files_h))
    srv.add("/api/v1/models/org/name/repo", Route(handler=file_h))


def test_modelscope_repo_is_fetched_through_its_http_api(monkeypatch: pytest.MonkeyPatch) -> None:
    files = {"config.json": b'{"hidden_size": 8}', "sub/pytorch_model.bin": DATA}
    with FakeServer() as srv:
        _modelscope(srv, files)
        monkeypatch.setenv("MODELSCOPE_ENDPOINT", srv.base)
        rec = make_record([link("https://modelscope.cn/models/org/name", host="modelscope", format="hf")])
        path = _dl(rec)
    assert (path / "config.json").read_bytes() == files["config.json"]
    assert (path / "sub" / "pytorch_model.bin").read_bytes() == DATA
    assert Store().get("demo-model").source == "modelscope"  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", ["../x", "/etc/x", "C:\\x", "C:x", "\\\\host\\share\\x", "a/../../x", "\\x"])
def test_unsafe_remote_names_are_refused_before_any_file_is_written(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    with FakeServer() as srv:
        _modelscope(srv, {"config.json": b"{}"}, listed=["config.json", bad])
        monkeypatch.setenv("MODELSCOPE_ENDPOINT", srv.base)
        rec = make_record([link("https://modelscope.cn/models/org/name", host="modelscope")])
        with pytest.raises(UnsafeContentError):
            _dl(rec)
        assert [r.path for r in srv.requests] == ["/api/v1/models/org/name/repo/files"]  # no file GET
    home = Store().root
    assert not (home.parent / "x").exists() and not list(home.rglob("x"))
    assert not list((home / "partial").glob("*")) if (home / "partial").exists() else True


@pytest.mark.parametrize(
    "bad", ["../x", "/etc/x", "C:\\x", "D:x", "\\\\host\\share\\x", "", "a/./../../b", "x\x00y"]
)
def test_safe_relpath_rejects(bad: str) -> None:
    with pytest.raises(UnsafeContentError):
        safe_relpath(bad)


def test_safe_relpath_normalises() -> None:
    assert safe_relpath("a\\b/./c.bin") == "a/b/c.bin"
    assert safe_relpath("日本語/中文.txt") == "日本語/中文.txt"


# ---------------------------------------------------------------- manual import


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _manual_record(**kw: Any) -> Any:
    return make_record(
        [link("https://pan.baidu.com/s/1abc", host="baidu-pan", code="x7k2", column="tensorflow", **kw)]
    )


def test_import_of_a_folder_with_the_expected_files(tmp_path: Path) -> None:
    src = tmp_path / "dl"
    src.mkdir()
    (src / "config.json").write_text("{}")
    (src / "pytorch_model.bin").write_bytes(DATA)
    rec = make_record([link("https://pan.baidu.com/s/1abc", host="baidu-pan", format="hf")])
    path = import_file(rec, src, quiet=True)
    assert (path / "pytorch_model.bin").read_bytes() == DATA
    entry = Store().get("demo-model")
    assert entry is not None and entry.source == "manual" and entry.format == "hf"
    assert Store().verify("demo-model")[0].ok
    assert (src / "pytorch_model.bin").exists()  # the user's file is left alone


def test_import_of_an_archive_with_expected_members(tmp_path: Path) -> None:
    members = {
        "bert/bert_model.ckpt.index": b"i",
        "bert/bert_model.ckpt.data-00000-of-00001": b"d",
        "bert/vocab.txt": b"v",
    }
    f = tmp_path / "chinese_wwm.zip"
    f.write_bytes(_zip(members))
    path = import_file(_manual_record(format="tf1"), f, quiet=True)
    entry = Store().get("demo-model")
    assert entry is not None and entry.blob == hashlib.sha256(f.read_bytes()).hexdigest()
    assert sorted(entry.files) == sorted(members)
    assert (path / "bert" / "vocab.txt").read_bytes() == b"v"


def test_import_refuses_an_html_page(tmp_path: Path) -> None:
    f = tmp_path / "model.zip"
    f.write_text("<!DOCTYPE html><html><title>百度网盘-链接不存在</title></html>")
    with pytest.raises(UnexpectedContentError, match="HTML"):
        import_file(_manual_record(format="tf1"), f)
    assert Store().get("demo-model") is None


def test_import_refuses_a_zip_without_the_expected_members(tmp_path: Path) -> None:
    f = tmp_path / "model.zip"
    f.write_bytes(_zip({"README.txt": b"hello", "vocab.txt": b"v"}))
    with pytest.raises(UnexpectedContentError, match=r"\*\.index"):
        import_file(_manual_record(format="tf1"), f)
    assert Store().get("demo-model") is None
    assert not Store().blobs_dir.exists() or not list(Store().blobs_dir.iterdir())


def test_import_checks_a_pinned_sha256(tmp_path: Path) -> None:
    f = tmp_path / "model.zip"
    f.write_bytes(_zip({"m.ckpt.index": b"i", "m.ckpt.data-00000-of-00001": b"d"}))
    with pytest.raises(ChecksumMismatchError):
        import_file(_manual_record(format="tf1", sha256="0" * 64), f)


def test_import_of_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        import_file(_manual_record(), tmp_path / "nothing.zip")


# ---------------------------------------------------------------- conversion seam and the real catalog


def test_every_catalog_row_has_a_plan_or_manual_steps() -> None:
    from zhplm.catalog import get_catalog

    records = list(get_catalog().records)
    assert len(records) > 100
    for rec in records:
        p = plan(rec)
        auto, manual_links = p.automatic, p.manual
        for a in auto:
            assert a.kind in ("hf", "modelscope", "http", "gdrive")
            if a.kind in ("hf", "modelscope"):
                assert a.repo and a.repo.count("/") == 1, (rec.id, a)
        if manual_links:
            text = manual_steps(rec, [a.download for a in manual_links])
            assert f"zhplm import {rec.id}" in text and all(a.download.url in text for a in manual_links)
