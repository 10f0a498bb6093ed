"""RoBERTa (guwenbert layout) against transformers 4.46.3: the 4.x library writes a random
``pytorch_model.bin`` (positions offset by padding_idx 1, one token type) and computes the outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import zhplm
from helpers_modeling import PeerRun
from helpers_parity import compare, run_model
from oracle import run_oracle
from zhplm.converter import record_parity

TOL = 1e-4
CONFIG = {
    "vocab_size": 60,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "max_position_embeddings": 66,
    "type_vocab_size": 1,
    "pad_token_id": 1,
    "bos_token_id": 0,
    "eos_token_id": 2,
    "layer_norm_eps": 1e-5,
}
# guwenbert's vocab.txt begins with fairseq's order: [CLS] [PAD] [SEP] [UNK] (ids 0..3)
SPECIALS = ["[CLS]", "[PAD]", "[SEP]", "[UNK]", "[MASK]"]
CHARS = "天地玄黄宇宙洪荒日月盈昃辰宿列张寒来暑往秋收冬藏闰余成岁律吕调阳云腾致雨露结为霜金生丽水玉出昆冈剑号巨阙珠称夜光果珍李柰菜重芥"


@pytest.fixture(scope="module")
def guwen(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PeerRun]:
    tmp = tmp_path_factory.mktemp("roberta")
    (tmp / "config.json").write_text(json.dumps(CONFIG), encoding="utf-8")
    run_oracle("peer_hf4_checkpoint.py", "RobertaForMaskedLM", tmp / "config.json", tmp / "ckpt", "0")
    vocab = SPECIALS + list(CHARS[: CONFIG["vocab_size"] - len(SPECIALS)])
    (tmp / "ckpt" / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return tmp / "ckpt", PeerRun(tmp / "RobertaForMaskedLM.npz")


@pytest.mark.oracle
def test_guwenbert_layout_matches_transformers4(tmp_path: Path, guwen: tuple[Path, PeerRun]) -> None:
    ckpt, peer = guwen
    result = zhplm.convert(ckpt, tmp_path / "out")
    assert result.arch == "roberta" and result.architectures == ["RobertaForMaskedLM"]
    assert result.heads == {"mlm": "trained"}
    cfg = json.loads((tmp_path / "out" / "config.json").read_text())
    assert cfg["pad_token_id"] == 1 and cfg["type_vocab_size"] == 1 and cfg["max_position_embeddings"] == 66
    inputs = {k: v.numpy().tolist() for k, v in peer.inputs.items()}
    ours = run_model(
        tmp_path / "out",
        inputs,
        lambda o: {"last_hidden_state": o.hidden_states[-1], "mlm_logits": o.logits},
    )
    n = CONFIG["num_hidden_layers"]
    ref = {
        "last_hidden_state": peer.outputs[f"hidden_states:{n}"].numpy(),
        "mlm_logits": peer.outputs["logits"].numpy(),
    }
    diffs = compare(ours, ref, peer.inputs["attention_mask"].numpy())
    record_parity(
        tmp_path / "out", {"reference": "transformers 4.46.3 RobertaForMaskedLM", "max_abs_diff": diffs}
    )
    assert max(diffs.values()) < TOL


@pytest.mark.oracle
def test_plain_autotokenizer_gives_the_bert_tokenizer(tmp_path: Path, guwen: tuple[Path, PeerRun]) -> None:
    """Without zhplm: AutoTokenizer on the folder is a BERT WordPiece tokenizer over guwenbert's ids."""
    ckpt, _ = guwen
    zhplm.convert(ckpt, tmp_path / "out")
    code = (
        "import sys, json\n"
        "from transformers import AutoTokenizer, AutoConfig\n"
        "tok = AutoTokenizer.from_pretrained(sys.argv[1])\n"
        "cfg = AutoConfig.from_pretrained(sys.argv[1])\n"
        "enc = tok('天地玄黄，宇宙洪荒')\n"
        "print(json.dumps([type(tok).__name__, cfg.tokenizer_class, enc['input_ids'], tok.pad_token_id]))\n"
        "assert 'zhplm' not in sys.modules\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "out")], check=True, capture_output=True, text=True
    )
    name, tok_class, ids, pad = json.loads(proc.stdout.strip().splitlines()[-1])
    assert name.startswith("BertTokenizer") and tok_class == "BertTokenizer"
    vocab = SPECIALS + list(CHARS)
    # [CLS] 天 地 玄 黄 [UNK](，) 宇 宙 洪 荒 [SEP]
    expected = [0, *(vocab.index(c) for c in "天地玄黄"), 3, *(vocab.index(c) for c in "宇宙洪荒"), 2]
    assert ids == expected and pad == 1
