"""Helpers for the parity tests of zhplm's own model implementations (tests/test_modeling_*.py).

A peer oracle (tests/oracles/peer_*.py, run in .venv-ref) saves a peer model's random parameters, its
inputs and its outputs to one .npz; here we load those parameters into our model through a name map
written in the test, requiring that every parameter on both sides is accounted for.
"""

from __future__ import annotations

import functools
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from oracle import run_oracle

TOL = 1e-5


class PeerRun:
    """Parameters, inputs, outputs and meta data of one peer-oracle run."""

    def __init__(self, path: Path) -> None:
        data = np.load(path)
        self.params = {k[6:]: torch.from_numpy(data[k]) for k in data.files if k.startswith("param:")}
        self.inputs = {k[6:]: torch.from_numpy(data[k]) for k in data.files if k.startswith("input:")}
        self.outputs = {k[7:]: torch.from_numpy(data[k]) for k in data.files if k.startswith("output:")}
        self.meta: dict[str, Any] = json.loads(bytes(data["meta"]).decode())


def run_peer(script: str, tmp: Path) -> PeerRun:
    out = tmp / (Path(script).stem + ".npz")
    run_oracle(script, out)
    return PeerRun(out)


@functools.cache
def bert4keras_run(arch: str) -> PeerRun:
    """The bert4keras oracle's run for ``arch`` (one TensorFlow process per test session for both archs)."""
    return PeerRun(_bert4keras_dir() / f"{arch}.npz")


@functools.cache
def _bert4keras_dir() -> Path:
    out = Path(tempfile.mkdtemp(prefix="zhplm-peer-bert4keras-"))
    run_oracle("peer_bert4keras.py", out)
    return out


def load_mapped(
    model: torch.nn.Module, peer: dict[str, torch.Tensor], name_map: Callable[[str], str | None]
) -> None:
    """Copy peer parameters into ``model``; ``name_map`` gives our name (None = the peer's duplicate of a
    tied or absent weight, checked to be dropped on purpose by the map). Every parameter of ours must be set.
    """
    ours = model.state_dict()
    new: dict[str, torch.Tensor] = {}
    for name, value in peer.items():
        target = name_map(name)
        if target is None:
            continue
        assert target in ours, f"peer {name} maps to {target}, which our model lacks"
        assert ours[target].shape == value.shape, f"{name} -> {target}: {value.shape} vs {ours[target].shape}"
        assert target not in new, f"two peer parameters map to {target}"
        new[target] = value
    tied = {k for k in ours if k not in new and _is_tied(model, k, new)}
    missing = set(ours) - set(new) - tied
    assert not missing, f"our parameters not set from the peer: {sorted(missing)}"
    model.load_state_dict(new, strict=False)


def _is_tied(model: torch.nn.Module, key: str, new: dict[str, torch.Tensor]) -> bool:
    params = dict(model.named_parameters(remove_duplicate=False))
    if key not in params:
        return False
    return any(params.get(k) is params[key] for k in new if k != key)


def max_diff(ours: torch.Tensor, ref: torch.Tensor, what: str, tol: float = TOL) -> float:
    assert ours.shape == ref.shape, f"{what}: shape {tuple(ours.shape)} vs peer {tuple(ref.shape)}"
    diff = float((ours.detach().float() - ref.detach().float()).abs().max())
    print(f"max |ours - peer| {what}: {diff:.3e}")
    assert diff <= tol, f"{what}: max abs diff {diff:.3e} > {tol}"
    return diff


def masked(t: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Zero the padded positions of a ``[B, L, ...]`` tensor (their values are arbitrary in every implementation)."""
    m = mask.to(t.dtype)
    while m.dim() < t.dim():
        m = m.unsqueeze(-1)
    return t * m


def check_input_contract(model: torch.nn.Module, vocab: int) -> None:
    """What every one of our encoders promises about its inputs and outputs (model in eval mode)."""
    import pytest

    torch.manual_seed(0)
    ids = torch.randint(1, vocab, (2, 9))
    with torch.no_grad():
        first = model(ids, return_dict=False)
        again = model(ids, return_dict=True)
        embeds = model(inputs_embeds=model.get_input_embeddings()(ids))
        hidden = model(ids, output_hidden_states=True, output_attentions=True)
    assert isinstance(first, tuple)
    assert torch.equal(first[0], again[0]), "eval mode must be deterministic"
    max_diff(embeds[0], again[0], "inputs_embeds vs input_ids")
    assert len(hidden.hidden_states) == model.config.num_hidden_layers + 1
    assert len(hidden.attentions) == model.config.num_hidden_layers
    assert hidden.attentions[0].shape[-2:] == (9, 9)
    with pytest.raises(ValueError, match="exactly one"):
        model(ids, inputs_embeds=model.get_input_embeddings()(ids))
    with pytest.raises(ValueError, match="attention_mask"):
        model(ids, attention_mask=torch.ones(2, 8))
