"""紫东太初 (arch ``taichu``): catalog + guided fetch + inspect, and a precise refusal to convert or load.

The release is MindSpore/Ascend OPT; the tiny checkpoint here is written in MindSpore's ``.ckpt`` protobuf layout
(``test_formats_mindspore.write_ckpt``) with the tensor names of ``mindspore-ai/zidongtaichu``'s
``UniterThreeModel`` (``uniter.embeddings…``, ``uniter.img_embeddings…``, ``uniter.audio_embeddings…``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import zhplm
from test_formats_mindspore import write_ckpt
from zhplm.errors import ConversionError, ManualDownloadRequired

ROWS = ("taichu-light-vision-text", "taichu-text-gpt", "taichu-vision", "taichu-speech")
OPT_TENSORS = {
    "uniter.embeddings.word_embeddings.embedding_table": np.arange(240, dtype=np.float32).reshape(30, 8),
    "uniter.embeddings.layernorm.gamma": np.ones(8, np.float32),
    "uniter.img_embeddings.img_linear.weight": np.ones((8, 6), np.float16),
    "uniter.audio_embeddings.audio_linear.weight": np.ones((8, 4), np.float32),
    "uniter.encoder.encoder.blocks.0.attention.dense1.weight": np.ones((8, 8), np.float32),
}


@pytest.fixture(autouse=True)
def _store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHPLM_HOME", str(tmp_path / "home"))


@pytest.fixture
def opt_ckpt(tmp_path: Path) -> Path:
    path = tmp_path / "OPT_1-38_136.ckpt"
    write_ckpt(path, OPT_TENSORS)
    return path


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from zhplm.cli.main import main

    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_taichu_stays_planned_and_refused_consistently() -> None:
    from zhplm.arch import arch_names as registered
    from zhplm.catalog import get_catalog
    from zhplm.catalog.archs import PLANNED, REFUSED, is_convertible, is_known

    assert "taichu" in PLANNED and "taichu" not in registered() and not is_convertible("taichu")
    assert set(REFUSED) <= set(PLANNED) and is_known("taichu")
    for rid in ROWS:
        record = get_catalog().get(rid)
        assert record.arch == "taichu"
        assert all(d.format == "mindspore" for d in record.downloads if d.column == "mindspore")


@pytest.mark.parametrize("rid", ROWS)
def test_info_gives_the_steps_and_what_is_not_possible(rid: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(["info", rid], capsys)
    assert code == 0
    assert "how to get it" in out and f"zhplm import {rid} PATH" in out
    assert "zhplm inspect PATH" in out and "MindSpore" in out and "Ascend" in out


def test_download_stops_with_guided_steps(capsys: pytest.CaptureFixture[str]) -> None:
    from zhplm.get import download

    with pytest.raises(ManualDownloadRequired) as err:
        download("taichu-text-gpt")
    text = str(err.value)
    assert "https://pan.baidu.com/s/1Wsu5OVlQBNai24NhNiaqRw" in text and "nos5" in text
    assert "expect: mindspore checkpoint" in text and "*.ckpt" in text
    assert "zhplm import taichu-text-gpt" in text and "zhplm inspect" in text
    assert "will not convert taichu-text-gpt" in text
    code, out, err_text = _cli(["download", "taichu-vision"], capsys)
    assert code == 4 and "gitee.com/zidongtaichu/multi-modal-models/tree/master/vision" in out + err_text


@pytest.mark.parametrize("rid", ROWS)
def test_convert_by_id_is_refused_with_the_reason_before_the_store(rid: str, tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match=r"cannot convert arch 'taichu'.*MindSpore.*Ascend") as err:
        zhplm.convert(rid, tmp_path / "out")
    assert "not in the store" not in str(err.value)
    assert "cross-modal" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_load_by_id_is_refused() -> None:
    with pytest.raises(ConversionError, match=r"taichu-vision cannot be loaded: .*MindSpore"):
        zhplm.load("taichu-vision")


def test_a_checkpoint_with_opt_names_is_refused_and_left_alone(opt_ckpt: Path, tmp_path: Path) -> None:
    before = opt_ckpt.read_bytes()
    with pytest.raises(ConversionError, match=r"cannot convert arch 'taichu'"):
        zhplm.convert(opt_ckpt, tmp_path / "out")
    with pytest.raises(ConversionError, match=r"cannot convert arch 'taichu'"):
        zhplm.convert(opt_ckpt, tmp_path / "out", arch="taichu")
    assert opt_ckpt.read_bytes() == before and not (tmp_path / "out").exists()


def test_inspect_lists_the_tensors_and_names_the_rows(
    opt_ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(["inspect", str(opt_ckpt), "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    tensors = {t["name"]: (t["shape"], t["dtype"]) for t in report["tensors"]}
    assert tensors == {n: (list(a.shape), str(a.dtype)) for n, a in OPT_TENSORS.items()}
    assert report["guess"]["archs"] == ["taichu"]
    assert (report["guess"]["vocab"], report["guess"]["hidden"]) == (30, 8)
    assert any("will not convert or load" in n for n in report["guess"]["notes"])
    assert [c["id"] for c in report["candidates"]] == list(ROWS)
    code, text, _ = _cli(["inspect", str(opt_ckpt)], capsys)
    assert (
        "uniter.img_embeddings.img_linear.weight" in text and "[8, 6]" in text and "pass --arch" not in text
    )


def test_the_other_archs_are_not_refused() -> None:
    from zhplm.catalog.archs import refusal, refused_by_names

    assert refusal("bert") is None and refusal(None) is None
    assert refused_by_names(["bert.embeddings.word_embeddings.weight", "uniter.embeddings.x"]) is None
