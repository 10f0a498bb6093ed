"""Sentence similarity and similar-sentence search on a SimBERT-base-shaped model (random weights: 12 layers,
768 hidden, the released simplified vocabulary's 13,685 entries), zhplm against sentence-transformers and
plain transformers + numpy on the same converted folder, in one run; int8 dynamic quantisation with its
measured cosine difference; and the index libraries considered for large corpora.

    PYTHONPATH=src .venv/bin/python bench/bench_similarity.py [--pairs 10000] [--corpus 100000] [--embed 2000]

``--pairs`` pairs are scored (2 x pairs distinct sentences). Search: ``--embed`` corpus lines are embedded
for real (sentences/s), the embedding time of the full ``--corpus`` lines is extrapolated from that rate, and
the query side runs over a full-size ``--corpus`` x 768 cache of vectors (the embedded ones, repeated with
noise), so top-k timings are those of a 100k-line corpus.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from worker_protocol import cpu_name

VOCAB = 13685  # chinese_simbert_L-12_H-768_A-12/vocab.txt


def write_model(root: Path) -> Path:
    import torch
    import transformers

    import zhplm

    chars = [chr(c) for c in range(0x4E00, 0x4E00 + VOCAB - 5)]
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]
    cfg = transformers.BertConfig(vocab_size=len(words))  # BERT-base sizes
    torch.manual_seed(0)
    model = transformers.BertForPreTraining(cfg).eval()
    release = root / "release"
    release.mkdir()
    torch.save(model.state_dict(), release / "pytorch_model.bin")
    (release / "bert_config.json").write_text(json.dumps(cfg.to_diff_dict()), encoding="utf-8")
    (release / "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    zhplm.convert(release, root / "simbert", arch="simbert")
    return root / "simbert"


def sentences(n: int, seed: int) -> list[str]:
    """Distinct random sentences of 8-32 common characters (question-length)."""
    rng = np.random.default_rng(seed)
    pool = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
    out: dict[str, None] = {}
    while len(out) < n:
        out["".join(rng.choice(pool, size=int(rng.integers(8, 33))))] = None
    return list(out)


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def plain_transformers(folder: Path, texts: list[str], batch: int = 32) -> np.ndarray[Any, Any]:
    """What a user writes with transformers alone: AutoModel, batches in input order, pooler_output, numpy."""
    import torch
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModel.from_pretrained(folder).eval()
    out = []
    for i in range(0, len(texts), batch):
        enc = tok(texts[i : i + batch], padding=True, truncation=True, max_length=512, return_tensors="pt")
        with torch.inference_mode():
            out.append(model(**enc).pooler_output.numpy())
    z = np.concatenate(out)
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=10000)
    ap.add_argument("--corpus", type=int, default=100000)
    ap.add_argument("--embed", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--int8", type=int, default=2000, help="sentences for the int8 comparison")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--index", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--ann", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    import torch

    import zhplm
    from zhplm.tasks.search import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M, SimilarSearch, top_k

    lines: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    say(
        "bench_similarity: SimBERT-base-shaped model (random weights, 12 x 768, vocab 13685), fp32 unless said"
    )
    say(
        f"CPU: {cpu_name()}, {torch.get_num_threads()} torch threads; torch {torch.__version__}; {time.strftime('%Y-%m-%d')}"
    )
    with open("/proc/loadavg", encoding="ascii") as fh:
        say(f"load average at start: {' '.join(fh.read().split()[:3])} (a shared machine)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-sim-"))
    folder = write_model(tmp)

    # -- 1. similarity of pairs ------------------------------------------------------------------
    texts = sentences(2 * args.pairs, seed=1)
    pairs = list(zip(texts[: args.pairs], texts[args.pairs :], strict=True))
    sim = zhplm.pipeline("sentence-similarity", folder)
    sim.pairs(pairs[:64])  # warm-up
    runs: dict[str, Callable[[], Any]] = {
        "zhplm": lambda: sim.pairs(pairs),
        "plain": lambda: plain_transformers(folder, texts),
    }
    try:
        import sentence_transformers
        from sentence_transformers import SentenceTransformer, models

        word = models.Transformer(str(folder))
        st = SentenceTransformer(modules=[word, models.Pooling(word.get_word_embedding_dimension(), "cls")])
        st.encode(texts[:64], batch_size=32)
        runs["st"] = lambda: st.encode(texts, batch_size=32, normalize_embeddings=True)
        st_row = f"sentence-transformers {sentence_transformers.__version__} (cls pooling)"
    except Exception as exc:  # reported, not hidden
        st_row = f"sentence-transformers unavailable ({type(exc).__name__}: {exc})"
    import statistics

    times: dict[str, list[float]] = {name: [] for name in runs}
    results: dict[str, Any] = {}
    order = list(runs)
    for r in range(args.rounds):  # alternating rounds on a shared machine: the order turns each round
        for name in order[r % len(order) :] + order[: r % len(order)]:
            t, results[name] = timed(runs[name])
            times[name].append(t)
        print(f"round {r}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()), flush=True)
    ours, z = results["zhplm"], results["plain"]

    def ratio(name: str) -> str:
        rs = [t / o for t, o in zip(times[name], times["zhplm"], strict=True)]
        return f"{statistics.median(rs):.3f}x [{min(rs):.3f}-{max(rs):.3f}]"

    med = {k: statistics.median(v) for k, v in times.items()}
    plain_scores = np.einsum("ij,ij->i", z[: args.pairs], z[args.pairs :])
    ours_scores = np.array([p.score for p in ours])
    n_sent = 2 * args.pairs
    say()
    say(
        f"1. similarity of {args.pairs} pairs ({n_sent} distinct sentences, 8-32 characters), batch 32, "
        f"{args.rounds} alternating rounds; medians, zhplm speed-up = median of per-round time ratios [min-max]"
    )
    say(f"{'system':52s} {'seconds':>8s} {'sentences/s':>12s} {'zhplm speed-up':>24s}")
    say(f"{'zhplm pipeline(sentence-similarity).pairs (pooler)':52s} {med['zhplm']:8.1f} "
        f"{n_sent / med['zhplm']:12.1f} {'1.00x':>24s}")  # fmt: skip
    say(f"{'transformers + numpy (AutoModel, pooler_output)':52s} {med['plain']:8.1f} "
        f"{n_sent / med['plain']:12.1f} {ratio('plain'):>24s}")  # fmt: skip
    if "st" in med:
        say(f"{st_row:52s} {med['st']:8.1f} {n_sent / med['st']:12.1f} {ratio('st'):>24s}")
    else:
        say(st_row)
    say(f"max |zhplm - transformers| pair score: {np.abs(ours_scores - plain_scores).max():.2e}")

    # -- 2. reduced precision through the pipeline's own dtype option ------------------------------
    sample = texts[: min(args.int8, n_sent)]
    half = len(sample) // 2
    precisions = {
        "fp32": sim,
        **{d: zhplm.pipeline("sentence-similarity", folder, dtype=d) for d in ("bf16", "int8")},
    }
    for p_ in precisions.values():
        p_.embeddings(sample[:32])  # warm-up
    ptimes: dict[str, list[float]] = {d: [] for d in precisions}
    vecs: dict[str, Any] = {}
    names = list(precisions)
    for r in range(args.rounds):
        for d in names[r % 3 :] + names[: r % 3]:
            t, vecs[d] = timed(lambda d=d: precisions[d].embeddings(sample))
            ptimes[d].append(t)
        print(
            f"precision round {r}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in ptimes.items()), flush=True
        )
    say()
    say(f"2. reduced precision: zhplm.pipeline('sentence-similarity', folder, dtype=...), {len(sample)} sentences, "
        f"{args.rounds} alternating rounds (this CPU has avx512_bf16: bf16 is native)")  # fmt: skip
    v32 = vecs["fp32"]
    s32 = np.einsum("ij,ij->i", v32[:half], v32[half : 2 * half])
    for d in ("bf16", "int8"):
        rs = [a / b for a, b in zip(ptimes["fp32"], ptimes[d], strict=True)]
        v = np.asarray(vecs[d], dtype=np.float32)
        cos = np.einsum("ij,ij->i", v32, v)
        sd = np.einsum("ij,ij->i", v[:half], v[half : 2 * half])
        say(f"{d}: {len(sample) / statistics.median(ptimes[d]):.1f} sentences/s vs fp32 "
            f"{len(sample) / statistics.median(ptimes['fp32']):.1f}: speed-up {statistics.median(rs):.2f}x "
            f"[{min(rs):.2f}-{max(rs):.2f}]; cosine(fp32 vector, {d} vector) mean {cos.mean():.5f}, min {cos.min():.5f}; "
            f"pair score |fp32 - {d}| mean {np.abs(s32 - sd).mean():.2e}, max {np.abs(s32 - sd).max():.2e}")  # fmt: skip

    # -- 3. search over a corpus ---------------------------------------------------------------------
    corpus_texts = sentences(args.embed, seed=2)
    queries = sentences(args.queries, seed=3)
    corpus_file = tmp / "corpus.txt"
    corpus_file.write_text("\n".join(corpus_texts) + "\n", encoding="utf-8")
    search = SimilarSearch(sim, cache_dir=tmp / "cache")
    t_embed, _ = timed(lambda: search.corpus(corpus_file))
    rate = args.embed / t_embed
    fresh = SimilarSearch(zhplm.pipeline("sentence-similarity", folder), cache_dir=tmp / "cache")
    t_hit, _ = timed(lambda: fresh.corpus(corpus_file))
    say()
    say(
        f"3. top-10 search; {args.embed} lines embedded for real ({rate:.1f} lines/s, cache written), "
        f"so {args.corpus} lines would take ~{args.corpus / rate / 60:.1f} min once (extrapolated)"
    )
    say(
        f"cache hit for the {args.embed}-line corpus (new pipeline, sha256 of the folder and file, CRC32C): {t_hit * 1e3:.0f} ms"
    )
    # a full-size corpus of vectors: the embedded ones, repeated with noise, in the cache format
    base = search.corpus(corpus_file).vectors
    rng = np.random.default_rng(0)
    big = base[rng.integers(0, len(base), args.corpus)] + 0.05 * rng.standard_normal(
        (args.corpus, base.shape[1])
    ).astype(np.float32)
    big /= np.linalg.norm(big, axis=1, keepdims=True)
    big_file = tmp / "big.txt"
    big_file.write_text("\n".join(f"{i}" for i in range(args.corpus)) + "\n", encoding="utf-8")
    import hashlib

    key = search.cache_key(hashlib.sha256(big_file.read_bytes()).hexdigest())
    search._write_cache(key, "vectors", big, {"rows": args.corpus, "dim": int(big.shape[1])})
    t_load, _ = timed(
        lambda: SimilarSearch(sim, cache_dir=tmp / "cache", model_key=search.model_key()).corpus(big_file)
    )
    say(f"cache hit for {args.corpus} x 768 vectors ({big.nbytes / 2**20:.0f} MiB): {t_load:.2f} s")
    qv = sim.embeddings(queries)
    t_q1, _ = timed(lambda: [sim.embeddings([q]) for q in queries[:10]])
    exact = SimilarSearch(sim, cache_dir=tmp / "cache", model_key=search.model_key(), index_threshold=10**9)
    exact.corpus(big_file)
    t_ex1, _ = timed(lambda: [exact.search(q, big_file, k=10) for q in queries[:10]])
    t_exb, _ = timed(lambda: exact.search_many(queries, big_file, k=10))
    from sentence_transformers import util

    corpus_t = torch.from_numpy(big)
    t_stb, st_hits = timed(lambda: util.semantic_search(torch.from_numpy(qv), corpus_t, top_k=10))
    t_np, ref_idx = timed(lambda: top_k(qv @ big.T, 10))
    say(f"{'query path (' + str(args.corpus) + ' lines)':58s} {'ms/query':>9s}")
    say(f"{'zhplm search(): embed 1 query + exact top-10':58s} {t_ex1 / 10 * 1e3:9.1f}")
    say(f"{'  of which embedding one query':58s} {t_q1 / 10 * 1e3:9.1f}")
    say(
        f"{'zhplm search_many(): ' + str(args.queries) + ' queries, one batch':58s} {t_exb / args.queries * 1e3:9.1f}"
    )
    say(
        f"{'sentence-transformers util.semantic_search (vectors only)':58s} {t_stb / args.queries * 1e3:9.1f}"
    )
    say(f"{'numpy matmul + argpartition (vectors only)':58s} {t_np / args.queries * 1e3:9.1f}")
    st_idx = [[h["corpus_id"] for h in hs] for hs in st_hits]
    agree = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(st_idx, ref_idx.tolist(), strict=True)])
    say(f"top-10 overlap zhplm exact vs sentence-transformers: {agree:.3f}")
    try:
        if not args.index:
            raise ImportError("--no-index")
        import faiss

        indexed = SimilarSearch(
            sim, cache_dir=tmp / "cache", model_key=search.model_key(), index_threshold=1000
        )
        t_build, _ = timed(lambda: indexed.search_many(queries[:1], big_file, k=10))
        t_ib, got = timed(lambda: indexed.search_many(queries, big_file, k=10))
        rec = np.mean(
            [
                len({h.line - 1 for h in r.hits} & set(e)) / 10
                for r, e in zip(got, ref_idx.tolist(), strict=True)
            ]
        )
        say(
            f"zhplm with the faiss HNSW index: first search (build + cache) {t_build:.1f} s, then "
            f"{t_ib / args.queries * 1e3:.1f} ms/query in a batch, recall@10 vs exact {rec:.3f}"
        )
    except ImportError:
        say("faiss index path not measured in this run (--no-index or faiss missing)")

    # -- 4. the index libraries ------------------------------------------------------------------
    if args.ann:
        say()
        say(
            f"4. index libraries on {args.corpus} clustered random unit vectors (2000 centres + noise, 768-d), "
            f"{args.queries} queries, recall@10 vs exact"
        )
        rng = np.random.default_rng(0)
        centres = rng.standard_normal((2000, 768)).astype(np.float32)
        X = centres[rng.integers(0, 2000, args.corpus)] + 0.8 * rng.standard_normal(
            (args.corpus, 768)
        ).astype(np.float32)
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        Q = centres[rng.integers(0, 2000, args.queries)] + 0.8 * rng.standard_normal(
            (args.queries, 768)
        ).astype(np.float32)
        Q /= np.linalg.norm(Q, axis=1, keepdims=True)
        t_exact, truth = timed(lambda: top_k(Q @ X.T, 10))

        def recall(found: Any) -> float:
            return float(
                np.mean(
                    [
                        len(set(np.asarray(f)[:10].tolist()) & set(t)) / 10
                        for f, t in zip(found, truth.tolist(), strict=True)
                    ]
                )
            )

        say(f"{'library / parameters':44s} {'build s':>8s} {'ms/query':>9s} {'recall@10':>10s}")
        say(
            f"{'exact (numpy matmul, batched)':44s} {0.0:8.1f} {t_exact / args.queries * 1e3:9.3f} {1.0:10.3f}"
        )
        try:
            import faiss

            for m, efc, efs in ((HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH),):
                index = faiss.IndexHNSWFlat(768, m, faiss.METRIC_INNER_PRODUCT)
                index.hnsw.efConstruction = efc
                tb, _ = timed(lambda index=index: index.add(X))
                index.hnsw.efSearch = efs
                tq, (_, ids) = timed(lambda index=index: index.search(Q, 10))
                say(
                    f"{f'faiss-cpu {faiss.__version__} HNSWFlat M={m} efC={efc} efS={efs}':44s} {tb:8.1f} {tq / args.queries * 1e3:9.3f} {recall(ids):10.3f}"
                )
        except ImportError as exc:
            say(f"faiss-cpu: {exc}")
        try:
            import hnswlib

            for m, efc, efs in ((HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH),):
                p = hnswlib.Index(space="ip", dim=768)
                p.init_index(max_elements=args.corpus, ef_construction=efc, M=m)
                tb, _ = timed(lambda p=p: p.add_items(X))
                p.set_ef(efs)
                tq, (labels, _) = timed(lambda p=p: p.knn_query(Q, 10))
                say(
                    f"{f'hnswlib 0.8.0 M={m} efC={efc} ef={efs}':44s} {tb:8.1f} {tq / args.queries * 1e3:9.3f} {recall(labels):10.3f}"
                )
        except ImportError as exc:
            say(f"hnswlib: {exc}")
        say(
            "usearch 2.26.6: Index.add of 20k 768-d vectors did not return within 300 s here (threads=1 too); not measured"
        )

    print()
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
