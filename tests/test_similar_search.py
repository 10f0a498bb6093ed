"""Similar-sentence search, paraphrase generation and the similarity ranking of a labelled set, on tiny
SimBERT / RoFormer-sim releases written here in their PyTorch naming (``bert.*`` + ``cls.predictions.*``,
RoFormer plus a ``pooler.dense``) and converted by zhplm.

Expected values never come from the code under test: top-k is brute force over vectors this file computes
itself (one sentence per forward of the loaded model, its ``pooler_output``); sampled candidates are
transformers' own ``generate`` on the same model and seed; rankings are cosines computed here."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import transformers

import zhplm
from zhplm.cli.main import main
from zhplm.errors import ConversionError, MissingDependencyError
from zhplm.tasks import search as search_mod
from zhplm.tasks.generate import Generation
from zhplm.tasks.paraphrase import Paraphraser

CHARS = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面"
    "而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性"
    "好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第"
    "向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管"
    "特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处"
    "微信支付宝哪广州深圳科技术今怎如何？。，"
)
PAIRS = [  # (a, b, paraphrase?)
    ("微信和支付宝哪个好？", "支付宝和微信哪个好", 1),
    ("广州和深圳哪个好？", "深圳和广州哪个更好？", 1),
    ("科学技术是第一生产力。", "科技是第一生产力", 1),
    ("今天天气怎么样", "今天天气如何", 1),
    ("微信和支付宝哪个好？", "今天天气如何", 0),
    ("科学技术是第一生产力。", "深圳和广州哪个更好？", 0),
    ("今天天气怎么样", "支付宝和微信哪个好", 0),
    ("我喜欢北京", "我很喜欢北京", 1),
    ("电影不错", "科学技术是第一生产力。", 0),
]


def vocab() -> list[str]:
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *dict.fromkeys(c for c in CHARS)]


def write_release(folder: Path, arch: str, seed: int = 0) -> None:
    """A release as the PyTorch ports name it: weights, a Google-style config and vocab.txt."""
    words = vocab()
    sizes = dict(
        vocab_size=len(words),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
        type_vocab_size=2,
    )
    torch.manual_seed(seed)
    if arch == "simbert":
        model: Any = transformers.BertForPreTraining(transformers.BertConfig(**sizes)).eval()
    else:
        model = transformers.RoFormerForMaskedLM(transformers.RoFormerConfig(**sizes)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" not in name:  # kept at 1/0: vectors of different texts point apart
                p.normal_(0, 0.3 if p.dim() > 1 else 0.05)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    if arch == "roformer_sim":
        state["roformer.pooler.dense.weight"] = torch.randn(32, 32) * 0.3
        state["roformer.pooler.dense.bias"] = torch.randn(32) * 0.05
    folder.mkdir(parents=True)
    torch.save(state, folder / "pytorch_model.bin")
    config = {**sizes, "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1}
    (folder / "bert_config.json").write_text(json.dumps(config), encoding="utf-8")
    (folder / "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")


@pytest.fixture(scope="module", params=["simbert", "roformer_sim"])
def model_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp(request.param)
    write_release(tmp / "release", request.param)
    zhplm.convert(tmp / "release", tmp / "out", arch=request.param)
    return tmp / "out"


@pytest.fixture(scope="module")
def simbert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("simbert-search")
    write_release(tmp / "release", "simbert", seed=1)
    zhplm.convert(tmp / "release", tmp / "out", arch="simbert")
    return tmp / "out"


def own_vectors(folder: Path, texts: list[str]) -> np.ndarray[Any, Any]:
    """Each text alone through the loaded model: ``[CLS] text [SEP]``, its linear-pooled vector, normalised."""
    loaded = zhplm.load(folder)
    rows = []
    for text in texts:
        enc = loaded.tokenizer(text, return_tensors="pt")
        with torch.inference_mode():
            rows.append(loaded.model(**enc).pooler_output[0].double().numpy())
    z = np.array(rows)
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def random_corpus(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    pool = list(dict.fromkeys(CHARS))
    return ["".join(rng.choice(pool, size=int(rng.integers(3, 12)))) for _ in range(n)]


def count_rows(model: Any) -> list[int]:
    """A counter of the sentences that go through ``model``'s forward."""
    seen = [0]

    def hook(module: Any, args: Any, kwargs: Any) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        seen[0] += int(ids.shape[0])

    model.register_forward_pre_hook(hook, with_kwargs=True)
    return seen


# ---------------------------------------------------------------------------------------- search


