"""The restricted unpickler refuses every code-running payload, imports nothing, and lets only
FormatError escape."""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile import payloads
from zhplm.errors import CorruptCheckpointError, FormatError, UnsafeContentError
from zhplm.formats._unpickler import ArraySpec, OpaqueObject, bytes_reader, restricted_load


@pytest.fixture
def sentinel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "PWNED"
    monkeypatch.setenv("ZHPLM_HOSTILE_SENTINEL", str(path))
    return path


def hostile_cases(s: str) -> dict[str, bytes]:
    code = f"open({s!r}, 'w').write('x')"
    return {
        "os.system": payloads.call("os", "system", f"touch {s}"),
        "posix.system": payloads.call("posix", "system", f"touch {s}"),
        "subprocess.Popen": payloads.call("subprocess", "Popen", ["touch", s]),
        "builtins.eval": payloads.call("builtins", "eval", code),
        "builtins.exec": payloads.call("builtins", "exec", code),
        "builtins.getattr": payloads.call("builtins", "getattr", 1, "real"),
        "builtins.__import__": payloads.call("builtins", "__import__", "hostile.side_effect_module"),
        "pip.main": payloads.call("pip", "main", ["--version"]),
        "numpy runstring": payloads.call("numpy.testing._private.utils", "runstring", code, {}),
        "numpy f2py run_command": payloads.call("numpy.f2py.diagnose", "run_command", f"touch {s}"),
        "dotted STACK_GLOBAL numpy": payloads.call(
            "numpy.core.numeric", "builtins.eval", code, stack_global=True
        ),
        "dotted STACK_GLOBAL torch": payloads.call("torch._utils", "builtins.eval", code, stack_global=True),
        "copyreg._reconstructor": payloads.reconstructor("subprocess", "Popen"),
        "import-only global": payloads.global_only("hostile.side_effect_module", "Anything"),
        "nested in a dict": payloads.in_dict(payloads.call("os", "system", f"touch {s}")),
    }


CASES = sorted(hostile_cases("x"))


def _assert_untouched(sentinel: Path) -> None:
    assert not sentinel.exists()
    assert "hostile.side_effect_module" not in sys.modules


def test_payloads_are_real(tmp_path: Path) -> None:
    """Positive control: plain pickle really runs two of these payloads (so the refusals mean something)."""
    target = tmp_path / "ran"
    blob = payloads.call("os", "system", f"touch {target}")
    subprocess.run(
        [sys.executable, "-c", "import pickle,sys; pickle.loads(sys.stdin.buffer.read())"],
        input=blob,
        check=True,
    )
    assert target.exists()
    target2 = tmp_path / "imported"
    env = {**os.environ, "ZHPLM_HOSTILE_SENTINEL": str(target2), "PYTHONPATH": str(Path(__file__).parent)}
    blob2 = payloads.global_only("hostile.side_effect_module", "Anything")
    code = "import pickle,sys; pickle.loads(sys.stdin.buffer.read())"
    subprocess.run([sys.executable, "-c", code], input=blob2, check=True, env=env)
    assert target2.exists()


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("lenient", [False, True])
def test_hostile_pickle_refused(case: str, lenient: bool, sentinel: Path) -> None:
    blob = hostile_cases(str(sentinel))[case]
    if lenient and case == "import-only global":
        # lenient mode turns unknown classes into inert records, but never imports them
        obj, _ = restricted_load(bytes_reader(blob, source="t"), lenient=True)
        assert isinstance(obj, type) and issubclass(obj, OpaqueObject)
    else:
        with pytest.raises(UnsafeContentError):
            restricted_load(bytes_reader(blob, source="t"), lenient=lenient)
    _assert_untouched(sentinel)


def test_plain_pickle_would_import_the_side_effect_module() -> None:
    assert "hostile.side_effect_module" not in sys.modules


@pytest.mark.parametrize("proto", [2, 3, 4, 5])
def test_numpy_arrays_round_trip(proto: int) -> None:
    arrays = {
        "f32": np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32),
        "f16": np.arange(5, dtype=np.float16),
        "i64": np.arange(-3, 3, dtype=np.int64),
        "be": np.arange(4, dtype=">f4"),
        "fortran": np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3)),
        "scalar0d": np.array(7, dtype=np.int32),
        "bool": np.array([True, False]),
    }
    obj, _ = restricted_load(bytes_reader(pickle.dumps(arrays, protocol=proto), source="t"))
    assert set(obj) == set(arrays)
    for key, arr in arrays.items():
        spec = obj[key]
        assert isinstance(spec, ArraySpec)
        out = spec.to_numpy(None, key)
        assert out.shape == arr.shape
        assert np.array_equal(out, arr)
        assert out.dtype == arr.dtype.newbyteorder("<")


