"""Chinese-Transformer-XL (``transfo_xl_megatron``) through ``zhplm.convert`` against THUDM's own code
(``tests/oracles/txl_original.py``: the original Megatron ``GPT2Model`` with relative encoding, on CPU, gloo
world size 1 and 2). The oracle writes tiny random shards in the release's layout and names; zhplm converts it, and
its ``TransfoXLMegatronForCausalLM`` must give the original's logits (1e-4) for a first segment and for a
second segment that reads the first one's memory through the cache, and the original ``sample_sequence``'s
greedy tokens through transformers' ``generate`` while the memory (6 positions) fills and is cut. The tokenizer
(the release's real ``cog-pretrain.model`` from the pinned snapshot) is compared with the original
``sp_tokenizer.Encoder_SP`` on a fixed text set, and ``zhplm generate`` runs the converted folder.
"""

from __future__ import annotations

import io
import json
import subprocess
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import torch

import zhplm
from oracle import require_original, run_oracle, snapshots
from zhplm.cli.main import main
from zhplm.converter import record_parity

REPO = "THUDM/Chinese-Transformer-XL"
TOL = 1e-4
NEW_TOKENS = 14
INPUTS = {
    "segment1": [[11, 17, 33, 2, 60], [12, 13, 14, 15, 16]],
    "segment2": [[41, 7, 23, 88], [90, 3, 5, 71]],
    "prompt": [[21, 8, 55, 30]],
    "max_new_tokens": NEW_TOKENS,
}
TEXTS = [
    "今天是一个好天气",
    "悟道·文汇是面向认知的超大规模新型预训练模型。",
    "Hello world! 你好，世界。",
    "第一行\n第二行\n\n第三行",
    "  前后有空格  ",
    "数字：3.1415926，百分比：99%，价格￥128.50元",
    "“引号”、《书名号》（括号）……——破折号",
    "email: test@example.com, url: https://github.com/THUDM/Chinese-Transformer-XL",
    "\t制表符\t与 全角　空格",
    "罕见字龘靐齉和 emoji 😀",
    "",
]


def _snapshot_file(path: str, dest: Path) -> Path:
    blob = subprocess.run(
        ["git", "--git-dir", str(require_original(REPO)), "show", f"{snapshots()[REPO]}:{path}"],
        capture_output=True,
        check=True,
    ).stdout
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(blob)
    return dest


