"""The restricted unpickler behind every pickle-based format (PyTorch, Paddle, Megatron).

A pickle is a program: ``GLOBAL`` names any importable callable and ``REDUCE`` calls it. This module
runs that program with an interpreter that can reach nothing but our own inert stand-ins:

* ``find_class`` is an exact dictionary lookup ``(module, name) -> stub``. It never calls
  ``super().find_class``, never imports, and refuses dotted names (``builtins.eval`` under an allowed
  module, the STACK_GLOBAL attribute walk).
* ``REDUCE``/``NEWOBJ``/``INST``/``OBJ`` may only call callables this module handed out, and ``BUILD``
  only touches our own record types, so no method of a real class is ever invoked on file data.
* Unknown globals raise :class:`UnsafeContentError` (strict). In lenient mode (Megatron/DeepSpeed
  checkpoints, full of ``argparse.Namespace`` and optimizer enums) they become :class:`OpaqueObject`
  classes that only record their arguments — except modules that exist to run code (``os``,
  ``subprocess``, ``builtins`` …), which are refused in both modes.
* Reads are bounded by the real end of the data: a declared length past it is a
  :class:`CorruptCheckpointError`, not an allocation. Large byte strings can be left on disk
  (:class:`LazyBytes`) and read when a tensor is asked for.

Tensors come out as descriptors (:class:`ArraySpec`, :class:`TensorRef`), validated and turned into
numpy arrays by the format readers.
"""

from __future__ import annotations

import io
import pickle
import struct
from collections import OrderedDict
from collections.abc import Callable
from typing import IO, Any, ClassVar

import numpy as np

from zhplm.errors import CorruptCheckpointError, FormatError, UnsafeContentError
from zhplm.formats.base import check_shape

MAX_PROTOCOL = 5
LAZY_BYTES_MIN = 64 * 1024  # byte strings at least this long stay on disk when laziness is asked for
MAX_MEMO = 10_000_000
MAX_LINE = 64 * 1024

# --------------------------------------------------------------------------- bounded input


class LazyBytes:
    """A byte string left in the file: ``length`` bytes at absolute ``offset``."""

    __slots__ = ("length", "offset")

    def __init__(self, offset: int, length: int) -> None:
        self.offset = offset
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return f"LazyBytes(offset={self.offset}, length={self.length})"


class BoundedReader:
    """``read``/``readline``/``seek``/``tell`` over ``[start, end)`` of a binary file.

    Asking for more bytes than remain raises :class:`CorruptCheckpointError` before anything is
    allocated, so a hostile length field costs nothing.
    """

    def __init__(self, fileobj: IO[bytes], end: int, *, source: str) -> None:
        self._f = fileobj
        self.end = end
        self.source = source

    def tell(self) -> int:
        return self._f.tell()

    def seek(self, pos: int) -> None:
        if pos > self.end:
            raise CorruptCheckpointError(f"{self.source}: truncated (needs byte {pos}, ends at {self.end})")
        self._f.seek(pos)

    def read(self, n: int = -1) -> bytes:
        pos = self._f.tell()
        if n < 0:
            n = self.end - pos
        if n > self.end - pos:
            raise CorruptCheckpointError(
                f"{self.source}: truncated — {n} bytes declared at offset {pos}, only {self.end - pos} remain"
            )
        data = self._f.read(n)
        if len(data) != n:
            raise CorruptCheckpointError(f"{self.source}: truncated at offset {pos + len(data)}")
        return data

    def readline(self) -> bytes:
        pos = self._f.tell()
        line = self._f.readline(min(MAX_LINE, max(self.end - pos, 0)))
        if not line.endswith(b"\n"):
            raise CorruptCheckpointError(f"{self.source}: unterminated or overlong text line at offset {pos}")
        return line


def bytes_reader(data: bytes, *, source: str) -> BoundedReader:
    return BoundedReader(io.BytesIO(data), len(data), source=source)


# --------------------------------------------------------------------------- inert records


class OpaqueObject:
    """Stand-in for a class we do not know (lenient mode). It records how it was built, nothing more."""

    zhplm_global: tuple[str, str] = ("?", "?")

    def __new__(cls, *args: Any, **kwargs: Any) -> OpaqueObject:
        self = object.__new__(cls)
        self.__dict__["_zhplm_args"] = args
        self.__dict__["_zhplm_kwargs"] = kwargs
        self.__dict__["_zhplm_state"] = None
        self.__dict__["_zhplm_items"] = []
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            self.__dict__["_zhplm_args"] = args
            self.__dict__["_zhplm_kwargs"] = kwargs

    def __setstate__(self, state: Any) -> None:
        self.__dict__["_zhplm_state"] = state

    def __call__(self, *args: Any, **kwargs: Any) -> OpaqueObject:
        return type(self)(*args, **kwargs)

    def append(self, item: Any) -> None:
        self.__dict__["_zhplm_items"].append(item)

    def extend(self, items: Any) -> None:
        self.__dict__["_zhplm_items"].extend(list(items))

    def __setitem__(self, key: Any, value: Any) -> None:
        self.__dict__["_zhplm_items"].append((key, value))

    @property
    def zhplm_args(self) -> tuple[Any, ...]:
        args: tuple[Any, ...] = self.__dict__["_zhplm_args"]
        return args

    @property
    def zhplm_state(self) -> Any:
        return self.__dict__["_zhplm_state"]

    def __repr__(self) -> str:
        module, name = self.zhplm_global
        return f"<opaque {module}.{name}>"


