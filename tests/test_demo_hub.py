"""The demo's hub path against the loopback fake hub: search → download (hf source) → convert → fill-mask."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes.hf_hub import FakeHub
from fakes.http_server import FakeServer
from zhplm import demo


def _hub_files(tmp_path: Path) -> dict[str, bytes]:
    """What uer/chinese_roberta_L-2_H-128 holds on the hub (HF names, pytorch_model.bin, vocab.txt), here from
    a model trained by the demo's own maker and saved by transformers (not by zhplm)."""
    model, _ = demo.make_local_checkpoint(tmp_path / "made", steps=150)
    out = tmp_path / "hub"
    model.save_pretrained(out, safe_serialization=False)
    files = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    files["vocab.txt"] = (tmp_path / "made" / "vocab.txt").read_bytes()
    return files


def test_demo_takes_the_hub_path_when_the_hub_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    files = _hub_files(tmp_path)
    with FakeServer() as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.base)
        FakeHub(srv).repo("uer/chinese_roberta_L-2_H-128").add("main", files)
        lines: list[str] = []
        result = demo.run(lines.append)
    assert result.mode == "hub" and result.offline_reason is None, lines
    assert not any("not usable" in line for line in lines)
    assert result.converted is not None and (result.converted / "model.safetensors").exists()
    assert [f["top"][0][0] for f in result.fill_mask] == ["都", "饭", "觉"]