@pytest.fixture(scope="module", params=[1, 2], ids=["mp1", "mp2"])
def release(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, np.ndarray]]:
    """The release layout with 1 or 2 model-parallel shards (2: the merge of the fused QKV, ``relative`` and
    the per-head ``r_w_bias``/``r_r_bias`` is checked by the original's own two-rank logits)."""
    require_original(REPO)
    tmp = tmp_path_factory.mktemp("txl")
    (tmp / "inputs.json").write_text(json.dumps(INPUTS), encoding="utf-8")
    run_oracle("txl_original.py", "write", "--out", tmp / "ckpt", "--seed", "3", "--mp", str(request.param))
    _snapshot_file("chinese_sentencepiece/cog-pretrain.model", tmp / "ckpt" / "cog-pretrain.model")
    run_oracle(
        "txl_original.py",
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
    out = tmp_path_factory.mktemp("txl-out") / "model"
    result = zhplm.convert(release[0], out)  # arch detected from the names
    assert (result.arch, result.format, result.scheme) == ("transfo_xl_megatron", "megatron", "megatron")
    assert result.architectures == ["TransfoXLMegatronForCausalLM"] and result.heads == {"lm": "trained"}
    return out


@pytest.mark.oracle
def test_config_comes_from_the_weights_and_config_json(converted: Path) -> None:
    config = json.loads((converted / "config.json").read_text())
    assert (config["num_layers"], config["hidden_size"], config["num_attention_heads"]) == (2, 32, 4)
    assert (config["vocab_size"], config["mem_length"]) == (50048, 6)


@pytest.mark.oracle
def test_logits_of_two_segments_match_the_original(
    release: tuple[Path, dict[str, np.ndarray]], converted: Path
) -> None:
    ref = release[1]
    model, *_ = zhplm.load(converted)
    with torch.inference_mode():
        first = model(input_ids=torch.tensor(INPUTS["segment1"]), use_cache=True)
        assert first.cache is not None and first.cache.memory_length() == 5
        second = model(input_ids=torch.tensor(INPUTS["segment2"]), cache=first.cache, use_cache=True)
        # 5 + 4 positions, cut to the last 6
        assert second.cache is not None and second.cache.memory_length() == 6
        alone = model(input_ids=torch.tensor(INPUTS["segment2"]), use_cache=False)
    diff1 = float(np.abs(first.logits.numpy() - ref["logits"]).max())
    diff2 = float(np.abs(second.logits.numpy() - ref["logits2"]).max())
    record_parity(
        converted,
        {"reference": "THUDM/Chinese-Transformer-XL GPT2Model (snapshot)", "max_abs_diff": max(diff1, diff2)},
    )
    assert diff1 < TOL and diff2 < TOL, (diff1, diff2)
    # the memory matters: without it the second segment's logits are other numbers
    assert float(np.abs(alone.logits.numpy() - ref["logits2"]).max()) > 1e-2


@pytest.mark.oracle
def test_greedy_generation_across_the_memory_boundary(
    release: tuple[Path, dict[str, np.ndarray]], converted: Path
) -> None:
    model, *_ = zhplm.load(converted)
    prompt = torch.tensor(INPUTS["prompt"])
    gen = model.generate(
        prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=NEW_TOKENS, do_sample=False
    )
    ours = gen[0, prompt.shape[1] :].tolist()
    expected = release[1]["greedy"].astype(int).tolist()
    assert len(expected) == NEW_TOKENS  # 4 + 14 positions against a 6-position memory
    assert ours == expected


@pytest.mark.oracle
def test_tokenizer_equals_the_original(converted: Path, tmp_path: Path) -> None:
    (tmp_path / "texts.json").write_text(json.dumps(TEXTS, ensure_ascii=False), encoding="utf-8")
    run_oracle(
        "txl_original.py", "tokenize", "--texts", tmp_path / "texts.json", "--out", tmp_path / "o.json"
    )
    ref = json.loads((tmp_path / "o.json").read_text(encoding="utf-8"))
    _, tok, *_ = zhplm.load(converted)
    assert type(tok).__name__ == "CogSentencePieceTokenizer"
    assert (tok.eos_token_id, tok.pad_token_id, tok.eos_token) == (50000, 50000, "<|endoftext|>")
    assert len(ref["rows"]) == len(TEXTS)
    for row in ref["rows"]:
        ids = tok(row["text"], add_special_tokens=False)["input_ids"]
        assert ids == row["ids"], row["text"]
        assert tok.decode(ids) == row["decoded"], row["text"]


@pytest.mark.oracle
def test_zhplm_generate_runs_the_converted_folder(converted: Path) -> None:
    model, tok, *_ = zhplm.load(converted)
    prompt = "今天是一个好天气"
    ids = tok(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    gen = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=10, do_sample=False)
    expected = tok.decode(gen[0, ids.shape[1] :], skip_special_tokens=True)
    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main(["generate", str(converted), prompt, "--max-new-tokens", "10", "--json"])
    data = json.loads(buf.getvalue())
    assert code == 0 and data["token_ids"] == gen[0, ids.shape[1] :].tolist() and data["text"] == expected


def _tiny(mem_length: int) -> torch.nn.Module:
    from zhplm.arch.modeling.transfo_xl_megatron import TransfoXLMegatronConfig, TransfoXLMegatronForCausalLM

    torch.manual_seed(0)
    config = TransfoXLMegatronConfig(
        vocab_size=40,
        hidden_size=16,
        num_layers=2,
        num_attention_heads=2,
        mem_length=mem_length,
        eos_token_id=3,
    )
    model = TransfoXLMegatronForCausalLM(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
    return model


def test_beam_search_reorders_the_memory() -> None:
    """With a memory longer than the text, the memory is the whole past: beams through the cache (reordered
    per step) must choose what beams recomputing every prefix choose."""
    model = _tiny(mem_length=64)
    ids = torch.tensor([[9, 5, 18, 22]])
    kw = dict(max_new_tokens=10, num_beams=3, do_sample=False, num_return_sequences=3)
    with torch.inference_mode():
        cached = model.generate(ids, **kw)
        recomputed = model.generate(ids, use_cache=False, **kw)
    assert cached.tolist() == recomputed.tolist()


def test_a_left_padded_batch_gives_each_prompt_what_it_gets_alone() -> None:
    """Relative positions: pads masked out change nothing for the text, across the memory cut too."""
    model = _tiny(mem_length=6)
    prompts = [[9, 5, 18, 22, 7], [11, 30]]
    alone = []
    with torch.inference_mode():
        for p in prompts:
            ids = torch.tensor([p])
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=10, do_sample=False)
            alone.append(out[0, len(p) :].tolist())
        ids = torch.tensor([prompts[0], [0, 0, 0, *prompts[1]]])
        mask = torch.tensor([[1] * 5, [0, 0, 0, 1, 1]])
        batch = model.generate(ids, attention_mask=mask, max_new_tokens=10, do_sample=False, pad_token_id=0)
        # and the logits of the short prompt's positions, padded or not
        padded = model(input_ids=ids, attention_mask=mask, use_cache=False).logits[1, 3:]
        single = model(input_ids=torch.tensor([prompts[1]]), use_cache=False).logits[0]
    assert batch[:, 5:].tolist() == alone
    assert float((padded - single).abs().max()) < 1e-5
