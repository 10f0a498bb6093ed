"""Our RoFormerV2 against junnyu's ``roformer`` 0.4.3 (V2 mode) on the same random weights and inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers_modeling import PeerRun, load_mapped, max_diff, run_peer
from zhplm.arch.modeling import register
from zhplm.arch.modeling.roformer_v2 import RoFormerV2Config, RoFormerV2ForMaskedLM, RoFormerV2Model


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> PeerRun:
    return run_peer("peer_roformer_v2.py", tmp_path_factory.mktemp("peer-roformer-v2"))


def peer_to_ours(name: str) -> str | None:
    """junnyu's names are ours; its decoder is the tied word embedding and its sinusoidal table is
    computed, not learned (we compute RoPE on the fly)."""
    if name in ("cls.predictions.decoder.weight", "roformer.encoder.embed_positions.weight"):
        return None
    return name


def ours_from(peer: PeerRun) -> RoFormerV2ForMaskedLM:
    model = RoFormerV2ForMaskedLM(RoFormerV2Config(**peer.meta["config"])).eval()
    load_mapped(model, peer.params, peer_to_ours)
    return model


@pytest.mark.oracle
def test_mlm_outputs_match_junnyu_roformer(peer: PeerRun) -> None:
    model = ours_from(peer)
    assert not any(n.endswith("bias") for n, _ in model.named_parameters())
    with torch.no_grad():
        out = model(**peer.inputs, output_hidden_states=True, output_attentions=True)
        fused = model(**peer.inputs)
    max_diff(out.logits, peer.outputs["logits"], "MLM logits (eager attention)")
    max_diff(fused.logits, peer.outputs["logits"], "MLM logits (SDPA)")
    for i, h in enumerate(out.hidden_states):
        max_diff(h, peer.outputs[f"hidden_states:{i}"], f"hidden state {i}")
    for i, a in enumerate(out.attentions):
        max_diff(a, peer.outputs[f"attentions:{i}"], f"attention probs {i}")


@pytest.mark.oracle
def test_auto_classes_reload_ours(peer: PeerRun, tmp_path: Path) -> None:
    import transformers

    register()
    ours_from(peer).save_pretrained(tmp_path)
    base = transformers.AutoModel.from_pretrained(tmp_path).eval()
    mlm = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path).eval()
    assert (type(base), type(mlm)) == (RoFormerV2Model, RoFormerV2ForMaskedLM)
    with torch.no_grad():
        last = base(**peer.inputs).last_hidden_state
        max_diff(last, peer.outputs["hidden_states:2"], "last hidden state (AutoModel)")
        max_diff(mlm(**peer.inputs).logits, peer.outputs["logits"], "MLM logits (AutoModelForMaskedLM)")
    assert mlm.cls.predictions.decoder.weight is mlm.roformer.embeddings.word_embeddings.weight


def tiny() -> RoFormerV2Config:
    return RoFormerV2Config(
        vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32
    )


def test_padded_batch_equals_unpadded_rows() -> None:
    torch.manual_seed(0)
    model = RoFormerV2ForMaskedLM(tiny()).eval()
    ids = torch.randint(1, 40, (2, 11))
    ids[1, 6:] = 0
    with torch.no_grad():
        batch = model(ids, attention_mask=(ids != 0).long()).logits
        alone = model(ids[1:, :6]).logits
    max_diff(batch[1, :6], alone[0], "padded row vs the row alone")


def test_mlm_head_is_the_tied_embedding_without_bias() -> None:
    torch.manual_seed(0)
    model = RoFormerV2ForMaskedLM(tiny()).eval()
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    ids = torch.randint(1, 40, (1, 5))
    with torch.no_grad():
        out = model(ids, output_hidden_states=True)
    expected = out.hidden_states[-1] @ model.roformer.embeddings.word_embeddings.weight.t()
    max_diff(out.logits, expected, "logits vs hidden·Eᵀ")
