"""Small hostile files that used to hang or exhaust the readers (issue 10, "hostile input that still hurts").

Every case is written here at run time (a few KB to a few MB) and read in a child process under a
wall-clock limit and an address-space limit (:mod:`hostile.bounded`), so a regression fails the test
instead of hanging the run. Each asserts the exact outcome: a bounded-time open, or the zhplm error
naming the file.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from hostile import generators as gen
from hostile import payloads
from hostile.bounded import expect_error, open_only, read_all, run_bounded
from zhplm.errors import CorruptCheckpointError, FormatError, UnsafeContentError

# ------------------------------------------------------------------ 1. shared-object graphs (DAGs)
#
# Level i holds two (or 256) references to level i-1: the file grows with the depth, a walk without a
# visited set makes fanout**depth steps. Before the fix each of these ran past the 20 s limit.

W = gen.array_value(np.arange(6, dtype=np.float32).reshape(2, 3))


def _assert_opens_quickly(out: object, *, tensors: int = 1) -> None:
    from hostile.bounded import Outcome

    assert isinstance(out, Outcome)
    assert out.error is None, f"{out.error}: {out.message}\n{out.stderr}"
    assert out.result == str(tensors)


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_dag_torch_legacy_beside_the_weights(tmp_path: Path, kind: str) -> None:
    """{"model": DAG without tensors, "w": array}: choosing the root walked every path of the DAG."""
    ops = gen.pickled_dict([("model", gen.dag_value(60, 2, kind=kind)), ("w", W)])
    path = gen.torch_legacy_with_dag(tmp_path / "dag.pt", ops)
    assert path.stat().st_size < 4096
    _assert_opens_quickly(read_all(path))


def test_dag_torch_zip_state_dict_holding_the_dag(tmp_path: Path) -> None:
    """A torch zip checkpoint whose state dict itself holds a shared-list DAG next to a real tensor."""
    template = payloads.torch_zip(
        tmp_path / "t.pt", {"w": ("FloatStorage", "0", 2, 0, (2,), (1,))}, {"0": bytes(8)}
    )
    pid = payloads._tensor_call("FloatStorage", "0", 2, 0, (2,), (1,))
    body = gen.PROTO2 + b"}(" + gen._str("state_dict") + b"}(" + gen._str("w") + pid
    body += gen._str("shared") + gen.dag_value(60, 2) + b"uu."
    path = payloads.torch_zip_with(template, body, tmp_path / "dag.pt")
    out = read_all(path)
    _assert_opens_quickly(out)


def test_dag_megatron_args(tmp_path: Path) -> None:
    """A Megatron shard whose ``args`` is a DAG: metadata() copies it with a node budget."""
    ops = gen.pickled_dict([("model", b"}(" + gen._str("w") + W + b"u"), ("args", gen.dag_value(9, 256))])
    shard = tmp_path / "ckpt" / "mp_rank_00" / "model_optim_rng.pt"
    shard.parent.mkdir(parents=True)
    gen.torch_legacy_with_dag(shard, ops)
    out = run_bounded(
        """
from zhplm.formats import open_checkpoint
with open_checkpoint(path) as r:
    meta = r.metadata()
    result = (r.format, r.keys(), len(str(meta)) < 1_000_000)
""",
        path=str(tmp_path / "ckpt"),
    )
    assert out.error is None, out.message
    assert out.result == "('megatron', ['w'], True)"


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_dag_paddle_structured_names(tmp_path: Path, kind: str) -> None:
    """``StructuredToParameterName@@`` as a DAG of 256-wide lists 9 levels deep (12 KB)."""
    path = tmp_path / "dag.pdparams"
    path.write_bytes(
        gen.pickled_dict(
            [("linear.weight", W), ("StructuredToParameterName@@", gen.dag_value(9, 256, kind=kind))]
        )
    )
    assert path.stat().st_size < 64 * 1024
    _assert_opens_quickly(read_all(path))


def test_dag_paddle_state_dict_of_shared_dicts(tmp_path: Path) -> None:
    """The state dict body itself as a DAG of dicts: every container is entered once."""
    path = tmp_path / "dag.pdparams"
    path.write_bytes(gen.pickled_dict([("w", W), ("nested", gen.dag_value(60, 2, kind="dict"))]))
    _assert_opens_quickly(read_all(path))


def test_dag_h5_hard_linked_groups(tmp_path: Path) -> None:
    """40 groups, each hard-linking twice to the next: 2**40 paths in 50 KB; each group is listed once."""
    path = gen.h5_hardlink_dag(tmp_path / "dag.h5", depth=40)
    assert path.stat().st_size < 256 * 1024
    out = run_bounded(
        """
