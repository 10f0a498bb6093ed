"""XLNet TF1 (HFL Chinese-XLNet layout) against transformers 4.46.3's load_tf_weights_in_xlnet +
XLNetLMHeadModel; the SentencePiece tokenizer against sentencepiece itself."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import zhplm
from helpers_parity import INPUTS, compare, oracle_checkpoint
from zhplm.converter import record_parity

TOL = 1e-4
LINES = [
    "我们都是中国人，我爱北京天安门。",
    "今天天气很好，我们去公园散步吧！",
    "自然语言处理是人工智能的重要方向。",
    "他说：“明天见。”",
    "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。",
    "机器学习 deep learning 2024年",
]


def run_model(folder: Path, inputs: dict, collect: Callable[[Any], dict[str, Any]]) -> dict[str, np.ndarray]:
    """zhplm.load with eager attention (XLNet has no SDPA path in transformers 5)."""
    import torch

    model, _tok, _prov, _ = zhplm.load(folder, attn_implementation="eager")
    feed = {k: torch.tensor(v) for k, v in inputs.items()}
    with torch.inference_mode():
        out = model(**feed, output_hidden_states=True)
    return {k: v.float().numpy() for k, v in collect(out).items()}


def train_spiece(prefix: Path) -> Path:
    import sentencepiece as spm

    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(LINES * 5),
        model_prefix=str(prefix),
        vocab_size=130,
        model_type="unigram",
        hard_vocab_limit=False,
        character_coverage=1.0,
        user_defined_symbols=["<eop>", "<eod>"],
        control_symbols=["<cls>", "<sep>", "<pad>", "<mask>"],
        minloglevel=2,
    )
    return prefix.with_suffix(".model")


@pytest.fixture(scope="module")
def xlnet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    tmp = tmp_path_factory.mktemp("xlnet")
    ckpt, ref = oracle_checkpoint("bert_family.py", "xlnet", tmp)
    train_spiece(ckpt / "spiece")
    return ckpt, ref


@pytest.mark.oracle
def test_xlnet_tf1_matches_transformers4(tmp_path: Path, xlnet: tuple[Path, dict[str, np.ndarray]]) -> None:
    ckpt, ref = xlnet
    result = zhplm.convert(ckpt, tmp_path / "out")
    assert result.arch == "xlnet" and result.format == "tf1" and result.architectures == ["XLNetLMHeadModel"]
    assert result.heads == {"lm": "trained"}
    cfg = json.loads((tmp_path / "out" / "config.json").read_text())
    assert cfg["ff_activation"] == "relu" and cfg["untie_r"] is True
    ours = run_model(
        tmp_path / "out",
        INPUTS,
        lambda o: {"last_hidden_state": o.hidden_states[-1], "lm_logits": o.logits},
    )
    diffs = compare(ours, ref, np.array(INPUTS["attention_mask"]))
    record_parity(
        tmp_path / "out", {"reference": "transformers 4.46.3 load_tf_weights_in_xlnet", "max_abs_diff": diffs}
    )
    assert max(diffs.values()) < TOL


@pytest.mark.oracle
def test_xlnet_tokenizer_json_matches_sentencepiece(tmp_path: Path, xlnet: tuple[Path, dict]) -> None:
    import sentencepiece as spm
    from tokenizers import Tokenizer

    ckpt, _ = xlnet
    zhplm.convert(ckpt, tmp_path / "out")
    fast = Tokenizer.from_file(str(tmp_path / "out" / "tokenizer.json"))
    sp = spm.SentencePieceProcessor(model_file=str(ckpt / "spiece.model"))
    texts = [*LINES, "完全没见过的句子：量子计算", "我们  去 北京", "ＡＢＣ全角，１２３"]
    for text in texts:
        ids = fast.encode(text, add_special_tokens=False).ids
        assert ids == sp.encode(text), text
    # XLNet appends <sep> <cls> at the end
    with_special = fast.encode(LINES[0]).ids
    assert with_special[-2:] == [sp.piece_to_id("<sep>"), sp.piece_to_id("<cls>")]
