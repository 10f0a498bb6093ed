"""Plumbing shared by the ``peer_*.py`` oracles (run in ``.venv-ref`` only).

Each peer oracle builds a peer implementation of one architecture (one we did not write) with a tiny
config, fills every parameter with seeded random values of a visible scale, runs it on fixed inputs and
saves parameters, inputs and outputs to one ``.npz`` that the parity tests load into our model.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("USE_TF", "0")
os.environ.setdefault("USE_TORCH", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import torch


def randomize(model: torch.nn.Module, seed: int) -> None:
    """Every trainable parameter random: gains near 1, biases near 0, matrices scaled by 1/sqrt(fan_in).

    Frozen parameters (fixed sinusoidal tables) keep their values.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            noise = torch.randn(p.shape, generator=g)
            leaf = name.rsplit(".", 1)[-1]
            if "norm" in name.lower() and leaf in ("weight", "gamma"):
                p.copy_(1.0 + 0.1 * noise)
            elif leaf in ("bias", "beta"):
                p.copy_(0.1 * noise)
            elif "embed" in name:
                p.copy_(0.5 * noise)
            elif p.dim() >= 2:
                p.copy_(noise / p.shape[-1] ** 0.5)
            else:
                p.copy_(1.0 + 0.1 * noise)


def inputs(
    vocab: int, batch: int, length: int, seed: int, pad_rows: dict[int, int]
) -> dict[str, torch.Tensor]:
    """Random ids (never the pad id 0 inside a sequence), random segments, and right-padded rows.

    ``pad_rows`` maps a row to its true length; the rest of that row is pad id 0 with mask 0.
    """
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (batch, length), generator=g)
    types = torch.randint(0, 2, (batch, length), generator=g)
    mask = torch.ones(batch, length, dtype=torch.long)
    for row, n in pad_rows.items():
        ids[row, n:] = 0
        types[row, n:] = 0
        mask[row, n:] = 0
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}


def save(
    path: str | Path,
    state: dict[str, torch.Tensor],
    feeds: dict[str, torch.Tensor],
    outputs: dict[str, Any],
    meta: dict[str, Any],
) -> None:
    arrays: dict[str, np.ndarray] = {}
    for k, v in state.items():
        arrays["param:" + k] = v.detach().float().numpy()
    for k, v in feeds.items():
        arrays["input:" + k] = v.numpy()
    for k, v in outputs.items():
        if isinstance(v, (tuple, list)):
            for i, t in enumerate(v):
                arrays[f"output:{k}:{i}"] = t.detach().float().numpy()
        elif v is not None:
            arrays["output:" + k] = v.detach().float().numpy()
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    print(json.dumps({"saved": str(path), "arrays": len(arrays)}))


def out_path() -> Path:
    if len(sys.argv) != 2:
        raise SystemExit(f"usage: {sys.argv[0]} OUT.npz")
    return Path(sys.argv[1])
