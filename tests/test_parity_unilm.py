"""SimBERT ("simbert") and RoFormer-sim ("roformer_sim"): TF1 checkpoints written by bert4keras 0.11.5 itself
(``build_transformer_model(config, with_pool='linear', application='unilm')``, the authors' call, then its
``save_weights_as_checkpoint``) → ``zhplm.convert`` → our classes, against bert4keras loading the same files:
linear-pooled vectors, MLM logits under the UniLM mask, greedy seq2seq decoding (the authors'
``SynonymsGenerator``) and the similarity ranking of a small labelled set of Chinese pairs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import zhplm
from oracle import run_oracle
from zhplm.arch import get_arch, rank_archs

TOL = 1e-4
ORACLE = "unilm_b4k.py"
STEPS = 12

# (a, b, paraphrase?) — the ranking test needs only that these are real Chinese sentence pairs
PAIRS = [
    ("微信和支付宝哪个好？", "支付宝和微信哪个好", 1),
    ("广州和深圳哪个好？", "深圳和广州哪个更好？", 1),
    ("科学技术是第一生产力。", "科技是第一生产力", 1),
    ("今天天气怎么样", "今天天气如何", 1),
    ("微信和支付宝哪个好？", "今天天气如何", 0),
    ("科学技术是第一生产力。", "深圳和广州哪个更好？", 0),
    ("今天天气怎么样", "支付宝和微信哪个好", 0),
]
TEXTS = list(dict.fromkeys(t for a, b, _ in PAIRS for t in (a, b)))
PROMPTS = ["微信和支付宝哪个好？", "今天天气怎么样"]


def vocab_lines() -> list[str]:
    chars = sorted({c for t in TEXTS for c in t})
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, "##的", "##是"]


def tensor_inputs(vocab: int) -> dict[str, Any]:
    """Two rows, the second right-padded with id 0; segment 1 on the target part (the UniLM mask)."""
    rng = np.random.default_rng(3)
    ids = np.zeros((2, 14), dtype=np.int64)
    types = np.zeros_like(ids)
    for row, (n, src) in enumerate(((14, 6), (10, 5))):
        ids[row, :n] = [2, *rng.integers(5, vocab, n - 2), 3]
        ids[row, src - 1] = 3
        types[row, src:n] = 1
    return {"input_ids": ids.tolist(), "token_type_ids": types.tolist()}


@pytest.fixture(scope="module", params=["simbert", "roformer_sim"])
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    arch = request.param
    root = tmp_path_factory.mktemp(arch)
    vocab = root / "vocab.txt"
    vocab.write_text("\n".join(vocab_lines()) + "\n", encoding="utf-8")
    ckpt = root / "release"
    run_oracle(ORACLE, "write", "--arch", arch, "--out", ckpt, "--seed", "5", "--vocab", vocab)
    inputs = tensor_inputs(len(vocab_lines()))
    (root / "in.json").write_text(
        json.dumps({**inputs, "texts": TEXTS, "prompts": PROMPTS, "steps": STEPS}, ensure_ascii=False),
        encoding="utf-8",
    )
    run_oracle(
        ORACLE,
        "forward",
        "--arch",
        arch,
        "--ckpt",
        ckpt,
        "--inputs",
        root / "in.json",
        "--out",
        root / "ref.npz",
    )
    out = root / "converted"
    zhplm.convert(ckpt, out, arch=arch)
    return {"arch": arch, "ckpt": ckpt, "out": out, "inputs": inputs, "ref": dict(np.load(root / "ref.npz"))}


def test_pooled_and_mlm_logits_match_bert4keras(case: dict[str, Any]) -> None:
    import torch

    loaded = zhplm.load(case["out"])
    assert (
        type(loaded.model).__name__
        == {"simbert": "SimBertForMaskedLM", "roformer_sim": "RoFormerSimForMaskedLM"}[case["arch"]]
    )
    ids = torch.tensor(case["inputs"]["input_ids"])
    with torch.inference_mode():
        out = loaded.model(
            input_ids=ids,
            token_type_ids=torch.tensor(case["inputs"]["token_type_ids"]),
            attention_mask=(ids != 0).long(),
        )
    ref = case["ref"]
    np.testing.assert_allclose(out.pooler_output.numpy(), ref["pooled"], atol=TOL, rtol=0)
    real = (ids != 0).numpy()
    np.testing.assert_allclose(out.logits.numpy()[real], ref["mlm_logits"][real], atol=TOL, rtol=0)
    # the mask matters: the same ids with every token in segment 0 (plain BERT attention) differ
    with torch.inference_mode():
        plain = loaded.model(input_ids=ids, attention_mask=(ids != 0).long())
    assert np.abs(plain.logits.numpy()[real] - ref["mlm_logits"][real]).max() > 1e-2


def test_greedy_generation_matches_the_authors_decoder(case: dict[str, Any]) -> None:
    import torch

    loaded = zhplm.load(case["out"])
    for prompt, want in zip(PROMPTS, case["ref"]["greedy_ids"], strict=True):
        enc = loaded.tokenizer(prompt, return_tensors="pt")
        for use_cache in (True, False):
            with torch.inference_mode():
                got = loaded.model.generate(
                    **enc, max_new_tokens=STEPS, min_new_tokens=STEPS, do_sample=False, use_cache=use_cache
                )
            assert got[0, enc["input_ids"].shape[1] :].tolist() == want.tolist(), (prompt, use_cache)
    assert len(set(case["ref"]["greedy_ids"].ravel().tolist())) >= 2  # not one token repeated everywhere


def test_the_text_generation_pipeline_writes_what_the_authors_decoder_writes(case: dict[str, Any]) -> None:
    """The catalog's prompt format (``unilm``: ``[CLS] text [SEP]`` as segment 0) through
    ``zhplm.pipeline("text-generation")`` gives the authors' greedy tokens, up to the first ``[SEP]``."""
    writer = zhplm.pipeline("text-generation", case["out"], prompt_format="unilm")
    sep = writer.tokenizer.sep_token_id
    for prompt, want in zip(PROMPTS, case["ref"]["greedy_ids"], strict=True):
        got = writer(prompt, max_new_tokens=STEPS)
        expected = want.tolist()
        if sep in expected:
            expected = expected[: expected.index(sep)]
        assert got.token_ids[: len(expected)] == expected, prompt


