"""Our GAU-α against the original: bert4keras 0.11.5's GatedAttentionUnit/RoFormerV2 on TensorFlow."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from helpers_modeling import PeerRun, bert4keras_run, check_input_contract, load_mapped, max_diff
from zhplm.arch.modeling import register
from zhplm.arch.modeling.gau_alpha import GAUAlphaConfig, GAUAlphaForMaskedLM, GAUAlphaModel


@pytest.fixture(scope="module")
def peer() -> PeerRun:
    return bert4keras_run("gau_alpha")


# Keras layer names inside one GatedAttentionUnit, in build order: i_dense, q/k ScaleOffset, o_dense
_KERAS = {
    "dense/kernel:0": "gau.i_dense.weight",
    "dense_1/kernel:0": "gau.o_dense.weight",
    "scale_offset/gamma:0": "gau.q_scaleoffset.gamma",
    "scale_offset_1/gamma:0": "gau.k_scaleoffset.gamma",
}


def to_ours(params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """bert4keras weights -> our names; Keras kernels are [in, out], ours [out, in]."""
    out: dict[str, torch.Tensor] = {}
    for name, value in params.items():
        if name == "Embedding-Token/embeddings:0":
            out["gau_alpha.embeddings.word_embeddings.weight"] = value
        elif name == "Embedding-Segment/embeddings:0":
            out["gau_alpha.embeddings.token_type_embeddings.weight"] = value
        else:
            m = re.fullmatch(r"Transformer-(\d+)-GatedAttentionUnit/(.+)", name)
            assert m and m.group(2) in _KERAS, f"unexpected bert4keras weight {name}"
            ours = f"gau_alpha.encoder.layer.{m.group(1)}.{_KERAS[m.group(2)]}"
            out[ours] = value.t().contiguous() if value.dim() == 2 else value
    return out


def ours_from(peer: PeerRun) -> GAUAlphaForMaskedLM:
    cfg = {k: v for k, v in peer.meta["config"].items() if k != "num_attention_heads"}
    model = GAUAlphaForMaskedLM(GAUAlphaConfig(**cfg)).eval()
    load_mapped(model, to_ours(peer.params), lambda name: name)
    return model


@pytest.mark.oracle
def test_mlm_outputs_match_bert4keras(peer: PeerRun) -> None:
    """Rows of 24, 20 and 10 keys: softmax_plus' log(n)/log(512) and its n >= 16 floor both run."""
    model = ours_from(peer)
    with torch.no_grad():
        eager = model(**peer.inputs, output_hidden_states=True, output_attentions=True)
        fused = model(**peer.inputs, output_hidden_states=True)
    max_diff(eager.logits, peer.outputs["logits"], "MLM logits (eager attention)")
    max_diff(fused.logits, peer.outputs["logits"], "MLM logits (SDPA)")
    for i, h in enumerate(fused.hidden_states):
        max_diff(h, peer.outputs[f"hidden_states:{i}"], f"hidden state {i}")


@pytest.mark.oracle
def test_auto_classes_reload_ours(peer: PeerRun, tmp_path: Path) -> None:
    import transformers

    register()
    ours_from(peer).save_pretrained(tmp_path)
    base = transformers.AutoModel.from_pretrained(tmp_path).eval()
    mlm = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path).eval()
    assert (type(base), type(mlm)) == (GAUAlphaModel, GAUAlphaForMaskedLM)
    with torch.no_grad():
        max_diff(
            base(**peer.inputs).last_hidden_state, peer.outputs["hidden_states:2"], "last hidden (AutoModel)"
        )
        max_diff(mlm(**peer.inputs).logits, peer.outputs["logits"], "MLM logits (AutoModelForMaskedLM)")
    assert mlm.cls.predictions.decoder.weight is mlm.gau_alpha.embeddings.word_embeddings.weight


def tiny() -> GAUAlphaConfig:
    return GAUAlphaConfig(
        vocab_size=40, hidden_size=16, num_hidden_layers=2, intermediate_size=24, attention_key_size=8
    )


@pytest.mark.parametrize("true_len", [20, 6])
def test_padded_batch_equals_unpadded_rows(true_len: int) -> None:
    """softmax_plus counts only unmasked keys, so padding changes nothing (above and below the floor)."""
    torch.manual_seed(0)
    model = GAUAlphaForMaskedLM(tiny()).eval()
    ids = torch.randint(1, 40, (2, 26))
    ids[1, true_len:] = 0
    with torch.no_grad():
        batch = model(ids, attention_mask=(ids != 0).long()).logits
        alone = model(ids[1:, :true_len]).logits
    max_diff(batch[1, :true_len], alone[0], "padded row vs the row alone")


def test_mlm_head_is_the_tied_embedding() -> None:
    model = GAUAlphaForMaskedLM(tiny())
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert not any(n.endswith("bias") for n, _ in model.named_parameters())


def test_input_contract() -> None:
    check_input_contract(GAUAlphaModel(tiny()).eval(), vocab=40)