from zhplm.formats import open_checkpoint
with open_checkpoint(path) as r:
    result = (r.keys(), sum("hard link" in s for s in r.metadata()["skipped"]))
""",
        path=str(path),
    )
    assert out.error is None, out.message
    keys, repeated = eval(out.result or "")
    assert len(keys) == 1 and keys[0].endswith("g0/kernel:0")
    # g0..g39 are each linked three times (from the root and twice from the level above): walked once,
    # the two other links listed as repeats
    assert repeated == 80


# ------------------------------------------------------------------ 3. quadratic work at open


def test_mindspore_120k_chunks_open_in_linear_time(tmp_path: Path) -> None:
    """120,000 one-element chunks of one tensor (3 MB) took 37 s to open; now a few seconds at most."""
    path = gen.mindspore_many_chunks(tmp_path / "chunks.ckpt", 120_000)
    assert path.stat().st_size < 4 << 20
    out = run_bounded(
        """
import time
from zhplm.formats import open_checkpoint
t = time.perf_counter()
with open_checkpoint(path) as r:
    opened = time.perf_counter() - t
    w = r.get("w")
result = (r.shape("w"), float(w.min()), float(w.max()), opened < 15)
""",
        path=str(path),
    )
    assert out.error is None, out.message
    assert out.result == "((120000,), 1.5, 1.5, True)"


def test_tf1_6000_slices_open_in_linear_time(tmp_path: Path) -> None:
    """6,000 row partitions of one variable took 30 s (pairwise overlap checks); now a grid check."""
    prefix = gen.tf1_many_slices(tmp_path / "m.ckpt", 6000)
    out = run_bounded(
        """
import time
from zhplm.formats import open_checkpoint
t = time.perf_counter()
with open_checkpoint(path) as r:
    opened = time.perf_counter() - t
    w = r.get("w")
