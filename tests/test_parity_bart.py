"""fnlp Chinese BART (HF-era ``pytorch_model.bin`` folders) against transformers 4.46.3's
``BartForConditionalGeneration``, which writes the tiny random folder and computes the reference: encoder
output, decoder logits and greedy decoding, token for token. Both published revisions (v1.0 sizes and the
hub's later default branch) convert and are named in the notes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import zhplm
from helpers_parity import fnlp_checkpoint
from zhplm.converter import record_parity

TINY = {
    "vocab_size": 120,
    "d_model": 32,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_ffn_dim": 64,
    "decoder_ffn_dim": 64,
    "max_position_embeddings": 64,
    "pad_token_id": 0,
    "bos_token_id": 2,
    "eos_token_id": 3,
    "decoder_start_token_id": 3,
    "forced_eos_token_id": None,
    "tokenizer_class": "BertTokenizer",
}
NEW_TOKENS = 12  # as the oracle


def run_ours(folder: Path, ref: dict[str, Any]) -> dict[str, Any]:
    import torch

    model, tokenizer, _, _ = zhplm.load(folder)
    ids = torch.tensor(ref["input:input_ids"])
    mask = torch.tensor(ref["input:attention_mask"])
    greedy = {
        "do_sample": False,
        "num_beams": 1,
        "max_new_tokens": NEW_TOKENS,
        "min_new_tokens": NEW_TOKENS,
    }
    with torch.inference_mode():
        out = model(
            input_ids=ids, attention_mask=mask, decoder_input_ids=torch.tensor(ref["input:decoder_input_ids"])
        )
        return {
            "model": model,
            "tokenizer": tokenizer,
            "encoder_last_hidden_state": out.encoder_last_hidden_state.numpy(),
            "logits": out.logits.numpy(),
            "generated": model.generate(input_ids=ids, attention_mask=mask, **greedy).numpy(),
            "generated_norepeat": model.generate(
                input_ids=ids, attention_mask=mask, no_repeat_ngram_size=1, **greedy
            ).numpy(),
        }


def diffs_of(ours: dict[str, Any], ref: dict[str, Any]) -> dict[str, float]:
    real = ref["input:attention_mask"].astype(bool)
    return {
        "encoder_last_hidden_state": float(
            np.abs(ours["encoder_last_hidden_state"] - ref["encoder_last_hidden_state"])[real].max()
        ),
        "logits": float(np.abs(ours["logits"] - ref["logits"]).max()),
    }


@pytest.mark.oracle
def test_bart_folder_matches_transformers4(tmp_path: Path) -> None:
    import torch

    ckpt, ref = fnlp_checkpoint("bart", TINY, tmp_path)
    result = zhplm.convert(ckpt, tmp_path / "out")
    assert result.arch == "bart" and result.format == "pytorch"
    assert result.architectures == ["BartForConditionalGeneration"] and result.heads == {"lm": "trained"}
    ignored = {name for name, _ in result.plan.ignored}
    assert {"lm_head.weight", "model.encoder.embed_tokens.weight", "final_logits_bias"} <= ignored
    ours = run_ours(tmp_path / "out", ref)
    diffs = diffs_of(ours, ref)
    record_parity(
        tmp_path / "out",
        {"reference": "transformers 4.46.3 BartForConditionalGeneration", "max_abs_diff": diffs},
    )
    assert diffs["encoder_last_hidden_state"] < 1e-4 and diffs["logits"] < 1e-4
    assert ours["generated"].shape[1] > NEW_TOKENS  # the start token plus 12 generated ones
    assert np.array_equal(ours["generated"], ref["generated"])
    assert np.array_equal(ours["generated_norepeat"], ref["generated_norepeat"])
    assert len(set(ours["generated_norepeat"][0, 1:].tolist())) == NEW_TOKENS
    model, tokenizer = ours["model"], ours["tokenizer"]
    assert type(tokenizer).__name__.startswith("BertTokenizer")  # fnlp's releases use BertTokenizer
    vocab = (ckpt / "vocab.txt").read_text(encoding="utf-8").split("\n")
    assert tokenizer.convert_ids_to_tokens(tokenizer("的一")["input_ids"]) == ["[CLS]", "的", "一", "[SEP]"]
    assert vocab.index("的") == tokenizer.convert_tokens_to_ids("的")
    shared = model.model.shared.weight
    assert model.lm_head.weight.data_ptr() == shared.data_ptr()  # the head stays tied to the embedding
    assert torch.equal(model.model.decoder.embed_tokens.weight, shared)


@pytest.mark.oracle
@pytest.mark.parametrize(
    ("vocab", "positions", "says"),
    [(21128, 512, "fnlp v1.0"), (51271, 1024, "fnlp v2.0")],
)
def test_both_hub_revisions_convert_and_are_named(
    tmp_path: Path, vocab: int, positions: int, says: str
) -> None:
    """v1.0 (the list's: BERT vocabulary, 512 positions) and the default branch since 2022-12-30 (51271, 1024)."""
    config = {
        **TINY,
        "vocab_size": vocab,
        "max_position_embeddings": positions,
        "d_model": 8,
        "encoder_attention_heads": 2,
        "decoder_attention_heads": 2,
        "encoder_layers": 1,
        "decoder_layers": 1,
        "encoder_ffn_dim": 16,
        "decoder_ffn_dim": 16,
    }
    ckpt, ref = fnlp_checkpoint("bart", config, tmp_path, seed=3)
    result = zhplm.convert(ckpt, tmp_path / "out", arch="bart")
    assert any(note.startswith(f"release: {says}") for note in result.notes), result.notes
    saved = json.loads((tmp_path / "out" / "zhplm.json").read_text(encoding="utf-8"))
    assert any(says in note for note in saved["notes"])
    ours = run_ours(tmp_path / "out", ref)
    assert max(diffs_of(ours, ref).values()) < 1e-4
    assert np.array_equal(ours["generated"], ref["generated"])


@pytest.mark.oracle
def test_a_config_that_does_not_fit_the_weights_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    ckpt, _ = fnlp_checkpoint("bart", TINY, tmp_path)
    config = json.loads((ckpt / "config.json").read_text(encoding="utf-8"))
    (ckpt / "config.json").write_text(json.dumps({**config, "vocab_size": 21128}), encoding="utf-8")
    with pytest.raises(zhplm.errors.ConversionError, match=r"vocab_size=21128 but the weights have 120"):
        zhplm.convert(ckpt, tmp_path / "out", arch="bart")
    assert not (tmp_path / "out").exists()
    (ckpt / "config.json").unlink()
    with pytest.raises(zhplm.errors.ConversionError, match=r"needs its config\.json"):
        zhplm.convert(ckpt, tmp_path / "out", arch="bart")
    assert not (tmp_path / "out").exists()
