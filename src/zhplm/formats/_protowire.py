"""A tiny, bounds-checked protobuf wire-format decoder (no generated code, no protobuf package).

TF tensor bundles, MindSpore checkpoints and Paddle LoDTensor descriptors are small protobuf messages;
decoding them needs only varints and length-delimited fields. Every read is checked against the end of
the enclosing message, so a hostile length can never read past it.
"""

from __future__ import annotations

from collections.abc import Iterator

from zhplm.errors import CorruptCheckpointError

VARINT, FIXED64, LEN, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5


def read_varint(buf: bytes | memoryview, pos: int, end: int | None = None) -> tuple[int, int]:
    """Decode a base-128 varint at ``pos``; return ``(value, new_pos)``. At most 10 bytes."""
    limit = len(buf) if end is None else end
    result = 0
    shift = 0
    for i in range(10):
        if pos >= limit:
            raise CorruptCheckpointError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            if i == 9 and b > 1:
                raise CorruptCheckpointError("varint overflows 64 bits")
            return result, pos
        shift += 7
    raise CorruptCheckpointError("varint longer than 10 bytes")


def iter_fields(
    buf: bytes | memoryview, start: int = 0, end: int | None = None
) -> Iterator[tuple[int, int, object]]:
    """Yield ``(field_number, wire_type, value)`` for each field of one message.

    ``value`` is an ``int`` for varint/fixed fields and a ``memoryview`` slice for length-delimited
    ones. Groups (wire types 3/4, obsolete) and unknown wire types are errors.
    """
    mv = memoryview(buf)
    limit = len(mv) if end is None else end
    if limit > len(mv) or start < 0 or start > limit:
        raise CorruptCheckpointError("message bounds outside the buffer")
    pos = start
    while pos < limit:
        key, pos = read_varint(mv, pos, limit)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise CorruptCheckpointError("field number 0")
        if wire == VARINT:
            value, pos = read_varint(mv, pos, limit)
            yield number, wire, value
        elif wire == FIXED64:
            if pos + 8 > limit:
                raise CorruptCheckpointError("truncated fixed64 field")
            yield number, wire, int.from_bytes(mv[pos : pos + 8], "little")
            pos += 8
        elif wire == FIXED32:
            if pos + 4 > limit:
                raise CorruptCheckpointError("truncated fixed32 field")
            yield number, wire, int.from_bytes(mv[pos : pos + 4], "little")
            pos += 4
        elif wire == LEN:
            length, pos = read_varint(mv, pos, limit)
            if length > limit - pos:
                raise CorruptCheckpointError(f"field {number} runs past the end of its message")
            yield number, wire, mv[pos : pos + length]
            pos += length
        else:
            raise CorruptCheckpointError(f"unsupported wire type {wire} (field {number})")


def packed_varints(data: memoryview | bytes) -> list[int]:
    """Decode a packed repeated varint field."""
    out = []
    pos = 0
    while pos < len(data):
        value, pos = read_varint(data, pos)
        out.append(value)
    return out


def signed64(value: int) -> int:
    """Interpret a varint as a two's-complement int64 (protobuf ``int64``)."""
    return value - (1 << 64) if value >= 1 << 63 else value


# ------------------------------------------------------------------ encoding (for writers and tests)


def encode_varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode_field(number: int, value: int | bytes, wire: int | None = None) -> bytes:
    """Encode one field: ints as varints (or ``FIXED32``/``FIXED64`` when asked), bytes as LEN."""
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return encode_varint(number << 3 | LEN) + encode_varint(len(data)) + data
    if wire == FIXED32:
        return encode_varint(number << 3 | FIXED32) + value.to_bytes(4, "little")
    if wire == FIXED64:
        return encode_varint(number << 3 | FIXED64) + value.to_bytes(8, "little")
    return encode_varint(number << 3 | VARINT) + encode_varint(value)