result = (r.shape("w"), w[:, 0].tolist() == list(range(6000)), bool((w[:, 1] == -w[:, 0]).all()), opened < 10)
""",
        path=str(prefix),
    )
    assert out.error is None, out.message
    assert out.result == "((6000, 2), True, True, True)"


def test_tf1_overlapping_slices_still_refused(tmp_path: Path) -> None:
    """The grid check keeps refusing overlap: rows [0,2), [1,2) and [3,4) count 4 elements of 4 rows."""
    from helpers_tf1 import build_table, entry_proto, header_proto, masked
    from zhplm.formats.tf1 import slice_key

    extents = [[(0, 2)], [(1, 1)], [(3, 1)]]  # 2 + 1 + 1 = 4 elements, but row 1 twice and row 2 never
    rows = [(b"", header_proto()), (b"w", entry_proto(1, (4,), slices=extents))]
    data = bytearray()
    for ext in extents:
        part = bytes(4 * ext[0][1])
        rows.append(
            (
                slice_key("w", ext),
                entry_proto(1, (ext[0][1],), offset=len(data), size=len(part), crc=masked(part)),
            )
        )
        data += part
    prefix = tmp_path / "m"
    Path(f"{prefix}.index").write_bytes(build_table(sorted(rows)))
    Path(f"{prefix}.data-00000-of-00001").write_bytes(bytes(data))
    expect_error(read_all(prefix), CorruptCheckpointError, names=f"{prefix}.index", says="overlap")


@pytest.mark.parametrize("rows", [200, 600])
def test_tf1_irregular_slices(tmp_path: Path, rows: int) -> None:
    """Row 0 split into two columns, every other row whole: a valid tiling that is not a grid. Up to 512
    slices it is checked pair by pair and read; beyond, zhplm says it does not check such partitions."""
    from zhplm.errors import UnsupportedFormatError

    extents = [[(0, 1), (0, 1)], [(0, 1), (1, 1)]] + [[(r, 1), (0, -1)] for r in range(1, rows)]
    prefix = gen.tf1_sliced(tmp_path / "m.ckpt", (rows, 2), extents)
    out = run_bounded(
        "from zhplm.formats import open_checkpoint\n"
        "with open_checkpoint(path) as r:\n"
        "    w = r.get('w')\n"
        "result = (w[:, 0].tolist() == list(range(len(w))), bool((w[:, 1] == -w[:, 0]).all()))",
        path=str(prefix),
    )
    if rows + 1 <= 512:
        assert out.error is None, out.message
        assert out.result == "(True, True)"
    else:
        expect_error(out, UnsupportedFormatError, names=f"{prefix}.index", says="do not form a grid")


# ------------------------------------------------------------------ 8. honest messages


def test_truncated_h5_is_reported_damaged_not_a_missing_dependency(tmp_path: Path) -> None:
    import h5py

    path = tmp_path / "weights.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("dense/kernel:0", data=np.ones((64, 64), dtype=np.float32))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    out = read_all(path)
    expect_error(out, CorruptCheckpointError, names=path, says="truncated")
    assert "pip install" not in out.message


def _lodtensor(values: np.ndarray) -> bytes:
    from hostile.protos import TensorDesc

    desc = TensorDesc(data_type=5, dims=list(values.shape)).SerializeToString()
    return struct.pack("<IQIi", 0, 0, 0, len(desc)) + desc + values.astype(np.float32).tobytes()


def test_damaged_paddle_static_folder_names_the_damaged_file(tmp_path: Path) -> None:
    folder = tmp_path / "params"
    folder.mkdir()
    (folder / "a_weight").write_bytes(_lodtensor(np.ones((4, 4))))
    (folder / "b_bias").write_bytes(_lodtensor(np.ones(4))[:-5])  # truncated download
    (folder / "__model__").write_bytes(b"\x0a\x05hello")
    out = read_all(folder)
    expect_error(out, CorruptCheckpointError, names=folder / "b_bias", says="damaged")
    # the first file alone damaged (the one sniffing looks at first) is named too
    (folder / "a_weight").write_bytes(_lodtensor(np.ones((4, 4)))[:30])
    expect_error(read_all(folder), CorruptCheckpointError, names=folder / "a_weight", says="damaged")


_ = (FormatError, UnsafeContentError, open_only)


# ------------------------------------------------------------------ 4. compression amplification

EXTRACT = """
from zhplm.formats import extract_archive
extract_archive(path, dest)
"""

CONVERT_DRY = """
import zhplm
zhplm.convert(path, dry_run=True)
"""


def test_zip_of_many_small_members_hits_the_whole_archive_ratio(tmp_path: Path) -> None:
    """1,000 members of 1 MB zeros (each far under the per-member 64 MB ratio floor): 1 GB from ~1 MB."""
    import zipfile

    path = gen.zip_of_many_members(tmp_path / "many.zip", 1000, 1 << 20, method=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 4 << 20
    out = run_bounded(EXTRACT, path=str(path), dest=str(tmp_path / "out"))
    expect_error(out, UnsafeContentError, names=path, says="expands more than 200x")
    assert not (tmp_path / "out").exists()


def test_zip_whole_archive_ratio_uses_the_callers_limits(tmp_path: Path) -> None:
    """40 members of 1 MB under a caller's 8 MB floor and 50x cap: refused from the declared sizes."""
    import zipfile

    path = gen.zip_of_many_members(tmp_path / "many.zip", 40, 1 << 20, method=zipfile.ZIP_DEFLATED)
    out = run_bounded(
        "from zhplm.formats import extract_archive\n"
        "extract_archive(path, dest, max_ratio=50, ratio_floor=8 << 20)",
        path=str(path),
        dest=str(tmp_path / "out"),
    )
    expect_error(out, UnsafeContentError, names=path, says="expands more than 50x")


