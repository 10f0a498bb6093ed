"""``POST /v1/rerank`` (Cohere / Jina / TEI shape): documents ordered by the cosine of the model's own
sentence vectors to the query. The expected scores are computed without zhplm: transformers' BERT ``[CLS]``
vectors for a BERT, bert4keras' linear-pooler vectors (the SimBERT authors' similarity) for a SimBERT."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="zhplm[serve] is not installed")

import zhplm
from helpers_converted import converted_bert
from helpers_serve import running, tiny_gpt2
from oracle import run_oracle

QUERY = "今天天气怎么样"
DOCS = ["微信和支付宝哪个好？", "今天天气如何", "科学技术是第一生产力。", "深圳和广州哪个更好？", "今天天气"]
TEXTS = [QUERY, *DOCS]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("rerank")
    bert = converted_bert(tmp / "b")
    # SimBERT written by bert4keras (the oracle), its pooled vectors for TEXTS kept as the reference
    chars = sorted({c for t in TEXTS for c in t})
    vocab = tmp / "vocab.txt"
    vocab.write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]) + "\n", encoding="utf-8"
    )
    run_oracle(
        "unilm_b4k.py",
        "write",
        "--arch",
        "simbert",
        "--out",
        tmp / "release",
        "--seed",
        "5",
        "--vocab",
        vocab,
    )
    (tmp / "in.json").write_text(
        json.dumps(
            {"input_ids": [[2, 3]], "token_type_ids": [[0, 0]], "texts": TEXTS, "prompts": [], "steps": 1},
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    run_oracle(
        "unilm_b4k.py", "forward", "--arch", "simbert", "--ckpt", tmp / "release",
        "--inputs", tmp / "in.json", "--out", tmp / "ref.npz",
    )  # fmt: skip
    zhplm.convert(tmp / "release", tmp / "simbert", arch="simbert")
    shutil.copy(tmp / "ref.npz", tmp / "simbert-ref.npz")
    return {
        "bert": bert,
        "simbert": tmp / "simbert",
        "gpt2": tiny_gpt2(tmp / "gpt2"),
        "ref": tmp / "simbert-ref.npz",
    }


@pytest.fixture(scope="module")
def url(dirs: dict[str, Path]) -> Iterator[str]:
    models = {k: v for k, v in dirs.items() if k != "ref"}
    with running(models, max_models=4, max_inputs=16) as (base, _):
        yield base


def post(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    req = urllib.request.Request(
        url + "/v1/rerank", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _cosines(vectors: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(unit[1:] @ unit[0])


def _check(got: dict[str, Any], expected: np.ndarray[Any, Any], top_n: int | None = None) -> None:
    order = np.argsort(-expected, kind="stable").tolist()[:top_n]
    assert [r["index"] for r in got["results"]] == order
    np.testing.assert_allclose([r["relevance_score"] for r in got["results"]], expected[order], atol=1e-4)


@pytest.mark.oracle
def test_bert_ranks_by_the_cosine_of_its_cls_vectors(url: str, dirs: dict[str, Path]) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(dirs["bert"]))
    model = AutoModel.from_pretrained(str(dirs["bert"])).eval()
    with torch.inference_mode():
        hidden = model(**tok(TEXTS, return_tensors="pt", padding=True)).last_hidden_state
    expected = _cosines(hidden[:, 0].numpy())
    status, got = post(url, {"model": "bert", "query": QUERY, "documents": DOCS})
    assert status == 200 and "document" not in got["results"][0]
    _check(got, expected)
    # top_n, documents as {"text"} objects, and the texts sent back when asked
    objects = [{"text": d} for d in DOCS]
    status, got = post(
        url, {"model": "bert", "query": QUERY, "documents": objects, "top_n": 2, "return_documents": True}
    )
    assert status == 200
    _check(got, expected, top_n=2)
    assert [r["document"]["text"] for r in got["results"]] == [DOCS[r["index"]] for r in got["results"]]


@pytest.mark.oracle
def test_simbert_ranks_by_its_authors_pooler_as_bert4keras_computes_it(
    url: str, dirs: dict[str, Path]
) -> None:
    ref = np.load(dirs["ref"])
    expected = _cosines(ref["text_pooled"])
    status, got = post(url, {"model": "simbert", "query": QUERY, "documents": DOCS})
    assert status == 200, got
    _check(got, expected)


def test_a_model_that_cannot_rerank_and_bad_bodies_are_refused(url: str) -> None:
    status, got = post(url, {"model": "gpt2", "query": QUERY, "documents": DOCS})
    assert status == 400 and "cannot rerank" in got["error"]["message"]
    assert "text-generation" in got["error"]["message"]
    for bad in (
        {"model": "bert", "query": QUERY, "documents": []},
        {"model": "bert", "query": QUERY, "documents": DOCS, "top_n": 0},
        {"model": "bert", "query": QUERY, "documents": [{"title": "x"}]},
        {"model": "bert", "query": QUERY, "documents": ["好"] * 40},
    ):
        status, got = post(url, bad)
        assert status == 422, (bad, got)
    status, got = post(url, {"model": "bert", "query": QUERY, "documents": DOCS[:1]})
    assert status == 200 and len(got["results"]) == 1
