"""PyTorch checkpoints written by torch itself (zip and legacy) read back bit for bit, without torch."""

from __future__ import annotations

import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile import payloads
from zhplm.errors import CorruptCheckpointError, FormatError, UnsafeContentError
from zhplm.formats import open_checkpoint, sniff, torch_pickle


def _bits(t: Any) -> bytes:
    t = t.detach().contiguous().reshape(-1)
    return bytes(t.view(torch.uint8).numpy().tobytes()) if t.numel() else b""


def _state() -> dict[str, Any]:
    g = torch.Generator().manual_seed(0)
    base = torch.randn(4, 6, generator=g)
    emb = torch.nn.Parameter(torch.randn(5, 3, generator=g))
    return {
        "emb.weight": emb,
        "lm_head.weight": emb,  # tied: the same parameter under two names
        "proj.weight_t": base.t(),  # non-contiguous transpose
        "proj.rows": base[1:3],  # storage offset
        "proj.every_other": base[:, ::2],  # step slice
        "bf16": torch.randn(3, 2, generator=g).to(torch.bfloat16),
        "fp16": torch.randn(7, generator=g).half(),
        "i64": torch.arange(-4, 4),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 4),
    }


def _check_equal(reader: torch_pickle.TorchReader, state: dict[str, Any]) -> None:
    assert reader.keys() == list(state)
    for name, t in state.items():
        out = reader.get(name)
        assert out.shape == tuple(t.shape), name
        assert reader.shape(name) == tuple(t.shape)
        assert out.dtype.itemsize == t.element_size(), name
        assert out.tobytes() == _bits(t), name
        assert out.flags.c_contiguous
    bf = reader.get("bf16")
    assert str(bf.dtype) == "bfloat16"
    assert np.array_equal(bf.astype(np.float32), state["bf16"].float().numpy())


@pytest.mark.parametrize("zipped", [True, False])
def test_real_torch_files_read_bit_for_bit(tmp_path: Path, zipped: bool) -> None:
    state = _state()
    path = tmp_path / "pytorch_model.bin"
    torch.save(state, path, _use_new_zipfile_serialization=zipped)
    assert sniff(path) == "pytorch"
    with open_checkpoint(path) as reader:
        _check_equal(reader, state)
        meta = reader.metadata()
        assert meta["container"] == ("zip" if zipped else "legacy")
        groups = [sorted(g) for g in meta["shared_storages"]]
        assert ["emb.weight", "lm_head.weight"] in groups
        assert sorted(["proj.every_other", "proj.rows", "proj.weight_t"]) in groups


@pytest.mark.parametrize("wrapper", ["model", "state_dict", "module"])
@pytest.mark.parametrize("zipped", [True, False])
def test_wrapped_state_dict_is_found(tmp_path: Path, wrapper: str, zipped: bool) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4))
    sd = model.state_dict()  # carries _metadata (pickled as BUILD state of the OrderedDict)
    path = tmp_path / "ckpt.pt"
    torch.save(
        {wrapper: sd, "optimizer": {"state": {}, "lr": 0.1}, "epoch": 3},
        path,
        _use_new_zipfile_serialization=zipped,
    )
    reader = torch_pickle.open(path)
    assert reader.keys() == list(sd)
    assert reader.metadata()["root"] == wrapper
    for k, v in sd.items():
        assert reader.get(k).tobytes() == _bits(v)
    everything = torch_pickle.open(path, root="")
    assert everything.keys() == [f"{wrapper}.{k}" for k in sd]


def test_nested_names_are_dotted(tmp_path: Path) -> None:
    path = tmp_path / "n.pt"
    torch.save({"a": {"b": torch.ones(2), "c": [torch.zeros(1), torch.ones(1)]}, "x": torch.ones(3)}, path)
    assert torch_pickle.open(path).keys() == ["a.b", "a.c.0", "a.c.1", "x"]


def _storage(n: int) -> bytes:
    return np.arange(n, dtype=np.float32).tobytes()


