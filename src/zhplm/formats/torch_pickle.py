"""PyTorch ``.bin``/``.pt``/``.pth`` checkpoints, read without torch and without running the pickle.

Two containers exist:

* **zip** (torch ≥ 1.6): ``<prefix>/data.pkl`` (the object graph), ``<prefix>/data/<key>`` (one raw
  storage per key), ``<prefix>/byteorder``.
* **legacy** (torch < 1.6, or ``_use_new_zipfile_serialization=False``): four pickles in a row — magic
  number, protocol version, sys info, the object graph — then a pickled list of storage keys, then each
  storage as ``int64 numel`` + raw bytes.

The object graph goes through :mod:`zhplm.formats._unpickler`; tensors become :class:`TensorRef`
descriptors (storage, offset, shape, stride) whose bounds are checked against the storage when the
file is opened. ``get`` reads just the span a tensor covers and lays it out with ``as_strided`` over
that bounded buffer, so non-contiguous views and tied weights (two names, one storage) come out right.

Nesting: a checkpoint like ``{"model": state_dict, "optimizer": …}`` is opened at its weights — see
:func:`zhplm.formats._unpickler.select_root` (``root=`` overrides; ``root=""`` flattens everything with
dotted names). Names are otherwise kept exactly as written: stripping ``module.`` or renaming
``gamma``/``beta`` is the converter's job.
"""

from __future__ import annotations

import builtins
import os
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from zhplm.errors import CorruptCheckpointError, FormatError, UnsafeContentError, UnsupportedFormatError
from zhplm.formats._unpickler import (
    ArraySpec,
    BoundedReader,
    StorageRef,
    StorageType,
    TensorRef,
    bytes_reader,
    collect_tensors,
    plain,
    restricted_load,
    select_root,
    short,
)
from zhplm.formats.base import Reader, shards_from_index

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
LEGACY_HEAD = b"\x80\x02\x8a\x0a" + LEGACY_MAGIC.to_bytes(10, "little") + b"."
MAX_DATA_PKL = 512 * 1024 * 1024
ZIP_MAX_RATIO = 100  # uncompressed / compressed bytes of one member
ZIP_MAX_FILE_RATIO = 20  # all members' bytes / file size (members pointing at the same data add up)
ZIP_RATIO_FLOOR = 1 << 20  # members and files smaller than this are not ratio-checked
_KEY_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
INDEX_NAME = "pytorch_model.bin.index.json"
# torch's own layers, read as inert records when a whole pickled model is asked for (``records=``)
TORCH_NN_LAYERS = frozenset(
    {
        ("torch.nn.modules.linear", "Linear"),
        ("torch.nn.modules.sparse", "Embedding"),
        ("torch.nn.modules.normalization", "LayerNorm"),
        ("torch.nn.modules.container", "Sequential"),
        ("torch.nn.modules.container", "ModuleList"),
        ("torch.nn.modules.container", "ModuleDict"),
        ("torch.nn.modules.padding", "ZeroPad2d"),
        ("torch.nn.modules.dropout", "Dropout"),
    }
)


def record_names(classes: Iterable[str]) -> frozenset[tuple[str, str]]:
    """``"module.Class"`` names → the ``(module, name)`` globals the unpickler turns into inert records,
    torch's own layers included (they make up any pickled model)."""
    named = {(module, name) for module, _, name in (c.rpartition(".") for c in classes) if module}
    return frozenset(named | TORCH_NN_LAYERS) if named else frozenset()


def _zip_prefix(zf: zipfile.ZipFile) -> str | None:
    hits = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    return hits[0][: -len("data.pkl")] if len(hits) == 1 else None


def index_of(path: Path) -> Path | None:
    """The sharding index ``path`` stands for (a folder holding ``pytorch_model.bin.index.json``, or the index
    itself): transformers writes ``pytorch_model-0000X-of-0000N.bin`` shards with one above 10 GB (Wenzhong,
    Yuyuan)."""
    if path.is_dir():
        if (path / INDEX_NAME).is_file():
            return path / INDEX_NAME
        found = sorted(p for p in path.glob("*.bin.index.json") if p.is_file())
        return found[0] if len(found) == 1 else None
    if path.name.endswith(".bin.index.json") and path.is_file():
        return path
    return None


