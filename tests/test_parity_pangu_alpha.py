"""PanGu-α (``pangu_alpha``) through ``zhplm.convert`` against the authors' code (``tests/oracles/pangu_original.py``).

Both releases are written by the oracle from one tiny random CodeGeeX-named model (CodeGeeX's pure-torch
``codegeex_model.py`` is the PanGu-α design with the PyTorch port's names): the PyTorch (Megatron) release as two
model-parallel ranks, the MindSpore release as four ``.ckpt`` slices built with the ``protobuf`` package from
MindSpore's own schemas and laid out with the tensor maps of the real 2.6B strategy file, plus the ``.npy``
embedding tables. zhplm merges and converts each; its ``PanguAlphaForCausalLM`` must give the original model's
logits (1e-4) and its greedy tokens through transformers' ``generate``. The Megatron fixture uses CodeGeeX's own
activation (MindSpore ``FastGelu``), the MindSpore one PanGu-α's (``nn.GELU``, tanh): both paths are pinned.
The tokenizer is compared with the original ``tokenization_jieba.JIEBATokenizer`` on a fixed text set, with the
release's real ``tokenizer/vocab.model`` from the pinned snapshot.
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
from zhplm.errors import CorruptCheckpointError, InsufficientMemoryError
from zhplm.formats import mindspore_sliced, open_checkpoint

REPO = "THUDM/CodeGeeX"
PANGU = "huawei-noah/Pretrained-Language-Model"
PANGU_DIR = "PanGu-\u03b1"
TOL = 1e-4
NEW_TOKENS = 12
INPUTS = {"input_ids": [[11, 17, 33, 2, 60, 41, 9000, 23], [12, 13, 14, 15, 16, 90, 88, 3]]}
TEXTS = [
    "今天是一个好天气",
    "鹏程·盘古α是业界首个2000亿参数以中文为核心的预训练生成语言模型。",
    "Hello world! 你好，世界。",
    "第一行\n第二行\n\n第三行",
    "  前后有空格  ",
    "数字：3.1415926，百分比：99%，价格￥128.50元",
    "“引号”、《书名号》（括号）……——破折号",
    "email: test@example.com, url: https://git.openi.org.cn/PCL-Platform.Intelligence",
    "小明硕士毕业于中国科学院计算所，后在日本京都大学深造",
    "\t制表符\t与 全角　空格",
    "罕见字龘靐齉和 emoji 😀",
    "",
]


def _pangu_file(path: str, dest: Path) -> Path:
    git_dir = require_original(PANGU)
    blob = subprocess.run(
        ["git", "--git-dir", str(git_dir), "show", f"{snapshots()[PANGU]}:{PANGU_DIR}/{path}"],
        capture_output=True,
        check=True,
    ).stdout
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(blob)
    return dest


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, np.ndarray]]]:
    require_original(REPO)
    tmp = tmp_path_factory.mktemp("pangu")
    (tmp / "inputs.json").write_text(json.dumps(INPUTS), encoding="utf-8")
    out: dict[str, tuple[Path, dict[str, np.ndarray]]] = {}
    for flavor, act in (("megatron", "fast_gelu"), ("mindspore", "gelu_tanh")):
        ckpt = tmp / flavor
        run_oracle(
            "pangu_original.py", "write", "--flavor", flavor, "--act", act, "--out", ckpt, "--seed", "5"
        )
        _pangu_file("tokenizer/vocab.model", ckpt / "vocab.model")
        run_oracle(
            "pangu_original.py",
            "forward",
            "--ckpt",
            ckpt,
            "--inputs",
            tmp / "inputs.json",
            "--out",
            tmp / f"{flavor}.npz",
        )
        with np.load(tmp / f"{flavor}.npz") as ref:
            out[flavor] = (ckpt, {k: ref[k] for k in ref.files})
    return out


def _check(ckpt: Path, ref: dict[str, np.ndarray], out: Path, fmt: str, act: str) -> None:
    result = zhplm.convert(ckpt, out)  # arch detected from the names
    assert (result.arch, result.format, result.scheme) == ("pangu_alpha", fmt, fmt.removesuffix("-sliced"))
    assert result.architectures == ["PanguAlphaForCausalLM"] and result.heads == {"lm": "trained"}
    config = json.loads((out / "config.json").read_text())
    # 2 blocks + the top query layer; heads from config.json (in no tensor); the real 40k vocabulary
    assert (config["num_layers"], config["num_attention_heads"], config["hidden_size"]) == (3, 4, 32)
    assert config["vocab_size"] == 40000 and config["activation_function"] == act
    model, tok, *_ = zhplm.load(out)
    ids = torch.tensor(INPUTS["input_ids"])
    with torch.inference_mode():
        logits = model(input_ids=ids).logits.numpy()
    diff = float(np.abs(logits - ref["logits"]).max())
    record_parity(
        out, {"reference": "CodeGeeX codegeex_model.py (snapshot), PanGu-α design", "max_abs_diff": diff}
    )
    assert diff < TOL, diff
    prompt = ids[:1]
    gen = model.generate(
        prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=NEW_TOKENS, do_sample=False
    )
    ours = gen[0, prompt.shape[1] :].tolist()
    expected = ref["greedy"][0].astype(int).tolist()
    assert len(expected) == NEW_TOKENS and 9 not in expected  # no early <eot>: all 12 are compared
    assert ours == expected
    assert type(tok).__name__ == "PanguJiebaTokenizer"


@pytest.mark.oracle
def test_megatron_shards_match_the_original_model(
    releases: dict[str, tuple[Path, dict[str, np.ndarray]]], tmp_path: Path
) -> None:
    ckpt, ref = releases["megatron"]
    _check(ckpt, ref, tmp_path / "out", "megatron", "quick_gelu")


@pytest.mark.oracle
def test_mindspore_slices_match_the_original_model(
    releases: dict[str, tuple[Path, dict[str, np.ndarray]]], tmp_path: Path
) -> None:
    ckpt, ref = releases["mindspore"]
    with open_checkpoint(ckpt) as reader:
        assert reader.format == "mindspore-sliced"
        meta = reader.metadata()
        assert meta["slices"] == 4 and meta["npy"] == [
            "position_embedding",
            "top_query_embedding",
            "word_embedding",
        ]
        # the parallel optimizer cut the model-parallel part of this weight again: 4 devices hold 4 row blocks
        part = reader._readers[0].shape("backbone.blocks.0.attention.dense1.weight")
        assert reader.shape("backbone.blocks.0.attention.dense1.weight") == (32, 32) and part == (8, 32)
    _check(ckpt, ref, tmp_path / "out", "mindspore-sliced", "gelu_new")


@pytest.mark.oracle
def test_zhplm_generate_runs_the_converted_folder(
    releases: dict[str, tuple[Path, dict[str, np.ndarray]]], tmp_path: Path
) -> None:
    ckpt, _ = releases["mindspore"]
    out = tmp_path / "out"
    zhplm.convert(ckpt, out)
    model, tok, *_ = zhplm.load(out)
    prompt = "今天是一个好天气"
    ids = tok(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    gen = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=10, do_sample=False)
    expected = tok.decode(gen[0, ids.shape[1] :], skip_special_tokens=True)
    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main(["generate", str(out), prompt, "--max-new-tokens", "10", "--json"])
    data = json.loads(buf.getvalue())
    assert code == 0 and data["token_ids"] == gen[0, ids.shape[1] :].tolist() and data["text"] == expected


@pytest.mark.oracle
def test_tokenizer_equals_the_original_jieba_tokenizer(tmp_path: Path) -> None:
    vocab = tmp_path / "vocab"
    _pangu_file("tokenizer/vocab.model", vocab / "vocab.model")
    _pangu_file("tokenizer/vocab.vocab", vocab / "vocab.vocab")
    (tmp_path / "texts.json").write_text(json.dumps(TEXTS, ensure_ascii=False), encoding="utf-8")
    run_oracle(
        "pangu_original.py",
        "tokenize",
        "--vocab-dir",
        vocab,
        "--texts",
        tmp_path / "texts.json",
        "--out",
        tmp_path / "o.json",
    )
    ref = json.loads((tmp_path / "o.json").read_text(encoding="utf-8"))
    from zhplm.arch.tokenization.cpm import PanguJiebaTokenizer, write_cpm_tokenizer

    write_cpm_tokenizer(vocab / "vocab.model", tmp_path / "tok", PanguJiebaTokenizer)
    from transformers import AutoTokenizer

    zhplm.loader.register_tokenizers()
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    assert (tok.eos_token_id, tok.pad_token_id) == (ref["eot"], ref["pad"])
    for row in ref["rows"]:
        ids = tok(row["text"], add_special_tokens=False)["input_ids"]
        assert ids == row["ids"], row["text"]
        assert tok.decode(ids) == row["decoded"], row["text"]


def test_the_real_strategy_file_reads_as_protobuf_reads_it() -> None:
    """Our strategy decoder against google.protobuf's, on the release's real 2.6B strategy (1551 layouts)."""
    from hostile.protos import ParallelStrategyMap

    path = Path(__file__).resolve().parents[2] / "shared" / "assets" / "huawei-noah+Pretrained-Language-Model"
    path = path / PANGU_DIR / "strategy_load_ckpt" / "pangu_alpha_2.6B_ckpt_strategy.ckpt"
    if not path.exists():
        pytest.skip("the shared assets are not here")  # pragma: no cover
    ours = mindspore_sliced.read_strategy(path)
    ref = ParallelStrategyMap()
    ref.ParseFromString(path.read_bytes())
    assert len(ours) == len(ref.parallel_layout_item) == 1551
    for item in ref.parallel_layout_item:
        lay, pl = ours[item.param_name], item.parallel_layouts
        assert lay.dev_matrix == tuple(pl.dev_matrix[0].dim) and lay.tensor_map == tuple(pl.tensor_map[0].dim)
        assert (lay.opt_shard_step, lay.opt_shard_size) == (
            pl.opt_weight_shard_step,
            pl.opt_weight_shard_size,
        )
    dense = ours["backbone.blocks.0.output.mapping.weight"]
    assert dense.devices == 512 and dense.cuts() == (1, 8)  # [H, 4H] cut on its output dim, 8-way
    assert len(dense.opt_group(3)) == 64 and dense.opt_group(3)[:2] == [3, 11]


@pytest.mark.oracle
def test_a_missing_slice_or_a_foreign_strategy_is_a_clear_error(
    releases: dict[str, tuple[Path, dict[str, np.ndarray]]], tmp_path: Path
) -> None:
    import shutil

    src, _ = releases["mindspore"]
    broken = tmp_path / "broken"
    shutil.copytree(src, broken)
    (broken / "filerted_2.ckpt").unlink()
    with pytest.raises(CorruptCheckpointError, match="slice file is missing"):
        mindspore_sliced.MindSporeSlicedReader(broken)
    # the strategy of another release (the real 2.6B one: 512 devices) beside these four slices
    other = tmp_path / "other"
    shutil.copytree(src, other)
    for p in (other / "strategy_load_ckpt").iterdir():
        p.unlink()
    _pangu_file(
        "strategy_load_ckpt/pangu_alpha_2.6B_ckpt_strategy.ckpt", other / "strategy_load_ckpt" / "s.ckpt"
    )
    with pytest.raises(
        CorruptCheckpointError, match=r"no strategy file fits these 4 slices.*\[512\] devices"
    ):
        zhplm.convert(other, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written


@pytest.mark.oracle
def test_loading_refuses_a_model_larger_than_free_memory(
    releases: dict[str, tuple[Path, dict[str, np.ndarray]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """13B is convert-only here: loading says how much memory it needs (here a tiny model and 1 MB free)."""
    ckpt, _ = releases["megatron"]
    zhplm.convert(ckpt, tmp_path / "out")
    monkeypatch.setattr(zhplm.loader, "available_memory", lambda: 1 << 20)
    with pytest.raises(
        InsufficientMemoryError, match=r"\(exactly ([\d,]+)\): loading them in float32"
    ) as err:
        zhplm.load(tmp_path / "out")
    monkeypatch.setenv("ZHPLM_SKIP_MEMORY_CHECK", "1")
    model = zhplm.load(tmp_path / "out").model  # loads once asked to try anyway
    count = sum(p.numel() for p in model.parameters())  # unique parameters: the tied head counted once
    assert err.value.args[0].count(f"(exactly {count:,})") == 1
