"""MegatronBERT (Erlangshen layout) against transformers 4.46.3: the 4.x library writes a random
``pytorch_model.bin`` and computes the outputs; zhplm converts the file (restricted reader, no torch.load)
and loads it in transformers 5."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import zhplm
from helpers_modeling import PeerRun
from helpers_parity import compare, hf4_checkpoint
from zhplm.converter import record_parity

TOL = 1e-4
CONFIG = {
    "vocab_size": 60,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
}


def run_model(folder: Path, inputs: dict, collect: Callable[[Any], dict[str, Any]]) -> dict[str, np.ndarray]:
    """zhplm.load with eager attention (MegatronBERT has no SDPA path in transformers 5)."""
    import torch

    model, _tok, _prov, _ = zhplm.load(folder, attn_implementation="eager")
    feed = {k: torch.tensor(v) for k, v in inputs.items()}
    with torch.inference_mode():
        out = model(**feed, output_hidden_states=True)
    return {k: v.float().numpy() for k, v in collect(out).items()}


def tiny_vocab(path: Path, size: int) -> None:
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = [chr(0x4E00 + i) for i in range(size - len(specials))]
    path.write_text("\n".join(specials + chars) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def megatron(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PeerRun]:
    ckpt, peer = hf4_checkpoint("MegatronBertForPreTraining", CONFIG, tmp_path_factory.mktemp("megatron"))
    tiny_vocab(ckpt / "vocab.txt", CONFIG["vocab_size"])
    return ckpt, peer


def _outputs(peer: PeerRun) -> dict[str, np.ndarray]:
    n = CONFIG["num_hidden_layers"]
    return {
        "last_hidden_state": peer.outputs[f"hidden_states:{n}"].numpy(),
        "mlm_logits": peer.outputs["prediction_logits"].numpy(),
        "nsp_logits": peer.outputs["seq_relationship_logits"].numpy(),
    }


@pytest.mark.oracle
def test_megatron_bert_pytorch_matches_transformers4(tmp_path: Path, megatron: tuple[Path, PeerRun]) -> None:
    ckpt, peer = megatron
    result = zhplm.convert(ckpt, tmp_path / "out")
    assert result.arch == "megatron_bert" and result.format == "pytorch"
    assert result.architectures == ["MegatronBertForPreTraining"]
    assert result.heads == {"pooler": "trained", "mlm": "trained", "nsp": "trained"}
    inputs = {k: v.numpy().tolist() for k, v in peer.inputs.items()}
    ours = run_model(
        tmp_path / "out",
        inputs,
        lambda o: {
            "last_hidden_state": o.hidden_states[-1],
            "mlm_logits": o.prediction_logits,
            "nsp_logits": o.seq_relationship_logits,
        },
    )
    diffs = compare(ours, _outputs(peer), peer.inputs["attention_mask"].numpy())
    record_parity(
        tmp_path / "out",
        {"reference": "transformers 4.46.3 MegatronBertForPreTraining", "max_abs_diff": diffs},
    )
    assert max(diffs.values()) < TOL


@pytest.mark.oracle
def test_megatron_bert_without_heads_converts_to_the_base_model(
    tmp_path: Path, megatron: tuple[Path, PeerRun]
) -> None:
    """A bare encoder state dict (``embeddings.…``, as ``model.bert.state_dict()`` saves it) → MegatronBertModel."""
    import torch

    ckpt, peer = megatron
    bare = {
        k[len("bert.") :]: v for k, v in peer.params.items() if k.startswith("bert.") and "pooler" not in k
    }
    src = tmp_path / "bare"
    src.mkdir()
    torch.save(bare, src / "pytorch_model.bin")
    (src / "config.json").write_text((ckpt / "config.json").read_text())
    result = zhplm.convert(src, tmp_path / "out")
    assert result.arch == "megatron_bert" and result.architectures == ["MegatronBertModel"]
    assert result.heads == {"pooler": "absent", "mlm": "absent", "nsp": "absent"}
    inputs = {k: v.numpy().tolist() for k, v in peer.inputs.items()}
    ours = run_model(tmp_path / "out", inputs, lambda o: {"last_hidden_state": o.last_hidden_state})
    diffs = compare(ours, _outputs(peer), peer.inputs["attention_mask"].numpy())
    assert diffs["last_hidden_state"] < TOL
