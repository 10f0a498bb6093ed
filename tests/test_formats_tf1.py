"""TF1 bundle reader: damaged and hostile bundles fail with precise errors; a fuzz run lets only
FormatError escape. Fixtures come from the test-side writer (which TensorFlow accepts, see the oracle
test), then get broken on purpose."""

from __future__ import annotations

import contextlib
import tracemalloc
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers_tf1 import Bundle, build_table, entry_proto, header_proto, masked
from zhplm.errors import CorruptCheckpointError, FormatError, UnsupportedFormatError
from zhplm.formats import open_checkpoint, sniff
from zhplm.formats.tf1 import FOOTER_SIZE, TF1Reader


def _tensors() -> dict[str, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(7)
    return {
        "bert/embeddings/word_embeddings": rng.standard_normal((11, 4)).astype(np.float32),
        "bert/encoder/layer_0/attention/self/query/bias": rng.standard_normal(4).astype(ml_dtypes.bfloat16),
        "cls/predictions/output_bias": rng.standard_normal(11).astype(np.float16),
        "global_step": np.array(5, np.int64),
        "ids": np.arange(6, dtype=np.int32).reshape(2, 3),
    }


def _write(tmp_path: Path, **kw: Any) -> Path:
    return Bundle(_tensors(), **kw).write(tmp_path / "model.ckpt")


def _index(prefix: Path) -> Path:
    return Path(str(prefix) + ".index")


def _data(prefix: Path, i: int = 0, n: int = 1) -> Path:
    return Path(f"{prefix}.data-{i:05d}-of-{n:05d}")


def test_roundtrip_multiblock_and_big_endian(tmp_path: Path) -> None:
    for big in (False, True):
        prefix = Bundle(_tensors(), big_endian=big, block_rows=2, restart_interval=1).write(
            tmp_path / str(big) / "m"
        )
        with open_checkpoint(prefix) as r:
            for name, want in _tensors().items():
                got = r.get(name)
                assert got.dtype == want.dtype and got.shape == want.shape
                assert got.tobytes() == want.tobytes(), name


def test_string_tensors_are_listed_as_skipped(tmp_path: Path) -> None:
    prefix = Bundle(_tensors(), strings={"vocab/strings": 3}).write(tmp_path / "m")
    with open_checkpoint(prefix) as r:
        assert "vocab/strings" not in r
        assert r.metadata()["skipped"] == {"vocab/strings": "string"}
        with pytest.raises(KeyError, match="string tensor"):
            r.get("vocab/strings")
        with pytest.raises(KeyError, match="no tensor"):
            r.get("nope")


# ------------------------------------------------------------------ index damage


def test_bad_magic(tmp_path: Path) -> None:
    prefix = _write(tmp_path)
    raw = bytearray(_index(prefix).read_bytes())
    raw[-1] ^= 0xFF
    _index(prefix).write_bytes(bytes(raw))
    with pytest.raises(UnsupportedFormatError):
        sniff(prefix)  # sniffing looks at the magic, not the name
    with pytest.raises(CorruptCheckpointError, match="bad magic"):
        TF1Reader(prefix)


def test_index_shorter_than_footer(tmp_path: Path) -> None:
    prefix = _write(tmp_path)
    _index(prefix).write_bytes(_index(prefix).read_bytes()[: FOOTER_SIZE - 1])
    with pytest.raises(CorruptCheckpointError, match="shorter than an SSTable footer"):
        TF1Reader(prefix)


def test_truncated_index_loses_its_magic(tmp_path: Path) -> None:
    prefix = _write(tmp_path)
    _index(prefix).write_bytes(_index(prefix).read_bytes()[:-10])
    with pytest.raises(CorruptCheckpointError, match="bad magic"):
        TF1Reader(prefix)


def test_flipped_byte_in_a_block_fails_its_crc(tmp_path: Path) -> None:
    prefix = _write(tmp_path)
    raw = bytearray(_index(prefix).read_bytes())
    raw[10] ^= 0x01  # inside the first data block
    _index(prefix).write_bytes(bytes(raw))
    with pytest.raises(CorruptCheckpointError, match="block checksum mismatch"):
        TF1Reader(prefix)


def test_snappy_block_is_refused_clearly(tmp_path: Path) -> None:
    prefix = _write(tmp_path, compression=1)
    with pytest.raises(UnsupportedFormatError, match="snappy"):
        TF1Reader(prefix)


def test_unknown_compression_type(tmp_path: Path) -> None:
    prefix = _write(tmp_path, compression=7)
    with pytest.raises(CorruptCheckpointError, match="compression type 7"):
        TF1Reader(prefix)


def test_block_handle_past_the_end(tmp_path: Path) -> None:
    prefix = _write(tmp_path)
    raw = _index(prefix).read_bytes()
    footer = bytes([0x80, 0x80, 0x04, 0]) + bytes([0, 0]) + b"\x00" * 34  # handles (65536, 0), (0, 0)
    _index(prefix).write_bytes(raw[:-FOOTER_SIZE] + footer + raw[-8:])
    with pytest.raises(CorruptCheckpointError, match="runs past the end of the index"):
        TF1Reader(prefix)


def _table_with(tmp_path: Path, rows: list[tuple[bytes, bytes]], **kw: Any) -> Path:
    prefix = tmp_path / "m"
    _index(prefix).write_bytes(build_table(rows, **kw))
    _data(prefix).write_bytes(b"\x00" * 64)
    return prefix


def _f32(offset: int = 0, shape: tuple[int, ...] = (4,), **kw: Any) -> bytes:
    size = kw.pop("size", 4 * int(np.prod(shape)))
    return entry_proto(1, shape, offset=offset, size=size, crc=masked(b"\x00" * size), **kw)


def test_missing_header_key(tmp_path: Path) -> None:
    prefix = _table_with(tmp_path, [(b"a", _f32())])
    with pytest.raises(CorruptCheckpointError, match="header"):
        TF1Reader(prefix)


def test_unsorted_keys(tmp_path: Path) -> None:
    prefix = _table_with(
        tmp_path, [(b"", header_proto()), (b"b", _f32()), (b"a", _f32())], restart_interval=1
    )
    with pytest.raises(CorruptCheckpointError, match="not sorted"):
        TF1Reader(prefix)


def test_shared_prefix_longer_than_previous_key(tmp_path: Path) -> None:
    block = bytes([0, 0, 0]) + bytes([5, 1, 0]) + b"x"  # entry 2 shares 5 bytes with the empty key
    block += (0).to_bytes(4, "little") + (1).to_bytes(4, "little")
    prefix = tmp_path / "m"
    _index(prefix).write_bytes(_raw_table(block))
    with pytest.raises(CorruptCheckpointError, match="shares 5 bytes"):
        TF1Reader(prefix)


def test_restart_count_larger_than_block(tmp_path: Path) -> None:
    block = bytes([0, 0, 0]) + (0).to_bytes(4, "little") + (1000).to_bytes(4, "little")
    prefix = tmp_path / "m"
    _index(prefix).write_bytes(_raw_table(block))
    with pytest.raises(CorruptCheckpointError, match="restart count"):
        TF1Reader(prefix)


def _raw_table(data_block: bytes) -> bytes:
    """A table whose single data block is ``data_block`` verbatim (valid crc)."""
    from zhplm.formats._protowire import encode_varint

    out = bytearray()

    def put(block: bytes) -> bytes:
        off = len(out)
        out.extend(block + b"\x00" + masked(block + b"\x00").to_bytes(4, "little"))
        return encode_varint(off) + encode_varint(len(block))

    handle = put(data_block)
    meta = put((0).to_bytes(4, "little") + (1).to_bytes(4, "little"))
    index_block = (
        bytes([0, 1, len(handle)]) + b"\xff" + handle + (0).to_bytes(4, "little") + (1).to_bytes(4, "little")
    )
    idx = put(index_block)
    return bytes(out) + (meta + idx).ljust(40, b"\x00") + (0xDB4775248B80FB57).to_bytes(8, "little")


def test_newer_bundle_version_is_refused(tmp_path: Path) -> None:
    prefix = _write(tmp_path, min_consumer=2)
    with pytest.raises(UnsupportedFormatError, match="min_consumer 2"):
        TF1Reader(prefix)


def test_zero_shards(tmp_path: Path) -> None:
    prefix = _table_with(tmp_path, [(b"", header_proto(num_shards=0))])
    with pytest.raises(CorruptCheckpointError, match="0 data shards"):
        TF1Reader(prefix)


# ------------------------------------------------------------------ entry damage


def test_size_not_shape_times_itemsize(tmp_path: Path) -> None:
    prefix = _write(tmp_path, overrides={"ids": {"size": 20}})
    with pytest.raises(
        CorruptCheckpointError, match=r"'ids' declares 20 bytes, but shape \[2, 3\] of int32 needs 24"
    ):
        TF1Reader(prefix)


def test_offset_past_the_end_of_the_data_file(tmp_path: Path) -> None:
    prefix = _write(tmp_path, overrides={"ids": {"offset": 10_000}})
    with pytest.raises(
        CorruptCheckpointError, match=r"data-00000-of-00001: tensor 'ids' .* runs past the end"
    ):
        TF1Reader(prefix)


def test_truncated_data_file(tmp_path: Path) -> None:
    prefix = _write(tmp_path)
    _data(prefix).write_bytes(_data(prefix).read_bytes()[:-3])
    with pytest.raises(CorruptCheckpointError, match="truncated"):
        TF1Reader(prefix)


def test_shard_id_out_of_range(tmp_path: Path) -> None:
    prefix = _write(tmp_path, overrides={"ids": {"shard_id": 3}})
    with pytest.raises(CorruptCheckpointError, match=r"'ids' is in shard 3, but the bundle has 1 shard"):
        TF1Reader(prefix)


def test_missing_shard_file(tmp_path: Path) -> None:
    prefix = Bundle(_tensors(), num_shards=2, shard_of={"ids": 1}).write(tmp_path / "model.ckpt")
    _data(prefix, 1, 2).unlink()
    with pytest.raises(
        CorruptCheckpointError, match=r"data-00001-of-00002 is missing \(needed for tensor 'ids'\)"
    ):
        TF1Reader(prefix)


@pytest.mark.parametrize("shape", [(-1, 4), (1 << 40, 1 << 40)])
def test_negative_or_overflowing_dims(tmp_path: Path, shape: tuple[int, ...]) -> None:
    prefix = _write(tmp_path, overrides={"ids": {"shape": shape}})
    with pytest.raises(CorruptCheckpointError, match=r"'ids'.*(negative|overflows)"):
        TF1Reader(prefix)


def test_tensor_crc_mismatch_is_found_on_read(tmp_path: Path) -> None:
    prefix = _write(tmp_path)
    tensors = _tensors()
    raw = bytearray(_data(prefix).read_bytes())
    raw[0] ^= 0x10  # first byte of the first tensor in key order
    _data(prefix).write_bytes(bytes(raw))
    first = sorted(tensors)[0]
    with open_checkpoint(prefix) as r:
        with pytest.raises(CorruptCheckpointError, match=f"checksum mismatch for tensor '{first}'"):
            r.get(first)
        r.get("ids")  # the others still read


def test_sliced_entry_with_missing_slice(tmp_path: Path) -> None:
    full = entry_proto(1, (4,), slices=[[(0, 2)], [(2, 2)]])
    part = entry_proto(1, (2,), size=8, crc=masked(b"\x00" * 8))
    from zhplm.formats.tf1 import slice_key

    rows = [(b"", header_proto()), (slice_key("w", [(0, 2)]), part), (b"w", full)]
    prefix = _table_with(tmp_path, sorted(rows))
    with pytest.raises(CorruptCheckpointError, match=r"slice \[\(2, 2\)\] of 'w' is missing"):
        TF1Reader(prefix)


def test_sliced_entry_that_does_not_cover_the_tensor(tmp_path: Path) -> None:
    """A hostile full shape with one small slice must not make get() allocate the full shape."""
    from zhplm.formats.tf1 import slice_key

    full = entry_proto(1, (1 << 40,), slices=[[(0, 2)]])
    part = entry_proto(1, (2,), size=8, crc=masked(b"\x00" * 8))
    rows = [(b"", header_proto()), (slice_key("w", [(0, 2)]), part), (b"w", full)]
    prefix = _table_with(tmp_path, sorted(rows))
    with pytest.raises(CorruptCheckpointError, match="cover 2 of its 1099511627776 elements"):
        TF1Reader(prefix)


# ------------------------------------------------------------------ locating bundles


def test_folder_with_several_bundles_asks_which(tmp_path: Path) -> None:
    Bundle(_tensors()).write(tmp_path / "a.ckpt")
    Bundle(_tensors()).write(tmp_path / "b.ckpt")
    assert sniff(tmp_path) == "tf1"
    with pytest.raises(
        UnsupportedFormatError, match=r"several TensorFlow checkpoints \(a.ckpt.index, b.ckpt.index\)"
    ):
        open_checkpoint(tmp_path)


def test_checkpoint_file_with_a_foreign_absolute_path(tmp_path: Path) -> None:
    """Checkpoints copied from another machine keep its absolute path; the file name is looked up here."""
    Bundle(_tensors()).write(tmp_path / "model.ckpt-100")
    Bundle(_tensors()).write(tmp_path / "model.ckpt-50")
    (tmp_path / "checkpoint").write_text(
        'model_checkpoint_path: "/home/someone/run/model.ckpt-100"\n'
        'all_model_checkpoint_paths: "/home/someone/run/model.ckpt-50"\n'
    )
    with open_checkpoint(tmp_path) as r:
        assert isinstance(r, TF1Reader)
        assert r.prefix == tmp_path / "model.ckpt-100"


def test_chinese_prefix_and_names(tmp_path: Path) -> None:
    prefix = Bundle({"层/权重": np.ones(3, np.float32)}).write(tmp_path / "模型" / "中文.ckpt")
    with open_checkpoint(prefix.parent) as r:
        assert r.keys() == ["层/权重"]


# ------------------------------------------------------------------ fuzz


def _valid_index(tmp_path: Path) -> tuple[Path, bytes]:
    prefix = Bundle(_tensors(), block_rows=2, restart_interval=2).write(tmp_path / "m")
    return prefix, _index(prefix).read_bytes()


def _read_all(prefix: Path) -> None:
    with TF1Reader(prefix) as r:
        for name in r:
            r.get(name)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_mutated_index_only_raises_format_errors(tmp_path: Path, data: st.DataObject) -> None:
    prefix, raw = _valid_index(tmp_path)
    mutated = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, len(mutated) - 1))
        mutated[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        mutated = mutated[: data.draw(st.integers(0, len(mutated)))]
    _index(prefix).write_bytes(bytes(mutated))
    with contextlib.suppress(FormatError):
        _read_all(prefix)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.binary(max_size=40),
    entries=st.lists(st.tuples(st.binary(min_size=1, max_size=8), st.binary(max_size=60)), max_size=6),
)
def test_fuzz_entries_behind_valid_checksums(
    tmp_path: Path, header: bytes, entries: list[tuple[bytes, bytes]]
) -> None:
    """Random header/entry protos inside a well-formed table (so the crc passes and the proto parser,
    the validation and get() see hostile values). Memory stays bounded: nothing is allocated from a
    declared size before it is checked against the file."""
    rows = dict([(b"", header if header else header_proto()), *entries])
    prefix = _table_with(tmp_path, sorted(rows.items()))
    tracemalloc.start()
    try:
        _read_all(prefix)
    except FormatError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 16 << 20