class ModuleRecord(OpaqueObject):
    """Stand-in for an object of a class the caller allowed by name (``records``): a whole model pickled with
    ``torch.save(model)`` (AI-Writer's release) is a graph of ``torch.nn.Module`` objects of the authors' classes.
    Nothing of the class is run: the record keeps the pickled ``__dict__``, whose ``_parameters``,
    ``_buffers`` and ``_modules`` give the state dict (:func:`module_children`)."""


def module_children(record: ModuleRecord) -> list[tuple[str, Any]]:
    """``(name, value)`` of a pickled module's parameters, persistent buffers and sub-modules, in the order
    ``state_dict()`` lists them (a module's own tensors first, then its children's)."""
    state = record.zhplm_state
    if not isinstance(state, dict):
        return []
    transient = state.get("_non_persistent_buffers_set")
    skip = transient if isinstance(transient, set | frozenset) else set()
    out: list[tuple[str, Any]] = []
    for key in ("_parameters", "_buffers", "_modules"):
        part = state.get(key)
        if not isinstance(part, dict):
            continue
        for name, value in dict.items(part):
            if type(name) is str and value is not None and not (key == "_buffers" and name in skip):
                out.append((name, value))
    return out


class _Marker:
    """A named constant standing for a class or dtype object of a framework we do not import."""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value: Any = None) -> None:
        self.name = name
        self.value = value

    def __repr__(self) -> str:
        return f"<{self.name}>"


NDARRAY = _Marker("numpy.ndarray")
TORCH_TENSOR = _Marker("torch.Tensor")
TORCH_PARAMETER = _Marker("torch.nn.Parameter")

_NUMERIC_DTYPES = {
    np.dtype(c).str[1:]: np.dtype(c)
    for c in ("b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16")
}


def numeric_dtype(spec: Any, *, what: str) -> np.dtype[Any]:
    """A numpy dtype from a dtype string of the allow-list (no object, string, void or record dtypes)."""
    if isinstance(spec, bytes):
        spec = spec.decode("ascii", "replace")
    if not isinstance(spec, str) or len(spec) > 8:
        raise UnsafeContentError(f"{what}: dtype {short(spec, 40)!r} is not a plain numeric dtype")
    order = "<"
    if spec[:1] in "<>|=":
        order, spec = spec[0], spec[1:]
    dt = _NUMERIC_DTYPES.get(spec)
    if dt is None:
        raise UnsafeContentError(
            f"{what}: dtype {spec!r} is not a plain numeric dtype (object arrays refused)"
        )
    return dt.newbyteorder(">") if order == ">" and dt.itemsize > 1 else dt


class DtypeSpec:
    """``numpy.dtype(...)`` as recorded in a pickle; ``__setstate__`` carries the byte order."""

    def __init__(self, spec: Any, align: Any = False, copy: Any = False) -> None:
        self.dtype = numeric_dtype(spec, what="numpy.dtype")

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) < 2:
            raise CorruptCheckpointError("numpy dtype state is malformed")
        if len(state) >= 4 and (state[2] is not None or state[3] is not None):
            raise UnsafeContentError("structured or sub-array numpy dtypes are not supported")
        order = state[1]
        if order == ">" and self.dtype.itemsize > 1:
            self.dtype = self.dtype.newbyteorder(">")
        elif order in ("<", "|", "="):
            self.dtype = self.dtype.newbyteorder("<") if self.dtype.itemsize > 1 else self.dtype
        else:
            raise CorruptCheckpointError(f"numpy dtype byte order {short(order, 8)!r} is invalid")


