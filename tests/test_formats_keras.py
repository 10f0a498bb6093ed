"""Keras .h5 weights written by h5py in Keras' layout; links and storage that reach other files refused."""

from __future__ import annotations

import builtins
import contextlib
import sys
from pathlib import Path

import h5py  # a test dependency (zhplm[dev] → zhplm[h5]): a broken install must fail, not skip
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zhplm.errors import FormatError, MissingDependencyError, UnsafeContentError
from zhplm.formats import keras_h5, open_checkpoint, sniff

RNG = np.random.default_rng(0)


def _weights() -> dict[str, np.ndarray]:
    return {
        "dense/dense/kernel:0": RNG.standard_normal((4, 3)).astype(np.float32),
        "dense/dense/bias:0": RNG.standard_normal(3).astype(np.float32),
        "embeddings/embeddings/embeddings:0": RNG.standard_normal((7, 4)).astype(np.float16),
        "Embedding-Token/embeddings:0": RNG.standard_normal((5, 2)).astype(">f4"),
        "step:0": np.array(3, dtype=np.int64),
    }


def write_keras(path: Path, weights: dict[str, np.ndarray], compress: bool = False) -> None:
    """The save_weights layout: root attrs layer_names, per-layer weight_names, datasets per weight."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.3.1"
        f.attrs["backend"] = b"tensorflow"
        layers = sorted({k.split("/")[0] for k in weights})
        f.attrs["layer_names"] = np.array([n.encode() for n in layers])
        for name, arr in weights.items():
            kw = {"compression": "gzip", "chunks": True} if compress and arr.ndim else {}
            f.create_dataset(name, data=arr, **kw)
        for layer in layers:
            f[layer].attrs["weight_names"] = np.array(
                [k[len(layer) + 1 :].encode() for k in weights if k.startswith(layer + "/")]
            )


@pytest.mark.parametrize("compress", [False, True])
def test_round_trip(tmp_path: Path, compress: bool) -> None:
    weights = _weights()
    path = tmp_path / "bert4keras.weights.h5"
    write_keras(path, weights, compress)
    assert sniff(path) == "keras-h5"
    with open_checkpoint(path) as reader:
        assert sorted(reader.keys()) == sorted(weights)
        for name, arr in weights.items():
            out = reader.get(name)
            assert reader.shape(name) == arr.shape
            assert out.dtype == arr.dtype.newbyteorder("<")
            assert np.array_equal(out, arr), name
            assert out.tobytes() == arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        meta = reader.metadata()
        assert meta["keras_version"] == "2.3.1"
        assert meta["layer_names"] == sorted({k.split("/")[0] for k in weights})


def test_external_link_refused(tmp_path: Path) -> None:
    other = tmp_path / "secret.h5"
    write_keras(other, {"x/y:0": np.ones(2, np.float32)})
    path = tmp_path / "w.h5"
    write_keras(path, _weights())
    with h5py.File(path, "a") as f:
        f["dense/linked"] = h5py.ExternalLink(str(other), "/x")
    with pytest.raises(UnsafeContentError, match="external link"):
        keras_h5.open(path)


def test_external_storage_refused(tmp_path: Path) -> None:
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.ones(4, np.float32).tobytes())
    path = tmp_path / "w.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("dense/kernel:0", shape=(4,), dtype="<f4", external=[(str(raw), 0, 16)])
    with pytest.raises(UnsafeContentError, match="external files"):
        keras_h5.open(path)


def test_virtual_dataset_refused(tmp_path: Path) -> None:
    src = tmp_path / "src.h5"
    with h5py.File(src, "w") as f:
        f.create_dataset("data", data=np.arange(4, dtype=np.float32))
    layout = h5py.VirtualLayout(shape=(4,), dtype="f4")
    layout[:] = h5py.VirtualSource(str(src), "data", shape=(4,))
    path = tmp_path / "v.h5"
    with h5py.File(path, "w") as f:
        f.create_virtual_dataset("dense/kernel:0", layout)
    with pytest.raises(UnsafeContentError, match="virtual"):
        keras_h5.open(path)


def test_compressed_bomb_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset(
            "w:0", shape=(1 << 28,), dtype="f4", compression="gzip", chunks=(1 << 16,), fillvalue=0
        )
        f["w:0"][:10] = 1
    with pytest.raises(UnsafeContentError, match="bomb"):
        keras_h5.open(path)


def test_missing_h5py_gives_install_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "w.h5"
    write_keras(path, _weights())
    real_import = builtins.__import__

    def fake_import(name: str, *args: object, **kwargs: object) -> object:
        if name == "h5py":
            raise ImportError("no h5py")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.delitem(sys.modules, "h5py")
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(MissingDependencyError, match=r"zhplm\[h5\]"):
        keras_h5.open(path)


def test_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "w.h5"
    write_keras(path, _weights())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError), keras_h5.open(path) as reader:
        for name in reader:
            reader.get(name)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_fuzz_keras(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    path = tmp_path_factory.mktemp("fz") / "f.h5"
    write_keras(path, {"d/k:0": np.arange(6, dtype=np.float32).reshape(2, 3)})
    blob = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    path.write_bytes(bytes(blob))
    with contextlib.suppress(FormatError), keras_h5.open(path) as reader:
        for name in reader:
            reader.get(name)