def sniff(path: Path) -> bool:
    if index_of(path) is not None:
        return True
    if not path.is_file():
        return False
    with builtins.open(path, "rb") as f:
        head = f.read(len(LEGACY_HEAD))
    if head == LEGACY_HEAD:
        return True
    if not head.startswith(b"PK"):
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            return _zip_prefix(zf) is not None
    except Exception:  # any damage: not ours to claim
        return False


def _contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides: list[int] = []
    step = 1
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return tuple(reversed(strides))


_CHUNK = 16 * 1024 * 1024


def _read_fully(fh: IO[bytes], raw: memoryview) -> int:
    """Read into ``raw`` in bounded chunks: a zip member's ``readinto`` would first build the whole tensor as
    one ``bytes`` (a second copy of it); chunks keep the extra memory at 16 MB."""
    got = 0
    while got < len(raw):
        chunk = fh.read(min(_CHUNK, len(raw) - got))
        if not chunk:
            break
        raw[got : got + len(chunk)] = chunk
        got += len(chunk)
    return got


class TorchFile:
    """An opened torch checkpoint: its unpickled object graph and bounded access to its storages."""

    def __init__(
        self, path: Path, *, lenient: bool = False, records: frozenset[tuple[str, str]] = frozenset()
    ) -> None:
        self.path = path
        self.records = records
        self.source = str(path)
        self.storages: dict[str, StorageRef] = {}
        self.byteorder = "little"
        self._zip: zipfile.ZipFile | None = None
        self._file: IO[bytes] | None = None
        self._legacy_offsets: dict[str, int] = {}
        self.lenient = lenient
        self.opaque_globals: set[tuple[str, str]] = set()
        with builtins.open(path, "rb") as f:
            head = f.read(len(LEGACY_HEAD))
        try:
            if head == LEGACY_HEAD:
                self.container = "legacy"
                self.obj = self._open_legacy()
            elif head.startswith(b"PK"):
                self.container = "zip"
                self.obj = self._open_zip()
            else:
                raise FormatError(f"{path} is neither a torch zip checkpoint nor a legacy torch pickle")
        except FormatError:
            self.close()
            raise
        except Exception as exc:  # zipfile/struct/zlib failures on a damaged file
            self.close()
            raise CorruptCheckpointError(
                f"{path}: damaged checkpoint ({type(exc).__name__}: {str(exc)[:200]})"
            ) from None
        except BaseException:
            self.close()
            raise

    # -- containers -------------------------------------------------------------------
    def _open_zip(self) -> Any:
        try:
            zf = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise CorruptCheckpointError(f"{self.source}: broken zip container ({exc})") from None
        self._zip = zf
        prefix = _zip_prefix(zf)
        if prefix is None:
            raise CorruptCheckpointError(f"{self.source}: zip has no single <prefix>/data.pkl")
        self._prefix = prefix
        self._check_amplification(zf)
        names = set(zf.namelist())
        if prefix + "byteorder" in names:
            self.byteorder = self._zip_read(prefix + "byteorder", 16).decode("ascii", "replace").strip()
            if self.byteorder not in ("little", "big"):
                raise CorruptCheckpointError(f"{self.source}: byteorder {self.byteorder[:16]!r} is invalid")
        data = self._zip_read(prefix + "data.pkl", MAX_DATA_PKL)
        obj, up = restricted_load(
            bytes_reader(data, source=f"{self.source}:data.pkl"),
            lenient=self.lenient,
            persistent_load=self._zip_pid,
            records=self.records,
        )
        self.opaque_globals = up.opaque_globals
        for key, st in self.storages.items():
            member = f"{prefix}data/{key}"
            try:
                info = zf.getinfo(member)
            except KeyError:
                raise CorruptCheckpointError(f"{self.source}: storage {key} has no member {member}") from None
            need = st.numel * st.dtype.itemsize
            if info.file_size != need:
                raise CorruptCheckpointError(
                    f"{self.source}: storage {key} declares {st.numel} × {st.dtype.itemsize} = {need} bytes, "
                    f"but {member} holds {info.file_size}"
                )
        return obj

    def _check_amplification(self, zf: zipfile.ZipFile) -> None:
        """Refuse compression bombs before reading anything: torch.save stores members uncompressed,
        so a member (or the whole file) that expands many times over was not written by torch."""
        total = 0
        for info in zf.infolist():
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise UnsupportedFormatError(
                    f"{self.source}: member {info.filename[:80]!r} uses zip compression method "
                    f"{info.compress_type}; torch checkpoints are stored (or deflated), re-save it with torch.save"
                )
            if info.file_size > ZIP_RATIO_FLOOR and info.file_size > ZIP_MAX_RATIO * max(
                info.compress_size, 1
            ):
                raise UnsafeContentError(
                    f"{self.source}: member {info.filename[:80]!r} expands {info.compress_size} bytes to "
                    f"{info.file_size}, more than {ZIP_MAX_RATIO}x (a compression bomb?); refused"
                )
            total += info.file_size
        size = os.fstat(zf.fp.fileno()).st_size if zf.fp is not None else 0
        if total > ZIP_RATIO_FLOOR and total > ZIP_MAX_FILE_RATIO * max(size, 1):
            raise UnsafeContentError(
                f"{self.source}: members declare {total} bytes in a {size}-byte file, more than "
                f"{ZIP_MAX_FILE_RATIO}x (a compression bomb?); refused"
            )

    def _zip_read(self, member: str, limit: int) -> bytes:
        assert self._zip is not None
        try:
            info = self._zip.getinfo(member)
        except KeyError:
            raise CorruptCheckpointError(f"{self.source}: missing zip member {member}") from None
        if info.file_size > limit:
            raise CorruptCheckpointError(f"{self.source}: {member} is {info.file_size} bytes (limit {limit})")
        try:
            with self._zip.open(info) as fh:
                data = fh.read(limit + 1)
        except Exception as exc:  # zlib/struct/zipfile errors on damaged members
            raise CorruptCheckpointError(f"{self.source}: cannot read {member} ({exc})") from None
        if len(data) != info.file_size:
            raise CorruptCheckpointError(f"{self.source}: {member} is truncated")
        return data

    def _storage(self, stype: Any, key: Any, location: Any, numel: Any) -> StorageRef:
        if not isinstance(stype, StorageType):
            raise UnsafeContentError(f"{self.source}: persistent id names a storage type we do not know")
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise CorruptCheckpointError(f"{self.source}: storage key {short(key, 40)!r} is malformed")
        if type(numel) is not int or numel < 0:
            raise CorruptCheckpointError(f"{self.source}: storage {key} has a bad element count")
        dtype: np.dtype[Any] = stype.dtype
        old = self.storages.get(key)
        if old is not None:
            if old.dtype != dtype or old.numel != numel:
                raise CorruptCheckpointError(f"{self.source}: storage {key} is declared twice, differently")
            return old
        ref = StorageRef(key, dtype, numel, short(location, 32))
        self.storages[key] = ref
        return ref

    def _zip_pid(self, pid: Any) -> StorageRef:
        if not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != "storage":
            raise CorruptCheckpointError(f"{self.source}: unexpected persistent id in data.pkl")
        _, stype, key, location, numel = pid
        return self._storage(stype, key, location, numel)

    def _legacy_pid(self, pid: Any) -> StorageRef:
        if not isinstance(pid, tuple) or len(pid) != 6 or pid[0] != "storage":
            raise CorruptCheckpointError(f"{self.source}: unexpected persistent id in the legacy pickle")
        _, stype, key, location, numel, view = pid
        root = self._storage(stype, key, location, numel)
        if view is None:
            return root
        if not isinstance(view, tuple) or len(view) != 3:
            raise CorruptCheckpointError(f"{self.source}: malformed storage view of {key}")
        view_key, offset, size = view
        if (
            type(offset) is not int
            or type(size) is not int
            or offset < 0
            or size < 0
            or offset + size > numel
        ):
            raise CorruptCheckpointError(
                f"{self.source}: storage view {short(view_key, 40)} lies outside {key}"
            )
        ref = StorageRef(f"{key}[{offset}:{offset + size}]", root.dtype, size, root.location)
        ref.root, ref.view_offset = root, offset
        return ref

    def _open_legacy(self) -> Any:
        f = builtins.open(self.path, "rb")  # noqa: SIM115 - kept open for lazy reads, closed in close()
        self._file = f
        end = os.fstat(f.fileno()).st_size
        reader = BoundedReader(f, end, source=self.source)
        magic, _ = restricted_load(reader)
        if magic != LEGACY_MAGIC:
            raise CorruptCheckpointError(f"{self.source}: bad legacy magic number")
        version, _ = restricted_load(reader)
        if version != LEGACY_PROTOCOL:
            raise CorruptCheckpointError(
                f"{self.source}: legacy protocol {short(version, 20)} is not {LEGACY_PROTOCOL}"
            )
        sys_info, _ = restricted_load(reader)
        if isinstance(sys_info, dict) and sys_info.get("little_endian") is False:
            self.byteorder = "big"
        obj, up = restricted_load(
            reader, lenient=self.lenient, persistent_load=self._legacy_pid, records=self.records
        )
        self.opaque_globals = up.opaque_globals
        keys, _ = restricted_load(reader)
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise CorruptCheckpointError(f"{self.source}: storage key list is malformed")
        pos = reader.tell()
        for key in keys:
            st = self.storages.get(key)
            if st is None:
                raise CorruptCheckpointError(f"{self.source}: storage {key[:40]} is stored but never used")
            reader.seek(pos)
            numel = int.from_bytes(reader.read(8), "little", signed=True)
            if numel != st.numel:
                raise CorruptCheckpointError(
                    f"{self.source}: storage {key} holds {numel} elements, the pickle declares {st.numel}"
                )
            nbytes = numel * st.dtype.itemsize
            if pos + 8 + nbytes > end:
                raise CorruptCheckpointError(
                    f"{self.source}: storage {key} ({nbytes} bytes at offset {pos + 8}) runs past the end ({end})"
                )
            self._legacy_offsets[key] = pos + 8
            pos += 8 + nbytes
        missing = [k for k in self.storages if k not in self._legacy_offsets]
        if missing:
            raise CorruptCheckpointError(f"{self.source}: storages {missing[:5]} are used but not stored")
        return obj

    # -- data ------------------------------------------------------------------------
    def read_elements(self, storage: StorageRef, start: int, count: int) -> bytes:
        """``count`` elements of ``storage`` from element ``start`` (bounds already checked)."""
        root = storage.root or storage
        itemsize = storage.dtype.itemsize
        byte_start = (storage.view_offset + start) * itemsize
        nbytes = count * itemsize
        if self._zip is not None:
            member = f"{self._prefix}data/{root.key}"
            try:
                with self._zip.open(member) as fh:
                    fh.seek(byte_start)
                    data = fh.read(nbytes)
            except Exception as exc:  # zlib/struct/zipfile errors on damaged members
                raise CorruptCheckpointError(f"{self.source}: cannot read {member} ({exc})") from None
        else:
            assert self._file is not None
            self._file.seek(self._legacy_offsets[root.key] + byte_start)
            data = self._file.read(nbytes)
        if len(data) != nbytes:
            raise CorruptCheckpointError(f"{self.source}: storage {root.key} is truncated")
        return data

    def check_tensor(self, name: str, t: TensorRef) -> None:
        """Bounds of a tensor view against its storage; raises naming the tensor and the file."""
        n = 1
        for d in t.shape:
            n *= d
        if n == 0:
            return
        if t.dtype != t.storage.dtype:
            raise CorruptCheckpointError(f"{self.source}: tensor {name!r} dtype differs from its storage")
        span = 1 + sum((d - 1) * s for d, s in zip(t.shape, t.stride, strict=True))
        if t.offset + span > t.storage.numel:
            raise CorruptCheckpointError(
                f"{self.source}: tensor {name!r} (offset {t.offset}, size {t.shape}, stride {t.stride}) needs "
                f"elements up to {t.offset + span}, but storage {t.storage.key} holds {t.storage.numel}"
            )
        if n > span:
            raise CorruptCheckpointError(
                f"{self.source}: tensor {name!r} has overlapping strides {t.stride} for size {t.shape}"
            )

    def read_into(self, storage: StorageRef, start: int, out: np.ndarray[Any, Any]) -> None:
        """Fill the contiguous array ``out`` from ``storage`` at element ``start`` (bounds already checked),
        with no intermediate copy: converting a model then needs memory for one tensor, not two."""
        root = storage.root or storage
        byte_start = (storage.view_offset + start) * storage.dtype.itemsize
        raw = out.reshape(-1).view(np.uint8).data  # a writable memoryview over out
        if self._zip is not None:
            member = f"{self._prefix}data/{root.key}"
            try:
                with self._zip.open(member) as fh:
                    fh.seek(byte_start)
                    got = _read_fully(fh, raw)
            except Exception as exc:  # zlib/struct/zipfile errors on damaged members
                raise CorruptCheckpointError(f"{self.source}: cannot read {member} ({exc})") from None
        else:
            assert self._file is not None
            self._file.seek(self._legacy_offsets[root.key] + byte_start)
            got = _read_fully(self._file, raw)
        if got != out.nbytes:
            raise CorruptCheckpointError(f"{self.source}: storage {root.key} is truncated")

    def materialize(self, name: str, t: TensorRef) -> np.ndarray[Any, Any]:
        self.check_tensor(name, t)
        n = 1
        for d in t.shape:
            n *= d
        if n == 0:
            return np.zeros(t.shape, dtype=t.dtype)
        if t.stride == _contiguous_strides(t.shape):
            out = np.empty(t.shape, dtype=t.dtype)
            self.read_into(t.storage, t.offset, out)
            if self.byteorder == "big" and t.dtype.itemsize > 1:
                out.byteswap(inplace=True)
            return out
        span = 1 + sum((d - 1) * s for d, s in zip(t.shape, t.stride, strict=True))
        base = np.frombuffer(self.read_elements(t.storage, t.offset, span), dtype=t.dtype)
        if self.byteorder == "big" and t.dtype.itemsize > 1:
            base = base.byteswap()
        item = t.dtype.itemsize
        view = as_strided(base, shape=t.shape, strides=tuple(s * item for s in t.stride), writeable=False)
        return np.array(view, order="C")

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None
        if self._file is not None:
            self._file.close()
            self._file = None