class ArraySpec:
    """A numpy array as the pickle describes it: shape, dtype, order and raw bytes, not yet built."""

    def __init__(self) -> None:
        self.shape: tuple[int, ...] = (0,)
        self.dtype: np.dtype[Any] | None = None
        self.fortran = False
        self.raw: bytes | LazyBytes | None = None
        self.built = False

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise CorruptCheckpointError("numpy array state is malformed")
        if len(state) == 5:
            state = state[1:]
        shape, dtype, fortran, raw = state
        if isinstance(dtype, DtypeSpec):
            self.dtype = dtype.dtype
        else:
            raise UnsafeContentError("numpy array state names a dtype we did not build")
        if isinstance(raw, str):  # Python 2 pickles, read with encoding='latin1'
            raw = raw.encode("latin1")
        if isinstance(raw, bytearray | memoryview):
            raw = bytes(raw)
        if not isinstance(raw, bytes | LazyBytes):
            raise UnsafeContentError("numpy array data is not raw bytes (object arrays are refused)")
        self.shape = check_shape(
            _shape_tuple(shape, what="numpy array"), self.dtype.itemsize, what="numpy array"
        )
        self.fortran = bool(fortran)
        self.raw = raw
        self.built = True

    @property
    def nbytes(self) -> int:
        assert self.dtype is not None
        return _prod(self.shape) * self.dtype.itemsize

    def check(self, what: str) -> None:
        """Raise unless the declared shape × itemsize equals the stored byte count."""
        if not self.built or self.dtype is None or self.raw is None:
            raise CorruptCheckpointError(f"{what}: numpy array was never given its data")
        if len(self.raw) != self.nbytes:
            raise CorruptCheckpointError(
                f"{what}: shape {self.shape} × {self.dtype.itemsize} bytes = {self.nbytes}, "
                f"but {len(self.raw)} bytes are stored"
            )

    def to_numpy(self, read: Callable[[LazyBytes], bytes] | None, what: str) -> np.ndarray[Any, Any]:
        self.check(what)
        assert self.dtype is not None and self.raw is not None
        raw = self.raw
        if isinstance(raw, LazyBytes):
            if read is None:
                raise CorruptCheckpointError(f"{what}: data left on disk but no reader given")
            raw = read(raw)
        arr = np.frombuffer(raw, dtype=self.dtype).reshape(self.shape, order="F" if self.fortran else "C")
        out = np.array(arr, order="C")  # own, writable, C-contiguous copy
        if out.dtype.byteorder == ">":
            out = out.astype(out.dtype.newbyteorder("<"))
        return out


class StorageType:
    """``torch.FloatStorage`` and friends: only a dtype."""

    def __init__(self, name: str, dtype: Any) -> None:
        self.name = name
        self.dtype = dtype

    def __repr__(self) -> str:
        return f"<torch.{self.name}>"


class StorageRef:
    """One storage of a torch checkpoint: ``numel`` elements of ``dtype`` under ``key``.

    ``view_offset`` (elements) is set for legacy storage views into a root storage.
    """

    def __init__(self, key: str, dtype: np.dtype[Any], numel: int, location: str) -> None:
        self.key = key
        self.dtype = dtype
        self.numel = numel
        self.location = location
        self.root: StorageRef | None = None
        self.view_offset = 0


class TensorRef:
    """A torch tensor as a view on a storage: offset, shape and stride in elements."""

    def __init__(
        self, storage: Any, offset: Any, shape: Any, stride: Any, dtype: np.dtype[Any] | None
    ) -> None:
        if not isinstance(storage, StorageRef):
            raise UnsafeContentError("tensor rebuilt from something that is not a storage of this file")
        self.storage = storage
        self.offset = _nonneg_int(offset, what="storage offset")
        self.shape = _shape_tuple(shape, what="tensor size")
        self.stride = _shape_tuple(stride, what="tensor stride")
        self.dtype = dtype if dtype is not None else storage.dtype
        check_shape(self.shape, self.dtype.itemsize, what="tensor")
        if len(self.stride) != len(self.shape):
            raise CorruptCheckpointError(f"tensor has {len(self.shape)} dims but {len(self.stride)} strides")


# --------------------------------------------------------------------------- stubs named by pickles


def _prod(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _nonneg_int(v: Any, *, what: str) -> int:
    if type(v) is not int and not isinstance(v, np.integer):
        raise CorruptCheckpointError(f"{what} is not an integer")
    if v < 0:
        raise CorruptCheckpointError(f"{what} is negative ({int(v)})")
    return int(v)


def _shape_tuple(v: Any, *, what: str) -> tuple[int, ...]:
    if not isinstance(v, tuple | list) or len(v) > 64:
        raise CorruptCheckpointError(f"{what} is not a tuple of at most 64 dims")
    return tuple(_nonneg_int(d, what=what) for d in v)


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> ArraySpec:
    if subtype is not NDARRAY:
        raise UnsafeContentError("numpy _reconstruct asked for a subclass of ndarray")
    return ArraySpec()


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> ArraySpec:
    spec = ArraySpec()
    dt = dtype if isinstance(dtype, DtypeSpec) else None
    if dt is None:
        raise UnsafeContentError("numpy _frombuffer with a dtype we did not build")
    spec.__setstate__((shape, dt, order == "F", buf))
    return spec


def _scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, DtypeSpec):
        raise UnsafeContentError("numpy scalar with a dtype we did not build")
    if isinstance(data, str):
        data = data.encode("latin1")
    if not isinstance(data, bytes) or len(data) != dtype.dtype.itemsize:
        raise CorruptCheckpointError("numpy scalar data has the wrong length")
    return np.frombuffer(data, dtype=dtype.dtype)[0].copy()