def test_torch_zip_member_bomb(tmp_path: Path) -> None:
    """A torch zip whose storage is 64 MB of deflated zeros in a 64 KB file: refused at open."""
    path = gen.torch_zip_with_compressed_storage(tmp_path / "bomb.pt", (64 << 20) // 4)
    assert path.stat().st_size < 256 * 1024
    expect_error(open_only(path), UnsafeContentError, names=path, says="compression bomb")


def test_torch_zip_whole_file_ratio(tmp_path: Path) -> None:
    """Members that each expand only ~40x (under the per-member cap) still add up to a bomb."""
    import zipfile

    numel = (2 << 20) // 4
    tensors = {f"w{i}": ("FloatStorage", str(i), numel, 0, (numel,), (1,)) for i in range(8)}
    rng = np.random.default_rng(0)
    chunk = rng.bytes(40_000) + bytes((2 << 20) - 40_000)  # ~40x under deflate
    stored = payloads.torch_zip(tmp_path / "s.pt", tensors, {str(i): chunk for i in range(8)})
    path = tmp_path / "ratio.pt"
    with zipfile.ZipFile(stored) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    expect_error(open_only(path), UnsafeContentError, names=path, says="more than 20x")


def test_torch_zip_bzip2_member_refused(tmp_path: Path) -> None:
    """bzip2 turns a few KB into hundreds of MB; torch never writes it, zhplm refuses it."""
    import zipfile

    path = gen.torch_zip_with_compressed_storage(tmp_path / "bz.pt", 1024, method=zipfile.ZIP_BZIP2)
    from zhplm.errors import UnsupportedFormatError

    expect_error(open_only(path), UnsupportedFormatError, names=path, says="compression method 12")


# ------------------------------------------------------------------ 5. zhplm import of a folder / a tar

IMPORT = """
from fakes.records import link, make_record
from zhplm.get import import_file
rec = make_record([link("https://pan.baidu.com/s/1abc", host="baidu-pan", format=fmt)])
result = str(import_file(rec, path, quiet=True))
"""


def _hf_folder(folder: Path) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "pytorch_model.bin").write_bytes(b"\x00" * 100)
    return folder


def _store_files() -> list[str]:
    import os

    home = Path(os.environ["ZHPLM_HOME"])
    return sorted(p.name for p in home.rglob("*") if p.is_file())


def test_import_refuses_a_link_out_of_the_folder(tmp_path: Path) -> None:
    src = _hf_folder(tmp_path / "dl")
    (src / "notes.txt").symlink_to("/etc/passwd")
    out = run_bounded(IMPORT, path=str(src), fmt="hf")
    expect_error(out, UnsafeContentError, names=src / "notes.txt", says="outside the folder")
    assert "passwd" not in _store_files() and "notes.txt" not in _store_files()


def test_import_refuses_a_relative_link_that_climbs_out(tmp_path: Path) -> None:
    secret = tmp_path / "secret.key"
    secret.write_text("s3cret")
    src = _hf_folder(tmp_path / "dl")
    (src / "sub").mkdir()
    (src / "sub" / "k").symlink_to("../../secret.key")
    expect_error(run_bounded(IMPORT, path=str(src), fmt="hf"), UnsafeContentError, says="outside the folder")
    assert "k" not in _store_files()


@pytest.mark.parametrize("shape", ["parent", "siblings", "self"])
def test_import_refuses_link_loops(tmp_path: Path, shape: str) -> None:
    src = _hf_folder(tmp_path / "dl")
    (src / "a").mkdir()
    (src / "b").mkdir()
    if shape == "parent":
        (src / "a" / "up").symlink_to("..")
    elif shape == "siblings":
        (src / "a" / "to_b").symlink_to("../b")
        (src / "b" / "to_a").symlink_to("../a")
    else:
        (src / "a" / "me").symlink_to("me")
    out = run_bounded(IMPORT, path=str(src), fmt="hf")
    expect_error(out, UnsafeContentError, says="loop")


def test_import_follows_links_inside_the_folder(tmp_path: Path) -> None:
    src = _hf_folder(tmp_path / "dl")
    (src / "weights").mkdir()
    (src / "weights" / "real.bin").write_bytes(b"abc")
    (src / "model.bin").symlink_to("weights/real.bin")
    out = run_bounded(IMPORT, path=str(src), fmt="hf")
    assert out.error is None, out.message
    stored = Path((out.result or "").strip("'"))
    assert (stored / "model.bin").read_bytes() == b"abc" and not (stored / "model.bin").is_symlink()


def test_import_refuses_a_fifo(tmp_path: Path) -> None:
    import os

    src = _hf_folder(tmp_path / "dl")
    os.mkfifo(src / "pipe")
    expect_error(
        run_bounded(IMPORT, path=str(src), fmt="hf"), UnsafeContentError, names=src / "pipe", says="FIFO"
    )


