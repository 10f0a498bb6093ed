"""A MindSpore model-parallel release: one ``.ckpt`` slice per device, a strategy file, embedding ``.npy`` files.

PanGu-α's MindSpore release is such a folder: ``filerted_0.ckpt … filerted_511.ckpt`` (one per training
device), ``strategy_load_ckpt/pangu_alpha_*_strategy.ckpt`` and the replicated embedding tables
``word_embedding.npy`` / ``position_embedding.npy`` / ``top_query_embedding.npy`` that the slices leave out.
This reader merges them into one logical checkpoint without MindSpore:

* slices are read by :class:`zhplm.formats.mindspore.MindSporeReader`; their rank is the last number in the
  file name (``filerted_17.ckpt``) or in a ``rank_17/`` folder;
* the strategy file is a ``ParallelStrategyMap`` (MindSpore ``ccsrc/utils/node_strategy.proto``, proto2)::

      ParallelStrategyMap { uint32 current_stage = 1; repeated ParallelStrategyItem parallel_strategy_item = 2;
                            repeated ParallelLayoutItem parallel_layout_item = 3; }
      ParallelLayoutItem  { string param_name = 1; ParallelLayouts parallel_layouts = 2; }
      ParallelLayouts     { repeated DevMatrix dev_matrix = 1; repeated TensorMap tensor_map = 2;
                            repeated ParamSplitShape param_split_shape = 3; repeated IndicesOffset indices_offset = 4;
                            int32 field = 5; int32 opt_weight_shard_step = 6; int32 opt_weight_shard_size = 7; }
      DevMatrix { repeated uint32 dim = 1; }   TensorMap { repeated int32 dim = 1; }

* each parameter is put together as MindSpore's ``parallel/_tensor.py`` describes a layout: the device
  matrix ``D`` numbers the devices (row-major, the last axis fastest); tensor dimension ``d`` is cut into
  ``D[-1 - tensor_map[d]]`` parts along device axis ``-1 - tensor_map[d]`` (``-1``: not cut), so device
  ``r`` holds the part at its coordinates on those axes; devices that differ only on other axes hold copies.
  With the parallel optimizer (``opt_weight_shard_step > 0``) each device keeps only a row block of its
  part: the parts of the devices ``step`` apart (within groups of ``size`` when ``size > 0``) are joined
  along dimension 0 first, as ``load_distributed_checkpoint`` does;
* a slice tensor the strategy does not name is replicated: every slice must have the same shape (the
  first is taken);
* an ``.npy`` file is one more tensor, named by its stem (``word_embedding``); numpy reads it without
  pickles. A name both in the slices and an ``.npy`` is an error.

Uneven splits (``param_split_shape``) and field-split embeddings (``field > 0``) are refused clearly.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zhplm.errors import CorruptCheckpointError, UnsupportedFormatError
from zhplm.formats import mindspore
from zhplm.formats._protowire import LEN, VARINT, iter_fields, read_varint, signed64
from zhplm.formats.base import Reader, check_shape

_RANK = re.compile(r"(\d+)(?!.*\d)")
_MAX_STRATEGY_BYTES = 256 << 20


@dataclass(frozen=True)
class Layout:
    """One parameter's entry of a strategy file."""

    dev_matrix: tuple[int, ...]
    tensor_map: tuple[int, ...]
    split_shape: tuple[int, ...] = ()
    field: int = 0
    opt_shard_step: int = 0
    opt_shard_size: int = 0

    @property
    def devices(self) -> int:
        return math.prod(self.dev_matrix)

    def cuts(self) -> tuple[int, ...]:
        """How many parts each tensor dimension is cut into."""
        n = len(self.dev_matrix)
        return tuple(1 if m == -1 else self.dev_matrix[n - 1 - m] for m in self.tensor_map)

    def part_index(self, rank: int) -> tuple[int, ...]:
        """Which part (per tensor dimension) device ``rank`` holds."""
        coords = []
        for size in reversed(self.dev_matrix):
            coords.append(rank % size)
            rank //= size
        coords.reverse()  # coords[i] is the coordinate on device axis i
        n = len(self.dev_matrix)
        return tuple(0 if m == -1 else coords[n - 1 - m] for m in self.tensor_map)

    def opt_group(self, rank: int) -> list[int]:
        """The devices whose row blocks make up ``rank``'s part (itself alone without the parallel optimizer)."""
        step = self.opt_shard_step
        if step <= 0:
            return [rank]
        total = self.devices
        lo, hi = 0, total
        if self.opt_shard_size > 0:
            block = total // step // self.opt_shard_size
            if block > 0:
                lo = rank // block * block
                hi = min(total, lo + block)
        return [r for r in range(lo, hi) if (r - rank) % step == 0]


