"""Builders for pickles that would run code if loaded with ``pickle.load``.

Each builder writes opcodes directly; nothing in the test process ever holds ``os.system`` & co.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from pathlib import Path


def _args(args: tuple[object, ...]) -> bytes:
    body = pickle.dumps(args, protocol=2)
    return body[2:-1]  # strip PROTO 2 and STOP


def _unicode(s: str) -> bytes:
    raw = s.encode()
    return b"\x8c" + bytes([len(raw)]) + raw  # SHORT_BINUNICODE


def call(module: str, name: str, *args: object, stack_global: bool = False) -> bytes:
    """A pickle whose value is ``module.name(*args)``."""
    if stack_global:
        return b"\x80\x04" + _unicode(module) + _unicode(name) + b"\x93" + _args(args) + b"R."
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + _args(args) + b"R."


def global_only(module: str, name: str) -> bytes:
    """A pickle whose value is the global itself (an import with no call)."""
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"."


def reconstructor(module: str, name: str) -> bytes:
    """``copyreg._reconstructor(module.name, object, None)``."""
    return (
        b"\x80\x02ccopyreg\n_reconstructor\n"
        + f"c{module}\n{name}\n".encode()
        + b"cbuiltins\nobject\nN\x87R."
    )


def in_dict(payload: bytes, key: str = "w") -> bytes:
    """Wrap a protocol-2 payload as the value of ``{key: payload}``."""
    assert payload.startswith(b"\x80\x02") and payload.endswith(b".")
    return b"\x80\x02}" + b"X" + struct.pack("<I", len(key)) + key.encode() + payload[2:-1] + b"s."


def torch_zip_with(template: Path, payload: bytes, out: Path) -> Path:
    """Copy a real torch zip checkpoint, replacing its data.pkl with ``payload``."""
    with zipfile.ZipFile(template) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = payload if info.filename.endswith("/data.pkl") else src.read(info)
            dst.writestr(info.filename, data)
    return out


def torch_legacy_with(payload: bytes, out: Path) -> Path:
    """A legacy torch file (magic, protocol, sys info) whose data pickle is ``payload``."""
    buf = io.BytesIO()
    pickle.dump(0x1950A86A20F9469CFC6C, buf, protocol=2)
    pickle.dump(1001, buf, protocol=2)
    pickle.dump({"protocol_version": 1001, "little_endian": True, "type_sizes": {}}, buf, protocol=2)
    buf.write(payload)
    pickle.dump([], buf, protocol=2)
    out.write_bytes(buf.getvalue())
    return out


def _val(x: object) -> bytes:
    return pickle.dumps(x, protocol=2)[2:-1]


def _tensor_call(
    storage_type: str, key: str, numel: int, offset: int, size: tuple[int, ...], stride: tuple[int, ...]
) -> bytes:
    """Opcodes for ``_rebuild_tensor_v2(persistent(('storage', torch.<type>, key, 'cpu', numel)), ...)``."""
    pid = (
        b"("
        + _val("storage")
        + f"ctorch\n{storage_type}\n".encode()
        + _val(key)
        + _val("cpu")
        + _val(numel)
        + b"tQ"
    )
    rest = _val(offset) + _val(size) + _val(stride) + b"\x89"
    return b"ctorch._utils\n_rebuild_tensor_v2\n(" + pid + rest + b"ccollections\nOrderedDict\n)RtR"


def torch_zip(
    out: Path,
    tensors: dict[str, tuple[str, str, int, int, tuple[int, ...], tuple[int, ...]]],
    storages: dict[str, bytes],
) -> Path:
    """A torch zip checkpoint written by hand: ``tensors[name] = (type, key, numel, offset, size, stride)``."""
    body = b"\x80\x02}("
    for name, (stype, key, numel, offset, size, stride) in tensors.items():
        body += _val(name) + _tensor_call(stype, key, numel, offset, size, stride)
    body += b"u."
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", body)
        zf.writestr("archive/byteorder", "little")
        for key, data in storages.items():
            zf.writestr(f"archive/data/{key}", data)
        zf.writestr("archive/version", "3\n")
    return out
