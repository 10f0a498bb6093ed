"""A tiny converted folder for task and CLI tests: TensorFlow (in .venv-ref) writes a random BERT
checkpoint with Google's variable names, zhplm converts it; and GPT-2 releases in the HF-era layout."""

from __future__ import annotations

import json
from pathlib import Path

import zhplm
from oracle import run_oracle


def converted_bert(tmp: Path, flavor: str | None = None) -> Path:
    """``tmp/ckpt`` (the original TF1 checkpoint) converted into ``tmp/out``, which is returned."""
    args = ["write", "--arch", "bert", "--out", str(tmp / "ckpt"), "--seed", "5"]
    if flavor:
        args += ["--flavor", flavor]
    run_oracle("bert_family.py", *args)
    zhplm.convert(tmp / "ckpt", tmp / "out")
    return tmp / "out"


def gpt2_release(folder: Path, vocab_file: Path, seed: int) -> None:
    """A GPT2-chitchat / CDial-GPT2-shaped release: pytorch_model.bin with the 4.2-era buffers, the era's
    config.json, the real ``vocab_file`` (random weights, scaled so that greedy continuations vary)."""
    import torch
    import transformers

    vocab = vocab_file.read_text(encoding="utf-8").split("\n")
    cfg = transformers.GPT2Config(vocab_size=len(vocab), n_embd=32, n_layer=2, n_head=4, n_positions=64)
    torch.manual_seed(seed)
    model = transformers.GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5 if p.dim() > 1 else 0.1)
        model.transformer.wpe.weight.mul_(4)
    sd = {k: v for k, v in model.state_dict().items()}
    for i in range(2):
        sd[f"transformer.h.{i}.attn.bias"] = torch.tril(torch.ones(64, 64)).view(1, 1, 64, 64)
        sd[f"transformer.h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    folder.mkdir(parents=True)
    torch.save(sd, folder / "pytorch_model.bin")
    config = {
        "n_ctx": 64,
        "n_embd": 32,
        "n_head": 4,
        "n_layer": 2,
        "n_positions": 64,
        "vocab_size": len(vocab),
    }
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (folder / "vocab.txt").write_text(vocab_file.read_text(encoding="utf-8"), encoding="utf-8")
