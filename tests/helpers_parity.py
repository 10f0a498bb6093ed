"""Parity harness: an oracle (run in .venv-ref) writes an original-format checkpoint and computes the
reference outputs from it with an independent implementation; zhplm converts and loads the same files;
the outputs are compared and the max abs differences recorded in the converted folder's zhplm.json."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from oracle import run_oracle

INPUTS = {
    "input_ids": [[2, 10, 11, 4, 12, 13, 3], [2, 14, 15, 3, 16, 3, 0]],
    "token_type_ids": [[0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 1, 1, 0]],
    "attention_mask": [[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 0]],
}


def oracle_checkpoint(
    script: str,
    arch: str,
    tmp: Path,
    *,
    flavor: str | None = None,
    config: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Any] = INPUTS,
    seed: int = 0,
    impl: str | None = None,
) -> tuple[Path, dict[str, np.ndarray[Any, Any]]]:
    """Write the original checkpoint into ``tmp/ckpt`` and return it with the reference outputs."""
    ckpt = tmp / "ckpt"
    args: list[str] = ["write", "--arch", arch, "--out", str(ckpt), "--seed", str(seed)]
    if flavor:
        args += ["--flavor", flavor]
    if config is not None:
        (tmp / "config.json").write_text(json.dumps(config), encoding="utf-8")
        args += ["--config", str(tmp / "config.json")]
    run_oracle(script, *args)
    (tmp / "inputs.json").write_text(json.dumps(dict(inputs)), encoding="utf-8")
    fwd = [
        "forward",
        "--arch",
        arch,
        "--ckpt",
        str(ckpt),
        "--inputs",
        str(tmp / "inputs.json"),
        "--out",
        str(tmp / "ref.npz"),
    ]
    if flavor:
        fwd += ["--flavor", flavor]
    if impl:
        fwd += ["--impl", impl]
    run_oracle(script, *fwd)
    with np.load(tmp / "ref.npz") as ref:
        return ckpt, {k: ref[k] for k in ref.files}


def compare(
    ours: Mapping[str, np.ndarray[Any, Any]],
    ref: Mapping[str, np.ndarray[Any, Any]],
    mask: np.ndarray[Any, Any] | None = None,
) -> dict[str, float]:
    """Max abs difference per output; padded positions (mask == 0) are left out."""
    diffs = {}
    for name, value in ours.items():
        expected = ref[name]
        assert value.shape == expected.shape, f"{name}: ours {value.shape}, reference {expected.shape}"
        delta = np.abs(value.astype(np.float64) - expected.astype(np.float64))
        if mask is not None and delta.ndim >= 2 and delta.shape[:2] == mask.shape:
            delta = delta[mask.astype(bool)]
        diffs[name] = float(delta.max())
    print("max abs diff:", json.dumps(diffs))
    return diffs


def run_model(
    folder: Path, inputs: Mapping[str, Any], collect: Callable[[Any], dict[str, Any]]
) -> dict[str, Any]:
    """Load a converted folder with zhplm.load and run it on ``inputs``."""
    import torch

    import zhplm

    model, _tok, _prov, _ = zhplm.load(folder)
    feed = {
        k: torch.tensor(v)
        for k, v in inputs.items()
        if k in ("input_ids", "token_type_ids", "attention_mask")
    }
    with torch.inference_mode():
        out = model(**feed, output_hidden_states=True)
    return {k: v.detach().float().numpy() for k, v in collect(out).items()}


def hf4_checkpoint(
    cls: str, config: Mapping[str, Any], tmp: Path, seed: int = 0, max_shard_size: str | None = None
) -> tuple[Path, Any]:
    """transformers 4.46.3 writes ``tmp/ckpt`` (pytorch_model.bin + config.json; with ``max_shard_size``,
    ``pytorch_model-0000X-of-0000N.bin`` + its index) and its own outputs."""
    from helpers_modeling import PeerRun

    (tmp / "config.json").write_text(json.dumps(dict(config)), encoding="utf-8")
    shard = [max_shard_size] if max_shard_size else []
    run_oracle("peer_hf4_checkpoint.py", cls, tmp / "config.json", tmp / "ckpt", str(seed), *shard)
    return tmp / "ckpt", PeerRun(tmp / f"{cls}.npz")


def with_config(folder: Path, dest: Path, **changes: Any) -> Path:
    """A copy of a converted folder whose config.json has ``changes`` (e.g. a wrong ``layer_norm_eps``, to
    show that a tolerance would catch it)."""
    import shutil

    shutil.copytree(folder, dest)
    config = json.loads((dest / "config.json").read_text())
    (dest / "config.json").write_text(json.dumps({**config, **changes}))
    return dest


def fnlp_checkpoint(
    arch: str, config: Mapping[str, Any], tmp: Path, seed: int = 0
) -> tuple[Path, dict[str, np.ndarray[Any, Any]]]:
    """fnlp's BART (transformers 4.46.3) or CPT (the original ``modeling_cpt.py``) writes ``tmp/ckpt`` and its
    reference outputs (``tests/oracles/fnlp_seq2seq.py``)."""
    (tmp / "config.json").write_text(json.dumps(dict(config)), encoding="utf-8")
    run_oracle("fnlp_seq2seq.py", arch, tmp / "config.json", tmp / "ckpt", str(seed))
    with np.load(tmp / "ref.npz") as ref:
        return tmp / "ckpt", {k: ref[k] for k in ref.files}