def _uints(data: memoryview, what: str) -> list[int]:
    out: list[int] = []
    for number, wire, value in iter_fields(data):
        if number != 1:
            continue
        if wire == VARINT:
            assert isinstance(value, int)
            out.append(signed64(value))
        elif wire == LEN:
            assert isinstance(value, memoryview)
            pos = 0
            while pos < len(value):
                v, pos = read_varint(value, pos)
                out.append(signed64(v))
        else:
            raise CorruptCheckpointError(f"{what}: unexpected wire type {wire} in a dim list")
    if len(out) > 64:
        raise CorruptCheckpointError(f"{what}: {len(out)} dimensions")
    return out


def _int32(value: object) -> int:
    assert isinstance(value, int)
    v = signed64(value)
    return v - (1 << 32) if v >= 1 << 31 else v  # int32 written as a 32-bit varint by old encoders


def read_strategy(path: Path) -> dict[str, Layout]:
    """The parameter layouts of a MindSpore strategy file (``parallel_layout_item``), by parameter name."""
    size = path.stat().st_size
    if size > _MAX_STRATEGY_BYTES:
        raise CorruptCheckpointError(f"{path}: {size} bytes is too large for a strategy file")
    data = path.read_bytes()
    layouts: dict[str, Layout] = {}
    what = str(path)
    for number, wire, value in iter_fields(data):
        if number != 3:
            continue
        if wire != LEN:
            raise CorruptCheckpointError(f"{what}: parallel_layout_item is not a message")
        assert isinstance(value, memoryview)
        name: str | None = None
        lists: dict[int, list[list[int]]] = {1: [], 2: [], 3: []}
        scalars = {5: 0, 6: 0, 7: 0}
        for n2, w2, v2 in iter_fields(value):
            if n2 == 1 and w2 == LEN:
                assert isinstance(v2, memoryview)
                try:
                    name = bytes(v2).decode("utf-8")
                except UnicodeDecodeError:
                    raise CorruptCheckpointError(f"{what}: a parameter name is not UTF-8") from None
            elif n2 == 2 and w2 == LEN:
                assert isinstance(v2, memoryview)
                for n3, w3, v3 in iter_fields(v2):
                    if n3 in lists and w3 == LEN:
                        assert isinstance(v3, memoryview)
                        lists[n3].append(_uints(v3, f"{what}: {name}"))
                    elif n3 in scalars and w3 == VARINT:
                        scalars[n3] = _int32(v3)
        if name is None or not lists[1] or not lists[2]:
            raise CorruptCheckpointError(f"{what}: a layout item lacks its name, device matrix or tensor map")
        dev, tmap = tuple(lists[1][0]), tuple(lists[2][0])
        if any(d <= 0 for d in dev) or any(m < -1 or m >= len(dev) for m in tmap):
            raise CorruptCheckpointError(
                f"{what}: {name}: tensor map {list(tmap)} does not fit device matrix {list(dev)}"
            )
        layouts[name] = Layout(
            dev_matrix=dev,
            tensor_map=tmap,
            split_shape=tuple(lists[3][0]) if lists[3] else (),
            field=scalars[5],
            opt_shard_step=scalars[6],
            opt_shard_size=scalars[7],
        )
    if not layouts:
        raise UnsupportedFormatError(f"{path}: no parameter layouts (not a MindSpore strategy file?)")
    return layouts


def is_strategy(path: Path) -> bool:
    """Whether ``path`` looks like a strategy file: a ``current_stage`` varint first, then layout items."""
    try:
        with path.open("rb") as fh:
            head = fh.read(64)
        key, pos = read_varint(head, 0)
        if key != (1 << 3 | VARINT):
            return False
        _, pos = read_varint(head, pos)
        key, _ = read_varint(head, pos)
        return key >> 3 in (2, 3) and key & 7 == LEN
    except (OSError, CorruptCheckpointError):
        return False


