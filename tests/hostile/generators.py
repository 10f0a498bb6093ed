"""Small files that cost a careless reader exponential time or gigabytes: shared-object graphs (DAGs)
and compression amplification. Each is a few KB to a few MB, written at test time.

Pickle DAGs are written as raw opcodes: level ``i`` is a list (or dict) holding ``fanout`` references to
level ``i - 1`` through the memo, so the file grows linearly with ``depth`` while a walk that does not
remember what it visited makes ``fanout ** depth`` steps.
"""

from __future__ import annotations

import bz2
import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

PROTO2 = b"\x80\x02"


def _put(i: int) -> bytes:
    return b"r" + struct.pack("<I", i)  # LONG_BINPUT


def _get(i: int) -> bytes:
    return b"j" + struct.pack("<I", i)  # LONG_BINGET


def _str(s: str) -> bytes:
    raw = s.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw  # BINUNICODE


def dag_ops(depth: int, fanout: int = 2, *, kind: str = "list", memo_base: int = 1000) -> bytes:
    """Opcodes leaving on the stack a ``kind`` ("list" or "dict") DAG of ``depth`` shared levels.

    Memo slots ``memo_base .. memo_base + depth`` are used, so the ops can be spliced into a larger
    pickle that uses low memo indices itself.
    """
    out = bytearray(b"]" + _put(memo_base) + b"0")  # level 0: an empty list; POP
    for level in range(1, depth + 1):
        if kind == "list":
            out += b"]" + _put(memo_base + level) + b"(" + _get(memo_base + level - 1) * fanout + b"e0"
        else:
            items = b"".join(_str(f"k{j}") + _get(memo_base + level - 1) for j in range(fanout))
            out += b"}" + _put(memo_base + level) + b"(" + items + b"u0"
    out += _get(memo_base + depth)
    return bytes(out)


def dag_value(depth: int, fanout: int = 2, *, kind: str = "list") -> bytes:
    """A protocol-2 opcode fragment (no PROTO/STOP) whose value is the DAG."""
    return dag_ops(depth, fanout, kind=kind)


def array_value(arr: np.ndarray) -> bytes:
    """A protocol-2 fragment for a numpy array, as numpy pickles it."""
    body = pickle.dumps(arr, protocol=2)
    assert body.startswith(PROTO2) and body.endswith(b".")
    return body[2:-1]


def pickled_dict(items: list[tuple[str, bytes]]) -> bytes:
    """A protocol-2 pickle of ``{key: <fragment>}``; fragments from :func:`dag_value` / :func:`array_value`.

    Fragments from ``pickle.dumps`` use low memo indices (BINPUT) which later fragments overwrite; the
    DAG fragments use their own high range, so the two never collide.
    """
    out = bytearray(PROTO2 + b"}(")
    for key, frag in items:
        out += _str(key) + frag
    out += b"u."
    return bytes(out)


def paddle_with_structured_dag(path: Path, depth: int = 9, fanout: int = 256) -> Path:
    """A .pdparams whose ``StructuredToParameterName@@`` is a DAG of lists (paddle.save shape otherwise)."""
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    path.write_bytes(
        pickled_dict(
            [("linear.weight", array_value(w)), ("StructuredToParameterName@@", dag_value(depth, fanout))]
        )
    )
    return path


def torch_legacy_with_dag(path: Path, payload_ops: bytes) -> Path:
    """A legacy torch file whose object graph is the protocol-2 pickle ``payload_ops``."""
    from hostile import payloads

    return payloads.torch_legacy_with(payload_ops, path)


def h5_hardlink_dag(path: Path, depth: int = 40, fanout: int = 2) -> Path:
    """An HDF5 file where group ``g{i}`` hard-links ``fanout`` times to ``g{i-1}``; one dataset at the bottom."""
    import h5py

    with h5py.File(path, "w") as f:
        bottom = f.create_group("g0")
        bottom.create_dataset("kernel:0", data=np.ones((2, 2), dtype=np.float32))
        prev = bottom
        for level in range(1, depth + 1):
            g = f.create_group(f"g{level}")
            for j in range(fanout):
                g[f"l{j}"] = prev  # a hard link to the same group
            prev = g
    return path


# ------------------------------------------------------------------ amplification