def _codecs_encode(obj: Any, encoding: Any = "utf-8", errors: Any = "strict") -> bytes:
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1", "iso-8859-1"):
        raise UnsafeContentError("_codecs.encode is allowed only as str.encode('latin1')")
    return obj.encode("latin1")


def _bytes(*args: Any) -> bytes:
    """``bytes()`` as protocol-2 pickles of empty numpy arrays call it, or ``bytes(str, 'latin1')``."""
    if not args:
        return b""
    if len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin1", "latin-1"):
        return args[0].encode("latin1")
    raise UnsafeContentError("bytes() is allowed only empty or as bytes(str, 'latin1')")


def _copyreg_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    if isinstance(cls, type) and issubclass(cls, OpaqueObject) and base is object:
        obj = cls.__new__(cls)
        if state is not None:
            obj.__setstate__(state)
        return obj
    raise UnsafeContentError("copyreg._reconstructor with a class that is not on the allow-list")


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any) -> TensorRef:
    return TensorRef(storage, offset, size, stride, None)


def _rebuild_tensor_v2(
    storage: Any,
    offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> TensorRef:
    return TensorRef(storage, offset, size, stride, None)


def _rebuild_tensor_v3(
    storage: Any,
    offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any,
    backward_hooks: Any,
    dtype: Any,
    metadata: Any = None,
) -> TensorRef:
    if not isinstance(dtype, _Marker) or not isinstance(dtype.value, np.dtype):
        raise UnsafeContentError("_rebuild_tensor_v3 with a dtype we do not know")
    return TensorRef(storage, offset, size, stride, dtype.value)


def _rebuild_parameter(data: Any, requires_grad: Any = True, backward_hooks: Any = None) -> Any:
    if not isinstance(data, TensorRef):
        raise UnsafeContentError("Parameter rebuilt from something that is not a tensor")
    return data


def _rebuild_parameter_with_state(data: Any, requires_grad: Any, backward_hooks: Any, state: Any) -> Any:
    return _rebuild_parameter(data)


def _rebuild_from_type_v2(func: Any, new_type: Any, args: Any, state: Any) -> Any:
    if func not in (_rebuild_tensor, _rebuild_tensor_v2, _rebuild_tensor_v3, _rebuild_parameter):
        raise UnsafeContentError("_rebuild_from_type_v2 with a function that is not on the allow-list")
    if new_type not in (TORCH_TENSOR, TORCH_PARAMETER) or not isinstance(args, tuple):
        raise UnsafeContentError("_rebuild_from_type_v2 with a tensor subclass")
    return func(*args)


class PickledOrderedDict(OrderedDict[Any, Any]):
    """``collections.OrderedDict`` from a pickle. ``BUILD`` state (torch's ``_metadata``) is kept aside in
    ``zhplm_state`` instead of becoming attributes that could shadow dict methods."""

    zhplm_state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.zhplm_state = state


def _ordered_dict(*args: Any) -> PickledOrderedDict:
    if len(args) > 1:
        raise CorruptCheckpointError("OrderedDict takes one argument")
    if args and not isinstance(args[0], list | tuple | dict):
        raise UnsafeContentError("OrderedDict built from something other than a list or dict")
    return PickledOrderedDict(*args)


def _bfloat16() -> np.dtype[Any]:
    import ml_dtypes

    dt: np.dtype[Any] = np.dtype(ml_dtypes.bfloat16)
    return dt


TORCH_STORAGE_DTYPES: dict[str, str] = {
    "FloatStorage": "f4",
    "DoubleStorage": "f8",
    "HalfStorage": "f2",
    "BFloat16Storage": "bf16",
    "LongStorage": "i8",
    "IntStorage": "i4",
    "ShortStorage": "i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "b1",
    "ComplexFloatStorage": "c8",
    "ComplexDoubleStorage": "c16",
    "UntypedStorage": "u1",
}
TORCH_DTYPE_NAMES: dict[str, str] = {
    "float32": "f4",
    "float": "f4",
    "float64": "f8",
    "double": "f8",
    "float16": "f2",
    "half": "f2",
    "bfloat16": "bf16",
    "int64": "i8",
    "long": "i8",
    "int32": "i4",
    "int": "i4",
    "int16": "i2",
    "short": "i2",
    "int8": "i1",
    "uint8": "u1",
    "bool": "b1",
    "complex64": "c8",
    "complex128": "c16",
}


def np_dtype(code: str) -> np.dtype[Any]:
    dt: np.dtype[Any] = _bfloat16() if code == "bf16" else np.dtype(code)
    return dt


def _build_allowed() -> dict[tuple[str, str], Any]:
    allowed: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): _ordered_dict,
        ("builtins", "tuple"): tuple,
        ("builtins", "list"): list,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "dict"): dict,
        ("__builtin__", "tuple"): tuple,
        ("__builtin__", "list"): list,
        ("__builtin__", "set"): set,
        ("__builtin__", "frozenset"): frozenset,
        ("__builtin__", "dict"): dict,
        ("_codecs", "encode"): _codecs_encode,
        ("builtins", "bytes"): _bytes,
        ("__builtin__", "bytes"): _bytes,
        ("copyreg", "_reconstructor"): _copyreg_reconstructor,
        ("copy_reg", "_reconstructor"): _copyreg_reconstructor,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
        ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
        ("torch", "Tensor"): TORCH_TENSOR,
        ("torch.nn.parameter", "Parameter"): TORCH_PARAMETER,
    }
    for np_mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(np_mod, "_reconstruct")] = _reconstruct
        allowed[(np_mod, "scalar")] = _scalar
    for np_mod in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(np_mod, "_frombuffer")] = _frombuffer
    allowed[("numpy", "ndarray")] = NDARRAY
    allowed[("numpy", "dtype")] = DtypeSpec
    for name, code in TORCH_STORAGE_DTYPES.items():
        for mod in ("torch", "torch.cuda"):
            allowed[(mod, name)] = StorageType(name, code)
    allowed[("torch.storage", "UntypedStorage")] = StorageType("UntypedStorage", "u1")
    for name, code in TORCH_DTYPE_NAMES.items():
        allowed[("torch", name)] = _Marker(f"torch.{name}", code)
    return allowed


