"""Our ChineseBERT against JunnYu's ``chinesebert`` 0.2.1 (transformers 4.46.3) on the same random weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers_modeling import PeerRun, load_mapped, masked, max_diff
from oracle import run_oracle
from zhplm.arch.modeling import register
from zhplm.arch.modeling.chinesebert import ChineseBertConfig, ChineseBertForMaskedLM, ChineseBertModel


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> PeerRun:
    tmp = tmp_path_factory.mktemp("peer-chinesebert")
    run_oracle("peer_chinesebert.py", "checkpoint", tmp / "ckpt", tmp / "peer.npz")
    return PeerRun(tmp / "peer.npz")


def peer_to_ours(name: str) -> str | None:
    """Same names; the peer's position_ids buffer and its tied decoder copies have no place of their own."""
    if name.endswith("embeddings.position_ids"):
        return None
    if name in ("cls.predictions.decoder.weight", "cls.predictions.decoder.bias"):
        return None
    return name


def ours_from(peer: PeerRun) -> ChineseBertForMaskedLM:
    cfg = dict(peer.meta["config"])
    model = ChineseBertForMaskedLM(ChineseBertConfig(**cfg)).eval()
    load_mapped(model, peer.params, peer_to_ours)
    return model


@pytest.mark.oracle
def test_mlm_outputs_match_the_chinesebert_package(peer: PeerRun) -> None:
    model = ours_from(peer)
    mask = peer.inputs["attention_mask"]
    assert torch.equal(peer.params["cls.predictions.decoder.weight"], model.cls.predictions.decoder.weight)
    with torch.no_grad():
        out = model(**peer.inputs, output_hidden_states=True)
    max_diff(masked(out.logits, mask), masked(peer.outputs["logits"], mask), "MLM logits")
    assert len(out.hidden_states) == len([k for k in peer.outputs if k.startswith("hidden_states:")])
    for i, h in enumerate(out.hidden_states):
        max_diff(masked(h, mask), masked(peer.outputs[f"hidden_states:{i}"], mask), f"hidden state {i}")
    with torch.no_grad():
        pooled = model.bert(**peer.inputs).pooler_output
    max_diff(pooled, peer.outputs["pooler_output"], "pooler")


@pytest.mark.oracle
def test_flat_pinyin_ids_as_the_original_tokenizer_gives_them(peer: PeerRun) -> None:
    model = ours_from(peer)
    feeds = dict(peer.inputs)
    feeds["pinyin_ids"] = feeds["pinyin_ids"].reshape(feeds["pinyin_ids"].shape[0], -1)
    mask = peer.inputs["attention_mask"]
    with torch.no_grad():
        logits = model(**feeds).logits
    max_diff(masked(logits, mask), masked(peer.outputs["logits"], mask), "MLM logits (flat pinyin ids)")


@pytest.mark.oracle
def test_auto_classes_load_our_classes_back(peer: PeerRun, tmp_path: Path) -> None:
    import transformers

    register()
    ours_from(peer).save_pretrained(tmp_path)
    mlm = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path).eval()
    base = transformers.AutoModel.from_pretrained(tmp_path).eval()
    assert (type(mlm), type(base)) == (ChineseBertForMaskedLM, ChineseBertModel)
    assert mlm.config.model_type == "chinesebert"
    mask = peer.inputs["attention_mask"]
    with torch.no_grad():
        max_diff(
            masked(mlm(**peer.inputs).logits, mask), masked(peer.outputs["logits"], mask), "reloaded MLM"
        )
        max_diff(base(**peer.inputs).pooler_output, peer.outputs["pooler_output"], "reloaded pooler")
    assert mlm.cls.predictions.decoder.weight is mlm.bert.embeddings.word_embeddings.weight


def tiny() -> ChineseBertConfig:
    return ChineseBertConfig(
        vocab_size=40,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        glyph_embedding_dim=12,
        pinyin_embedding_size=8,
    )


def _inputs(batch: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randint(1, 40, (batch, length), generator=g), torch.randint(
        0, 32, (batch, length, 8), generator=g
    )


def test_padded_batch_equals_unpadded_rows() -> None:
    torch.manual_seed(0)
    model = ChineseBertForMaskedLM(tiny()).eval()
    ids, pinyin = _inputs(2, 9)
    ids[1, 5:] = 0
    pinyin[1, 5:] = 0
    mask = (ids != 0).long()
    with torch.no_grad():
        batch = model(ids, pinyin, attention_mask=mask).logits
        alone = model(ids[1:, :5], pinyin[1:, :5]).logits
    max_diff(batch[1, :5], alone[0], "padded row vs the row alone")


def test_pinyin_and_glyph_change_the_output() -> None:
    """The fusion really uses both extra inputs: other pinyin ids or another glyph row change the logits."""
    torch.manual_seed(0)
    model = ChineseBertForMaskedLM(tiny()).eval()
    ids, pinyin = _inputs(1, 6)
    with torch.no_grad():
        ref = model(ids, pinyin).logits
        other_pinyin = model(ids, (pinyin + 1) % 32).logits
        model.bert.embeddings.glyph_embeddings.embedding.weight[ids[0, 2]] += 1.0
        other_glyph = model(ids, pinyin).logits
    assert (ref - other_pinyin).abs().max() > 1e-3
    assert (ref[0, 2] - other_glyph[0, 2]).abs().max() > 1e-3


def test_missing_or_misshaped_pinyin_ids_are_refused() -> None:
    model = ChineseBertModel(tiny()).eval()
    ids, pinyin = _inputs(2, 5)
    with pytest.raises(ValueError, match="pinyin_ids"):
        model(ids)
    with pytest.raises(ValueError, match="pinyin_ids must have shape"):
        model(ids, pinyin[:, :4])
    with pytest.raises(ValueError, match="input_ids"):
        model(pinyin_ids=pinyin, inputs_embeds=torch.zeros(2, 5, 16))


def test_tuple_outputs_and_determinism() -> None:
    torch.manual_seed(0)
    model = ChineseBertModel(tiny()).eval()
    ids, pinyin = _inputs(2, 7)
    with torch.no_grad():
        first = model(ids, pinyin, return_dict=False)
        second = model(ids, pinyin, return_dict=False)
    assert isinstance(first, tuple)
    assert torch.equal(first[0], second[0])
    assert first[1].shape == (2, 16)