class TorchReader(Reader):
    """Lazy reader of a PyTorch checkpoint (see the module docstring for the rules). ``records`` names
    (``"module.Class"``) the classes of a whole pickled model (``torch.save(model)``) to read as inert
    records: their parameters and persistent buffers become the tensors, named as ``state_dict()`` names them."""

    format = "pytorch"

    def __init__(
        self, path: Path, *, root: str | None = None, lenient: bool = False, records: Iterable[str] = ()
    ) -> None:
        super().__init__(path)
        self._tf = TorchFile(path, lenient=lenient, records=record_names(records))
        try:
            node, self.root = select_root(self._tf.obj, root)
            self._tensors, self._skipped = collect_tensors(node, str(path))
            for name, t in self._tensors.items():
                if isinstance(t, TensorRef):
                    self._tf.check_tensor(name, t)
                else:
                    t.check(f"{path}: array {name!r}")
        except BaseException:
            self._tf.close()
            raise

    @property
    def document(self) -> Any:
        """The whole unpickled object graph (inert records), e.g. for Megatron ``args``."""
        return self._tf.obj

    def _ref(self, name: str) -> TensorRef | ArraySpec:
        try:
            return self._tensors[name]  # type: ignore[no-any-return]
        except KeyError:
            raise KeyError(f"no tensor {name!r} in {self.path}") from None

    def keys(self) -> list[str]:
        return list(self._tensors)

    def shape(self, name: str) -> tuple[int, ...]:
        return self._ref(name).shape

    def dtype(self, name: str) -> np.dtype[Any]:
        dt = self._ref(name).dtype
        assert dt is not None
        return dt.newbyteorder("<") if dt.byteorder == ">" else dt

    def get(self, name: str) -> np.ndarray[Any, Any]:
        ref = self._ref(name)
        if isinstance(ref, TensorRef):
            return self._tf.materialize(name, ref)
        return ref.to_numpy(None, f"{self.path}: array {name!r}")

    def shared_storages(self) -> list[list[str]]:
        """Groups of tensor names that view the same storage (tied weights)."""
        groups: dict[str, list[str]] = {}
        for name, t in self._tensors.items():
            if isinstance(t, TensorRef):
                root = t.storage.root or t.storage
                groups.setdefault(root.key, []).append(name)
        return [names for names in groups.values() if len(names) > 1]

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        meta.update(
            container=self._tf.container,
            byteorder=self._tf.byteorder,
            root=self.root,
            shared_storages=self.shared_storages(),
            non_tensor_leaves=self._skipped,
        )
        if self._tf.opaque_globals:
            meta["opaque_globals"] = sorted(f"{m}.{n}" for m, n in self._tf.opaque_globals)
        if isinstance(self._tf.obj, dict) and self.root:
            top = self.root.split(".")[0]
            meta["other_top_keys"] = [short(k) for k in list(self._tf.obj)[:51] if short(k) != top][:50]
        return meta

    def top_level(self, key: str) -> Any:
        """A JSON-friendly copy of a top-level entry of the checkpoint (``iteration``, ``args`` …)."""
        obj = self._tf.obj
        return plain(dict.get(obj, key)) if isinstance(obj, dict) else None

    def close(self) -> None:
        self._tf.close()


