"""CPM-1 (CPM-Generate) through ``zhplm.convert`` against CPM-Generate's own code (``tests/oracles/cpm_original.py``).

The original Megatron model, run as two model-parallel ranks (gloo on 127.0.0.1), writes the two shards in
the release's layout (``1000/mp_rank_0{0,1}_model_states.pt`` + ``latest_checkpointed_iteration.txt``); the
original ``change_mp.py`` merges them and the original model computes logits and greedy tokens with the
incremental loop of ``generate_samples.py``. zhplm merges the same shards itself (its Megatron reader) onto
GPT-2; transformers' ``generate`` runs the converted folder. The tokenizer is compared with the original
``GPT2Tokenizer`` (Python jieba + sentencepiece) on a fixed text set, with the release's real
``bpe_3w_new/chinese_vocab.model`` taken from the same snapshot.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import zhplm
from oracle import require_original, run_oracle, snapshots
from zhplm.converter import record_parity
from zhplm.formats.torch_pickle import TorchReader

REPO = "TsinghuaAI/CPM-Generate"
TOL = 1e-4
NEW_TOKENS = 12
# equal lengths (the original has no padding mask); no <pad> (5) / <eod> (7) ids in the prompt
INPUTS = {
    "input_ids": [[11, 17, 33, 2, 60, 41, 9, 23], [12, 13, 14, 15, 16, 90, 88, 3]],
    "max_new_tokens": NEW_TOKENS,
}
TEXTS = [
    "清华大学和智源研究院发布了CPM模型。",
    "今天天气不错，我们去北京的颐和园玩吧！",
    "2020年11月，CPM-Generate 开源了 26 亿参数的模型。",
    "Hello world! 你好，世界。",
    "第一行\n第二行\n\n第三行",
    "  前后有空格  ",
    "数字：3.1415926，百分比：99%，价格￥128.50元",
    "“引号”、《书名号》（括号）……——破折号",
    "email: test@example.com, url: https://github.com/TsinghuaAI",
    "他说：“I love NLP and 自然语言处理.”",
    "小明硕士毕业于中国科学院计算所，后在日本京都大学深造",
    "\t制表符\t与 全角　空格",
    "罕见字龘靐齉和 emoji 😀",
    "",
]


def _bpe_files(dest: Path) -> Path:
    """The release's bpe_3w_new/ (sentencepiece model + vocab.json), from the pinned snapshot."""
    git_dir = require_original(REPO)
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("chinese_vocab.model", "vocab.json"):
        blob = subprocess.run(
            ["git", "--git-dir", str(git_dir), "show", f"{snapshots()[REPO]}:bpe_3w_new/{name}"],
            capture_output=True,
            check=True,
        ).stdout
        (dest / name).write_bytes(blob)
    return dest


@pytest.fixture(scope="module")
def cpm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray], Path]:
    require_original(REPO)
    tmp = tmp_path_factory.mktemp("cpm1")
    ckpt = tmp / "ckpt"
    run_oracle("cpm_original.py", "write", "--out", ckpt, "--seed", "3")
    (tmp / "inputs.json").write_text(json.dumps(INPUTS), encoding="utf-8")
    run_oracle(
        "cpm_original.py",
        "forward",
        "--ckpt",
        ckpt,
        "--inputs",
        tmp / "inputs.json",
        "--out",
        tmp / "ref.npz",
    )
    with np.load(tmp / "ref.npz") as ref:
        reference = {k: ref[k] for k in ref.files}
    return ckpt, reference, tmp


@pytest.mark.oracle
def test_cpm1_shards_match_cpm_generate(cpm: tuple[Path, dict[str, np.ndarray], Path]) -> None:
    ckpt, ref, tmp = cpm
    # the original's own merge (change_mp.py) and its own two-rank run agree: the fixture is consistent
    assert np.abs(ref["logits_mp2"] - ref["logits"]).max() < 1e-5
    result = zhplm.convert(ckpt, tmp / "out")  # arch detected from the names
    assert (result.arch, result.format, result.scheme) == ("cpm1", "megatron", "megatron")
    assert result.architectures == ["GPT2LMHeadModel"] and result.heads == {"lm": "trained"}
    config = json.loads((tmp / "out" / "config.json").read_text())
    assert (config["n_head"], config["n_layer"], config["n_embd"]) == (4, 2, 32)  # heads from cpm_config.json
    assert config["activation_function"] == "gelu_new" and config["eos_token_id"] == 7
    model, *_ = zhplm.load(tmp / "out")
    ids = torch.tensor(INPUTS["input_ids"])
    with torch.inference_mode():
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.numpy()
    diffs = {
        "logits": float(np.abs(logits - ref["logits"]).max()),
        "logits_vs_two_rank_run": float(np.abs(logits - ref["logits_mp2"]).max()),
    }
    record_parity(
        tmp / "out",
        {"reference": "CPM-Generate GPT2Model (snapshot) on change_mp.py's merge; greedy via generate_samples.py's loop",
         "max_abs_diff": diffs},
    )  # fmt: skip
    assert max(diffs.values()) < TOL, diffs
    prompt = ids[:1]
    out = model.generate(
        prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=NEW_TOKENS, do_sample=False
    )
    ours = out[0, prompt.shape[1] :].tolist()
    expected = ref["greedy"][0].tolist()
    assert len(expected) == NEW_TOKENS and 7 not in expected  # no early <eod>: all 12 are compared
    assert ours == expected


