"""GLM (``glm``) through ``zhplm.convert`` against THUDM/GLM's own code (``tests/oracles/glm_original.py``).

The oracle builds the original ``GLMModel`` (``--block-lm``: 2-D positions) with tiny random weights and saves
it as two model-parallel ranks in the DeepSpeed layout; zhplm merges and converts them and its
``GLMForCausalLM`` must give the original's logits (1e-4) for hand-written 2-D positions and separations, and
the tokens the original ``generate_samples.py`` blank-filling loop (``sample_sequence`` with memories, top-k 1)
writes into a ``[MASK]`` — through transformers' ``generate``, positions and mask derived from the ids. The
tokenizer is compared with the original ``ChineseSPTokenizer`` on a fixed text set with the real
``cog-pretrain.model``, with and without ``--fix-command-token`` (large-chinese / 10B-chinese ids).
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
from zhplm import loader
from zhplm.arch.glm import special_ids
from zhplm.arch.modeling.glm import glm_positions
from zhplm.cli.main import main
from zhplm.converter import record_parity

REPO = "THUDM/GLM"
TOL = 1e-4
NEW_TOKENS = 12
ID = special_ids(
    fix_command_token=True
)  # large-chinese: [MASK] 50003, <sop> 50006, <eop> 50007, [gMASK] 50009
CLS, MASK, GMASK, EOS, SOP = ID["cls"], ID["mask"], ID["gmask"], ID["eos"], ID["sop"]
# two rows of one length: context, then a piece being filled; positions written by hand as GLM lays them out
INPUTS = {
    "input_ids": [
        [CLS, 11, 17, MASK, 33, 60, EOS, SOP, 41, 900],
        [CLS, 12, 13, 14, 15, 16, 90, 88, GMASK, SOP],
    ],
    "position_ids": [
        [[0, 1, 2, 3, 4, 5, 6, 3, 3, 3], [0, 0, 0, 0, 0, 0, 0, 1, 2, 3]],
        [[0, 1, 2, 3, 4, 5, 6, 7, 8, 8], [0, 0, 0, 0, 0, 0, 0, 0, 0, 1]],
    ],
    "sep": [7, 9],
}
PROMPT = [CLS, 11, 17, MASK, 33, 60, 2000, EOS]
TEXTS = [
    "北京是中国的[MASK]。",
    "北京是中国的 [MASK] ，上海是 [sMASK]。",
    "凯旋门位于意大利米兰市古城堡旁。[gMASK]",
    "清华大学[MASK]位于北京[sMASK]",
    "Hello world! 你好，世界。",
    "第一行\n第二行\n\n第三行",
    "  前后有空格  ",
    "数字：3.1415926，百分比：99%，价格￥128.50元",
    "“引号”、《书名号》（括号）……——破折号",
    "<|startofpiece|>片段<|endofpiece|>[CLS][SEP][UNK]<|endoftext|>",
    "罕见字龘靐齉和 emoji 😀",
    "",
]


def _vocab(dest: Path) -> Path:
    git_dir = require_original(REPO)
    blob = subprocess.run(
        [
            "git",
            "--git-dir",
            str(git_dir),
            "show",
            f"{snapshots()[REPO]}:chinese_sentencepiece/cog-pretrain.model",
        ],
        capture_output=True,
        check=True,
    ).stdout
    dest.write_bytes(blob)
    return dest


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    require_original(REPO)
    tmp = tmp_path_factory.mktemp("glm")
    ckpt = tmp / "ckpt"
    run_oracle("glm_original.py", "write", "--out", ckpt, "--seed", "3")
    _vocab(ckpt / "cog-pretrain.model")
    feeds = {
        **INPUTS,
        "prompt": PROMPT,
        "max_new_tokens": NEW_TOKENS,
        "commands": {
            "MASK": MASK,
            "sMASK": ID["smask"],
            "gMASK": GMASK,
            "sop": SOP,
            "eop": ID["eop"],
            "eos": EOS,
        },
    }
    (tmp / "inputs.json").write_text(json.dumps(feeds), encoding="utf-8")
    run_oracle(
        "glm_original.py",
        "forward",
        "--ckpt",
        ckpt,
        "--inputs",
        tmp / "inputs.json",
        "--out",
        tmp / "ref.npz",
    )
    with np.load(tmp / "ref.npz") as ref:
        return ckpt, {k: ref[k] for k in ref.files}


def test_positions_come_from_the_ids_as_glm_lays_them_out() -> None:
    from zhplm.arch.modeling.configuration_glm import GLMConfig

    positions, sep = glm_positions(torch.tensor(INPUTS["input_ids"]), GLMConfig())
    assert positions.tolist() == INPUTS["position_ids"] and sep.tolist() == INPUTS["sep"]
    # left padding shifts nothing; a second piece sits at the second mask; no <sop>: all context
    ids = torch.tensor([[EOS, EOS, CLS, MASK, 5, GMASK, SOP, 7, SOP, 8], [CLS, 5, 6, 7, 8, 9, 1, 2, 3, 4]])
    keep = torch.tensor([[0, 0, 1, 1, 1, 1, 1, 1, 1, 1], [1] * 10])
    positions, sep = glm_positions(ids, GLMConfig(), keep)
    assert positions[0].tolist() == [[0, 0, 0, 1, 2, 3, 1, 1, 3, 3], [0, 0, 0, 0, 0, 0, 1, 2, 1, 2]]
    assert positions[1].tolist() == [list(range(10)), [0] * 10] and sep.tolist() == [6, 10]


@pytest.mark.oracle
def test_megatron_shards_match_the_original_model(
    release: tuple[Path, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    ckpt, ref = release
    out = tmp_path / "out"
    result = zhplm.convert(ckpt, out)  # arch detected from the names
    assert (result.arch, result.format, result.scheme) == ("glm", "megatron", "megatron")
    assert result.architectures == ["GLMForCausalLM"] and result.heads == {"lm": "trained"}
    config = json.loads((out / "config.json").read_text())
    assert (config["num_layers"], config["num_attention_heads"], config["hidden_size"]) == (2, 4, 32)
    assert (config["max_position_embeddings"], config["vocab_size"]) == (64, 50048)
    assert (config["sop_token_id"], config["eop_token_id"], config["gmask_token_id"]) == (50006, 50007, 50009)
    model, tok, *_ = zhplm.load(out)
    assert type(tok).__name__ == "GLMChineseTokenizer"
    ids = torch.tensor(INPUTS["input_ids"])
    with torch.inference_mode():
        given = model(
            input_ids=ids, position_ids=torch.tensor(INPUTS["position_ids"]), sep=torch.tensor(INPUTS["sep"])
        ).logits.numpy()
        derived = model(input_ids=ids).logits.numpy()  # the same positions and mask, from the ids
    diff = float(np.abs(given - ref["logits"]).max())
    record_parity(
        out, {"reference": "THUDM/GLM model/modeling_glm.py GLMModel (snapshot)", "max_abs_diff": diff}
    )
    assert diff < TOL, diff
    assert float(np.abs(derived - ref["logits"]).max()) < TOL


@pytest.mark.oracle
def test_greedy_blank_filling_matches_the_original_generate_samples(
    release: tuple[Path, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    ckpt, ref = release
    zhplm.convert(ckpt, tmp_path / "out")
    model = zhplm.load(tmp_path / "out").model
    expected = ref["greedy"][0].astype(int).tolist()
    assert expected[0] == SOP and len(expected) == NEW_TOKENS + 1  # no early <eop>: all 12 are compared
    prompt = torch.tensor([[*PROMPT, SOP]])
    gen = model.generate(
        prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=NEW_TOKENS, do_sample=False
    )
    assert gen[0, prompt.shape[1] :].tolist() == expected[1:]
    # without the cache: the whole sequence again at every step gives the same tokens
    again = model.generate(
        prompt,
        attention_mask=torch.ones_like(prompt),
        max_new_tokens=NEW_TOKENS,
        do_sample=False,
        use_cache=False,
    )
    assert again.tolist() == gen.tolist()


@pytest.mark.oracle
def test_zhplm_generate_fills_the_blank(release: tuple[Path, dict[str, np.ndarray]], tmp_path: Path) -> None:
    ckpt, _ = release
    out = tmp_path / "out"
    zhplm.convert(ckpt, out)
    (out / "zhplm.json").write_text(
        json.dumps({**json.loads((out / "zhplm.json").read_text()), "prompt_format": "glm-blank"}),
        encoding="utf-8",
    )
    model, tok, *_ = zhplm.load(out)
    for text, tail in (("北京是中国的[MASK]。", [EOS, SOP]), ("北京是中国的", [GMASK, SOP])):
        ids = [
            CLS,
            *tok(
                text.replace("[MASK]", " [MASK]") if "MASK" in text else text + " [gMASK]",
                add_special_tokens=False,
            )["input_ids"],
        ]
        if tail[0] == EOS:
            ids.append(EOS)
        else:
            assert ids[-1] == GMASK  # appended as the original generate script does, and no [eos] after it
        prompt = torch.tensor([ids + tail[1:]])
        gen = model.generate(
            prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=8, do_sample=False
        )
        new = gen[0, prompt.shape[1] :].tolist()
        buf = io.StringIO()
        with redirect_stdout(buf):
            code = main(["generate", str(out), text, "--max-new-tokens", "8", "--json"])
        data = json.loads(buf.getvalue())
        assert code == 0 and data["token_ids"] == new
        assert data["text"] == tok.decode(new, skip_special_tokens=True)


@pytest.mark.oracle
@pytest.mark.parametrize("fix", [True, False], ids=["large-chinese", "10b-chinese"])
def test_tokenizer_equals_the_original_chinese_sp_tokenizer(fix: bool, tmp_path: Path) -> None:
    (tmp_path / "texts.json").write_text(json.dumps(TEXTS, ensure_ascii=False), encoding="utf-8")
    args = ["tokenize", "--texts", tmp_path / "texts.json", "--out", tmp_path / "o.json"]
    run_oracle("glm_original.py", *args, *([] if fix else ["--no-fix-command-token"]))
    ref = json.loads((tmp_path / "o.json").read_text(encoding="utf-8"))
    from zhplm.arch.tokenization.glm import write_glm_tokenizer

    write_glm_tokenizer(_vocab(tmp_path / "cog-pretrain.model"), tmp_path / "tok", fix_command_token=fix)
    from transformers import AutoTokenizer

    loader.register_tokenizers()
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    names = {"pad": "pad", "eos": "eos", "sep": "sep", "ENC": "cls", "MASK": "mask", "unk": "unk",
             "sop": "sop", "eop": "eop", "sMASK": "smask", "gMASK": "gmask"}  # fmt: skip
    assert {k: special_ids(fix)[names[k]] for k in ref["commands"]} == ref["commands"]
    assert len(tok) == ref["num_tokens"]
    for row in ref["rows"]:
        ids = tok(row["text"], add_special_tokens=False)["input_ids"]
        assert ids == row["ids"], row["text"]
        assert tok.decode(ids) == row["decoded"], row["text"]


@pytest.mark.oracle
def test_the_hub_copy_single_file_with_glm_names_converts_too(
    release: tuple[Path, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    """THUDM/glm-large-chinese on the hub: one ``pytorch_model.bin`` under ``glm.``, a config.json with the
    remote code's argument names (``max_sequence_length``), ``cog-pretrain.model`` beside it."""
    ckpt, ref = release
    state = torch.load(ckpt.parent / f"{ckpt.name}.full.pt", weights_only=True)["state"]
    hub = tmp_path / "hub"
    hub.mkdir()
    torch.save({f"glm.{k}": v for k, v in state.items()}, hub / "pytorch_model.bin")
    config = {"model_type": "glm", "architectures": ["GLMModel"], "auto_map": {"AutoModel": "modeling_glm.GLMModel"},
              "num_layers": 2, "hidden_size": 32, "num_attention_heads": 4, "vocab_size": 50048,
              "max_sequence_length": 64, "block_position_encoding": True}  # fmt: skip
    (hub / "config.json").write_text(json.dumps(config), encoding="utf-8")
    _vocab(hub / "cog-pretrain.model")
    result = zhplm.convert(hub, tmp_path / "out")  # its model_type "glm" (the remote code's) misleads nothing
    assert (result.arch, result.architectures) == ("glm", ["GLMForCausalLM"])
    model = zhplm.load(tmp_path / "out").model
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor(INPUTS["input_ids"])).logits.numpy()
    assert float(np.abs(logits - ref["logits"]).max()) < TOL


