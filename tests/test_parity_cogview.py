"""CogView (``cogview``) through ``zhplm.convert`` against THUDM's own code (``tests/oracles/cogview_original.py``:
the original Megatron ``GPT2Model`` of ``mpu/sparse_transformer.py`` with its sandwich PB-relax LayerNorms, on
CPU, gloo world size 1 and 2). The oracle writes tiny random shards in the release's layout and names; zhplm
converts them, and its ``CogViewForCausalLM`` must give the original's logits (1e-4) for a first segment and
for a second one that reads the first one's layer inputs through the cache (the original's ``mems``), and the
original's greedy tokens (12, each recomputed from scratch there) through transformers' ``generate``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import zhplm
from oracle import require_original, run_oracle
from zhplm.converter import record_parity

REPO = "THUDM/CogView"
TOL = 1e-4
NEW_TOKENS = 12
INPUTS = {
    "segment1": [[11, 17, 33, 2, 60], [12, 13, 14, 15, 16]],
    "segment2": [[41, 7, 23, 88], [90, 3, 5, 71]],
    "prompt": [[1, 2, 3]],
    "max_new_tokens": NEW_TOKENS,
}


@pytest.fixture(scope="module", params=[1, 2], ids=["mp1", "mp2"])
def release(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, np.ndarray]]:
    """The release layout with 1 or 2 model-parallel shards (2: the merge of the fused QKV and the split
    embeddings is checked by the original's own two-rank logits)."""
    require_original(REPO)
    tmp = tmp_path_factory.mktemp("cogview")
    (tmp / "inputs.json").write_text(json.dumps(INPUTS), encoding="utf-8")
    run_oracle(
        "cogview_original.py", "write", "--out", tmp / "ckpt", "--seed", "3", "--mp", str(request.param)
    )
    run_oracle(
        "cogview_original.py",
        "forward",
        "--ckpt",
        tmp / "ckpt",
        "--inputs",
        tmp / "inputs.json",
        "--out",
        tmp / "ref.npz",
    )
    with np.load(tmp / "ref.npz") as ref:
        return tmp / "ckpt", {k: ref[k] for k in ref.files}


@pytest.fixture(scope="module")
def converted(release: tuple[Path, dict[str, np.ndarray]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cogview-out") / "model"
    result = zhplm.convert(release[0], out)  # arch detected from the names
    assert (result.arch, result.format, result.scheme) == ("cogview", "megatron", "megatron")
    assert result.architectures == ["CogViewForCausalLM"] and result.heads == {"lm": "trained"}
    return out


def _load(folder: Path) -> torch.nn.Module:
    """The model alone (these shards have no cog-pretrain.model beside them, so no tokenizer is written)."""
    from zhplm.arch.modeling.cogview import CogViewForCausalLM

    return CogViewForCausalLM.from_pretrained(folder).eval()


@pytest.mark.oracle
def test_config_comes_from_the_weights_and_config_json(converted: Path) -> None:
    config = json.loads((converted / "config.json").read_text())
    assert (config["num_layers"], config["hidden_size"], config["num_attention_heads"]) == (2, 32, 4)
    assert (config["vocab_size"], config["max_position_embeddings"]) == (256, 48)


@pytest.mark.oracle
def test_logits_of_two_segments_match_the_original(
    release: tuple[Path, dict[str, np.ndarray]], converted: Path
) -> None:
    ref = release[1]
    model = _load(converted)
    with torch.inference_mode():
        first = model(input_ids=torch.tensor(INPUTS["segment1"]), use_cache=True)
        assert first.cache is not None and first.cache.get_seq_length() == 5
        second = model(input_ids=torch.tensor(INPUTS["segment2"]), cache=first.cache, use_cache=True)
        assert second.cache is not None and second.cache.get_seq_length() == 9
        alone = model(input_ids=torch.tensor(INPUTS["segment2"]), use_cache=False)
    diff1 = float(np.abs(first.logits.numpy() - ref["logits"]).max())
    diff2 = float(np.abs(second.logits.numpy() - ref["logits2"]).max())
    record_parity(
        converted, {"reference": "THUDM/CogView GPT2Model (snapshot)", "max_abs_diff": max(diff1, diff2)}
    )
    assert diff1 < TOL and diff2 < TOL, (diff1, diff2)
    # the cache matters: without it the second segment's logits are other numbers
    assert float(np.abs(alone.logits.numpy() - ref["logits2"]).max()) > 1e-2


@pytest.mark.oracle
def test_greedy_generation_matches_the_original(
    release: tuple[Path, dict[str, np.ndarray]], converted: Path
) -> None:
    model = _load(converted)
    prompt = torch.tensor(INPUTS["prompt"])
    gen = model.generate(
        prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=NEW_TOKENS, do_sample=False
    )
    expected = release[1]["greedy"][0].astype(int).tolist()
    assert len(expected) == NEW_TOKENS and len(set(expected)) > 1
    assert gen[0, prompt.shape[1] :].tolist() == expected


def _tiny() -> torch.nn.Module:
    from zhplm.arch.modeling.cogview import CogViewConfig, CogViewForCausalLM

    torch.manual_seed(0)
    config = CogViewConfig(
        vocab_size=40, hidden_size=16, num_layers=2, num_attention_heads=2, max_position_embeddings=32
    )
    model = CogViewForCausalLM(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
    return model


def test_beam_search_reorders_the_cache() -> None:
    model = _tiny()
    ids = torch.tensor([[9, 5, 18, 22]])
    kw = dict(max_new_tokens=10, num_beams=3, do_sample=False, num_return_sequences=3)
    with torch.inference_mode():
        cached = model.generate(ids, **kw)
        recomputed = model.generate(ids, use_cache=False, **kw)
    assert cached.tolist() == recomputed.tolist()


def test_past_the_position_table_is_a_clear_error() -> None:
    model = _tiny()
    with pytest.raises(ValueError, match="more than CogView's 32"):
        model(input_ids=torch.zeros(1, 33, dtype=torch.long))


@pytest.fixture(scope="module", params=[0, 1], ids=["release-shape", "res-block"])
def vqvae_release(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The original VQ-VAE (stride 6, simple) at tiny sizes, with no residual block (as released) or one (whose
    in-place ReLU makes the skip add the rectified input)."""
    require_original(REPO)
    out = tmp_path_factory.mktemp("vqvae")
    run_oracle(
        "cogview_original.py", "vqvae", "--out", out, "--seed", "5", "--res-blocks", str(request.param)
    )
    return out


@pytest.mark.oracle
def test_vqvae_decoder_matches_the_original_code2img(vqvae_release: Path) -> None:
    from zhplm.arch.modeling.cogview_vqvae import CogViewVQVAE

    decoder = CogViewVQVAE.from_state_dict(torch.load(vqvae_release / "vqvae.pt", weights_only=True))
    with np.load(vqvae_release / "ref.npz") as ref:
        codes, images = torch.from_numpy(ref["codes"]), ref["images"]
    with torch.inference_mode():
        ours = decoder(codes)
        flat = decoder(codes.reshape(2, 16))
    assert ours.shape == (2, 3, 32, 32) and float(np.abs(images).max()) > 0.5
    assert float(np.abs(ours.numpy() - images).max()) < TOL
    assert torch.equal(ours, flat)


@pytest.mark.oracle
def test_vqvae_bad_input_is_a_clear_error(vqvae_release: Path) -> None:
    from zhplm.arch.modeling.cogview_vqvae import CogViewVQVAE
    from zhplm.errors import ConversionError

    state = torch.load(vqvae_release / "vqvae.pt", weights_only=True)
    decoder = CogViewVQVAE.from_state_dict(state)
    with pytest.raises(ValueError, match="0…63"):
        decoder(torch.full((1, 4, 4), 64))
    with pytest.raises(ValueError, match="not a square"):
        decoder(torch.zeros(1, 15, dtype=torch.long))
    with pytest.raises(ConversionError, match="not a CogView VQ-VAE"):
        CogViewVQVAE.from_state_dict({"word_embeddings.weight": torch.zeros(2, 2)})
    state.pop("module.dec.blocks.0.bias")
    with pytest.raises(ConversionError, match="lacks"):
        CogViewVQVAE.from_state_dict(state)


def test_a_left_padded_row_gets_what_it_gets_alone() -> None:
    """Pads are masked and positions start at a row's first token; PB-relax's whole-batch maximum only moves
    the LayerNorm ``eps``, so the logits agree to 1e-4 and greedy tokens exactly."""
    model = _tiny()
    prompts = [[9, 5, 18, 22, 7], [11, 30]]
    with torch.inference_mode():
        alone = []
        for p in prompts:
            ids = torch.tensor([p])
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=8, do_sample=False)
            alone.append(out[0, len(p) :].tolist())
        ids = torch.tensor([prompts[0], [0, 0, 0, *prompts[1]]])
        mask = torch.tensor([[1] * 5, [0, 0, 0, 1, 1]])
        batch = model.generate(ids, attention_mask=mask, max_new_tokens=8, do_sample=False, pad_token_id=0)
        padded = model(input_ids=ids, attention_mask=mask, use_cache=False).logits[1, 3:]
        single = model(input_ids=torch.tensor([prompts[1]]), use_cache=False).logits[0]
    assert float((padded - single).abs().max()) < 1e-4
    assert batch[:, 5:].tolist() == alone
