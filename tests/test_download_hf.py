"""The ``hf`` source through huggingface_hub against a fake Hub on loopback (HF_ENDPOINT points at it)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from fakes.hf_hub import FakeHub
from fakes.http_server import FakeServer, random_bytes
from fakes.records import link, make_record
from zhplm.errors import ChecksumMismatchError, MissingDependencyError, RemoteNotFoundError
from zhplm.get import download
from zhplm.sources import hf
from zhplm.sources.store import Store

WEIGHTS = random_bytes(50_000, seed=11)
OLD_WEIGHTS = random_bytes(40_000, seed=12)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # conftest sets HF_HUB_OFFLINE=1 for safety
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    with FakeServer() as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.base)
        fake = FakeHub(srv)
        repo = fake.repo("fnlp/bart-base-chinese")
        repo.add(
            "main",
            {
                "config.json": b'{"v": 2}',
                "model.safetensors": WEIGHTS,
                "pytorch_model.bin": WEIGHTS,
                "tf_model.h5": WEIGHTS,
                "vocab.txt": b"[PAD]\n[UNK]\n",
            },
        )
        repo.add(
            "v1.0", {"config.json": b'{"v": 1}', "pytorch_model.bin": OLD_WEIGHTS, "vocab.txt": b"[PAD]\n"}
        )
        yield fake


def _rec(revision: str | None = None) -> object:
    return make_record(
        [
            link(
                "https://huggingface.co/fnlp/bart-base-chinese",
                host="huggingface",
                hf_repo="fnlp/bart-base-chinese",
                revision=revision,
                format="hf",
            )
        ]
    )


def test_snapshot_through_hf_endpoint_keeps_one_weight_format(hub: FakeHub) -> None:
    path = download(_rec(), convert=False, quiet=True)  # type: ignore[arg-type]
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors", "vocab.txt"]
    assert (path / "model.safetensors").read_bytes() == WEIGHTS
    entry = Store().get("demo-model")
    assert entry is not None and entry.source == "hf" and entry.url == "fnlp/bart-base-chinese"
    gets = [r.path for r in hub.srv.requests if r.method == "GET" and "/resolve/" in r.path]
    assert not any(p.endswith((".bin", ".h5")) for p in gets)  # duplicates never fetched


def test_pinned_revision_is_honoured(hub: FakeHub) -> None:
    path = download(_rec("v1.0"), convert=False, quiet=True)  # type: ignore[arg-type]
    assert (path / "config.json").read_bytes() == b'{"v": 1}'
    assert (path / "pytorch_model.bin").read_bytes() == OLD_WEIGHTS
    assert Store().get("demo-model").url == "fnlp/bart-base-chinese@v1.0"  # type: ignore[union-attr]
    assert any("/revision/v1.0" in r.path for r in hub.srv.requests)


def test_missing_repo_is_remote_not_found(hub: FakeHub) -> None:
    rec = make_record(
        [link("https://huggingface.co/nobody/nothing", host="huggingface", hf_repo="nobody/nothing")]
    )
    with pytest.raises(RemoteNotFoundError, match="nobody/nothing"):
        download(rec, convert=False, quiet=True)


def test_corrupted_lfs_file_is_caught_by_rehash(hub: FakeHub) -> None:
    hub.corrupt.add("model.safetensors")
    with pytest.raises(ChecksumMismatchError, match=hashlib.sha256(WEIGHTS).hexdigest()):
        download(_rec(), convert=False, quiet=True)  # type: ignore[arg-type]
    assert Store().get("demo-model") is None


def test_missing_huggingface_hub_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    import builtins

    real_import = builtins.__import__

    def fake_import(name: str, *args: object, **kwargs: object) -> object:
        if name == "huggingface_hub" or name.startswith("huggingface_hub."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(MissingDependencyError, match=r"zhplm\[download\]"):
        hf.fetch_repo("a/b", Store().staging_dir(), cache_dir=Store().hf_cache)
