"""bloom-6b4-zh layout (HF PyTorch BLOOM) against transformers 4.46.3's BloomForCausalLM: the 4.x library
writes a random pytorch_model.bin and its logits; zhplm converts (restricted reader) and loads it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import zhplm
from helpers_parity import compare, hf4_checkpoint
from zhplm.converter import record_parity

CONFIG = {"vocab_size": 80, "hidden_size": 32, "n_layer": 2, "n_head": 4, "layer_norm_epsilon": 1e-5}


def _tokenizer(folder: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {chr(0x4E00 + i): i for i in range(CONFIG["vocab_size"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=chr(0x4E00)))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "PreTrainedTokenizerFast"}))


@pytest.mark.oracle
def test_bloom_hf_checkpoint_matches_transformers4(tmp_path: Path) -> None:
    import torch

    ckpt, peer = hf4_checkpoint("BloomForCausalLM", CONFIG, tmp_path)
    _tokenizer(ckpt)
    result = zhplm.convert(ckpt, tmp_path / "out")
    assert result.arch == "bloom" and result.format == "pytorch"
    assert result.architectures == ["BloomForCausalLM"] and result.heads == {"lm": "trained"}
    assert any(name == "lm_head.weight" for name, _ in result.plan.ignored)
    model, tokenizer, _, _ = zhplm.load(tmp_path / "out")
    feed = {k: v for k, v in peer.inputs.items() if k in ("input_ids", "attention_mask")}
    with torch.inference_mode():
        out = model(**feed)
    mask = peer.inputs["attention_mask"].numpy()
    diffs = compare({"logits": out.logits.numpy()}, {"logits": peer.outputs["logits"].numpy()}, mask)
    record_parity(
        tmp_path / "out", {"reference": "transformers 4.46.3 BloomForCausalLM", "max_abs_diff": diffs}
    )
    assert diffs["logits"] < 1e-4
    assert tokenizer(chr(0x4E01) + chr(0x4E02))["input_ids"] == [1, 2]
    assert np.array_equal(
        model.lm_head.weight.detach().numpy(), model.transformer.word_embeddings.weight.detach().numpy()
    )


@pytest.mark.oracle
def test_bloom_without_config_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    ckpt, _ = hf4_checkpoint("BloomForCausalLM", CONFIG, tmp_path)
    (ckpt / "config.json").unlink()
    with pytest.raises(zhplm.errors.ConversionError, match=r"needs its config\.json"):
        zhplm.convert(ckpt, tmp_path / "out", arch="bloom")
    assert not (tmp_path / "out").exists()
