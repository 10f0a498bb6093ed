"""CogView test fixtures: the release's sentencepiece model, and a tiny text-to-image release (GPT shard with
the release vocabulary, an 8192-code VQ-VAE, ``cog-pretrain.model``) written by THUDM's own code, converted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import zhplm
from oracle import require_original, run_oracle

REPO = "THUDM/CogView"
SP_MODEL = Path(__file__).resolve().parents[1] / ".." / "shared" / "assets" / "THUDM+CogView" / "pretrained"
SP_MODEL = SP_MODEL / "chinese_sentencepiece" / "cog-pretrain.model"
VOCAB = 58240  # 58219 ids, padded to a multiple of 128 as prepare_tokenizer pads


def sp_model() -> Path:
    if not SP_MODEL.is_file():
        pytest.skip(f"the release's cog-pretrain.model is not at {SP_MODEL}")
    return SP_MODEL


@pytest.fixture(scope="module")
def t2i_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny GPT shard (release vocabulary), a tiny 8192-code VQ-VAE and cog-pretrain.model in one folder."""
    require_original(REPO)
    tmp = tmp_path_factory.mktemp("cogview-t2i")
    run_oracle("cogview_original.py", "write", "--out", tmp / "ckpt", "--seed", "7", "--vocab", str(VOCAB))
    run_oracle("cogview_original.py", "vqvae", "--out", tmp / "vq", "--seed", "11", "--n-embed", "8192")
    shutil.copy(sp_model(), tmp / "ckpt" / "cog-pretrain.model")
    shutil.copy(tmp / "vq" / "vqvae.pt", tmp / "ckpt" / "vqvae_hard_biggerset_011.pt")
    return tmp / "ckpt"


@pytest.fixture(scope="module")
def t2i_converted(t2i_release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cogview-t2i-out") / "model"
    result = zhplm.convert(t2i_release, out)
    assert result.arch == "cogview"
    assert any("VQ-VAE encoder + decoder (8192 codes)" in n for n in result.notes), result.notes
    assert (out / "vqvae.safetensors").is_file() and (out / "cog-pretrain.model").is_file()
    return out