ALLOWED: dict[tuple[str, str], Any] = _build_allowed()
_CALLABLE_IDS = frozenset(
    id(v) for v in ALLOWED.values() if callable(v) and not isinstance(v, _Marker | StorageType)
)
_NEWOBJ_TYPES = (tuple, list, set, frozenset, dict)

# Modules that exist to run code, reach the OS or import more code: refused even in lenient mode.
DENIED_ROOTS = frozenset(
    {
        "os", "posix", "nt", "subprocess", "sys", "builtins", "__builtin__", "importlib", "runpy", "shutil",
        "socket", "pip", "code", "codeop", "ctypes", "marshal", "pickle", "_pickle", "io", "_io", "pty",
        "commands", "multiprocessing", "webbrowser", "types", "functools", "operator", "inspect", "pdb",
        "timeit", "signal", "tempfile", "pathlib", "glob", "asyncio", "threading", "_thread", "platform",
        "sysconfig", "distutils", "setuptools", "numpy", "copyreg", "copy_reg", "_codecs", "codecs",
        "collections", "zipimport", "pkgutil", "site", "trace", "cProfile", "profile", "bdb", "gc",
        "weakref", "urllib", "http", "ftplib", "smtplib", "telnetlib", "xmlrpc", "ensurepip", "venv",
        "zhplm", "_posixsubprocess", "posixpath", "ntpath", "genericpath", "fcntl", "resource", "mmap",
    }
)  # fmt: skip


def _fix_dtype_markers() -> None:
    # torch dtype markers carry numpy dtypes (bfloat16 via ml_dtypes) once ml_dtypes is importable.
    for key, value in ALLOWED.items():
        if isinstance(value, _Marker) and isinstance(value.value, str):
            value.value = np_dtype(value.value)
        if isinstance(value, StorageType) and isinstance(value.dtype, str):
            value.dtype = np_dtype(value.dtype)
        del key


_fix_dtype_markers()


# --------------------------------------------------------------------------- the unpickler


_PyUnpickler: Any = getattr(pickle, "_Unpickler")  # noqa: B009 - the pure-Python one, for its dispatch table


