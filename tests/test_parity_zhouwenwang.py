"""Zhouwenwang (arch "zhouwenwang"): tiny random weights saved by the ORIGINAL fengshen ``RoFormerForMaskedLM``
(IDEA-CCNL/Fengshenbang-LM, ``tests/oracles/zhouwenwang_original.py``) → ``zhplm.convert`` (detected, not
named) → our classes, against the original loading the same folder: every hidden state, the MLM logits, the LM
logits of the model card (the tied word embedding), fill-mask, and greedy generation identical to the model
card's loop through transformers' ``generate``, ``zhplm.pipeline`` and ``zhplm generate``.

Inputs have token type 0 and no padding: fengshen adds its boolean "blocked" mask to the scores (+1) instead
of masking, so inputs whose mask would block something have no meaning to compare against."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import zhplm
from oracle import require_original, run_oracle
from zhplm.cli.main import main

TOL = 1e-4
ORACLE = "zhouwenwang_original.py"
STEPS = 12
# the tiny vocabulary (tests/oracles/_common.py): [PAD] [UNK] [CLS] [SEP] [MASK], then 的 一 是 不 了 人 我 …
MASKED = "的一[MASK]不了人我"
PROMPTS = ["我在有他", "的是不了人我在"]


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    require_original("IDEA-CCNL/Fengshenbang-LM")
    root = tmp_path_factory.mktemp("zhouwenwang")
    run_oracle(ORACLE, "write", "--out", root / "release", "--seed", "7")
    out = root / "converted"
    result = zhplm.convert(root / "release", out, prompt_format="cls-prefix-period")
    assert result.arch == "zhouwenwang"
    assert result.heads == {"mlm": "trained", "lm": "trained"}
    tokenizer = zhplm.load(out).tokenizer
    masked = tokenizer(MASKED)["input_ids"]
    rng = np.random.default_rng(2)
    other = [2, *rng.integers(5, 120, len(masked) - 2).tolist(), 3]
    prompts = [
        [tokenizer.cls_token_id, *tokenizer(p, add_special_tokens=False)["input_ids"]] for p in PROMPTS
    ]
    inputs = {"input_ids": [masked, other], "prompts": prompts, "steps": STEPS}
    (root / "in.json").write_text(json.dumps(inputs), encoding="utf-8")
    run_oracle(
        ORACLE, "forward", "--ckpt", root / "release", "--inputs", root / "in.json", "--out", root / "ref.npz"
    )
    return {"out": out, "inputs": inputs, "ref": dict(np.load(root / "ref.npz"))}


def test_hidden_states_and_both_heads_match_fengshen(case: dict[str, Any]) -> None:
    import torch

    ref = case["ref"]
    ids = torch.tensor(case["inputs"]["input_ids"])
    mlm = zhplm.load(case["out"]).model
    assert type(mlm).__name__ == "ZhouwenwangForMaskedLM"
    with torch.inference_mode():
        out = mlm(input_ids=ids, output_hidden_states=True)
    np.testing.assert_allclose(torch.stack(out.hidden_states).numpy(), ref["hidden_states"], atol=TOL, rtol=0)
    np.testing.assert_allclose(out.last_hidden_state.numpy(), ref["last_hidden_state"], atol=TOL, rtol=0)
    np.testing.assert_allclose(out.logits.numpy(), ref["mlm_logits"], atol=TOL, rtol=0)
    lm = zhplm.load(case["out"], task="text-generation").model
    assert type(lm).__name__ == "ZhouwenwangForCausalLM"
    with torch.inference_mode():
        logits = lm(input_ids=ids).logits.numpy()
    np.testing.assert_allclose(logits, ref["lm_logits"], atol=TOL, rtol=0)
    assert np.abs(logits - ref["mlm_logits"]).max() > 1e-2  # two different heads


def test_fill_mask_predicts_what_fengshen_predicts(case: dict[str, Any]) -> None:
    fill = zhplm.pipeline("fill-mask", case["out"], top_k=3)
    got = fill(MASKED)[0]
    position = case["inputs"]["input_ids"][0].index(4)  # [MASK]
    want = np.argsort(-case["ref"]["mlm_logits"][0, position])[:3]
    assert [p.token_id for p in got] == want.tolist()


def test_greedy_generation_matches_the_model_card_loop(case: dict[str, Any]) -> None:
    import torch

    model = zhplm.load(case["out"], task="text-generation").model
    ref = case["ref"]["greedy_ids"].astype(int)
    assert len(set(ref.ravel().tolist())) >= 2  # not one token repeated everywhere
    for prompt, want in zip(case["inputs"]["prompts"], ref, strict=True):
        with torch.inference_mode():
            got = model.generate(
                input_ids=torch.tensor([prompt]), max_new_tokens=STEPS, min_new_tokens=STEPS, do_sample=False
            )
        assert got[0, len(prompt) :].tolist() == want.tolist(), prompt


def test_causal_mode_caches_exactly(case: dict[str, Any]) -> None:
    """Type-1 tokens attend causally (the "unified" LM mask): there the KV cache is exact, so ``generate`` with
    and without it must agree token for token (the model card's all-type-0 reading cannot be cached)."""
    import torch

    model = zhplm.load(case["out"], task="text-generation").model
    model.config.unilm_decoding, model.config.unilm_source_type = "shift", 1
    prompt = torch.tensor(case["inputs"]["prompts"][:1])
    runs = []
    for use_cache in (True, False):
        with torch.inference_mode():
            runs.append(
                model.generate(
                    input_ids=prompt, max_new_tokens=STEPS, do_sample=False, use_cache=use_cache
                ).tolist()
            )
    assert runs[0] == runs[1]
    with torch.inference_mode():
        full = model(input_ids=torch.tensor(runs[0]), token_type_ids=torch.ones_like(torch.tensor(runs[0])))
        part = model(
            input_ids=torch.tensor(runs[0])[:, :-3], token_type_ids=torch.ones(1, len(runs[0][0]) - 3).long()
        )
    # causal: a prefix reads the same whatever follows it
    np.testing.assert_allclose(full.logits[:, :-3].numpy(), part.logits.numpy(), atol=1e-5, rtol=0)


def test_zhplm_generate_writes_what_the_model_card_loop_writes(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    writer = zhplm.pipeline("text-generation", case["out"])  # cls-prefix-period, recorded at conversion
    tok = writer.tokenizer
    stops = {tok.sep_token_id, tok.convert_tokens_to_ids("。")}
    for text, want in zip(PROMPTS, case["ref"]["greedy_ids"].astype(int).tolist(), strict=True):
        cut = next((n for n, t in enumerate(want) if t in stops), len(want))
        got = writer(text, max_new_tokens=STEPS)
        assert got.token_ids == want[:cut], text
    capsys.readouterr()
    assert main(["generate", str(case["out"]), PROMPTS[0], "--max-new-tokens", str(STEPS), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    printed = printed[0] if isinstance(printed, list) else printed
    assert printed["text"] == writer(PROMPTS[0], max_new_tokens=STEPS).text