class ShardedTorchReader(Reader):
    """A checkpoint sharded by transformers (``pytorch_model-0000X-of-0000N.bin`` + its index) as one lazy
    reader: each shard is a :class:`TorchReader`; ``get`` reads one tensor from its shard, so converting the
    whole model needs memory for one tensor, never for a shard or the model."""

    format = "pytorch"

    def __init__(
        self, path: Path, *, root: str | None = None, lenient: bool = False, records: Iterable[str] = ()
    ) -> None:
        super().__init__(path)
        index = index_of(path)
        if index is None:
            raise FormatError(f"{path} holds no *.bin.index.json")
        self.index = index
        weight_map, self._index_meta = shards_from_index(index)
        self.files = sorted(set(weight_map.values()))
        self._readers: dict[Path, TorchReader] = {}
        self._where: dict[str, TorchReader] = {}
        try:
            for file in self.files:
                if not file.is_file():
                    needed = next(n for n, f in weight_map.items() if f == file)
                    raise CorruptCheckpointError(
                        f"shard {file} is missing (listed in {index.name} for {needed!r}); download it again"
                    )
                self._readers[file] = TorchReader(file, root=root, lenient=lenient, records=records)
            held = {file: set(reader.keys()) for file, reader in self._readers.items()}
            for name, file in weight_map.items():
                reader = self._readers[file]
                if name not in held[file]:
                    raise CorruptCheckpointError(
                        f"{file}: tensor {name!r} listed in {index.name} is not in this shard"
                    )
                self._where[name] = reader
            for file in self._readers:
                extra = [n for n in held[file] if weight_map.get(n) != file]
                if extra:
                    raise CorruptCheckpointError(
                        f"{file}: holds tensors {extra[:5]} that {index.name} does not list for it "
                        "(shards of two different checkpoints in one folder?)"
                    )
        except BaseException:
            self.close()
            raise

    def _reader(self, name: str) -> TorchReader:
        try:
            return self._where[name]
        except KeyError:
            raise KeyError(f"no tensor {name!r} in {self.path}") from None

    def keys(self) -> list[str]:
        return list(self._where)

    def shape(self, name: str) -> tuple[int, ...]:
        return self._reader(name).shape(name)

    def dtype(self, name: str) -> np.dtype[Any]:
        return self._reader(name).dtype(name)

    def get(self, name: str) -> np.ndarray[Any, Any]:
        return self._reader(name).get(name)

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        meta.update(
            index=str(self.index), shards=[str(f) for f in self.files], index_metadata=self._index_meta
        )
        return meta

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()


def open(path: Path, **kw: Any) -> TorchReader | ShardedTorchReader:
    if index_of(path) is not None:
        return ShardedTorchReader(path, **kw)
    return TorchReader(path, **kw)
