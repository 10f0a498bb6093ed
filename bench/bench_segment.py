"""Word segmentation speed: zhplm's segmenter (zhplm.arch.tokenization.segment) against Python jieba 0.42 on
the same texts, output checked identical on every text of the run.

Corpus: every Markdown line of ../shared (Chinese prose, English, tables; ~600k characters) — each text is
cut once per round, so the clause cache only helps where the corpus itself repeats a clause ("cold": the
cache is emptied before each round). "warm" cuts the same corpus a second time (a re-tokenized dataset, a
server seeing the same queries). The two sides alternate for ``--rounds`` rounds; medians reported.

    PYTHONPATH=src .venv/bin/python bench/bench_segment.py [--rounds 3] [--out bench/results/segment.txt]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import jieba

from zhplm.arch.tokenization import segment
from zhplm.hardware import cpu

SHARED = Path(__file__).resolve().parents[2] / "shared"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    texts = [
        line
        for path in sorted(SHARED.rglob("*.md"))
        for line in path.read_text(encoding="utf-8", errors="ignore").splitlines()
        if line.strip()
    ]
    jieba.initialize()
    seg = segment.segmenter()
    lines = [
        f"Segmentation: {len(texts)} lines, {sum(map(len, texts))} characters (../shared/**/*.md); "
        f"median of {args.rounds} alternating rounds",
        f"CPU: {cpu().model}; jieba {jieba.__version__}",
        "",
        f"{'mode':10s} {'jieba s':>8s} {'zhplm cold s':>13s} {'x':>6s} {'zhplm warm s':>13s} {'x':>6s}  identical",
    ]
    for hmm in (False, True):
        base, cold, warm = [], [], []
        same = True
        for _ in range(args.rounds):
            start = time.perf_counter()
            want = [list(jieba.cut(t, HMM=hmm)) for t in texts]
            base.append(time.perf_counter() - start)
            seg._cache[hmm].clear()
            start = time.perf_counter()
            got = [segment.cut(t, hmm=hmm) for t in texts]
            cold.append(time.perf_counter() - start)
            start = time.perf_counter()
            again = [segment.cut(t, hmm=hmm) for t in texts]
            warm.append(time.perf_counter() - start)
            same = same and got == want and again == want
        b, c, w = (statistics.median(x) for x in (base, cold, warm))
        lines.append(
            f"{'HMM' if hmm else 'no HMM':10s} {b:8.2f} {c:13.2f} {b / c:5.2f}x {w:13.2f} {b / w:5.1f}x  {same}"
        )
        print(lines[-1], flush=True)
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