def zip_of_many_members(
    path: Path, members: int, member_bytes: int, *, method: int = zipfile.ZIP_DEFLATED
) -> Path:
    """A zip of ``members`` files of zeros, each small enough to pass any per-member check."""
    zero = bytes(member_bytes)
    with zipfile.ZipFile(
        path, "w", method, compresslevel=9 if method == zipfile.ZIP_DEFLATED else None
    ) as zf:
        for i in range(members):
            zf.writestr(f"part{i:05d}.bin", zero)
    return path


def torch_zip_with_compressed_storage(path: Path, numel: int, *, method: int = zipfile.ZIP_DEFLATED) -> Path:
    """A torch zip checkpoint whose one storage (``numel`` float32 zeros) is stored compressed.

    The zeros are streamed into the member, so the test process never holds them.
    """
    from hostile import payloads

    tmp = path.with_suffix(".stored")
    payloads.torch_zip(tmp, {"w": ("FloatStorage", "0", numel, 0, (numel,), (1,))}, {"0": b""})
    chunk = bytes(1 << 22)
    with zipfile.ZipFile(tmp) as src, zipfile.ZipFile(path, "w", method) as dst:
        for info in src.infolist():
            if info.filename.endswith("/data/0"):
                member = zipfile.ZipInfo(info.filename)
                member.compress_type = method
                with dst.open(member, "w", force_zip64=True) as out:
                    left = 4 * numel
                    while left:
                        out.write(chunk[: min(left, len(chunk))])
                        left -= min(left, len(chunk))
            else:
                dst.writestr(info.filename, src.read(info), compress_type=method)
    tmp.unlink()
    return path


def bz2_ratio(nbytes: int) -> float:
    """How much bzip2 shrinks ``nbytes`` zeros (to size the cases)."""
    return nbytes / len(bz2.compress(bytes(nbytes)))


def legacy_head() -> bytes:
    buf = io.BytesIO()
    pickle.dump(0x1950A86A20F9469CFC6C, buf, protocol=2)
    return buf.getvalue()


# ------------------------------------------------------------------ many small pieces (quadratic work)


def mindspore_many_chunks(path: Path, chunks: int) -> Path:
    """A MindSpore checkpoint whose one float32 tensor ``[chunks]`` is split into ``chunks`` Values of
    one element each, as MindSpore splits large tensors (encoded by google.protobuf itself)."""
    from hostile.protos import Checkpoint

    msg = Checkpoint()
    value = msg.value.add()
    value.tag = "w"
    value.tensor.dims.append(chunks)
    value.tensor.tensor_type = "Float32"
    value.tensor.tensor_content = np.float32(1.5).tobytes()
    one = msg.SerializeToString()  # concatenated messages merge their repeated `value` fields
    path.write_bytes(one * chunks)
    return path


def tf1_many_slices(prefix: Path, slices: int) -> Path:
    """A TF1 bundle whose float32 variable ``w`` ``[slices, 2]`` is saved as ``slices`` row partitions;
    row ``i`` holds ``(i, -i)``."""
    return tf1_sliced(prefix, (slices, 2), [[(i, 1), (0, -1)] for i in range(slices)])


def tf1_sliced(prefix: Path, shape: tuple[int, ...], extents: list[list[tuple[int, int]]]) -> Path:
    """A TF1 bundle whose float32 variable ``w`` of ``shape`` is saved as the given slices; element
    ``(r, c)`` of a 2-D ``w`` holds ``r`` in column 0 and ``-r`` elsewhere."""
    from helpers_tf1 import build_table, entry_proto, header_proto, masked
    from zhplm.formats.tf1 import slice_key

    rows = [(b"", header_proto())]
    data = bytearray()
    for ext in extents:
        (r0, rn), (c0, cn) = ext
        rn = shape[0] if rn == -1 else rn
        cn = shape[1] if cn == -1 else cn
        block = np.array([[r if c == 0 else -r for c in range(c0, c0 + cn)] for r in range(r0, r0 + rn)])
        part = block.astype(np.float32).tobytes()
        rows.append(
            (
                slice_key("w", ext),
                entry_proto(1, (rn, cn), offset=len(data), size=len(part), crc=masked(part)),
            )
        )
        data += part
    rows.append((b"w", entry_proto(1, shape, slices=extents)))
    index = Path(str(prefix) + ".index")
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_bytes(build_table(sorted(rows)))
    Path(f"{prefix}.data-00000-of-00001").write_bytes(bytes(data))
    return prefix


