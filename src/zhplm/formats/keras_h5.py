"""Keras ``.h5`` weight files, read as plain HDF5 datasets with h5py (never ``keras.models.load_model``).

Names are the dataset paths as stored, without the leading slash (``dense/dense/kernel:0``, or
``model_weights/dense/dense/kernel:0`` in full-model files). The walk follows hard links only:
external links, datasets with external raw storage and virtual datasets would make us open other
files, so they raise :class:`UnsafeContentError`; soft links are skipped (listed in metadata). Declared
sizes are checked against what the file stores before anything is read, so a tiny compressed dataset
declaring gigabytes is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zhplm.errors import CorruptCheckpointError, FormatError, MissingDependencyError, UnsafeContentError
from zhplm.formats.base import Reader, check_shape

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
MAX_EXPANSION = 1024  # decompressed bytes per stored byte beyond which a dataset is a bomb
SMALL = 1 << 20
MAX_LINKS = 1_000_000  # links looked at while listing; Keras files hold a few thousand


def _h5py() -> Any:
    try:
        import h5py
    except ImportError:
        raise MissingDependencyError("h5py", "h5", "read Keras .h5 weights") from None
    return h5py


def sniff(path: Path) -> bool:
    if not path.is_file():
        return False
    with path.open("rb") as f:
        found = False
        for offset in (0, 512, 1024, 2048):
            f.seek(offset)
            if f.read(8) == HDF5_SIGNATURE:
                found = True
                break
    # Claimed on the signature alone: a truncated or damaged HDF5 file is then reported as damaged
    # when opened, not as "the h5 reader is not available".
    return found


def _attr_text(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.dtype.kind in "SOU":
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value if isinstance(value, str | int | float | bool) else str(value)[:200]


class KerasH5Reader(Reader):
    format = "keras-h5"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        h5py = _h5py()
        try:
            self._file = h5py.File(path, "r")
        except Exception as exc:  # OSError for most damage, others for some
            raise CorruptCheckpointError(
                f"{path}: a damaged or truncated HDF5 file ({str(exc)[:300]}); download it again"
            ) from None
        self._datasets: dict[str, Any] = {}
        self._skipped: list[str] = []
        try:
            self._walk(h5py, self._file, "")
            self._attrs = {
                k: _attr_text(v)
                for k, v in self._file.attrs.items()
                if k in ("keras_version", "backend", "layer_names")
            }
        except FormatError:
            self._file.close()
            raise
        except Exception as exc:  # libhdf5 reports damage as RuntimeError/OSError/KeyError/ValueError
            self._file.close()
            raise CorruptCheckpointError(
                f"{path}: damaged HDF5 file ({type(exc).__name__}: {str(exc)[:200]})"
            ) from None

    def _walk(self, h5py: Any, root: Any, prefix: str) -> None:
        """List datasets depth-first in file order, each group once.

        Hard links can make one group appear under many paths (a chain of groups each linking twice to
        the next has 2**depth paths in a few KB); a group met again is listed as skipped, not walked, and
        the links looked at are capped, so opening costs what the file holds.
        """
        seen = {root.id}
        links = 0
        stack: list[tuple[Any, str, Any]] = [(root, prefix, iter(list(root)))]
        while stack:
            group, base, names = stack[-1]
            name = next(names, None)
            if name is None:
                stack.pop()
                continue
            links += 1
            if links > MAX_LINKS:
                raise UnsafeContentError(f"{self.path}: more than {MAX_LINKS} links; refused")
            link = group.get(name, getlink=True)
            full = f"{base}{name}"
            if isinstance(link, h5py.ExternalLink):
                raise UnsafeContentError(
                    f"{self.path}: {full!r} is an external link to {link.filename!r}; refused (it would open another file)"
                )
            if isinstance(link, h5py.SoftLink):
                self._skipped.append(f"{full} (soft link)")
                continue
            obj = group.get(name)
            if isinstance(obj, h5py.Group):
                if obj.id in seen:
                    self._skipped.append(f"{full} (another hard link to a group already listed)")
                    continue
                seen.add(obj.id)
                stack.append((obj, f"{full}/", iter(list(obj))))
            elif isinstance(obj, h5py.Dataset):
                self._check(h5py, full, obj)
            else:
                self._skipped.append(f"{full} (not a group or dataset)")

    def _check(self, h5py: Any, name: str, ds: Any) -> None:
        if ds.is_virtual:
            raise UnsafeContentError(f"{self.path}: dataset {name!r} is virtual (maps other files); refused")
        if ds.external:
            raise UnsafeContentError(
                f"{self.path}: dataset {name!r} keeps its data in external files; refused"
            )
        if ds.dtype.kind not in "biufc" or ds.dtype.fields is not None:
            self._skipped.append(f"{name} (dtype {ds.dtype})")
            return
        shape = check_shape(
            tuple(int(d) for d in ds.shape or ()), ds.dtype.itemsize, what=f"{self.path}: dataset {name!r}"
        )
        nbytes = ds.dtype.itemsize
        for d in shape:
            nbytes *= d
        stored = ds.id.get_storage_size()
        if ds.chunks is None and ds.compression is None:
            if nbytes and stored != nbytes:
                raise CorruptCheckpointError(
                    f"{self.path}: dataset {name!r} declares {nbytes} bytes but stores {stored}"
                )
        elif nbytes > max(SMALL, stored * MAX_EXPANSION):
            raise UnsafeContentError(
                f"{self.path}: dataset {name!r} declares {nbytes} bytes from {stored} stored bytes; refused as a bomb"
            )
        self._datasets[name] = ds

    def _ref(self, name: str) -> Any:
        try:
            return self._datasets[name]
        except KeyError:
            raise KeyError(f"no tensor {name!r} in {self.path}") from None

    def keys(self) -> list[str]:
        return list(self._datasets)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(int(d) for d in self._ref(name).shape)

    def dtype(self, name: str) -> np.dtype[Any]:
        dt: np.dtype[Any] = self._ref(name).dtype
        return dt.newbyteorder("<") if dt.byteorder == ">" else dt

    def get(self, name: str) -> np.ndarray[Any, Any]:
        ds = self._ref(name)
        try:
            arr = np.asarray(ds[()])
        except Exception as exc:  # libhdf5 reports damage as RuntimeError/OSError/KeyError/ValueError
            raise CorruptCheckpointError(f"{self.path}: cannot read dataset {name!r} ({exc})") from None
        return np.array(arr, dtype=self.dtype(name), order="C")

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        meta.update(self._attrs, skipped=self._skipped)
        return meta

    def close(self) -> None:
        self._file.close()


def open(path: Path, **kw: Any) -> KerasH5Reader:
    return KerasH5Reader(path, **kw)