@pytest.mark.oracle
def test_the_tolerance_catches_a_plain_concatenation_of_the_fused_qkv(
    cpm: tuple[Path, dict[str, np.ndarray], Path],
) -> None:
    """Joining the two ranks' ``query_key_value`` end to end (``[q0 k0 v0 q1 k1 v1]``) instead of block by block
    gives other logits: the parity above does check the interleave."""
    ckpt, ref, tmp = cpm
    out = tmp / "out" if (tmp / "out").exists() else None
    if out is None:
        zhplm.convert(ckpt, tmp / "out")
        out = tmp / "out"
    model, *_ = zhplm.load(out)
    shards = sorted((ckpt / "1000").glob("mp_rank_*_model_states.pt"))
    readers = [TorchReader(s, lenient=True) for s in shards]
    try:
        with torch.no_grad():
            for i, block in enumerate(model.transformer.h):
                for leaf, param in (("weight", block.attn.c_attn.weight), ("bias", block.attn.c_attn.bias)):
                    name = f"transformer.layers.{i}.attention.query_key_value.{leaf}"
                    naive = np.concatenate([r.get(name) for r in readers], axis=0)
                    param.copy_(torch.from_numpy(naive.T.copy() if leaf == "weight" else naive))
    finally:
        for r in readers:
            r.close()
    ids = torch.tensor(INPUTS["input_ids"])
    with torch.inference_mode():
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.numpy()
    assert np.abs(logits - ref["logits"]).max() > 100 * TOL


@pytest.mark.oracle
def test_cpm_tokenizer_matches_the_original(tmp_path: Path) -> None:
    """ids and decoded text equal to CPM-Generate's GPT2Tokenizer (Python jieba) on punctuation, digits, Latin
    words, spaces, tabs, newlines and rare characters; the converted folder's AutoTokenizer is this class."""
    from transformers import AutoTokenizer

    from zhplm.loader import register_tokenizers

    bpe = _bpe_files(tmp_path / "bpe_3w_new")
    (tmp_path / "texts.json").write_text(json.dumps(TEXTS, ensure_ascii=False), encoding="utf-8")
    run_oracle("cpm_original.py", "tokenize", "--vocab-dir", bpe, "--texts", tmp_path / "texts.json",
               "--out", tmp_path / "ref.json")  # fmt: skip
    rows = json.loads((tmp_path / "ref.json").read_text(encoding="utf-8"))["rows"]
    folder = tmp_path / "tok"
    from zhplm.arch.tokenization.cpm import write_cpm_tokenizer

    write_cpm_tokenizer(bpe / "chinese_vocab.model", folder)
    register_tokenizers()
    tok = AutoTokenizer.from_pretrained(str(folder))
    assert type(tok).__name__ == "CpmJiebaTokenizer"
    assert len(rows) == len(TEXTS)
    for row in rows:
        ids = tok.encode(row["text"])
        assert ids == row["ids"], row["text"]
        assert tok.decode(ids) == row["decoded"], row["text"]
    assert {tok.eos_token_id, tok.pad_token_id} == {7, 5}
    # the original splits on jieba words: a plain sentencepiece encoding differs on these texts
    assert any(tok.sp.encode(r["text"]) != r["ids"] for r in rows)


@pytest.mark.oracle
def test_cpm_release_folder_converts_with_its_tokenizer(
    cpm: tuple[Path, dict[str, np.ndarray], Path], tmp_path: Path
) -> None:
    """The release layout plus bpe_3w_new/ beside it: the converted folder carries the tokenizer, and a folder
    without any config still converts when the hidden size is CPM-Large's head width multiple."""
    ckpt, _, _ = cpm
    release = tmp_path / "release"
    shutil.copytree(ckpt, release)
    _bpe_files(release / "bpe_3w_new")
    result = zhplm.convert(release, tmp_path / "out", arch="cpm1")
    assert not any("tokenizer was not written" in n for n in result.notes)
    _model, tok, prov, _ = zhplm.load(tmp_path / "out")
    assert type(tok).__name__ == "CpmJiebaTokenizer" and prov["arch"] == "cpm1"
    assert tok.decode(tok.encode("你好 世界\n")) == "你好 世界\n"
    (release / "cpm_config.json").unlink()
    with pytest.raises(zhplm.errors.ConversionError, match=r"cpm_config\.json"):
        zhplm.convert(release, tmp_path / "out2", arch="cpm1")  # hidden 32: no 80-wide heads to assume
    assert not (tmp_path / "out2").exists()
