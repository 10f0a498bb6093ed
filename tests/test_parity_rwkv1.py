"""RWKV-1 / AI-Writer (``rwkv1``) through ``zhplm.convert`` against the authors' own code
(``tests/oracles/rwkv1_original.py``).

RWKV-LM's ``RWKV-v1`` class — the one the release was pickled from — writes a tiny whole-model pickle with
``torch.save(model)``; AI-Writer's own ``run.py`` (7e145b1) loads it into its ``src/model.py``, folds the
Toeplitz matrix, tokenizes with its character table (the real ``wangwen-2022-02-15.json``) and runs its
sampling loop, made greedy, past the end of its window. zhplm reads the pickle with its restricted unpickler
(nothing of the authors' code imported), converts it and generates through ``zhplm.pipeline`` / ``zhplm
generate`` with the recurrent cache.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import zhplm
from oracle import require_original, run_oracle
from zhplm.cli.main import main
from zhplm.converter import record_parity
from zhplm.errors import UnsafeContentError
from zhplm.formats.torch_pickle import TorchReader

TABLE = Path(__file__).resolve().parents[2] / "shared" / "assets" / "BlinkDL+AI-Writer" / "model"
TABLE = TABLE / "wangwen-2022-02-15.json"
TOL = 1e-4
WINDOW = 24  # the oracle's ctx_len
NEW = 40  # 13 prompt characters + 40: the loop runs past the 24-character window
TEXTS = [
    "这是一颗星球",
    "第一行\n第二行\n\n第三行",
    "  前后有空格  ",
    "数字：3.1415926，百分比：99%，价格￥128.50元",
    "“引号”、《书名号》（括号）……——破折号",
    "Hello world! email: test@example.com",
    "\t制表符\t与 全角\u3000空格",
    "罕见字龘靐齉和 emoji 😀",
    "\ue083",
    "",
]
INPUTS: dict[str, Any] = {
    "context": "  这是一颗\u3000\n 星球上的齉字  ",  # run.py strips each line and U+3000; 齉 is not in the table
    "length": NEW,
    "input_ids": [[5, 17, 300, 2, 8000, 17, 45, 45, 9, 12], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]],
    "long_ids": [[3, 88, 17, 600, 2, 5, 8700, 17, 45, 45, 9, 12, *range(1, 23)]],  # 34 > the window
    "texts": TEXTS,
}


@pytest.fixture(scope="module")
def rwkv(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, np.ndarray], dict[str, Any], Path]:
    require_original("BlinkDL/AI-Writer")
    require_original("BlinkDL/RWKV-LM")
    if not TABLE.is_file():
        pytest.skip(f"the AI-Writer character table is not in the shared assets ({TABLE})")
    tmp = tmp_path_factory.mktemp("rwkv1")
    release = tmp / "release"
    run_oracle("rwkv1_original.py", "write", "--out", release, "--table", TABLE, "--seed", "1")
    (tmp / "in.json").write_text(json.dumps(INPUTS, ensure_ascii=False), encoding="utf-8")
    summary = run_oracle(
        "rwkv1_original.py", "run", "--ckpt", release, "--inputs", tmp / "in.json", "--out", tmp / "ref.npz"
    )
    with np.load(tmp / "ref.npz") as ref:
        reference = {k: ref[k] for k in ref.files}
    return release, reference, json.loads(summary.strip().splitlines()[-1]), tmp


@pytest.fixture(scope="module")
def converted(rwkv: tuple[Path, dict[str, np.ndarray], dict[str, Any], Path]) -> Path:
    release, _, _, tmp = rwkv
    out = tmp / "out"
    result = zhplm.convert(release / "tiny.pth", out, model_id="rwkv-ai-writer")
    assert (result.arch, result.format, result.scheme) == ("rwkv1", "pytorch", "ai-writer")
    assert result.architectures == ["Rwkv1ForCausalLM"]
    assert result.heads == {"lm": "trained", "copy": "trained"}
    assert result.prompt_format == "ai-writer"
    assert [n for n, _ in result.plan.ignored] == ["copy_mask"]
    return out


@pytest.mark.oracle
def test_logits_match_ai_writer(
    rwkv: tuple[Path, dict[str, np.ndarray], dict[str, Any], Path], converted: Path
) -> None:
    _, ref, _, _ = rwkv
    model, tok, prov, _ = zhplm.load(converted)
    config = model.config
    assert (config.context_length, config.num_hidden_layers, config.num_attention_heads) == (WINDOW, 2, 2)
    assert (config.hidden_size, config.intermediate_size, config.vocab_size) == (128, 320, 8849)
    assert type(tok).__name__ == "Rwkv1CharTokenizer" and prov["prompt_format"] == "ai-writer"
    ids = torch.tensor(INPUTS["input_ids"])
    long_ids = torch.tensor(INPUTS["long_ids"])
    with torch.inference_mode():
        logits = model(ids, use_cache=False).logits.numpy()
        window = model(long_ids, use_cache=False).logits.numpy()
        recurrent = model(long_ids, use_cache=True).logits.numpy()
    diffs = {
        "logits": float(np.abs(logits - ref["logits"]).max()),
        "window_logits": float(np.abs(window - ref["window_logits"]).max()),
        "window_logits_recurrent": float(np.abs(recurrent - ref["window_logits"]).max()),
    }
    record_parity(
        converted,
        {"reference": "AI-Writer run.py + src/model.py (7e145b1) on a pickle of RWKV-LM RWKV-v1's GPT",
         "max_abs_diff": diffs},
    )  # fmt: skip
    assert max(diffs.values()) < TOL, diffs
    assert np.abs(ref["logits"]).max() > 1.0  # not a degenerate model


@pytest.mark.oracle
def test_recurrent_steps_equal_the_parallel_form(converted: Path) -> None:
    """The cache fed one token at a time gives the logits of the parallel form, inside the window and past it."""
    model, *_ = zhplm.load(converted)
    ids = torch.tensor(INPUTS["long_ids"] * 2)
    with torch.inference_mode():
        parallel = model(ids, use_cache=False).logits
        out = model(ids[:, :5], use_cache=True)
        pieces, cache = [out.logits], out.cache
        for j in range(5, ids.shape[1]):
            out = model(ids[:, j : j + 1], cache=cache, use_cache=True)
            pieces.append(out.logits)
        stepped = torch.cat(pieces, dim=1)
    assert cache is not None and cache.get_seq_length() == ids.shape[1]
    assert float((stepped - parallel).abs().max()) < 1e-5
    # the time weights matter: a model whose Toeplitz weights are flattened gives other logits
    with torch.no_grad():
        for block in model.rwkv.blocks:
            block.attn.time_w.fill_(1.0)
        flat = model(ids, use_cache=False).logits
    assert float((flat - parallel).abs().max()) > 100 * TOL


@pytest.mark.oracle
def test_greedy_continuation_matches_run_py(
    rwkv: tuple[Path, dict[str, np.ndarray], dict[str, Any], Path],
    converted: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, ref, summary, _ = rwkv
    expected = ref["greedy"][0].astype(int).tolist()
    assert len(expected) == NEW and len(set(expected)) > 3
    gen = zhplm.pipeline("text-generation", str(converted))
    prompt = gen.format.encode(gen.tokenizer, INPUTS["context"]).input_ids
    assert prompt == ref["prompt_ids"][0].astype(int).tolist()  # run.py's cleaning and its unknown character
    assert summary["unknown_char"] in prompt
    result = gen(INPUTS["context"], max_new_tokens=NEW)
    assert result.token_ids == expected and result.finish_reason == "length"
    code = main(["generate", str(converted), INPUTS["context"], "--max-new-tokens", str(NEW), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["token_ids"] == expected
    assert data["text"] == gen.tokenizer.decode(expected)


@pytest.mark.oracle
def test_character_table_tokenizes_as_run_py(
    rwkv: tuple[Path, dict[str, np.ndarray], dict[str, Any], Path], converted: Path
) -> None:
    _, _, summary, _ = rwkv
    _, tok, _, _ = zhplm.load(converted)
    assert len(summary["texts_ids"]) == len(TEXTS)
    for text, ids in zip(TEXTS, summary["texts_ids"], strict=True):
        assert tok(text, add_special_tokens=False)["input_ids"] == ids, text
    assert tok.decode(tok("第一行\n第二行 ok")["input_ids"]) == "第一行\n第二行 ok"


@pytest.mark.oracle
def test_the_pickled_model_is_read_without_its_classes(
    rwkv: tuple[Path, dict[str, np.ndarray], dict[str, Any], Path], tmp_path: Path
) -> None:
    """The release names the authors' classes: refused unless they are asked for as inert records, and even
    then a pickle that also names anything else is refused."""
    release, _, _, _ = rwkv
    with pytest.raises(UnsafeContentError, match=r"src\.model\.GPT"):
        TorchReader(release / "tiny.pth")
    reader = TorchReader(release / "tiny.pth", records=["src.model." + n for n in ("GPT", "GPTConfig", "Block",
                         "RWKV_TimeMix", "RWKV_ChannelMix")])  # fmt: skip
    try:
        assert reader.shape("blocks.1.attn.time_w") == (2, WINDOW)
        assert reader.keys()[:3] == ["time_out", "copy_mask", "tok_emb.weight"]  # state_dict() order
        assert len(reader.keys()) == 58
    finally:
        reader.close()

    class Evil:
        def __reduce__(self) -> Any:
            return (print, ("owned",))

    torch.save({"model": torch.nn.Linear(2, 2), "x": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(UnsafeContentError, match=r"print, which is not on"):  # (Ray swaps in its safe_print)
        TorchReader(tmp_path / "evil.pth", records=["src.model.GPT"])


@pytest.mark.oracle
def test_a_left_padded_batch_is_refused_clearly(converted: Path) -> None:
    model, *_ = zhplm.load(converted)
    ids = torch.tensor([[0, 0, 5, 6], [7, 8, 9, 10]])
    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    with pytest.raises(ValueError, match="one at a time"):
        model(ids, attention_mask=mask)
    right = model(ids[:1, 2:], attention_mask=torch.ones(1, 2, dtype=torch.long)).logits
    padded = model(torch.tensor([[5, 6, 0, 0]]), attention_mask=torch.tensor([[1, 1, 0, 0]])).logits
    assert torch.allclose(
        right, padded[:, :2], atol=1e-5
    )  # right padding leaves the real positions as they are