def test_the_10b_release_gets_its_heads_and_its_unfixed_command_ids() -> None:
    """GLM-10B-chinese (``model_blocklm_10B_chinese.sh``: 48 layers, 4096 wide, 64 heads, no
    ``--fix-command-token``) from the shapes alone: [gMASK] shares <|endofpiece|>'s id 50007, [sMASK] is 50008."""
    from zhplm.arch.glm import SPEC

    h, rows = 4096, 1025
    shapes = {
        "glm.word_embeddings.weight": (50048, h),
        "glm.position_embeddings.weight": (rows, h),
        "glm.block_position_embeddings.weight": (rows, h),
        **{f"glm.layers.{i}.attention.query_key_value.weight": (3 * h, h) for i in range(48)},
    }
    config = SPEC.build_config(None, shapes, shapes)
    assert (config["num_layers"], config["num_attention_heads"], config["max_position_embeddings"]) == (
        48,
        64,
        1024,
    )
    assert (config["gmask_token_id"], config["smask_token_id"], config["eop_token_id"]) == (
        50007,
        50008,
        50007,
    )
    large = SPEC.build_config(None, {**shapes, "glm.word_embeddings.weight": (50048, 1024)}, shapes)
    assert (large["num_attention_heads"], large["gmask_token_id"], large["smask_token_id"]) == (
        16,
        50009,
        50008,
    )


