"""The local store: content-addressed blobs, atomic publication, index, verify, remove, gc, offline errors."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from zhplm.errors import ChecksumMismatchError, OfflineError, StoreError
from zhplm.sources.store import Store


def _stage(store: Store, files: dict[str, bytes]) -> Path:
    d = store.staging_dir()
    for name, data in files.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(data)
    return d


def test_blob_is_named_by_its_verified_sha256(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    src = tmp_path / "x.part"
    src.write_bytes(b"abc")
    sha = hashlib.sha256(b"abc").hexdigest()
    dest = store.put_blob(src, sha, verify=True)
    assert dest == store.root / "blobs" / "sha256" / sha and dest.read_bytes() == b"abc"
    assert not src.exists()
    bad = tmp_path / "y.part"
    bad.write_bytes(b"abd")
    with pytest.raises(ChecksumMismatchError):
        store.put_blob(bad, sha, verify=True)
    assert not bad.exists() and dest.read_bytes() == b"abc"


def test_publish_indexes_files_and_path_of_finds_them() -> None:
    store = Store()
    entry = store.publish(
        "demo-bert", _stage(store, {"a.bin": b"1", "sub/b.txt": b"22"}), source="http", url="http://x"
    )
    assert store.path_of("demo-bert") == entry.path == store.root / "models" / "demo-bert"
    assert (entry.path / "sub" / "b.txt").read_bytes() == b"22"
    assert entry.files["sub/b.txt"].sha256 == hashlib.sha256(b"22").hexdigest()
    assert entry.size == 3 and entry.source == "http"
    assert [e.model_id for e in Store().entries()] == ["demo-bert"]  # a new Store reads the same index
    assert not list(store.tmp_dir.iterdir())  # staging folder was renamed into place


def test_missing_model_errors_say_what_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store()
    with pytest.raises(StoreError, match="zhplm download nope"):
        store.path_of("nope")
    monkeypatch.setenv("ZHPLM_OFFLINE", "1")
    with pytest.raises(OfflineError, match="zhplm download nope"):
        store.path_of("nope")


def test_converted_dir_requires_conversion() -> None:
    store = Store()
    store.publish("m1", _stage(store, {"w.bin": b"w"}), source="manual", url=None)
    with pytest.raises(StoreError, match="zhplm convert m1"):
        store.converted_dir("m1")
    conv = _stage(store, {"config.json": b"{}"})
    store.set_converted("m1", conv, parity="max_abs_diff=0")
    assert store.converted_dir("m1") == store.root / "converted" / "m1"
    assert store.get("m1").parity == "max_abs_diff=0"  # type: ignore[union-attr]
    store.set_parity("m1", '{"max_abs_diff": 2e-06}')
    assert Store().get("m1").parity == '{"max_abs_diff": 2e-06}'  # type: ignore[union-attr]


def test_verify_detects_changed_missing_and_extra_files() -> None:
    store = Store()
    entry = store.publish("m1", _stage(store, {"a": b"1", "b": b"2"}), source="http", url=None)
    assert store.verify("m1")[0].ok
    os.chmod(entry.path / "a", 0o644)
    (entry.path / "a").write_bytes(b"X")
    (entry.path / "b").unlink()
    (entry.path / "c").write_bytes(b"3")
    problems = store.verify("m1")[0].problems
    assert any("changed file: a" in p for p in problems)
    assert "missing file: b" in problems and "unexpected file: c" in problems


def test_remove_and_gc(tmp_path: Path) -> None:
    store = Store()
    src = tmp_path / "raw"
    src.write_bytes(b"raw")
    sha = hashlib.sha256(b"raw").hexdigest()
    store.put_blob(src, sha)
    store.publish("m1", _stage(store, {"a": b"1"}), source="http", url=None, blob=sha)
    orphan = store.models_dir / "orphan"
    orphan.mkdir()
    (orphan / "f").write_bytes(b"zz")
    report = store.gc()
    assert report.removed == ["models/orphan"]  # the indexed model and its blob stay
    assert store.has_blob(sha)
    assert store.remove("m1") and not (store.models_dir / "m1").exists()
    assert store.get("m1") is None
    report = store.gc()
    assert f"blobs/sha256/{sha}" in report.removed and report.freed_bytes >= 3
    assert not store.remove("m1")


def test_republishing_same_content_keeps_existing_folder() -> None:
    store = Store()
    first = store.publish("m1", _stage(store, {"a": b"1"}), source="http", url=None)
    again = store.publish("m1", _stage(store, {"a": b"1"}), source="http", url=None)
    assert first.path == again.path and (again.path / "a").read_bytes() == b"1"
    assert not list(store.tmp_dir.iterdir())


def test_bad_model_ids_never_become_paths() -> None:
    for bad in ("../x", "/abs", "A B", "x/../y", ""):
        with pytest.raises(StoreError):
            Store().get(bad)