@pytest.fixture()
def corpus(tmp_path: Path) -> tuple[Path, list[str]]:
    texts = random_corpus(60, seed=7)
    path = tmp_path / "corpus.txt"
    # blank lines in between: line numbers count them, the search skips them
    path.write_text("\n".join(texts[:30]) + "\n\n   \n" + "\n".join(texts[30:]) + "\n", encoding="utf-8")
    return path, texts


def brute_force(folder: Path, texts: list[str], queries: list[str], k: int) -> tuple[list[list[int]], Any]:
    z = own_vectors(folder, texts + queries)
    scores = z[len(texts) :] @ z[: len(texts)].T
    order = [np.argsort(-row, kind="stable")[:k].tolist() for row in scores]
    for row in scores:  # the k-th and (k+1)-th are apart: no tie decides
        s = np.sort(row)[::-1]
        if k < len(s):
            assert s[k - 1] - s[k] > 1e-5
    return order, scores


def line_of(texts: list[str]) -> list[int]:
    return [n + 1 if n < 30 else n + 3 for n in range(len(texts))]


def test_top_k_equals_brute_force_and_the_cache_skips_the_model(
    simbert_dir: Path, corpus: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, texts = corpus
    queries = ["微信和支付宝哪个好？", "今天天气怎么样"]
    want, scores = brute_force(simbert_dir, texts, queries, 5)
    cache = tmp_path / "cache"
    sim = zhplm.pipeline("sentence-similarity", simbert_dir)
    rows = count_rows(sim.embeddings.model)
    got = sim.searcher(cache_dir=cache).search_many(queries, path, k=5)
    assert rows[0] == len(texts) + len(queries)
    lines = line_of(texts)
    for q, res, idx, row in zip(queries, got, want, scores, strict=True):
        assert res.query == q
        assert [h.text for h in res.hits] == [texts[i] for i in idx]
        assert [h.line for h in res.hits] == [lines[i] for i in idx]
        np.testing.assert_allclose([h.score for h in res.hits], row[idx], atol=1e-5)
    # a new pipeline (nothing held in memory) reads the vectors from disk: only the query is embedded
    again = zhplm.pipeline("sentence-similarity", simbert_dir)
    rows2 = count_rows(again.embeddings.model)
    hits = again.searcher(cache_dir=cache).search(queries[0], path, k=5)
    assert rows2[0] == 1
    assert [h.text for h in hits] == [h.text for h in got[0].hits]
    # the Python API of the pipeline itself (default cache dir under ZHPLM_HOME)
    assert [h.text for h in again.search(queries[0], corpus=path, k=3)] == [texts[i] for i in want[0][:3]]


def test_a_changed_corpus_or_model_re_embeds(
    simbert_dir: Path, corpus: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, texts = corpus
    cache = tmp_path / "cache"

    def embedded(folder: Path, query: str = "今天天气如何") -> tuple[int, list[str]]:
        sim = zhplm.pipeline("sentence-similarity", folder)
        rows = count_rows(sim.embeddings.model)
        hits = sim.searcher(cache_dir=cache).search(query, path, k=3)
        return rows[0], [h.text for h in hits]

    assert embedded(simbert_dir)[0] == len(texts) + 1
    assert embedded(simbert_dir)[0] == 1
    # the same bytes with a new mtime: the same model (the weights' hash is recomputed, not trusted)
    weights = simbert_dir / "model.safetensors"
    weights.touch()
    assert embedded(simbert_dir)[0] == 1
    # one more line: the file's hash changed
    path.write_text(path.read_text(encoding="utf-8") + "支付宝和微信哪个好\n", encoding="utf-8")
    n, hits = embedded(simbert_dir, "微信和支付宝哪个好？")
    assert n == len(texts) + 2
    assert "支付宝和微信哪个好" in hits or len(hits) == 3
    # a model whose weights differ (same names, shapes and config)
    other = tmp_path / "other"
    shutil.copytree(simbert_dir, other)
    from safetensors.torch import load_file, save_file

    state = load_file(other / "model.safetensors")
    state["bert.pooler.dense.bias"] = state["bert.pooler.dense.bias"] + 0.5
    save_file(state, other / "model.safetensors", metadata={"format": "pt"})
    assert embedded(other)[0] == len(texts) + 2
    assert embedded(other)[0] == 1
    # the provenance record alone changed: a different model identity too
    prov = json.loads((other / "zhplm.json").read_text(encoding="utf-8"))
    (other / "zhplm.json").write_text(json.dumps({**prov, "note": "edited"}), encoding="utf-8")
    assert embedded(other)[0] == len(texts) + 2


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_a_damaged_cache_file_is_rebuilt_not_used(
    simbert_dir: Path,
    corpus: tuple[Path, list[str]],
    tmp_path: Path,
    damage: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path, texts = corpus
    cache = tmp_path / "cache"
    sim = zhplm.pipeline("sentence-similarity", simbert_dir)
    first = sim.searcher(cache_dir=cache).search("科学技术是第一生产力。", path, k=4)
    (vec,) = cache.glob("*.vectors")
    raw = bytearray(vec.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) - 100]
    elif damage == "flip":
        raw[-7] ^= 0x40  # one bit in the payload: the size is right, the checksum is not
    elif damage == "garbage":
        raw = bytearray(b"<html>quota exceeded</html>")
    else:
        raw = bytearray()
    vec.write_bytes(bytes(raw))
    again = zhplm.pipeline("sentence-similarity", simbert_dir)
    rows = count_rows(again.embeddings.model)
    with caplog.at_level(logging.WARNING, logger="zhplm"):
        hits = again.searcher(cache_dir=cache).search("科学技术是第一生产力。", path, k=4)
    assert rows[0] == len(texts) + 1  # re-embedded
    assert "unusable" in caplog.text and vec.name in caplog.text
    assert [(h.text, h.line) for h in hits] == [(h.text, h.line) for h in first]
    np.testing.assert_allclose([h.score for h in hits], [h.score for h in first], atol=1e-6)
    # the rebuilt file is sound: the next search reads it
    third = zhplm.pipeline("sentence-similarity", simbert_dir)
    rows3 = count_rows(third.embeddings.model)
    third.searcher(cache_dir=cache).search("科学技术是第一生产力。", path, k=4)
    assert rows3[0] == 1


def test_empty_corpus_blank_lines_huge_k_and_bad_k(simbert_dir: Path, tmp_path: Path) -> None:
    sim = zhplm.pipeline("sentence-similarity", simbert_dir)
    search = sim.searcher(cache_dir=tmp_path / "cache")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n\t\n", encoding="utf-8")
    for _ in range(2):  # nothing is cached for it, the second call says the same
        with pytest.raises(ConversionError, match="no non-blank line"):
            search.search("今天天气怎么样", empty)
    small = tmp_path / "small.txt"
    texts = ["今天天气如何", "微信和支付宝哪个好", "科技是第一生产力"]
    small.write_text(f"\n{texts[0]}\n\n{texts[1]}\n{texts[2]}", encoding="utf-8")  # no final newline
    hits = search.search("今天天气怎么样", small, k=10**9)
    assert sorted(h.line for h in hits) == [2, 4, 5]
    z = own_vectors(simbert_dir, [*texts, "今天天气怎么样"])
    want = np.argsort(-(z[:3] @ z[3]), kind="stable")
    assert [h.text for h in hits] == [texts[i] for i in want]
    for bad in (0, -1):
        with pytest.raises(ConversionError, match="k must be a positive integer"):
            search.search("今天天气怎么样", small, k=bad)
    with pytest.raises(ConversionError, match="query 1 is empty"):
        search.search("  ", small)
    with pytest.raises(ConversionError, match="cannot read the corpus"):
        search.search("今天", tmp_path / "missing.txt")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConversionError, match="cannot read the corpus"):
        search.search("今天", latin1)


def test_above_the_threshold_the_index_answers_and_without_faiss_exact_search_says_so(
    simbert_dir: Path,
    corpus: tuple[Path, list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pytest.importorskip("faiss", reason="the [search] extra (faiss-cpu) is in the dev install")
    path, _ = corpus
    sim = zhplm.pipeline("sentence-similarity", simbert_dir)
    exact = sim.searcher(cache_dir=tmp_path / "c").search_many(["今天天气怎么样", "电影不错"], path, k=6)
    indexed = sim.searcher(cache_dir=tmp_path / "c", index_threshold=10)
    got = indexed.search_many(["今天天气怎么样", "电影不错"], path, k=6)
    assert indexed.last_backend == "faiss"
    assert [[h.line for h in r.hits] for r in got] == [[h.line for h in r.hits] for r in exact]
    assert len(list((tmp_path / "c").glob("*.faiss-hnsw"))) == 1  # built once, cached
    fresh = zhplm.pipeline("sentence-similarity", simbert_dir).searcher(
        cache_dir=tmp_path / "c", index_threshold=10
    )
    assert [h.line for h in fresh.search("电影不错", path, k=6)] == [h.line for h in exact[1].hits]

    def missing() -> Any:
        raise MissingDependencyError("faiss-cpu", "search", "index large corpora")

    monkeypatch.setattr(search_mod, "_import_faiss", missing)
    plain = zhplm.pipeline("sentence-similarity", simbert_dir).searcher(
        cache_dir=tmp_path / "c", index_threshold=10
    )
    with caplog.at_level(logging.INFO, logger="zhplm"):
        hits = plain.search("电影不错", path, k=6)
    assert plain.last_backend == "exact"
    assert "exact search (faiss is not installed" in caplog.text and "zhplm[search]" in caplog.text
    assert [h.line for h in hits] == [h.line for h in exact[1].hits]


def test_cli_search_similar(
    simbert_dir: Path,
    corpus: tuple[Path, list[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ZHPLM_HOME", str(tmp_path / "home"))
    path, texts = corpus
    want, _ = brute_force(simbert_dir, texts, ["微信和支付宝哪个好？", "电影不错"], 3)
    assert (
        main(
            [
                "search-similar",
                str(simbert_dir),
                "--corpus",
                str(path),
                "微信和支付宝哪个好？",
                "-k",
                "3",
                "--json",
            ]
        )
        == 0
    )
    hits = json.loads(capsys.readouterr().out)
    assert [h["text"] for h in hits] == [texts[i] for i in want[0]]
    assert list((tmp_path / "home" / "search").glob("*.vectors"))  # cached under ZHPLM_HOME
    queries = tmp_path / "q.txt"
    queries.write_text("微信和支付宝哪个好？\n\n电影不错\n", encoding="utf-8")
    assert (
        main(
            [
                "search-similar",
                str(simbert_dir),
                "--corpus",
                str(path),
                "--queries",
                str(queries),
                "-k",
                "3",
                "--json",
            ]
        )
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert [r["query"] for r in rows] == ["微信和支付宝哪个好？", "电影不错"]
    assert [[h["text"] for h in r["hits"]] for r in rows] == [[texts[i] for i in w] for w in want]
    assert main(["search-similar", str(simbert_dir), "--corpus", str(path), "电影不错", "-k", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].endswith(texts[want[1][0]])
    assert main(["search-similar", str(simbert_dir), "--corpus", str(path)]) != 0
    assert "give a query" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------- paraphrase


def transformers_samples(folder: Path, text: str, n: int, seed: int, **kwargs: Any) -> list[list[int]]:
    """transformers' own sampling on the loaded model: ``[CLS] text [SEP]`` as segment 0, up to ``[SEP]``."""
    loaded = zhplm.load(folder)
    tok = loaded.tokenizer
    ids = torch.tensor([tok(text)["input_ids"]])
    torch.manual_seed(seed)
    with torch.inference_mode():
        out = loaded.model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            token_type_ids=torch.zeros_like(ids),
            do_sample=True,
            num_return_sequences=n,
            eos_token_id=[tok.sep_token_id],
            pad_token_id=tok.pad_token_id,
            **kwargs,
        )
    rows = []
    for row in out[:, ids.shape[1] :].tolist():
        rows.append(row[: row.index(tok.sep_token_id)] if tok.sep_token_id in row else row)
    return rows


def test_paraphrase_candidates_are_the_models_samples_ranked_by_its_own_cosine(model_dir: Path) -> None:
    para = zhplm.pipeline("paraphrase", model_dir)
    assert isinstance(para, Paraphraser)
    arch = json.loads((model_dir / "zhplm.json").read_text(encoding="utf-8"))["arch"]
    # the authors sample from the top 5 (SimBERT) or the 0.95 nucleus with no top-k at all (RoFormer-sim)
    authors = {"simbert": {"top_k": 5}, "roformer_sim": {"top_p": 0.95, "top_k": 0}}[arch]
    text = "微信和支付宝哪个好？"
    sampled = para.sample(text, 12, seed=3, max_new_tokens=8)
    theirs = transformers_samples(model_dir, text, 12, 3, max_new_tokens=8, **authors)
    tok = para.generator.tokenizer
    # decoded as bert4keras' Tokenizer.decode does: special tokens ([MASK], [UNK] …) dropped
    texts = [
        "".join(t for t in tok.convert_ids_to_tokens(r) if not (t[0] == "[" and t[-1] == "]")) for r in theirs
    ]
    expected = list(dict.fromkeys(t for t in texts if t and t != text))
    assert sampled == expected
    assert len(expected) >= 5
    # the same seed gives the same candidates; another seed others
    assert para.sample(text, 12, seed=3, max_new_tokens=8) == sampled
    assert para.sample(text, 12, seed=4, max_new_tokens=8) != sampled
    ranked = para(text, 4, candidates=12, seed=3, max_new_tokens=8)
    z = own_vectors(model_dir, [text, *expected])
    cos = z[1:] @ z[0]
    order = np.argsort(-cos, kind="stable")[:4]
    assert [r.text for r in ranked] == [expected[i] for i in order]
    np.testing.assert_allclose([r.score for r in ranked], cos[order], atol=1e-5)


def test_paraphrase_drops_the_input_duplicates_and_empty_texts(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    para = zhplm.pipeline("paraphrase", model_dir)
    text = "今天天气怎么样"
    # a peaked short sampling repeats itself: duplicates are dropped, order of first appearance kept
    raw = para.generator.run(
        [para.generator.format.encode(para.generator.tokenizer, text)],
        [text],
        para.options(seed=0, max_new_tokens=1, top_k=2, top_p=1.0),
        num_return=30,
    )[0]
    assert len({g.text for g in raw}) < len(raw)
    got = para.sample(text, 30, seed=0, max_new_tokens=1, top_k=2, top_p=1.0)
    assert got == list(dict.fromkeys(g.text for g in raw if g.text and g.text != text))
    # whatever the model writes, the input itself and an empty text never come back
    tok = para.generator.tokenizer
    fake = [
        Generation(text, text, tok(text, add_special_tokens=False)["input_ids"], "stop"),
        Generation(text, "", [], "stop"),
        Generation(text, "今天天气如何", tok("今天天气如何", add_special_tokens=False)["input_ids"], "stop"),
        Generation(text, "今天天气如何", tok("今天天气如何", add_special_tokens=False)["input_ids"], "stop"),
        Generation(text, "天气怎么样", tok("天气怎么样", add_special_tokens=False)["input_ids"], "stop"),
    ]
    monkeypatch.setattr(para.generator, "run", lambda *a, **k: [fake])
    assert para.sample(text, 5) == ["今天天气如何", "天气怎么样"]
    assert {r.text for r in para(text, 10)} == {"今天天气如何", "天气怎么样"}
    with pytest.raises(ConversionError, match="non-empty sentence"):
        para.sample(" ", 5)
    with pytest.raises(ConversionError, match="n must be at least 1"):
        para(text, 0)


def test_cli_paraphrase_json_is_seeded(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "paraphrase",
        str(model_dir),
        "广州和深圳哪个好？",
        "-n",
        "3",
        "--candidates",
        "10",
        "--seed",
        "5",
        "--max-new-tokens",
        "6",
    ]
    assert main([*args, "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert 1 <= len(first) <= 3 and all(set(r) == {"text", "score"} for r in first)
    assert [r["score"] for r in first] == sorted((r["score"] for r in first), reverse=True)
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == first
    para = zhplm.pipeline("paraphrase", model_dir)
    assert [r.text for r in para("广州和深圳哪个好？", 3, candidates=10, seed=5, max_new_tokens=6)] == [
        r["text"] for r in first
    ]


def test_paraphrase_refuses_a_model_without_a_linear_pooler(tmp_path: Path) -> None:
    words = vocab()
    cfg = transformers.BertConfig(
        vocab_size=len(words),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=4,
        intermediate_size=64,
    )
    release = tmp_path / "bert"
    release.mkdir()
    torch.save(transformers.BertForMaskedLM(cfg).state_dict(), release / "pytorch_model.bin")
    (release / "bert_config.json").write_text(json.dumps(cfg.to_diff_dict()), encoding="utf-8")
    (release / "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    zhplm.convert(release, tmp_path / "out", arch="bert")
    with pytest.raises(ConversionError, match="pooler"):
        zhplm.pipeline("paraphrase", tmp_path / "out")


# ---------------------------------------------------------------------------------------- labelled set


def test_a_labelled_set_ranks_as_the_models_own_cosine(model_dir: Path) -> None:
    """Pairs that are and are not paraphrases: the pipeline's scores order them exactly as the cosine of the
    model's own pooled vectors (computed here, one sentence per forward) does."""
    sim = zhplm.pipeline("sentence-similarity", model_dir)
    assert sim.pooling == "pooler"
    ours = np.array([s.score for s in sim.pairs([(a, b) for a, b, _ in PAIRS])])
    texts = list(dict.fromkeys(t for a, b, _ in PAIRS for t in (a, b)))
    z = own_vectors(model_dir, texts)
    row = {t: i for i, t in enumerate(texts)}
    theirs = np.array([z[row[a]] @ z[row[b]] for a, b, _ in PAIRS])
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    assert np.argsort(-ours, kind="stable").tolist() == np.argsort(-theirs, kind="stable").tolist()
    assert len(set(np.round(theirs, 4))) == len(PAIRS)  # no tie decides the order