# ------------------------------------------------------------------ one tensor of any declared shape, per format


def _contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= max(d, 1)
    return tuple(reversed(strides))


class _DeclaredArray:
    """Pickles as numpy pickles an ndarray (``_reconstruct`` + state), with any shape we declare."""

    def __init__(self, shape: tuple[int, ...], raw: bytes) -> None:
        self.shape, self.raw = shape, raw

    def __reduce__(self) -> tuple[object, ...]:
        from numpy._core.multiarray import _reconstruct

        return (_reconstruct, (np.ndarray, (0,), b"b"), (1, self.shape, np.dtype("<f4"), False, self.raw))


def one_tensor(fmt: str, where: Path, shape: tuple[int, ...], raw: bytes) -> Path:
    """A checkpoint of format ``fmt`` holding one float32 tensor ``w`` that declares ``shape`` and stores
    ``raw``; written the way each format's own writer lays it out. Returns the path to open."""
    where.mkdir(parents=True, exist_ok=True)
    if fmt == "safetensors":
        import json

        header = json.dumps({"w": {"dtype": "F32", "shape": list(shape), "data_offsets": [0, len(raw)]}})
        head = header.encode().ljust(len(header) + (-len(header)) % 8)
        path = where / "model.safetensors"
        path.write_bytes(struct.pack("<Q", len(head)) + head + raw)
        return path
    if fmt == "tf1":
        from helpers_tf1 import build_table, entry_proto, header_proto, masked

        prefix = where / "model.ckpt"
        rows = [(b"", header_proto()), (b"w", entry_proto(1, shape, size=len(raw), crc=masked(raw)))]
        Path(f"{prefix}.index").write_bytes(build_table(rows))
        Path(f"{prefix}.data-00000-of-00001").write_bytes(raw)
        return prefix
    if fmt in ("pytorch", "megatron"):
        from hostile import payloads

        entry = ("FloatStorage", "0", len(raw) // 4, 0, shape, _contiguous_strides(shape))
        if fmt == "pytorch":
            return payloads.torch_zip(where / "pytorch_model.bin", {"w": entry}, {"0": raw})
        shard = where / "mp_rank_00" / "model_optim_rng.pt"
        shard.parent.mkdir()
        payloads.torch_zip(shard, {"w": entry}, {"0": raw})
        return where
    if fmt == "paddle":
        path = where / "model.pdparams"
        path.write_bytes(pickle.dumps({"w": _DeclaredArray(shape, raw)}, protocol=2))
        return path
    if fmt == "paddle-static":
        from hostile.protos import TensorDesc

        desc = TensorDesc(data_type=5, dims=list(shape)).SerializeToString()
        (where / "w").write_bytes(struct.pack("<IQIi", 0, 0, 0, len(desc)) + desc + raw)
        return where
    if fmt == "mindspore":
        from hostile.protos import Checkpoint

        msg = Checkpoint()
        value = msg.value.add()
        value.tag = "w"
        value.tensor.dims.extend(shape)
        value.tensor.tensor_type = "Float32"
        value.tensor.tensor_content = raw
        path = where / "model.ckpt"
        path.write_bytes(msg.SerializeToString())
        return path
    if fmt == "keras-h5":
        import h5py

        path = where / "weights.h5"
        with h5py.File(path, "w") as f:
            if len(raw) == 4 * int(np.prod(shape, dtype=object)) and max(shape) < 1 << 31:
                f.create_dataset("dense/kernel:0", data=np.frombuffer(raw, np.float32).reshape(shape))
            else:  # a declared size the bytes do not back: chunked, allocated lazily by HDF5
                rank = len(shape)
                f.create_dataset(
                    "dense/kernel:0", shape=shape, maxshape=(None,) * rank, dtype="<f4", chunks=(1,) * rank
                )
        return path
    raise ValueError(fmt)


FORMATS = ("safetensors", "tf1", "pytorch", "megatron", "paddle", "paddle-static", "mindspore", "keras-h5")