class RestrictedUnpickler(_PyUnpickler):  # type: ignore[misc]
    """Pure-Python unpickler whose every reach outside the stream goes through our allow-list."""

    dispatch: ClassVar[dict[int, Any]] = dict(_PyUnpickler.dispatch)

    def __init__(
        self,
        reader: BoundedReader,
        *,
        lenient: bool = False,
        persistent_load: Callable[[Any], Any] | None = None,
        lazy_bytes: bool = False,
        encoding: str = "latin1",
        extra: dict[tuple[str, str], Any] | None = None,
        records: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        super().__init__(reader, encoding=encoding, fix_imports=False)
        self._records = records
        self.reader = reader
        self.source = reader.source
        self.lenient = lenient
        self.lazy_bytes = lazy_bytes
        self._persistent = persistent_load
        self._allowed = dict(ALLOWED)
        if extra:
            self._allowed.update(extra)
        self._callable_ids = set(_CALLABLE_IDS) | {id(v) for v in (extra or {}).values() if callable(v)}
        self._opaque: dict[tuple[str, str], type[OpaqueObject]] = {}
        self.opaque_globals: set[tuple[str, str]] = set()

    # -- globals --------------------------------------------------------------------
    def find_class(self, module: str, name: str) -> Any:
        if not isinstance(module, str) or not isinstance(name, str):
            raise UnsafeContentError(f"{self.source}: global names must be strings")
        shown = f"{module[:80]}.{name[:80]}"
        if "." in name or "<" in name or not name.isidentifier():
            raise UnsafeContentError(
                f"{self.source}: pickle asks for the dotted/odd global {shown!r}; refused, nothing was imported"
            )
        hit = self._allowed.get((module, name))
        if hit is not None:
            return hit
        if (module, name) in self._records:
            return self._opaque_class(module, name, ModuleRecord)
        root = module.split(".", 1)[0]
        if not self.lenient or root in DENIED_ROOTS or not all(p.isidentifier() for p in module.split(".")):
            raise UnsafeContentError(
                f"{self.source}: pickle asks for {shown}, which is not on zhplm's allow-list of state-dict "
                "types; refused without importing or running anything"
            )
        cls = self._opaque_class(module, name, OpaqueObject)
        self.opaque_globals.add((module, name))
        return cls

    def _opaque_class(self, module: str, name: str, base: type[OpaqueObject]) -> type[OpaqueObject]:
        cls = self._opaque.get((module, name))
        if cls is None:
            cls = type(name, (base,), {"zhplm_global": (module, name), "__module__": "zhplm.opaque"})
            self._opaque[(module, name)] = cls
            self._callable_ids.add(id(cls))
        return cls

    def persistent_load(self, pid: Any) -> Any:
        if self._persistent is None:
            raise UnsafeContentError(f"{self.source}: unexpected persistent id in a plain pickle")
        return self._persistent(pid)

    def _check_callable(self, func: Any, op: str) -> None:
        if id(func) in self._callable_ids or isinstance(func, OpaqueObject):
            return
        raise UnsafeContentError(
            f"{self.source}: {op} calls {type(func).__name__}, which we did not hand out"
        )

    # -- opcodes that call or mutate ------------------------------------------------------
    def load_reduce(self) -> None:
        stack = self.stack
        args = stack.pop()
        func = stack[-1]
        self._check_callable(func, "REDUCE")
        if not isinstance(args, tuple):
            raise CorruptCheckpointError(f"{self.source}: REDUCE arguments are not a tuple")
        stack[-1] = func(*args)

    dispatch[pickle.REDUCE[0]] = load_reduce

    def load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        self._check_newobj(cls, args)
        self.append(cls.__new__(cls, *args))

    dispatch[pickle.NEWOBJ[0]] = load_newobj

    def load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self._check_newobj(cls, args)
        if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
            raise CorruptCheckpointError(f"{self.source}: NEWOBJ_EX keyword arguments are malformed")
        self.append(cls.__new__(cls, *args, **kwargs))

    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

    def _check_newobj(self, cls: Any, args: Any) -> None:
        ok = isinstance(cls, type) and (
            issubclass(cls, OpaqueObject) or (cls in _NEWOBJ_TYPES and id(cls) in self._callable_ids)
        )
        if not ok:
            raise UnsafeContentError(
                f"{self.source}: NEWOBJ on {type(cls).__name__}, which we did not hand out"
            )
        if not isinstance(args, tuple):
            raise CorruptCheckpointError(f"{self.source}: NEWOBJ arguments are not a tuple")

    def _instantiate(self, klass: Any, args: list[Any]) -> None:
        self._check_callable(klass, "INST/OBJ")
        self.append(klass(*args))

    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, type) or not isinstance(
            inst, OpaqueObject | ArraySpec | DtypeSpec | PickledOrderedDict
        ):
            raise UnsafeContentError(f"{self.source}: BUILD on {type(inst).__name__} is not allowed")
        inst.__setstate__(state)

    dispatch[pickle.BUILD[0]] = load_build

    def _refuse_ext(self) -> None:
        raise UnsafeContentError(f"{self.source}: pickle uses the copyreg extension registry; refused")

    dispatch[pickle.EXT1[0]] = _refuse_ext
    dispatch[pickle.EXT2[0]] = _refuse_ext
    dispatch[pickle.EXT4[0]] = _refuse_ext

    # -- memo caps ---------------------------------------------------------------
    def _memo_guard(self) -> None:
        if len(self.memo) >= MAX_MEMO:
            raise CorruptCheckpointError(f"{self.source}: pickle memo grows past {MAX_MEMO} entries")

    def load_put(self) -> None:
        self._memo_guard()
        super().load_put()

    dispatch[pickle.PUT[0]] = load_put

    def load_binput(self) -> None:
        self._memo_guard()
        super().load_binput()

    dispatch[pickle.BINPUT[0]] = load_binput

    def load_long_binput(self) -> None:
        self._memo_guard()
        super().load_long_binput()

    dispatch[pickle.LONG_BINPUT[0]] = load_long_binput

    def load_memoize(self) -> None:
        self._memo_guard()
        super().load_memoize()

    dispatch[pickle.MEMOIZE[0]] = load_memoize

    # -- large byte strings can stay on disk -------------------------------------------------
    def _bytes(self, n: int) -> None:
        if self.lazy_bytes and n >= LAZY_BYTES_MIN and self._unframer.current_frame is None:
            pos = self.reader.tell()
            self.reader.seek(pos + n)
            self.append(LazyBytes(pos, n))
        else:
            self.append(self.read(n))

    def load_binbytes(self) -> None:
        (n,) = struct.unpack("<I", self.read(4))
        self._bytes(n)

    dispatch[pickle.BINBYTES[0]] = load_binbytes

    def load_binbytes8(self) -> None:
        (n,) = struct.unpack("<Q", self.read(8))
        self._bytes(n)

    dispatch[pickle.BINBYTES8[0]] = load_binbytes8

    def load_bytearray8(self) -> None:
        (n,) = struct.unpack("<Q", self.read(8))
        self.append(bytearray(self.read(n)))

    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8

    def load_frame(self) -> None:
        (n,) = struct.unpack("<Q", self.read(8))
        self._unframer.load_frame(n)

    dispatch[pickle.FRAME[0]] = load_frame


