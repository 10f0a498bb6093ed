"""UniLM (Yunwen, arch "unilm"): tiny random weights written by the ORIGINAL YunwenTechnology/Unilm code (its
``UnilmForLM`` state dict as ``pytorch_model.bin``, and the TF1 release layout written by the authors' own
TensorFlow exporter) → ``zhplm.convert`` → our ``UnilmForMaskedLM``, against the original ``modeling_unilm.py``
(``tests/oracles/unilm_original.py``): MLM logits under the UniLM mask (token types 4/5) and under plain NLU
attention (types 0/1), and greedy summarisation identical to ``decode_seq2seq.py``'s path
(``Preprocess4Seq2seqDecode`` + ``UnilmForSeq2SeqDecode``: append ``[MASK]``, predict it) through transformers'
``generate`` (with and without the KV cache), ``zhplm.pipeline`` and ``zhplm generate``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import zhplm
from oracle import require_original, run_oracle
from zhplm.cli.main import main

TOL = 1e-4
ORACLE = "unilm_original.py"
STEPS = 12
PROMPTS = ["我们在学校里看书", "他说这个国家很大"]
SOURCE, TARGET = 4, 5


def unilm_inputs() -> dict[str, Any]:
    """Three rows: seq2seq (types 4 then 5), the same with right padding, NLU (types 0/1, all attend).
    The [B, T, T] mask is the original's (``Preprocess4Seq2seq``): source columns for every row, the
    targets causally; padded keys never."""
    rng = np.random.default_rng(7)
    length = 14
    ids = rng.integers(5, 120, (3, length))
    ids[:, 0], ids[:, 6] = 2, 3
    types = np.full((3, length), SOURCE)
    types[:2, 7:] = TARGET
    types[2] = 0
    types[2, 7:] = 1
    real = np.ones((3, length), dtype=bool)
    ids[1, 11:], real[1, 11:] = 0, False
    mask = np.zeros((3, length, length), dtype=np.int64)
    for row in range(3):
        count = np.cumsum(types[row] == TARGET)
        mask[row] = (count[None, :] <= count[:, None]) & real[row][None, :]
    return {
        "input_ids": ids.tolist(),
        "token_type_ids": types.tolist(),
        "attention_mask": mask.tolist(),
        "real": real.tolist(),
    }


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    require_original("YunwenTechnology/Unilm")
    root = tmp_path_factory.mktemp("unilm")
    run_oracle(ORACLE, "write", "--out", root / "release", "--seed", "11")
    inputs = unilm_inputs()
    (root / "in.json").write_text(
        json.dumps({**inputs, "prompts": PROMPTS, "steps": STEPS}, ensure_ascii=False), encoding="utf-8"
    )
    run_oracle(
        ORACLE, "forward", "--ckpt", root / "release" / "pytorch", "--inputs", root / "in.json",
        "--out", root / "ref.npz",
    )  # fmt: skip
    converted = {}
    for flavor in ("pytorch", "tf1"):
        converted[flavor] = root / f"converted-{flavor}"
        result = zhplm.convert(root / "release" / flavor, converted[flavor], prompt_format="unilm-s2s")
        assert result.arch == "unilm"  # six token types in the original config tell it from BERT
        assert result.scheme == {"pytorch": "pytorch", "tf1": "yunwen-tf1"}[flavor]
    ref = dict(np.load(root / "ref.npz"))
    return {"out": converted, "inputs": inputs, "ref": ref}


@pytest.mark.parametrize("flavor", ["pytorch", "tf1"])
def test_mlm_logits_match_the_original_under_the_unilm_mask(case: dict[str, Any], flavor: str) -> None:
    import torch

    loaded = zhplm.load(case["out"][flavor])
    assert type(loaded.model).__name__ == "UnilmForMaskedLM"
    assert loaded.model.config.type_vocab_size == 6
    inputs = case["inputs"]
    ids = torch.tensor(inputs["input_ids"])
    real = np.array(inputs["real"])
    with torch.inference_mode():
        out = loaded.model(
            input_ids=ids,
            token_type_ids=torch.tensor(inputs["token_type_ids"]),
            attention_mask=torch.tensor(real).long(),
        )
    want = case["ref"]["mlm_logits"]
    np.testing.assert_allclose(out.logits.numpy()[real], want[real], atol=TOL, rtol=0)
    # the mask matters: the seq2seq rows with every token attending everywhere differ
    with torch.inference_mode():
        plain = loaded.model(input_ids=ids[:1], token_type_ids=torch.full_like(ids[:1], SOURCE))
    assert np.abs(plain.logits.numpy()[0, 7:] - want[0, 7:]).max() > 1e-2


@pytest.mark.parametrize("flavor", ["pytorch", "tf1"])
def test_greedy_generation_matches_the_authors_decoder(case: dict[str, Any], flavor: str) -> None:
    import torch

    loaded = zhplm.load(case["out"][flavor])
    ref = case["ref"]
    for n, prompt in enumerate(PROMPTS):
        source = [int(i) for i in ref["source_ids"][n] if i >= 0]
        assert loaded.tokenizer(prompt)["input_ids"] == source  # the same tokens as UnilmTokenizer gave
        ids = torch.tensor([source])
        for use_cache in (True, False):
            with torch.inference_mode():
                got = loaded.model.generate(
                    input_ids=ids,
                    token_type_ids=torch.full_like(ids, SOURCE),
                    max_new_tokens=STEPS,
                    min_new_tokens=STEPS,
                    do_sample=False,
                    use_cache=use_cache,
                )
            assert got[0, len(source) :].tolist() == ref["greedy_ids"][n].astype(int).tolist(), (
                prompt,
                use_cache,
            )
    assert len(set(ref["greedy_ids"].ravel().tolist())) >= 2  # not one token repeated everywhere


def _until_sep(ids: list[int], sep: int) -> list[int]:
    return ids[: ids.index(sep)] if sep in ids else ids


def test_zhplm_generate_summarises_like_the_authors_decoder(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """The recorded prompt format (``unilm-s2s``) through ``zhplm.pipeline`` and ``zhplm generate``."""
    folder = case["out"]["pytorch"]
    assert json.loads((Path(folder) / "zhplm.json").read_text())["prompt_format"] == "unilm-s2s"
    writer = zhplm.pipeline("text-generation", folder)
    sep = writer.tokenizer.sep_token_id
    for n, prompt in enumerate(PROMPTS):
        expected = _until_sep(case["ref"]["greedy_ids"][n].astype(int).tolist(), sep)
        got = writer(prompt, max_new_tokens=STEPS)
        assert got.token_ids == expected, prompt
    capsys.readouterr()
    assert main(["generate", str(folder), PROMPTS[0], "--max-new-tokens", str(STEPS), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    printed = printed[0] if isinstance(printed, list) else printed
    assert printed["text"] == writer.tokenizer.decode(
        _until_sep(case["ref"]["greedy_ids"][0].astype(int).tolist(), sep), skip_special_tokens=True
    ).replace(" ", "")
