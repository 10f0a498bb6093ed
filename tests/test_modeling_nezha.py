"""Our NEZHA against transformers 4.46.3's NezhaForPreTraining on the same random weights and inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers_modeling import PeerRun, check_input_contract, load_mapped, max_diff, run_peer
from zhplm.arch.modeling import register
from zhplm.arch.modeling.nezha import NezhaConfig, NezhaForMaskedLM, NezhaForPreTraining, NezhaModel


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> PeerRun:
    return run_peer("peer_nezha.py", tmp_path_factory.mktemp("peer-nezha"))


def peer_to_ours(name: str) -> str | None:
    """transformers 4.x NEZHA names -> ours: prefix ``nezha.`` becomes ``bert.``; its decoder weight is
    the tied word embedding and its decoder bias is ``cls.predictions.bias`` again."""
    if name in ("cls.predictions.decoder.weight", "cls.predictions.decoder.bias"):
        return None
    return "bert." + name[len("nezha.") :] if name.startswith("nezha.") else name


def ours_from(peer: PeerRun) -> NezhaForPreTraining:
    model = NezhaForPreTraining(NezhaConfig(**peer.meta["config"])).eval()
    load_mapped(model, peer.params, peer_to_ours)
    return model


@pytest.mark.oracle
def test_pretraining_outputs_match_transformers4(peer: PeerRun) -> None:
    model = ours_from(peer)
    with torch.no_grad():
        out = model(**peer.inputs, output_hidden_states=True, output_attentions=True)
    max_diff(out.prediction_logits, peer.outputs["prediction_logits"], "MLM logits")
    max_diff(out.seq_relationship_logits, peer.outputs["seq_relationship_logits"], "NSP logits")
    for i, h in enumerate(out.hidden_states):
        max_diff(h, peer.outputs[f"hidden_states:{i}"], f"hidden state {i}")
    for i, a in enumerate(out.attentions):
        max_diff(a, peer.outputs[f"attentions:{i}"], f"attention probs {i}")


@pytest.mark.oracle
def test_base_and_mlm_models_share_the_weights(peer: PeerRun, tmp_path: Path) -> None:
    """save_pretrained -> Auto*.from_pretrained gives our classes back with the same outputs."""
    import transformers

    register()
    model = ours_from(peer)
    model.save_pretrained(tmp_path)
    base = transformers.AutoModel.from_pretrained(tmp_path).eval()
    mlm = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path).eval()
    pre = transformers.AutoModelForPreTraining.from_pretrained(tmp_path).eval()
    assert (type(base), type(mlm), type(pre)) == (NezhaModel, NezhaForMaskedLM, NezhaForPreTraining)
    with torch.no_grad():
        max_diff(base(**peer.inputs).pooler_output, peer.outputs["pooler_output"], "pooler (AutoModel)")
        max_diff(
            mlm(**peer.inputs).logits, peer.outputs["prediction_logits"], "MLM logits (AutoModelForMaskedLM)"
        )
        max_diff(
            pre(**peer.inputs).prediction_logits, peer.outputs["prediction_logits"], "MLM logits (reloaded)"
        )
    assert mlm.cls.predictions.decoder.weight is mlm.bert.embeddings.word_embeddings.weight


def tiny(**kw: object) -> NezhaConfig:
    base: dict[str, object] = dict(
        vocab_size=40,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_relative_position=3,
    )
    base.update(kw)
    return NezhaConfig(**base)


def test_padded_batch_equals_unpadded_rows() -> None:
    torch.manual_seed(0)
    model = NezhaForMaskedLM(tiny()).eval()
    ids = torch.randint(1, 40, (2, 11))
    ids[1, 6:] = 0
    mask = (ids != 0).long()
    with torch.no_grad():
        batch = model(ids, attention_mask=mask).logits
        alone = model(ids[1:, :6]).logits
    max_diff(batch[1, :6], alone[0], "padded row vs the row alone")


def test_mlm_head_is_tied_and_config_round_trips(tmp_path: Path) -> None:
    model = NezhaForMaskedLM(tiny())
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    model.config.save_pretrained(tmp_path)
    import transformers

    register()
    cfg = transformers.AutoConfig.from_pretrained(tmp_path)
    assert isinstance(cfg, NezhaConfig)
    assert (cfg.max_relative_position, cfg.hidden_size) == (3, 16)


def test_tuple_outputs_and_eval_determinism() -> None:
    torch.manual_seed(0)
    model = NezhaModel(tiny()).eval()
    ids = torch.randint(1, 40, (2, 7))
    with torch.no_grad():
        first = model(ids, return_dict=False)
        second = model(ids, return_dict=False)
    assert isinstance(first, tuple)
    assert torch.equal(first[0], second[0])
    assert first[1].shape == (2, 16)


def test_input_contract() -> None:
    check_input_contract(NezhaModel(tiny()).eval(), vocab=40)


def test_importing_the_modeling_package_stays_light() -> None:
    """``zhplm.arch.modeling`` imports torch/transformers only when ``register()`` runs."""
    import subprocess
    import sys

    code = "import sys, zhplm.arch.modeling; print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_labels_give_the_masked_lm_loss() -> None:
    torch.manual_seed(0)
    model = NezhaForMaskedLM(tiny()).eval()
    ids = torch.randint(1, 40, (2, 7))
    labels = torch.full_like(ids, -100)
    labels[:, 2] = ids[:, 2]
    with torch.no_grad():
        out = model(ids, labels=labels)
    expected = torch.nn.functional.cross_entropy(out.logits[:, 2], ids[:, 2])
    max_diff(out.loss, expected, "MLM loss over the labelled positions")