def restricted_load(
    reader: BoundedReader,
    *,
    lenient: bool = False,
    persistent_load: Callable[[Any], Any] | None = None,
    lazy_bytes: bool = False,
    encoding: str = "latin1",
    records: frozenset[tuple[str, str]] = frozenset(),
) -> tuple[Any, RestrictedUnpickler]:
    """Run one pickle from ``reader`` through :class:`RestrictedUnpickler`.

    Only :class:`FormatError` subclasses escape: anything else the stream provokes (bad opcodes,
    type errors in our stubs, recursion) becomes a :class:`CorruptCheckpointError` naming the source.
    """
    up = RestrictedUnpickler(
        reader,
        lenient=lenient,
        persistent_load=persistent_load,
        lazy_bytes=lazy_bytes,
        encoding=encoding,
        records=records,
    )
    try:
        obj = up.load()
    except FormatError as exc:
        if reader.source in str(exc):
            raise
        try:  # errors from the stubs do not know the file: name it
            named = type(exc)(f"{reader.source}: {exc}")
        except TypeError:  # a subclass with another signature keeps its own message
            raise exc from None
        raise named from None
    except (Exception, RecursionError) as exc:
        msg = str(exc)[:200]
        raise CorruptCheckpointError(
            f"{reader.source}: not a valid pickle ({type(exc).__name__}: {msg})"
        ) from None
    return obj, up


def sniff_pickle_protocol(head: bytes) -> int | None:
    """The protocol of a pickle starting at ``head[0]`` (2–5 only), or None."""
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= MAX_PROTOCOL:
        return head[1]
    return None


PLAIN_NODES = 20_000  # values one plain() call copies at most; a shared-object graph cannot make it explode


def short(obj: Any, limit: int = 80) -> str:
    """A bounded text of a value from a file, for messages.

    Never calls ``repr`` on containers or unknown types: file data may be a list graph whose full repr
    is exponential in the file size, or an integer too long for ``str``.
    """
    if isinstance(obj, str):
        text = obj
    elif isinstance(obj, bool) or obj is None or isinstance(obj, float):
        text = repr(obj)
    elif isinstance(obj, int):
        text = str(obj) if obj.bit_length() <= 256 else f"<{obj.bit_length()}-bit integer>"
    elif isinstance(obj, bytes | bytearray):
        text = repr(bytes(obj[:limit]))
    else:
        text = f"<{type(obj).__name__}>"
    return text[:limit]


def plain(obj: Any, depth: int = 0, budget: list[int] | None = None) -> Any:
    """A JSON-friendly copy of simple unpickled values (for metadata); anything else becomes its repr.

    Bounded in depth, items per container and total values copied (:data:`PLAIN_NODES`), so shared
    sub-objects referenced many times over cost no more than the file holds.
    """
    budget = [PLAIN_NODES] if budget is None else budget
    budget[0] -= 1
    if depth > 8 or budget[0] < 0:
        return "…"
    if obj is None or isinstance(obj, bool | float | str):
        return obj if not isinstance(obj, str) else obj[:1000]
    if isinstance(obj, int):
        return obj if -(1 << 63) <= obj < 1 << 64 else short(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, bytes):
        return f"<{len(obj)} bytes>"
    if isinstance(obj, list | tuple):
        return [plain(v, depth + 1, budget) for v in obj[:256]]
    if isinstance(obj, dict):
        return {short(k, 200): plain(v, depth + 1, budget) for k, v in list(dict.items(obj))[:512]}
    if isinstance(obj, OpaqueObject):
        state = obj.zhplm_state
        module, name = obj.zhplm_global
        if isinstance(state, dict):
            copied = plain(state, depth + 1, budget)
            return {"__class__": f"{module}.{name}", **(copied if isinstance(copied, dict) else {})}
        return {"__class__": f"{module}.{name}", "args": plain(list(obj.zhplm_args), depth + 1, budget)}
    if isinstance(obj, _Marker):
        return obj.name
    return f"<{type(obj).__name__}>"