def test_object_array_refused() -> None:
    blob = pickle.dumps({"o": np.array([1, "a"], dtype=object)}, protocol=2)
    with pytest.raises(UnsafeContentError):
        restricted_load(bytes_reader(blob, source="t"))


def test_raw_length_mismatch_refused() -> None:
    blob = pickle.dumps(np.arange(4, dtype=np.float32), protocol=3)
    raw = np.arange(4, dtype=np.float32).tobytes()
    bad = blob.replace(b"C" + bytes([len(raw)]) + raw, b"C" + bytes([len(raw) - 4]) + raw[:-4])
    assert bad != blob
    spec, _ = restricted_load(bytes_reader(bad, source="t"))
    with pytest.raises(CorruptCheckpointError, match="16"):
        spec.check("x")


def test_huge_declared_length_is_refused_without_allocating() -> None:
    blob = b"\x80\x04\x8e" + (2**62).to_bytes(8, "little") + b"xx."  # BINBYTES8 claiming 4 EiB
    tracemalloc.start()
    try:
        with pytest.raises(CorruptCheckpointError, match="truncated"):
            restricted_load(bytes_reader(blob, source="t"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_protocol_above_5_refused() -> None:
    with pytest.raises(CorruptCheckpointError):
        restricted_load(bytes_reader(b"\x80\x06N.", source="t"))


def test_ext_opcodes_refused() -> None:
    with pytest.raises(UnsafeContentError):
        restricted_load(bytes_reader(b"\x80\x02\x82\x01.", source="t"))


def test_build_on_a_class_refused() -> None:
    blob = b"\x80\x02ccollections\nOrderedDict\n}b."  # BUILD with the class itself as target
    with pytest.raises(UnsafeContentError):
        restricted_load(bytes_reader(blob, source="t"))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_unpickler_only_format_errors(data: st.DataObject) -> None:
    base = pickle.dumps(
        {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": [1, 2.5, "x"]},
        protocol=data.draw(st.sampled_from([2, 4])),
    )
    blob = bytearray(base)
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, len(blob) - 1))
        blob[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(blob)))
    tracemalloc.start()
    try:
        with contextlib.suppress(FormatError):
            restricted_load(bytes_reader(bytes(blob[:cut]), source="fuzz"), lenient=data.draw(st.booleans()))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


# ------------------------------------------------------------------ fuzz: shared-object graphs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    depth=st.integers(1, 64),
    fanout=st.integers(2, 300),
    kind=st.sampled_from(["list", "dict"]),
    where=st.sampled_from(["beside", "wrapper", "metadata", "inside"]),
)
def test_fuzz_shared_object_graphs_cost_their_size(depth: int, fanout: int, kind: str, where: str) -> None:
    """DAG pickles (level i holds ``fanout`` references to level i-1) anywhere in a checkpoint: the
    unpickler, choosing the root, collecting tensors and copying metadata each visit every container
    once, so a walk over ``fanout ** depth`` paths never starts (it would hang this test)."""
    from hostile import generators as gen
    from zhplm.formats._unpickler import collect_tensors, plain, select_root

    fanout = min(fanout, max(2, 4096 // depth))  # keep the file small: depth * fanout references
    dag = gen.dag_value(depth, fanout, kind=kind)
    w = gen.array_value(np.ones(3, np.float32))
    if where == "beside":
        blob = gen.pickled_dict([("w", w), ("extra", dag)])
    elif where == "wrapper":  # under a key select_root looks into
        blob = gen.pickled_dict([("model", dag), ("w", w)])
    elif where == "metadata":
        blob = gen.pickled_dict([("w", w), ("args", dag)])
    else:  # the tensor at the bottom of the DAG (within MAX_DEPTH): found, under one name
        dag = gen.dag_value(min(depth, 28), fanout, kind=kind)
        inner = dag.replace(b"]" + gen._put(1000) + b"0", b"]" + gen._put(1000) + b"(" + w + b"e0", 1)
        blob = gen.pickled_dict([("state_dict", inner)])
    tracemalloc.start()
    try:
        obj, _ = restricted_load(bytes_reader(blob, source="dag"))
        node, _ = select_root(obj, None)
        tensors, _ = collect_tensors(node, "dag")
        copied = plain(obj)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(tensors) == 1
    assert len(repr(copied)) < 2_000_000
    assert peak < 64 << 20