def test_hand_written_view_matches_torch(tmp_path: Path) -> None:
    path = payloads.torch_zip(
        tmp_path / "v.pt", {"w": ("FloatStorage", "0", 12, 2, (3, 2), (3, 2))}, {"0": _storage(12)}
    )
    ref = torch.load(path, weights_only=True)["w"]
    assert torch_pickle.open(path).get("w").tobytes() == _bits(ref)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (("FloatStorage", "0", 6, 5, (2,), (1,)), "needs elements up to 7"),  # offset past the end
        (("FloatStorage", "0", 6, 0, (2, 3), (3, 4)), "storage 0 holds 6"),  # stride past the end
        (("FloatStorage", "0", 6, 0, (4,), (0,)), "overlapping"),  # stride 0 expands memory
        (("FloatStorage", "0", 7, 0, (2,), (1,)), "holds 24"),  # storage size mismatch
    ],
)
def test_bad_views_refused_on_open(tmp_path: Path, spec: Any, match: str) -> None:
    path = payloads.torch_zip(tmp_path / "bad.pt", {"w": spec}, {"0": _storage(6)})
    with pytest.raises(CorruptCheckpointError, match=match) as info:
        torch_pickle.open(path)
    assert "bad.pt" in str(info.value)


def test_missing_storage_member(tmp_path: Path) -> None:
    path = payloads.torch_zip(
        tmp_path / "m.pt", {"w": ("FloatStorage", "1", 6, 0, (6,), (1,))}, {"0": _storage(6)}
    )
    with pytest.raises(CorruptCheckpointError, match="storage 1"):
        torch_pickle.open(path)


@pytest.mark.parametrize("zipped", [True, False])
def test_truncated_files_refused(tmp_path: Path, zipped: bool) -> None:
    path = tmp_path / "t.pt"
    torch.save(_state(), path, _use_new_zipfile_serialization=zipped)
    data = path.read_bytes()
    for cut in (len(data) - 3, len(data) // 2, 40):
        path.write_bytes(data[:cut])
        with pytest.raises(FormatError):
            torch_pickle.open(path)


@pytest.mark.parametrize("container", ["zip", "legacy"])
def test_hostile_pickle_inside_torch_files(
    tmp_path: Path, container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sentinel = tmp_path / "PWNED"
    blob = payloads.call("os", "system", f"touch {sentinel}")
    if container == "zip":
        template = tmp_path / "ok.pt"
        torch.save({"w": torch.ones(2)}, template)
        path = payloads.torch_zip_with(template, blob, tmp_path / "evil.pt")
    else:
        path = payloads.torch_legacy_with(blob, tmp_path / "evil.pt")
    assert sniff(path) == "pytorch"
    with pytest.raises(UnsafeContentError, match=r"os\.system"):
        torch_pickle.open(path)
    assert not sentinel.exists()


def test_lenient_mode_keeps_unknown_classes_inert(tmp_path: Path) -> None:
    import argparse

    path = tmp_path / "args.pt"
    torch.save({"args": argparse.Namespace(hidden=8, name="x"), "model": {"w": torch.ones(2)}}, path)
    with pytest.raises(UnsafeContentError, match=r"argparse\.Namespace"):
        torch_pickle.open(path)
    reader = torch_pickle.open(path, lenient=True)
    assert reader.keys() == ["w"]
    assert reader.top_level("args") == {"__class__": "argparse.Namespace", "hidden": 8, "name": "x"}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_fuzz_torch_reader(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    tmp = tmp_path_factory.mktemp("fz")
    zipped = data.draw(st.booleans())
    path = tmp / "f.pt"
    torch.save(
        {"a": torch.arange(6.0).reshape(2, 3), "b": torch.ones(2, dtype=torch.int64)},
        path,
        _use_new_zipfile_serialization=zipped,
    )
    blob = bytearray(path.read_bytes())
    if zipped and data.draw(st.booleans()):
        with zipfile.ZipFile(path) as zf:
            pkl = bytearray(zf.read(next(n for n in zf.namelist() if n.endswith("data.pkl"))))
        for _ in range(data.draw(st.integers(1, 4))):
            pkl[data.draw(st.integers(0, len(pkl) - 1))] = data.draw(st.integers(0, 255))
        template = tmp / "t.pt"
        template.write_bytes(bytes(blob))
        payloads.torch_zip_with(template, bytes(pkl), path)
    else:
        for _ in range(data.draw(st.integers(1, 4))):
            blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
        path.write_bytes(bytes(blob[: data.draw(st.integers(1, len(blob)))]))
    tracemalloc.start()
    try:
        try:
            with torch_pickle.open(path) as reader:
                for name in reader:
                    reader.get(name)
        except FormatError:
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20