# --------------------------------------------------------------------------- finding the tensors

WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "module", "net", "params", "weights")
MAX_DEPTH = 32


def is_tensor(obj: Any) -> bool:
    return isinstance(obj, TensorRef | ArraySpec)


def key_text(key: Any, source: str) -> str:
    """A dict key as a tensor-name part: strings as they are, int64 integers in decimal."""
    if type(key) is str:
        return key
    if type(key) is int and -(1 << 63) <= key < 1 << 63:
        return str(key)
    raise CorruptCheckpointError(
        f"{source}: a key of the state dict is {short(key)}, not a name or a 64-bit integer"
    )


def _children(obj: Any, source: str = "checkpoint") -> list[tuple[str, Any]]:
    if isinstance(obj, ModuleRecord):
        return module_children(obj)
    if isinstance(obj, dict):
        return [(key_text(k, source), v) for k, v in dict.items(obj) if type(k) in (str, int)]
    if isinstance(obj, list | tuple):
        return [(str(i), v) for i, v in enumerate(obj)]
    return []


def has_tensors(obj: Any, depth: int = 0) -> bool:
    """Whether a tensor lies within :data:`MAX_DEPTH` levels below ``obj``.

    Each container is looked at once (a visited set), so a graph of shared lists costs its size, not
    the number of paths through it.
    """
    seen: set[int] = set()
    stack: list[tuple[Any, int]] = [(obj, depth)]
    while stack:
        node, level = stack.pop()
        if is_tensor(node):
            return True
        if level >= MAX_DEPTH or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, dict):
            stack.extend((v, level + 1) for k, v in dict.items(node) if type(k) in (str, int))
        elif isinstance(node, list | tuple):
            stack.extend((v, level + 1) for v in node)
        elif isinstance(node, ModuleRecord):
            stack.extend((v, level + 1) for _, v in module_children(node))
    return False


def select_root(obj: Any, root: str | None) -> tuple[Any, str]:
    """The part of an unpickled checkpoint that holds the weights, and its dotted path.

    ``root=None`` chooses automatically: while the current dict has one of :data:`WRAPPER_KEYS`
    (``state_dict``, ``model``, ``module`` …) whose value is a container holding tensors, descend into
    the first such key. Tensors beside it (optimizer state, RNG states) are left out; a plain state dict
    never matches, since its values are tensors, not containers.
    ``root=""`` keeps everything; ``root="model.language_model"`` names the path explicitly.
    """
    if root is not None:
        cur = obj
        for part in [p for p in root.split(".") if p]:
            if not isinstance(cur, dict) or part not in cur:
                raise FormatError(f"no {root!r} in this checkpoint (missing {part!r})")
            cur = dict.__getitem__(cur, part)
        return cur, root
    path: list[str] = []
    cur = obj
    for _ in range(MAX_DEPTH):
        if not isinstance(cur, dict):
            break
        for key in WRAPPER_KEYS:
            value = dict.get(cur, key)
            if isinstance(value, dict | list | tuple) and has_tensors(value):
                path.append(key)
                cur = dict.__getitem__(cur, key)
                break
        else:
            break
    return cur, ".".join(path)


def collect_tensors(obj: Any, source: str) -> tuple[dict[str, Any], int]:
    """Flatten nested dicts/lists of tensors into ``{dotted.name: tensor}`` (file order).

    Returns the mapping and the number of non-tensor leaves that were left out.
    """
    out: dict[str, Any] = {}
    skipped = 0
    stack: list[tuple[str, Any, int]] = [("", obj, 0)]
    seen: set[int] = set()
    while stack:
        prefix, node, depth = stack.pop()
        if is_tensor(node):
            if prefix in out:
                raise CorruptCheckpointError(f"{source}: two tensors are both named {prefix!r}")
            out[prefix or "tensor"] = node
            continue
        kids = _children(node, source)
        if not kids:
            skipped += 1
            continue
        if depth >= MAX_DEPTH or id(node) in seen:
            skipped += 1
            continue
        seen.add(id(node))
        for key, value in reversed(kids):
            stack.append((f"{prefix}.{key}" if prefix else key, value, depth + 1))
    return out, skipped