@pytest.mark.oracle
def test_loading_refuses_a_model_larger_than_free_memory(
    release: tuple[Path, dict[str, np.ndarray]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """10B-chinese is convert-only where memory is short: loading says how much it needs."""
    from zhplm.errors import InsufficientMemoryError

    ckpt, _ = release
    zhplm.convert(ckpt, tmp_path / "out")
    monkeypatch.setattr(loader, "available_memory", lambda: 1 << 20)
    with pytest.raises(InsufficientMemoryError, match=r"parameters"):
        zhplm.load(tmp_path / "out")


@pytest.mark.oracle
def test_a_left_padded_batch_fills_each_blank_as_alone(
    release: tuple[Path, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    """Positions skip the padding and the padded keys are masked: a batch equals its rows run one by one."""
    ckpt, _ = release
    out = tmp_path / "out"
    zhplm.convert(ckpt, out)
    gen = zhplm.pipeline("text-generation", str(out), prompt_format="glm-blank")
    texts = ["北京是中国的[MASK]。", "清华大学位于北京市海淀区，是一所[MASK]大学。", "凯旋门位于"]
    alone = [gen(t, max_new_tokens=8).token_ids for t in texts]
    assert [g.token_ids for g in gen.batch(texts, max_new_tokens=8)] == alone
    assert len({tuple(a) for a in alone}) == 3
