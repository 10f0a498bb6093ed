"""TF1 bundles written (and read) by TensorFlow itself, read back by zhplm's pure-Python reader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest

from helpers_tf1 import Bundle
from oracle import run_oracle
from zhplm.formats import open_checkpoint, sniff
from zhplm.formats.tf1 import TF1Reader

pytestmark = pytest.mark.oracle
CASES = ("dtypes", "sharded", "sliced", "saver", "bert")


@pytest.fixture(scope="module")
def tf_written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("tf1")
    report = json.loads(run_oracle("tf1_write.py", root, *CASES))
    return root, report


def _expected(folder: Path) -> tuple[dict[str, Any], Any]:
    return json.loads((folder / "expected.json").read_text()), np.load(folder / "expected.npz")


def _bits(a: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return a.view(np.uint16) if a.dtype == ml_dtypes.bfloat16 else a


@pytest.mark.parametrize("case", CASES)
def test_every_tensor_reads_back_bit_for_bit(tf_written: tuple[Path, dict[str, Any]], case: str) -> None:
    root, report = tf_written
    manifest, arrays = _expected(root / case)
    tf_listing = report[case]["tf"]
    with open_checkpoint(report[case]["prefix"]) as r:
        assert isinstance(r, TF1Reader)
        strings = {n for n, (dt, _) in tf_listing.items() if dt == "string"}
        assert set(r.keys()) == set(tf_listing) - strings
        assert set(r.metadata()["skipped"]) == strings
        for name in r:
            tf_dtype, tf_shape = tf_listing[name]
            assert r.dtype(name).name == tf_dtype, name
            assert list(r.shape(name)) == tf_shape, name
        for name, m in manifest.items():
            if m["dtype"] == "string":
                with pytest.raises(KeyError, match="string"):
                    r.get(name)
                continue
            got = r.get(name)
            want = arrays[m["key"]]
            assert got.shape == want.shape, name
            assert got.dtype.name == m["dtype"], name
            assert _bits(got).dtype == want.dtype, name
            assert _bits(got).tobytes() == want.tobytes(), name


def test_sharded_bundle_lists_every_shard(tf_written: tuple[Path, dict[str, Any]]) -> None:
    _root, report = tf_written
    with open_checkpoint(report["sharded"]["prefix"]) as r:
        meta = r.metadata()
        assert meta["num_shards"] == 3
        assert [Path(p).name for p in meta["data_files"]] == [
            f"model.ckpt.data-0000{i}-of-00003" for i in range(3)
        ]


def test_partitioned_variables_are_reassembled(tf_written: tuple[Path, dict[str, Any]]) -> None:
    _root, report = tf_written
    with open_checkpoint(report["sliced"]["prefix"]) as r:
        assert sorted(r.metadata()["partitioned"]) == ["part/a", "part/b"]
        assert r.shape("part/a") == (9000, 2)


def test_path_forms_all_name_the_same_bundle(tf_written: tuple[Path, dict[str, Any]]) -> None:
    root, _ = tf_written
    d = root / "dtypes"
    forms = [d / "model.ckpt", d / "model.ckpt.index", d / "model.ckpt.data-00000-of-00001", d, str(d)]
    for form in forms:
        assert sniff(form) == "tf1", form
        with open_checkpoint(form) as r:
            assert isinstance(r, TF1Reader)
            assert r.prefix == d / "model.ckpt"


def test_folder_follows_tensorflow_checkpoint_file(tf_written: tuple[Path, dict[str, Any]]) -> None:
    """The Saver kept ckpt-2 and ckpt-3 (max_to_keep=2); the `checkpoint` file names the latest."""
    root, _ = tf_written
    with open_checkpoint(root / "saver") as r:
        assert isinstance(r, TF1Reader)
        assert r.prefix.name == "bert_model.ckpt-3"


def test_folder_with_one_bundle_and_no_checkpoint_file(tf_written: tuple[Path, dict[str, Any]]) -> None:
    root, _ = tf_written
    assert not (root / "bert" / "checkpoint").exists()
    with open_checkpoint(root / "bert") as r:
        assert len(r) == 50


def test_tensorflow_reads_the_test_writer_including_big_endian(tmp_path: Path) -> None:
    """The test-side writer (used for corrupt fixtures) writes what TensorFlow accepts; TF byte-swaps a
    big-endian bundle to the same values our reader returns."""
    rng = np.random.default_rng(0)
    tensors: dict[str, np.ndarray[Any, Any]] = {
        "a/x": rng.standard_normal((5, 3)).astype(np.float32),
        "b": np.arange(7, dtype=np.int64) - 3,
        "c/bf16": rng.standard_normal(4).astype(ml_dtypes.bfloat16),
        "d": np.arange(6, dtype=np.int16).reshape(2, 3),
        "e": np.array([1.5, -2], np.float16),
        "f": rng.standard_normal(3),
    }
    tensors.update({f"many/{i:03d}": np.full((2,), i, np.int32) for i in range(40)})
    prefixes = {}
    for big in (False, True):
        prefixes[big] = Bundle(
            tensors, big_endian=big, block_rows=7, restart_interval=3, num_shards=2, shard_of={"b": 1, "d": 1}
        ).write(tmp_path / ("be" if big else "le") / "model.ckpt")
    outs = {big: tmp_path / f"tf-{big}.npz" for big in prefixes}
    listings = json.loads(
        run_oracle("tf1_read.py", *(x for big in prefixes for x in (prefixes[big], outs[big])))
    )
    for (big, prefix), listing in zip(prefixes.items(), listings, strict=True):
        out = outs[big]
        order = dict(json.loads(Path(str(out) + ".json").read_text()))
        tf_arrays = np.load(out)
        assert set(listing) == set(tensors)
        with open_checkpoint(prefix) as r:
            assert r.metadata()["endianness"] == ("big" if big else "little")
            for name, want in tensors.items():
                from_tf = tf_arrays[order[name]]
                ours = r.get(name)
                assert _bits(ours).tobytes() == from_tf.tobytes() == _bits(want).tobytes(), name
