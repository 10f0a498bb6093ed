"""Our RoFormerV2 against junnyu's ``roformer`` 0.4.3 (V2 mode) and the original bert4keras 0.11.5, on the
same random weights and inputs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from helpers_modeling import PeerRun, bert4keras_run, check_input_contract, load_mapped, max_diff, run_peer
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


# Keras layer names in build order: MultiHeadAttention q, k, v, o; FeedForward i, o
_KERAS = {
    "MultiHeadSelfAttention/dense": "attention.self.query",
    "MultiHeadSelfAttention/dense_1": "attention.self.key",
    "MultiHeadSelfAttention/dense_2": "attention.self.value",
    "MultiHeadSelfAttention/dense_3": "attention.output.dense",
    "FeedForward/dense": "intermediate.dense",
    "FeedForward/dense_1": "output.dense",
}


def bert4keras_to_ours(params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for name, value in params.items():
        if name == "Embedding-Token/embeddings:0":
            out["roformer.embeddings.word_embeddings.weight"] = value
        elif name == "Embedding-Segment/embeddings:0":
            out["roformer.embeddings.token_type_embeddings.weight"] = value
        else:
            m = re.fullmatch(r"Transformer-(\d+)-(\w+/dense(?:_\d)?)/kernel:0", name)
            assert m and m.group(2) in _KERAS, f"unexpected bert4keras weight {name}"
            out[f"roformer.encoder.layer.{m.group(1)}.{_KERAS[m.group(2)]}.weight"] = value.t().contiguous()
    return out


@pytest.mark.oracle
def test_mlm_outputs_match_bert4keras() -> None:
    """The original RoFormerV2 (bert4keras 0.11.5 on TensorFlow), with its own epsilon 1e-7."""
    peer = bert4keras_run("roformer_v2")
    model = RoFormerV2ForMaskedLM(RoFormerV2Config(**peer.meta["config"])).eval()
    assert model.config.layer_norm_eps == 1e-7
    load_mapped(model, bert4keras_to_ours(peer.params), lambda name: name)
    with torch.no_grad():
        got = model(**peer.inputs, output_hidden_states=True)
    max_diff(got.logits, peer.outputs["logits"], "MLM logits vs bert4keras")
    for i, h in enumerate(got.hidden_states):
        max_diff(h, peer.outputs[f"hidden_states:{i}"], f"hidden state {i} vs bert4keras")


def test_input_contract() -> None:
    check_input_contract(RoFormerV2Model(tiny()).eval(), vocab=40)
