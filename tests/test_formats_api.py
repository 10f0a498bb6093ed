"""The one entry point: formats are sniffed from content, not names, and what is not a checkpoint is
named for what it is."""

from __future__ import annotations

import io
import json
import struct
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from helpers_tf1 import Bundle
from zhplm.errors import UnsupportedFormatError
from zhplm.formats import open_checkpoint, sniff

GDRIVE = b"""<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title>
<meta http-equiv="content-type" content="text/html; charset=utf-8"/></head><body>
<p>Google Drive can't scan this file for viruses.</p><form id="download-form" action="https://drive.usercontent.google.com/download">
</form></body></html>"""


def _safetensors(path: Path) -> Path:
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + np.array([1, 2], np.float32).tobytes())
    return path


def test_content_decides_not_the_name(tmp_path: Path) -> None:
    st = _safetensors(tmp_path / "pytorch_model.bin")  # misleading name
    assert sniff(st) == "safetensors"
    with open_checkpoint(st) as r:
        assert r.get("w").tolist() == [1.0, 2.0]
    prefix = Bundle({"x": np.ones(2, np.float32)}).write(tmp_path / "tf" / "weights.h5")  # misleading too
    assert sniff(prefix) == "tf1"


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (GDRIVE, "this is an HTML page, not a checkpoint"),
        (b"\n  <html><body>Quota exceeded</body></html>", "this is an HTML page, not a checkpoint"),
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n", "Git LFS pointer"),
        (b"", "empty file"),
        (b"7z\xbc\xaf\x27\x1c\x00\x04", "7-Zip"),
        (b'{"hidden_size": 768}', "JSON file"),
        (b"just some text", "not a checkpoint format"),
    ],
)
def test_not_a_checkpoint_says_what_it_is(tmp_path: Path, content: bytes, phrase: str) -> None:
    path = tmp_path / "model.ckpt"
    path.write_bytes(content)
    with pytest.raises(UnsupportedFormatError, match=phrase) as info:
        sniff(path)
    assert "tried: safetensors, tf1" in str(info.value)
    with pytest.raises(UnsupportedFormatError):
        open_checkpoint(path)


def test_archives_are_named_as_archives(tmp_path: Path) -> None:
    z = tmp_path / "chinese_L-12_H-768_A-12.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("chinese_L-12_H-768_A-12/vocab.txt", "[PAD]\n")
    with pytest.raises(UnsupportedFormatError, match=r"zip archive.*extract_archive"):
        sniff(z)
    t = tmp_path / "albert_base_zh.tar.gz"
    with tarfile.open(t, "w:gz") as tf:
        info = tarfile.TarInfo("albert/vocab.txt")
        tf.addfile(info, io.BytesIO(b""))
    with pytest.raises(UnsupportedFormatError, match="gzip"):
        sniff(t)


def test_folder_without_checkpoint_lists_its_files(tmp_path: Path) -> None:
    (tmp_path / "vocab.txt").write_text("[PAD]")
    (tmp_path / "bert_config.json").write_text("{}")
    with pytest.raises(UnsupportedFormatError, match=r"bert_config\.json, vocab\.txt"):
        sniff(tmp_path)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        sniff(tmp_path / "nope")


def test_unknown_format_name(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFormatError, match="unknown format 'onnx'"):
        open_checkpoint(_safetensors(tmp_path / "m.safetensors"), format="onnx")


def test_readers_close_their_files(tmp_path: Path) -> None:
    prefix = Bundle({"x": np.ones(2, np.float32)}).write(tmp_path / "m")
    with open_checkpoint(prefix) as r:
        r.get("x")
        assert r._files  # type: ignore[attr-defined]
    assert not r._files  # type: ignore[attr-defined]