def test_import_of_a_tar_with_too_many_members_stops_early(tmp_path: Path) -> None:
    """150,000 empty members (a 100 KB .tar.gz): the listing stops at the limit instead of holding them all."""
    import gzip
    import tarfile

    header = tarfile.TarInfo("bert_model.ckpt.index").tobuf(format=tarfile.GNU_FORMAT)
    path = tmp_path / "many.tar.gz"
    path.write_bytes(gzip.compress(header * 150_000 + bytes(1024), compresslevel=6))
    assert path.stat().st_size < 4 << 20
    out = run_bounded(IMPORT, path=str(path), fmt="tf1", memory=1 << 30)
    expect_error(out, UnsafeContentError, names=path, says="more than 100000 members")


# ------------------------------------------------------------------ 7. reads outside the checkpoint


def _bundle(prefix: Path) -> Path:
    from helpers_tf1 import Bundle

    return Bundle({"w": np.arange(4, dtype=np.float32)}).write(prefix)


@pytest.mark.parametrize("pointer", ["absolute", "dotdot"])
def test_tf1_checkpoint_file_pointing_outside_is_refused(tmp_path: Path, pointer: str) -> None:
    outside = _bundle(tmp_path / "elsewhere" / "secret.ckpt")
    folder = tmp_path / "model"
    folder.mkdir()
    target = str(outside) if pointer == "absolute" else "../elsewhere/secret.ckpt"
    (folder / "checkpoint").write_text(f'model_checkpoint_path: "{target}"\n')
    out = read_all(folder)
    expect_error(out, UnsafeContentError, names=folder / "checkpoint", says="points outside")


def test_tf1_checkpoint_file_with_dotdot_uses_the_local_name(tmp_path: Path) -> None:
    """A ``../run/model.ckpt`` pointer whose file name exists here reads the local bundle, not ../run."""
    _bundle(tmp_path / "run" / "model.ckpt")
    folder = tmp_path / "model"
    _bundle(folder / "model.ckpt")
    (folder / "checkpoint").write_text('model_checkpoint_path: "../run/model.ckpt"\n')
    out = run_bounded(
        "from zhplm.formats import open_checkpoint\nwith open_checkpoint(path) as r:\n    result = str(r.prefix)",
        path=str(folder),
    )
    assert out.error is None, out.message
    assert out.result == repr(str(folder / "model.ckpt"))


@pytest.mark.parametrize("which", ["data", "index"])
def test_tf1_bundle_file_linked_out_of_the_folder_is_refused(tmp_path: Path, which: str) -> None:
    outside = _bundle(tmp_path / "elsewhere" / "m.ckpt")
    folder = tmp_path / "model"
    _bundle(folder / "m.ckpt")
    name = "m.ckpt.data-00000-of-00001" if which == "data" else "m.ckpt.index"
    (folder / name).unlink()
    (folder / name).symlink_to(outside.parent / name)
    out = read_all(folder)
    expect_error(out, UnsafeContentError, names=folder / name, says="outside the checkpoint folder")


