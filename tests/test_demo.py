"""The README's first command (issue 11): offline it says so in one line, then runs the whole path on a BERT it
makes in an original release format, and never just fails. The hub path needs a network this machine lacks."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from zhplm import config
from zhplm.cli.main import main
from zhplm.demo import CORPUS, HUB_MODEL, hub_unreachable
from zhplm.formats.torch_pickle import LEGACY_HEAD

ROOT = Path(__file__).resolve().parents[1]


def test_offline_demo_runs_the_whole_path(capsys: pytest.CaptureFixture[str]) -> None:
    # conftest sets HF_HUB_OFFLINE=1: the demo must notice by itself, without --offline
    assert main(["demo"]) == 0
    out = capsys.readouterr().out.splitlines()
    offline = [line for line in out if "hub" in line and "not usable" in line]
    assert len(offline) == 1 and out.index(offline[0]) == 1  # one line, right after the search
    assert out[0].startswith("search ") and HUB_MODEL in out[0]
    original = config.home() / "demo" / "chinese_demo_L-2_H-64_A-2"
    # the original format: a legacy (pre-zip) torch pickle with pytorch-pretrained-BERT's names
    assert (original / "pytorch_model.bin").read_bytes()[: len(LEGACY_HEAD)] == LEGACY_HEAD
    assert b"LayerNorm.gamma" in (original / "pytorch_model.bin").read_bytes()
    assert {p.name for p in original.iterdir()} == {"pytorch_model.bin", "bert_config.json", "vocab.txt"}
    converted = config.home() / "demo" / "converted"
    assert (converted / "model.safetensors").exists() and (converted / "zhplm.json").exists()
    verify = next(line for line in out if line.startswith("verify:"))
    assert float(verify.rsplit("=", 1)[1]) < 1e-5
    # fill-mask answers the corpus's own sentences: the model learned them, the conversion kept it
    fills = {line.split("→")[0].strip(): line.split("→")[1].split()[0] for line in out if "[MASK]" in line}
    assert fills == {
        "北京是中国的首[MASK]。": "都",
        "妈妈在厨房做[MASK]。": "饭",
        "猫在沙发上睡[MASK]。": "觉",
    }
    for text, token in fills.items():
        assert text.replace("[MASK]", token) in CORPUS
    sims = [float(line.split()[-1]) for line in out if " / " in line]
    assert len(sims) == 2 and sims[0] > sims[1]  # near-paraphrase above an unrelated sentence
    assert out[-1].startswith("done in ")


def test_demo_script_runs_the_cli_demo() -> None:
    script = (ROOT / "scripts" / "demo.sh").read_text(encoding="utf-8")
    assert ".venv/bin/zhplm demo" in script
    readme = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert readme[3].startswith("bash scripts/demo.sh") and "fill-mask" in readme[3]


def test_hub_check_tells_a_closed_port_from_an_open_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
        assert hub_unreachable(timeout=2) is None
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    reason = hub_unreachable(timeout=2)
    assert reason is not None and f"127.0.0.1:{port}" in reason
    monkeypatch.setenv("ZHPLM_OFFLINE", "1")
    assert hub_unreachable() == "ZHPLM_OFFLINE is set"