def test_similarity_ranking_equals_the_oracles(case: dict[str, Any]) -> None:
    ref = case["ref"]
    sim = zhplm.pipeline("sentence-similarity", case["out"])
    assert sim.pooling == "pooler"  # the authors' sentence vector
    ours = np.array([s.score for s in sim.pairs([(a, b) for a, b, _ in PAIRS])])
    z = ref["text_pooled"] / np.linalg.norm(ref["text_pooled"], axis=1, keepdims=True)
    row = {t: i for i, t in enumerate(TEXTS)}
    theirs = np.array([z[row[a]] @ z[row[b]] for a, b, _ in PAIRS])
    np.testing.assert_allclose(ours, theirs, atol=TOL, rtol=0)
    assert np.argsort(-ours).tolist() == np.argsort(-theirs).tolist()
    # the same token ids as bert4keras' Tokenizer gave the oracle
    for text, ids in zip(TEXTS, ref["text_ids"], strict=True):
        assert sim.embeddings.tokenizer(text)["input_ids"] == [i for i in ids.tolist() if i >= 0]


def test_catalog_rows_name_the_arch_and_plain_readings_win_detection(case: dict[str, Any]) -> None:
    assert zhplm.info("simbert-tiny").arch == "simbert"
    assert zhplm.info("roformer-sim-v2-base").arch == "roformer_sim"
    prov = json.loads((case["out"] / "zhplm.json").read_text(encoding="utf-8"))
    assert prov["heads"] == {"pooler": "trained", "mlm": "trained"}
    # the names alone are a bert4keras BERT / RoFormer v1 with a pooler: those readings rank first
    with zhplm.open_checkpoint(case["ckpt"] / "bert_model.ckpt") as reader:
        shapes = {k: reader.shape(k) for k in reader.keys()}  # noqa: SIM118  (a Reader, not a dict)
    ranked = [spec.name for spec, _ in rank_archs(shapes)]
    assert case["arch"] in ranked
    assert ranked.index({"simbert": "bert", "roformer_sim": "roformer"}[case["arch"]]) < ranked.index(
        case["arch"]
    )
    assert get_arch(case["arch"]).own_model is not None


def test_cli_similarity_pairs_file_and_bad_input(
    case: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from zhplm.cli.main import main

    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"{a}\t{b}\n" for a, b, _ in PAIRS) + "\n", encoding="utf-8")
    assert main(["similarity", str(case["out"]), "--pairs", str(pairs), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    sim = zhplm.pipeline("sentence-similarity", case["out"])
    assert [r["score"] for r in rows] == pytest.approx([sim(a, b) for a, b, _ in PAIRS], abs=1e-6)
    assert main(["similarity", str(case["out"]), PAIRS[0][0], PAIRS[0][1]]) == 0
    assert f"{sim(PAIRS[0][0], PAIRS[0][1]):8.4f}" in capsys.readouterr().out
    bad = tmp_path / "bad.tsv"
    bad.write_text("只有一句没有制表符\n", encoding="utf-8")
    assert main(["similarity", str(case["out"]), "--pairs", str(bad)]) != 0
    assert "bad.tsv:1: expected two texts separated by one tab" in capsys.readouterr().err
