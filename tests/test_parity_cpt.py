"""CPT against the ORIGINAL fastnlp/CPT ``finetune/modeling_cpt.py`` (snapshot pinned in SNAPSHOTS.txt), run in
``.venv-ref`` with transformers 4.46.3: it builds the tiny random model, saves the folder as the releases are
saved, and computes the reference — BERT encoder states, the S-Enc output the G-Dec attends to, generation
logits, both heads of ``CPTForMaskedLM`` and greedy decoding. zhplm converts the folder into its own classes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import zhplm
from helpers_parity import fnlp_checkpoint
from oracle import require_original
from zhplm.converter import record_parity

TINY = {
    "vocab_size": 120,
    "d_model": 32,
    "encoder_layers": 4,  # S-Enc 2 + U-Dec 2
    "decoder_layers": 2,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_ffn_dim": 64,
    "decoder_ffn_dim": 48,
    "max_position_embeddings": 64,
    "pad_token_id": 0,
    "bos_token_id": 2,
    "eos_token_id": 3,
    "decoder_start_token_id": 3,
    "forced_eos_token_id": None,
    "tokenizer_class": "BertTokenizer",
}
NEW_TOKENS = 12  # as the oracle
SEED = 1


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    require_original("fastnlp/CPT")
    tmp = tmp_path_factory.mktemp("cpt")
    ckpt, ref = fnlp_checkpoint("cpt", TINY, tmp, seed=SEED)
    result = zhplm.convert(ckpt, tmp / "out")
    assert result.arch == "cpt" and result.format == "pytorch"
    assert result.architectures == ["CPTForConditionalGeneration"] and result.heads == {"lm": "trained"}
    ignored = {name for name, _ in result.plan.ignored}
    assert {"lm_head.weight", "model.shared.weight", "model.decoder.embed_tokens.weight"} <= ignored
    return tmp / "out", ref


def _greedy(**extra: Any) -> dict[str, Any]:
    return {
        "do_sample": False,
        "num_beams": 1,
        "max_new_tokens": NEW_TOKENS,
        "min_new_tokens": NEW_TOKENS,
        **extra,
    }


@pytest.mark.oracle
def test_cpt_matches_the_original_code(converted: tuple[Path, dict[str, Any]]) -> None:
    import torch

    folder, ref = converted
    model, tokenizer, _, _ = zhplm.load(folder)
    assert type(model).__name__ == "CPTForConditionalGeneration"
    ids = torch.tensor(ref["input:input_ids"])
    mask = torch.tensor(ref["input:attention_mask"])
    real = ref["input:attention_mask"].astype(bool)
    with torch.inference_mode():
        out = model(
            input_ids=ids, attention_mask=mask, decoder_input_ids=torch.tensor(ref["input:decoder_input_ids"])
        )
        shared_state = model.get_encoder()(input_ids=ids, attention_mask=mask).shared_encoder_state
    states = torch.stack(out.encoder_hidden_states).numpy()
    diffs = {
        "encoder_hidden_states": float(np.abs(states - ref["encoder_hidden_states"])[:, real].max()),
        "encoder_last_hidden_state": float(
            np.abs(out.encoder_last_hidden_state.numpy() - ref["encoder_last_hidden_state"])[real].max()
        ),
        "logits": float(np.abs(out.logits.numpy() - ref["logits"]).max()),
    }
    record_parity(
        folder,
        {"reference": "fastnlp/CPT finetune/modeling_cpt.py (transformers 4.46.3)", "max_abs_diff": diffs},
    )
    assert max(diffs.values()) < 1e-4, diffs
    # the G-Dec attends to hidden state -decoder_layers-1 (the S-Enc output), not the last one
    assert states.shape[0] == TINY["encoder_layers"] + 1
    assert not np.allclose(ref["shared_encoder_state"], ref["encoder_last_hidden_state"], atol=1e-2)
    # generation encodes like the original's get_encoder wrapper: segment 0, not the forward pass's segment 1
    seg0 = model.model.encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
    assert torch.equal(shared_state, seg0[-TINY["decoder_layers"] - 1])
    with torch.inference_mode():
        greedy = model.generate(input_ids=ids, attention_mask=mask, **_greedy()).numpy()
        norepeat = model.generate(
            input_ids=ids, attention_mask=mask, **_greedy(no_repeat_ngram_size=1)
        ).numpy()
        segment1 = model.generate(
            input_ids=ids,
            attention_mask=mask,
            token_type_ids=torch.ones_like(ids),
            **_greedy(no_repeat_ngram_size=1),
        ).numpy()
    assert greedy.shape == (2, NEW_TOKENS + 1)
    assert np.array_equal(greedy, ref["generated"]), (greedy, ref["generated"])
    assert np.array_equal(norepeat, ref["generated_norepeat"]), (norepeat, ref["generated_norepeat"])
    assert (
        len(set(norepeat[0, 1:].tolist())) == NEW_TOKENS
    )  # tiny random models repeat; here every step differs
    assert not np.array_equal(segment1, ref["generated_norepeat"])  # the segment choice shows in the output
    assert tokenizer.convert_ids_to_tokens(tokenizer("的一")["input_ids"]) == ["[CLS]", "的", "一", "[SEP]"]


@pytest.mark.oracle
def test_cpt_understanding_head_matches_the_original(converted: tuple[Path, dict[str, Any]]) -> None:
    import torch
    from transformers import AutoModelForMaskedLM, AutoModelForSeq2SeqLM

    folder, ref = converted
    mlm = AutoModelForMaskedLM.from_pretrained(folder).eval()
    assert type(mlm).__name__ == "CPTForMaskedLM"
    ids = torch.tensor(ref["input:input_ids"])
    mask = torch.tensor(ref["input:attention_mask"])
    with torch.inference_mode():
        out = mlm(input_ids=ids, attention_mask=mask)
    real = ref["input:attention_mask"].astype(bool)
    assert np.abs(out.logits.numpy() - ref["mlm_enc_logits"])[real].max() < 1e-4
    assert np.abs(out.decoder_logits.numpy() - ref["mlm_dec_logits"]).max() < 1e-4
    assert type(AutoModelForSeq2SeqLM.from_pretrained(folder)).__name__ == "CPTForConditionalGeneration"


@pytest.mark.oracle
def test_cpt_ties_survive_save_and_reload(converted: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    import torch

    folder, _ = converted
    model, _, _, _ = zhplm.load(folder)
    model.save_pretrained(tmp_path / "again")
    again = type(model).from_pretrained(tmp_path / "again").eval()
    word = again.model.encoder.embeddings.word_embeddings.weight
    assert again.lm_head.weight.data_ptr() == word.data_ptr()
    assert again.model.decoder.embed_tokens.weight.data_ptr() == word.data_ptr()
    assert torch.equal(
        word, torch.tensor(np.asarray(model.model.encoder.embeddings.word_embeddings.weight.detach()))
    )


@pytest.mark.oracle
def test_cpt_config_that_does_not_fit_is_refused(
    converted: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    import shutil

    folder, _ = converted
    ckpt = tmp_path / "ckpt"
    shutil.copytree(folder.parent / "ckpt", ckpt)
    config = json.loads((ckpt / "config.json").read_text(encoding="utf-8"))
    (ckpt / "config.json").write_text(json.dumps({**config, "decoder_layers": 3}), encoding="utf-8")
    with pytest.raises(zhplm.errors.ConversionError, match=r"decoder_layers=3 but the weights have 2"):
        zhplm.convert(ckpt, tmp_path / "out")
    assert not (tmp_path / "out").exists()