def _rank(path: Path, root: Path) -> int | None:
    for part in (path.stem, path.parent.name if path.parent != root else ""):
        m = _RANK.search(part)
        if m:
            return int(m.group(1))
    return None


def _parts(folder: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """(slice files in rank order, strategy files, .npy files) under ``folder``."""
    slices: dict[int, Path] = {}
    strategies: list[Path] = []
    for path in sorted(folder.rglob("*.ckpt")):
        if not path.is_file():
            continue
        if is_strategy(path):
            strategies.append(path)
            continue
        if not mindspore.sniff(path):
            continue
        rank = _rank(path, folder)
        if rank is None:
            continue
        if rank in slices:
            raise CorruptCheckpointError(f"{folder}: two slices for rank {rank}: {slices[rank]}, {path}")
        slices[rank] = path
    npys = sorted(p for p in folder.rglob("*.npy") if p.is_file())
    return [slices[r] for r in sorted(slices)], strategies, npys


def _pick_strategy(strategies: list[Path], names: list[str], devices: int) -> tuple[Path, dict[str, Layout]]:
    """The strategy file that lays the slices' tensors over as many devices as there are slices (the release
    ships one per model size side by side)."""
    seen = []
    for path in strategies:
        layouts = read_strategy(path)
        laid = [n for n in names if n in layouts]
        if laid and all(layouts[n].devices == devices for n in laid):
            return path, layouts
        seen.append(
            f"{path.name} ({len(laid)} of the tensors, {sorted({layouts[n].devices for n in laid})} devices)"
        )
    raise CorruptCheckpointError(
        f"no strategy file fits these {devices} slices: {'; '.join(seen)}; use the strategy file of the same release"
    )


def sniff(path: Path) -> bool:
    if not path.is_dir():
        return False
    try:
        slices, strategies, _ = _parts(path)
    except (OSError, CorruptCheckpointError):
        return False
    return bool(strategies) and len(slices) > 1


class MindSporeSlicedReader(Reader):
    """The merged, logical view of a model-parallel MindSpore release (lazy: a tensor is joined when read)."""

    format = "mindspore-sliced"

    def __init__(self, path: Path, *, check_crc: bool = False) -> None:
        super().__init__(path)
        slices, strategies, npys = _parts(path)
        if not slices:
            raise UnsupportedFormatError(f"{path}: no MindSpore .ckpt slices found")
        ranks = [_rank(s, path) for s in slices]
        if ranks != list(range(len(slices))):
            raise CorruptCheckpointError(
                f"{path}: slice ranks {ranks[:8]}… are not 0..{len(slices) - 1}: a slice file is missing"
            )
        if not strategies and len(slices) > 1:
            raise UnsupportedFormatError(
                f"{path}: {len(slices)} slices but no strategy file: put the release's strategy_load_ckpt/*.ckpt "
                "beside them"
            )
        self.slices = slices
        self.strategy: Path | None = None
        self.layouts: dict[str, Layout] = {}
        self._readers: list[mindspore.MindSporeReader] = []
        self._npy: dict[str, Path] = {}
        self._shapes: dict[str, tuple[int, ...]] = {}
        try:
            for s in slices:
                self._readers.append(mindspore.MindSporeReader(s, check_crc=check_crc))
            first = self._readers[0].keys()
            for r in self._readers[1:]:
                if r.keys() != first:
                    diff = sorted(set(first) ^ set(r.keys()))[:5]
                    raise CorruptCheckpointError(
                        f"{r.path}: tensor names differ from {slices[0].name} ({diff})"
                    )
            if strategies and len(slices) > 1:
                self.strategy, self.layouts = _pick_strategy(strategies, first, len(slices))
            for name in first:
                self._shapes[name] = self._merged_shape(name)
            for npy in npys:
                key = npy.stem
                if key in self._shapes:
                    raise CorruptCheckpointError(f"{npy}: {key!r} is also a tensor of the slices")
                self._npy[key] = npy
                self._shapes[key] = self._npy_array(key).shape
        except BaseException:
            self.close()
            raise

    def _layout(self, name: str) -> Layout | None:
        layout = self.layouts.get(name)
        if layout is None:
            return None
        if layout.devices != len(self._readers):
            raise CorruptCheckpointError(
                f"{self.path}: the strategy lays {name!r} over {layout.devices} devices "
                f"(device matrix {list(layout.dev_matrix)}), but there are {len(self._readers)} slice files"
            )
        if layout.field > 0:
            raise UnsupportedFormatError(
                f"{self.path}: {name!r} is a field-split embedding, which zhplm cannot merge"
            )
        if layout.split_shape:
            raise UnsupportedFormatError(
                f"{self.path}: {name!r} is split unevenly (param_split_shape); not supported"
            )
        return layout

    def _merged_shape(self, name: str) -> tuple[int, ...]:
        stored = self._readers[0].shape(name)
        layout = self._layout(name)
        if layout is None or len(self._readers) == 1:
            for r in self._readers[1:]:
                if r.shape(name) != stored:
                    raise CorruptCheckpointError(
                        f"{r.path}: {name!r} has shape {r.shape(name)} here and {stored} in rank 0, and the "
                        "strategy file does not say how it is split"
                    )
            return stored
        if len(layout.tensor_map) != len(stored):
            raise CorruptCheckpointError(
                f"{self.path}: {name!r} has {len(stored)} dimensions but its tensor map {list(layout.tensor_map)} "
                f"has {len(layout.tensor_map)}"
            )
        part = list(stored)
        if stored:
            part[0] *= len(layout.opt_group(0))
        full = tuple(p * c for p, c in zip(part, layout.cuts(), strict=True))
        return check_shape(full, self._readers[0].dtype(name).itemsize, what=f"{self.path}: {name!r}")

    def _npy_array(self, key: str) -> np.ndarray[Any, Any]:
        try:
            arr: np.ndarray[Any, Any] = np.load(self._npy[key], mmap_mode="r", allow_pickle=False)
        except ValueError as exc:
            raise CorruptCheckpointError(f"{self._npy[key]}: not a plain numpy array ({exc})") from exc
        return arr

    def keys(self) -> list[str]:
        return list(self._shapes)

    def shape(self, name: str) -> tuple[int, ...]:
        try:
            return self._shapes[name]
        except KeyError:
            raise KeyError(f"no tensor {name!r} in {self.path}") from None

    def dtype(self, name: str) -> np.dtype[Any]:
        self.shape(name)
        if name in self._npy:
            dtype: np.dtype[Any] = self._npy_array(name).dtype
            return dtype
        return self._readers[0].dtype(name)

    def layout(self, name: str) -> Layout | None:
        """The strategy's layout of ``name`` (None: replicated or an .npy table)."""
        return self.layouts.get(name) if name not in self._npy else None

    def get(self, name: str) -> np.ndarray[Any, Any]:
        shape = self.shape(name)
        if name in self._npy:
            return np.array(self._npy_array(name))
        layout = self._layout(name)
        if layout is None or len(self._readers) == 1:
            return self._readers[0].get(name)
        out = np.empty(shape, dtype=self.dtype(name))
        filled: set[tuple[int, ...]] = set()
        cuts = layout.cuts()
        part_shape = [s // c for s, c in zip(shape, cuts, strict=True)]
        for rank in range(len(self._readers)):
            index = layout.part_index(rank)
            if index in filled:
                continue  # a copy of a part already placed
            group = layout.opt_group(rank)
            blocks = [self._readers[r].get(name) for r in group]
            part = blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=0)
            if list(part.shape) != part_shape:
                raise CorruptCheckpointError(
                    f"{self.slices[rank]}: the part of {name!r} is {tuple(part.shape)}, expected {tuple(part_shape)}"
                )
            where = tuple(slice(i * p, (i + 1) * p) for i, p in zip(index, part_shape, strict=True))
            out[where] = part
            filled.add(index)
        if len(filled) != math.prod(cuts):
            raise CorruptCheckpointError(f"{self.path}: the slices do not cover every part of {name!r}")
        return out

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        meta.update(
            slices=len(self.slices),
            strategy=str(self.strategy) if self.strategy else None,
            npy=sorted(self._npy),
            device_matrix=sorted({tuple(lay.dev_matrix) for lay in self.layouts.values()}),
        )
        return meta

    def close(self) -> None:
        for r in self._readers:
            r.close()


def open(path: Path, **kw: Any) -> MindSporeSlicedReader:
    return MindSporeSlicedReader(path, **kw)
