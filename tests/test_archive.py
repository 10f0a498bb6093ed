"""Safe archive extraction: every hostile archive is refused with the exact error class and nothing
appears anywhere under the test folder except the archive itself (the CPython tarfile-test pattern:
list every path afterwards)."""

from __future__ import annotations

import io
import os
import stat
import struct
import tarfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zhplm.errors import CorruptCheckpointError, FormatError, UnsafeContentError, UnsupportedFormatError
from zhplm.formats import extract_archive
from zhplm.formats.archive import safe_parts


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def make_tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tf:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tf.addfile(m)
            else:
                name, data = m
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


def tinfo(name: str, type_: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = type_
    info.linkname = linkname
    return info


def make_zip(path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


@pytest.fixture
def box(tmp_path: Path) -> Path:
    """An empty folder that the archive and the destination live in; nothing else may appear in it."""
    return tmp_path / "box"


def expect_refusal(
    box: Path, archive: Path, error: type[Exception], match: str | None = None, **limits: float
) -> None:
    before = tree(box)
    with pytest.raises(error, match=match):
        extract_archive(archive, box / "out" / "dest", **limits)
    after = tree(box)
    assert after - before <= {"out"}, f"paths left behind: {sorted(after - before)}"


# ------------------------------------------------------------------ happy paths


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_tar_roundtrip_with_chinese_names(box: Path, mode: str) -> None:
    box.mkdir()
    files = {
        "chinese_L-12_H-768_A-12/bert_config.json": b"{}",
        "模型/词表.txt": "你好\n".encode(),
        "a/b/c.bin": b"\0" * 5000,
    }
    archive = make_tar(box / "m.tar", [(n, d) for n, d in files.items()], mode)
    dest = extract_archive(archive, box / "out")
    assert dest == box / "out"
    for name, data in files.items():
        assert (dest / name).read_bytes() == data
    assert tree(box) - {"m.tar"} == {"out", *(f"out/{p}" for p in tree(dest))}


def test_zip_roundtrip_with_utf8_and_gbk_names(box: Path) -> None:
    box.mkdir()
    archive = make_zip(box / "m.zip", [("模型/词表.txt", b"vocab"), ("dir/", b""), ("XXXX.txt", b"gbk")])
    raw = archive.read_bytes()
    gbk = "中文".encode("gbk")  # 4 bytes, as long as XXXX: written by a Chinese Windows tool, no UTF-8 flag
    archive.write_bytes(raw.replace(b"XXXX.txt", gbk + b".txt"))
    dest = extract_archive(archive, box / "out")
    assert (dest / "模型" / "词表.txt").read_bytes() == b"vocab"
    assert (dest / "中文.txt").read_bytes() == b"gbk"
    assert (dest / "dir").is_dir()


def test_dot_folder_member_is_the_destination_itself(box: Path) -> None:
    """`tar -C folder .` writes a "./" member first; it names the destination, not an escape."""
    box.mkdir()
    archive = make_tar(box / "m.tar", [tinfo("./", tarfile.DIRTYPE), ("./vocab.txt", b"[PAD]")])
    assert (extract_archive(archive, box / "out") / "vocab.txt").read_bytes() == b"[PAD]"


def test_destination_may_be_an_empty_folder_but_not_a_full_one(box: Path) -> None:
    box.mkdir()
    archive = make_zip(box / "m.zip", [("a.txt", b"x")])
    (box / "empty").mkdir()
    assert (extract_archive(archive, box / "empty") / "a.txt").read_bytes() == b"x"
    with pytest.raises(FileExistsError):
        extract_archive(archive, box / "empty")
    assert (box / "empty" / "a.txt").read_bytes() == b"x"


def test_not_an_archive(box: Path) -> None:
    box.mkdir()
    (box / "page.html").write_bytes(b"<!DOCTYPE html><html>quota exceeded</html>")
    expect_refusal(box, box / "page.html", UnsupportedFormatError, "not a zip or tar")


# ------------------------------------------------------------------ names


@pytest.mark.parametrize(
    "name",
    [
        "../evil",
        "a/../../evil",
        "/abs/evil",
        "C:\\evil",
        "C:/evil",
        "D:evil",
        "\\\\host\\share\\evil",
        "//host/share/evil",
        "\\evil",
        "a\\..\\..\\evil",
        "..",
        "bad\x00name",
        "tab\tname",
    ],
)
def test_unsafe_names(name: str) -> None:
    with pytest.raises(UnsafeContentError):
        safe_parts(name)


def test_safe_names() -> None:
    assert safe_parts("./a/b/") == ("a", "b")
    assert safe_parts("a\\b.txt") == ("a", "b.txt")
    assert safe_parts("模型/vocab.txt") == ("模型", "vocab.txt")


@pytest.mark.parametrize("kind", ["tar", "zip"])
@pytest.mark.parametrize(
    "name", ["../evil", "sub/../../evil", "ABSOLUTE", "C:\\evil", "\\\\host\\share\\evil"]
)
def test_escaping_members_are_refused(box: Path, kind: str, name: str) -> None:
    box.mkdir()
    if name == "ABSOLUTE":
        name = str(box / "abs-evil")
    members = [("ok.txt", b"fine"), (name, b"evil")]
    archive = make_tar(box / "x.tar", members) if kind == "tar" else make_zip(box / "x.zip", members)
    expect_refusal(box, archive, UnsafeContentError)
    assert not (box / "abs-evil").exists()


# ------------------------------------------------------------------ links and special files


def test_cpython_parent_symlink_chain_is_refused(box: Path) -> None:
    box.mkdir()
    archive = make_tar(
        box / "x.tar",
        [
            tinfo("current", tarfile.SYMTYPE, "."),
            tinfo("parent", tarfile.SYMTYPE, "current/.."),
            ("parent/evil", b"x"),
        ],
    )
    expect_refusal(box, archive, UnsafeContentError, "symbolic link")


@pytest.mark.parametrize(
    "member",
    [
        tinfo("link", tarfile.SYMTYPE, "/etc/passwd"),
        tinfo("inside-link", tarfile.SYMTYPE, "ok.txt"),
        tinfo("hard", tarfile.LNKTYPE, "/etc/passwd"),
        tinfo("hard-inside", tarfile.LNKTYPE, "ok.txt"),
        tinfo("fifo", tarfile.FIFOTYPE),
        tinfo("chr", tarfile.CHRTYPE),
        tinfo("blk", tarfile.BLKTYPE),
    ],
    ids=lambda m: m.name,
)
def test_links_and_special_members_are_refused(box: Path, member: tarfile.TarInfo) -> None:
    box.mkdir()
    archive = make_tar(box / "x.tar", [("ok.txt", b"fine"), member])
    expect_refusal(box, archive, UnsafeContentError)


def test_zip_symlink_is_refused(box: Path) -> None:
    box.mkdir()
    info = zipfile.ZipInfo("link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = make_zip(box / "x.zip", [("ok.txt", b"fine"), (info, b"/etc/passwd")])
    expect_refusal(box, archive, UnsafeContentError, "symbolic link")


# ------------------------------------------------------------------ duplicates


@pytest.mark.parametrize(
    "names",
    [("a.txt", "a.txt"), ("Model.bin", "model.BIN"), ("a", "a/b"), ("dir/", "DIR"), ("é.txt", "e\u0301.txt")],
)
@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_duplicates_are_refused(box: Path, kind: str, names: tuple[str, str]) -> None:
    box.mkdir()
    members = [(n, b"" if n.endswith("/") else b"data") for n in names]
    if kind == "tar" and names[0].endswith("/"):
        members[0] = tinfo(names[0].rstrip("/"), tarfile.DIRTYPE)  # type: ignore[call-overload]
    with pytest.warns(UserWarning) if kind == "zip" and names[0] == names[1] else _nothing():
        archive = make_tar(box / "x.tar", members) if kind == "tar" else make_zip(box / "x.zip", members)
    expect_refusal(box, archive, UnsafeContentError, "collides|lies under")


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


# ------------------------------------------------------------------ bombs


def test_member_count_limit(box: Path) -> None:
    box.mkdir()
    archive = make_zip(box / "x.zip", [(f"f{i}", b"x") for i in range(6)])
    expect_refusal(box, archive, UnsafeContentError, "members", max_members=5)
    archive = make_tar(box / "x.tar", [(f"f{i}", b"x") for i in range(6)])
    expect_refusal(box, archive, UnsafeContentError, "members", max_members=5)


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_total_and_member_size_limits(box: Path, kind: str) -> None:
    box.mkdir()
    members = [("a", b"x" * 600), ("b", b"y" * 600)]
    archive = make_tar(box / "x.tar", members) if kind == "tar" else make_zip(box / "x.zip", members)
    expect_refusal(box, archive, UnsafeContentError, "expand past 1000", max_total_bytes=1000)
    expect_refusal(box, archive, UnsafeContentError, "500-byte limit", max_member_bytes=500)


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_compression_ratio_bomb(box: Path, kind: str) -> None:
    box.mkdir()
    members = [("zeros.bin", b"\0" * (4 << 20))]
    archive = make_tar(box / "x.tar.gz", members) if kind == "tar" else make_zip(box / "x.zip", members)
    expect_refusal(
        box, archive, UnsafeContentError, "expands more than 50x", max_ratio=50, ratio_floor=1 << 20
    )


def _patch_zip_size(raw: bytes, new_size: int) -> bytes:
    """Make the central directory (and local header) declare ``new_size`` as the uncompressed size."""
    out = bytearray(raw)
    c = out.find(b"PK\x01\x02")
    out[c + 24 : c + 28] = struct.pack("<I", new_size)
    out[22:26] = struct.pack("<I", new_size)
    return bytes(out)


def test_zip_that_lies_about_its_size_small(box: Path) -> None:
    """Declares 100 bytes, holds 1 MB: at most the declared bytes are ever produced, then refused."""
    box.mkdir()
    archive = make_zip(box / "x.zip", [("big.bin", b"\0" * (1 << 20))])
    archive.write_bytes(_patch_zip_size(archive.read_bytes(), 100))
    expect_refusal(box, archive, CorruptCheckpointError, "big.bin")


def test_zip_that_lies_about_its_size_large(box: Path) -> None:
    box.mkdir()
    archive = make_zip(box / "x.zip", [("big.bin", b"\0" * 1000)])
    archive.write_bytes(_patch_zip_size(archive.read_bytes(), 10_000))
    expect_refusal(box, archive, CorruptCheckpointError, "big.bin")


def test_overlapping_zip_entries(box: Path) -> None:
    """Two central-directory entries pointing at one local header (the quoted-overlap bomb shape)."""
    box.mkdir()
    archive = make_zip(box / "x.zip", [("a", b"hello" * 100)])
    raw = archive.read_bytes()
    c, e = raw.find(b"PK\x01\x02"), raw.find(b"PK\x05\x06")
    entry = raw[c:e]
    twin = entry[:46] + b"b" + entry[47:]  # same header offset, another name
    eocd = bytearray(raw[e:])
    count = struct.unpack("<H", eocd[10:12])[0] + 1
    eocd[8:10] = eocd[10:12] = struct.pack("<H", count)
    eocd[12:16] = struct.pack("<I", len(entry) * 2)
    archive.write_bytes(raw[:c] + entry + twin + bytes(eocd))
    assert len(zipfile.ZipFile(archive).infolist()) == 2
    expect_refusal(box, archive, UnsafeContentError, "overlapping")


def test_truncated_archives(box: Path) -> None:
    box.mkdir()
    for archive in (
        make_tar(box / "x.tar.gz", [("a.bin", os.urandom(50_000))]),
        make_zip(box / "x.zip", [("a.bin", os.urandom(50_000))]),
    ):
        archive.write_bytes(archive.read_bytes()[:30_000])
        expect_refusal(box, archive, FormatError)
        archive.unlink()


@pytest.mark.parametrize("maker", [make_zip, make_tar])
def test_errors_are_format_errors_with_nothing_left(box: Path, maker: Callable[..., Path]) -> None:
    """A failure in the middle (second member refused) removes the first, already written member."""
    box.mkdir()
    archive = maker(box / "x.arc", [("first.bin", b"1" * 10_000), ("../second", b"2")])
    expect_refusal(box, archive, UnsafeContentError)


# ------------------------------------------------------------------ fuzz

_PART = st.sampled_from(["a", "B", "..", ".", "", "C:", "\\\\", "中文", "x.bin", "~", " "])
_NAME = st.lists(_PART, min_size=1, max_size=4).map(lambda parts: "/".join(parts)).filter(bool)
_TYPES = [tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    members=st.lists(st.tuples(_NAME, st.sampled_from(_TYPES), _NAME, st.binary(max_size=40)), max_size=6),
    as_zip=st.booleans(),
)
def test_fuzz_nothing_escapes_and_only_format_errors(tmp_path_factory: pytest.TempPathFactory,
                                                     members: list[tuple[str, bytes, str, bytes]], as_zip: bool) -> None:  # fmt: skip
    box = tmp_path_factory.mktemp("fuzz")
    archive = box / ("x.zip" if as_zip else "x.tar")
    if as_zip:
        with warnings.catch_warnings(), zipfile.ZipFile(archive, "w") as zf:
            warnings.simplefilter("ignore")  # duplicate names
            for name, _, _, data in members:
                zf.writestr(name, data)
    else:
        with tarfile.open(archive, "w") as tf:
            for name, type_, link, data in members:
                info = tarfile.TarInfo(name)
                info.type, info.linkname = type_, link
                info.size = len(data) if type_ == tarfile.REGTYPE else 0
                tf.addfile(info, io.BytesIO(data) if type_ == tarfile.REGTYPE else None)
    dest = box / "out" / "dest"
    try:
        extract_archive(archive, dest)
    except FormatError:
        assert tree(box) <= {archive.name, "out"}
    else:
        outside = {p for p in tree(box) if p != archive.name and p != "out" and not p.startswith("out/dest")}
        assert not outside
        assert not any(p.is_symlink() for p in dest.rglob("*"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    members=st.integers(1, 40),
    size=st.integers(0, 256 << 10),
    as_zip=st.booleans(),
    ratio=st.sampled_from([5.0, 20.0, 100.0]),
    floor=st.sampled_from([64 << 10, 1 << 20]),
)
def test_fuzz_amplification_stays_under_the_caps(tmp_path_factory: pytest.TempPathFactory, members: int,
                                                 size: int, as_zip: bool, ratio: float, floor: int) -> None:  # fmt: skip
    """Archives of many zero-filled members (each may pass a per-member check): whatever is extracted
    never exceeds max(ratio_floor, max_ratio x archive size) in total; otherwise the archive is refused
    and nothing is left."""
    box = tmp_path_factory.mktemp("amp")
    data = [(f"d{i // 8}/m{i}.bin", b"\0" * size) for i in range(members)]
    archive = make_zip(box / "x.zip", data) if as_zip else make_tar(box / "x.tar.gz", data)
    dest = box / "out" / "dest"
    try:
        extract_archive(archive, dest, max_ratio=ratio, ratio_floor=floor)
    except UnsafeContentError:
        assert tree(box) <= {archive.name, "out"}
        return
    total = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    assert total == members * size
    assert total <= max(floor, ratio * archive.stat().st_size)
