"""A tiny converted folder for task and CLI tests: TensorFlow (in .venv-ref) writes a random BERT
checkpoint with Google's variable names, zhplm converts it."""

from __future__ import annotations

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