def test_tf1_links_inside_the_folder_are_read(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    _bundle(folder / "real" / "m.ckpt")
    for name in ("m.ckpt.index", "m.ckpt.data-00000-of-00001"):
        (folder / name).symlink_to(Path("real") / name)
    assert read_all(folder / "m.ckpt").result == "1"


# ------------------------------------------------------------------ 6. shapes numpy cannot hold, in every reader

SHAPES = {
    "empty": ((0, 4), b""),  # a real zero-size tensor: reads as an empty array
    "zero_times_huge": ((0, 1 << 62), b""),  # 0 bytes, so byte-count checks pass; numpy refuses the shape
    "2**70_elements": ((1 << 35, 1 << 35), bytes(16)),
    "70_dims": ((1,) * 70, bytes(4)),
}
# HDF5 stores at most 32 dimensions, so an h5 file cannot declare 70: that case does not exist there.
CASES = [
    (fmt, case) for fmt in gen.FORMATS for case in SHAPES if not (fmt == "keras-h5" and case == "70_dims")
]

EVERY_SHAPE = """
from zhplm.formats import open_checkpoint
out = []
for case, p in cases:
    try:
        with open_checkpoint(p) as r:
            out.append((case, None, [(k, r.shape(k), r.get(k).shape) for k in r.keys()]))
    except BaseException as e:
        out.append((case, [c.__name__ for c in type(e).__mro__], str(e)[:2000]))
result = out
"""


@pytest.mark.parametrize("fmt", gen.FORMATS)
def test_shapes_numpy_cannot_hold_are_format_errors_in_every_reader(tmp_path: Path, fmt: str) -> None:
    import ast

    cases = []
    for case, (shape, raw) in SHAPES.items():
        if (fmt, case) in CASES:
            cases.append((case, str(gen.one_tensor(fmt, tmp_path / case, shape, raw))))
    out = run_bounded(EVERY_SHAPE, cases=cases)
    assert out.error is None, out.message
    results = {case: (mro, detail) for case, mro, detail in ast.literal_eval(out.result or "")}
    for case, path in cases:
        mro, detail = results[case]
        if case == "empty":
            assert mro is None, f"{fmt}: a (0, 4) tensor should read: {detail}"
            assert [(shape, got) for _, shape, got in detail] == [((0, 4), (0, 4))]
            continue
        assert mro is not None and "FormatError" in mro, f"{fmt}/{case}: {mro} {detail}"
        named = Path(path).parent if fmt == "tf1" else Path(path)
        assert str(named) in detail, f"{fmt}/{case}: the error does not name the file: {detail}"


# ------------------------------------------------------------------ 6. other exceptions that escaped


def test_huge_integer_keys_are_format_errors(tmp_path: Path) -> None:
    """A 20,000-bit integer key: str() of it raised ValueError (Python's 4300-digit limit)."""
    big = 1 << 20_000
    raw = big.to_bytes((big.bit_length() + 8) // 8, "little", signed=True)
    long4 = b"\x8b" + struct.pack("<i", len(raw)) + raw  # LONG4
    torch_ops = gen.PROTO2 + b"}(" + long4 + W + b"u."
    torch_path = payloads.torch_legacy_with(torch_ops, tmp_path / "keys.pt")
    paddle_path = tmp_path / "keys.pdparams"
    paddle_path.write_bytes(gen.PROTO2 + b"}(" + gen._str("ok") + W + long4 + W + b"u.")
    for path in (torch_path, paddle_path):
        expect_error(read_all(path), CorruptCheckpointError, names=path, says="20001-bit integer")


@pytest.mark.parametrize("shape", [["a", 3], [None], [2.5, 1], [[2], 3]])
def test_paddle_origin_shape_that_is_not_ints(tmp_path: Path, shape: list[object]) -> None:
    import pickle

    part = np.zeros(6, dtype=np.float32)
    saved = {"w@@.0": part, "UnpackBigParamInfor@@": {"w": {"OriginShape": shape, "slices": ["w@@.0"]}}}
    path = tmp_path / "split.pdparams"
    path.write_bytes(pickle.dumps(saved, protocol=2))
    expect_error(read_all(path), CorruptCheckpointError, names=path, says="OriginShape")


def _html_with_fake_end_record(path: Path, *, zip_head: bool) -> Path:
    """An HTML page (a login wall) ending in a zip end-of-central-directory record that points nowhere:
    zipfile.is_zipfile says yes, ZipFile then raises BadZipFile."""
    html = b"<div class='login'>" + "请登录".encode() * 200 + b"</div>"
    eocd = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, 46, 0, 0)
    path.write_bytes((b"PK\x03\x04" if zip_head else b"") + html + eocd)
    return path


@pytest.mark.parametrize("zip_head", [False, True])
def test_html_with_a_fake_zip_end_record(tmp_path: Path, zip_head: bool) -> None:
    from zhplm.errors import ZhplmError

    path = _html_with_fake_end_record(tmp_path / "model.bin", zip_head=zip_head)
    expect_error(read_all(path), FormatError, names=path)
    out = run_bounded(EXTRACT, path=str(path), dest=str(tmp_path / "out"))
    expect_error(out, FormatError, names=path)
    expect_error(run_bounded(IMPORT, path=str(path), fmt="pytorch"), ZhplmError, names=path)
    expect_error(run_bounded(CONVERT_DRY, path=str(path)), FormatError, names=path)
