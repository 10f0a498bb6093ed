"""Word segmentation speed: zhplm's segmenter (zhplm.arch.tokenization.segment) against Python jieba 0.42 on
the same texts in one process, the words checked identical on every text of every round.

Corpora:
  * ``markdown``: every non-empty Markdown line of ../shared (~600k characters, mostly English/code/tables
    with Chinese prose: jieba cuts each run of letters/digits as a clause too);
  * ``chinese``: Chinese sentences drawn here (seeded) from jieba's dictionary by word frequency, with
    characters the dictionary lacks in between (the HMM's work), digits and punctuation (~100k characters).

Columns (each a median of per-round ratios ``jieba s / zhplm s`` with [min-max]; the sides alternate every
round, so load from other processes falls on both):
  * ``new C``: the goal rows — the clause cache OFF (no text or clause seen before), the C route
    (_jieba_route, compiled at install) — what a first pass over new text costs;
  * ``new Py``: the same without the C extension (the pure-Python route, used where no compiler was found);
  * ``cold``: the shipped default, cache ON but emptied before the round (repeats within the corpus hit);
  * ``warm``: the same corpus a second time (a re-tokenized dataset, a server seeing the same queries).
Then the end-to-end WoBERT-style tokenizer (JiebaWordPieceTokenizer, word-level WordPiece on a vocab built
here from jieba's most frequent words + CJK characters + ASCII): ``tokenizer(texts)`` with its word cutter
being Python jieba (``before``, what bert4keras runs) against zhplm's segmenter (``after``), ids identical.

    PYTHONPATH=src .venv/bin/python bench/bench_segment.py [--rounds 3] [--quick] [--out bench/results/segment.txt]
"""

from __future__ import annotations

import argparse
import functools
import itertools
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import jieba

from zhplm.arch.tokenization import segment
from zhplm.hardware import cpu

SHARED = Path(__file__).resolve().parents[2] / "shared"


def markdown() -> list[str]:
    return [
        line
        for path in sorted(SHARED.rglob("*.md"))
        for line in path.read_text(encoding="utf-8", errors="ignore").splitlines()
        if line.strip()
    ]


def chinese(count: int) -> list[str]:
    """Seeded sentences: 80 % dictionary words by frequency, 13 % any CJK character, 7 % punctuation/digits."""
    rng = random.Random(0)
    freq = jieba.dt.FREQ
    words = sorted(w for w, f in freq.items() if f)
    cum = list(itertools.accumulate(freq[w] for w in words))
    chars = [chr(c) for c in range(0x4E00, 0x9FA6)]
    punct = "，。、；：！？ 0123abcX"

    def piece() -> str:
        r = rng.random()
        return rng.choices(words, cum_weights=cum)[0] if r < 0.8 else rng.choice(chars if r < 0.93 else punct)

    return ["".join(piece() for _ in range(rng.randint(5, 40))) for _ in range(count)]


def cut_jieba(texts: list[str], hmm: bool) -> list[list[str]]:
    return [list(jieba.cut(t, HMM=hmm)) for t in texts]


def cut_ours(texts: list[str], hmm: bool) -> list[list[str]]:
    return [segment.cut(t, hmm=hmm) for t in texts]


def timed(run: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def ratio(base: list[float], ours: list[float]) -> str:
    r = [b / o for b, o in zip(base, ours, strict=True)]
    return f"{statistics.median(r):5.2f}x [{min(r):.2f}-{max(r):.2f}]"


def segmentation(texts: list[str], name: str, rounds: int) -> list[str]:
    seg = segment.segmenter()
    compiled = seg.compiled
    rows = []
    for hmm in (False, True):
        times: dict[str, list[float]] = {k: [] for k in ("jieba", "new C", "new Py", "cold", "warm")}
        same = True
        ours = functools.partial(cut_ours, texts, hmm)
        for _ in range(rounds):
            t, want = timed(functools.partial(cut_jieba, texts, hmm))
            times["jieba"].append(t)
            seg.cache_limit = 0
            for key, module in (("new C", compiled), ("new Py", None)):
                seg.use_compiled(module)
                t, got = timed(ours)
                times[key].append(t)
                same = same and got == want
            seg.use_compiled(compiled)
            seg.cache_limit = segment.CACHE_LIMIT
            seg._cache[hmm].clear()
            for key in ("cold", "warm"):
                t, got = timed(ours)
                times[key].append(t)
                same = same and got == want
        cells = [ratio(times["jieba"], times[k]) for k in ("new C", "new Py", "cold", "warm")]
        jieba_s = statistics.median(times["jieba"])
        mode = "HMM" if hmm else "no HMM"
        rows.append(
            f"{name:9s} {mode:7s} {jieba_s:8.2f}  " + "  ".join(f"{c:20s}" for c in cells) + f" {same}"
        )
        print(rows[-1], flush=True)
    return rows


def wobert_vocab(folder: Path) -> Path:
    """A WoBERT-shaped vocab: specials, ASCII, the CJK characters, jieba's 30k most frequent words."""
    freq = jieba.dt.FREQ
    words = sorted((w for w, f in freq.items() if f and len(w) > 1), key=lambda w: -freq[w])[:30_000]
    ascii_ = [chr(c) for c in range(33, 127)]
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *ascii_, *(f"##{c}" for c in ascii_)]
    tokens += [chr(c) for c in range(0x4E00, 0x9FA6)] + [w.lower() for w in words]
    path = folder / "vocab.txt"
    path.write_text("\n".join(dict.fromkeys(tokens)) + "\n", encoding="utf-8")
    return path


def tokenizer_end_to_end(texts: list[str], name: str, rounds: int) -> str:
    from zhplm.arch.tokenization.word import JiebaWordPieceTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        tok = JiebaWordPieceTokenizer(vocab_file=str(wobert_vocab(Path(tmp))))
    ours = tok.core._cut

    def python_jieba(text: str) -> list[str]:
        return list(jieba.cut(text, HMM=False))

    seg = segment.segmenter()
    before, after, same = [], [], True
    for _ in range(rounds):
        tok.core._cut = python_jieba
        t, want = timed(lambda: tok(texts)["input_ids"])
        before.append(t)
        tok.core._cut = ours
        seg._cache[False].clear()
        t, got = timed(lambda: tok(texts)["input_ids"])
        after.append(t)
        same = same and got == want
    tok.core._cut = ours
    b, a = statistics.median(before), statistics.median(after)
    row = f"{name:9s} {b:9.2f} {a:9.2f}  {ratio(before, after)}  {same}"
    print(row, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a quarter of each corpus, 2 rounds")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rounds = 2 if args.quick else args.rounds
    jieba.initialize()
    seg = segment.segmenter()
    if seg.compiled is None:
        raise SystemExit(
            "the C route (_jieba_route) is not built: pip install -e . (or setup.py build_ext -i)"
        )
    corpora = {"markdown": markdown(), "chinese": chinese(3000)}
    if args.quick:
        corpora = {k: v[: len(v) // 4] for k, v in corpora.items()}
    head = [
        "Segmentation: zhplm (zhplm.arch.tokenization.segment) vs Python jieba, words identical on every text.",
        "Command: PYTHONPATH=src .venv/bin/python bench/bench_segment.py"
        + (" --quick" if args.quick else f" --rounds {rounds}"),
        f"CPU: {cpu().model}; {os.cpu_count()} cores; jieba {jieba.__version__}; "
        f"load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        "Corpora: " + "; ".join(f"{k} {len(v)} texts, {sum(map(len, v))} chars" for k, v in corpora.items()),
        f"Each cell: median of {rounds} per-round ratios jieba s / zhplm s [min-max], sides alternating.",
        "GOAL rows: 'new C' >= 3x in both modes (cache off: nothing seen before; the shipped C route).",
        "",
        f"{'corpus':9s} {'mode':7s} {'jieba s':>8s}  {'new C (goal)':20s}  {'new Py (no C ext)':20s}  "
        f"{'cold (cache on)':20s}  {'warm (seen)':20s} identical",
    ]
    print("\n".join(head), flush=True)
    rows = [row for name, texts in corpora.items() for row in segmentation(texts, name, rounds)]
    tail = [
        "",
        "End to end: JiebaWordPieceTokenizer (WoBERT-style) tokenizer(texts), jieba cut before vs zhplm after",
        f"{'corpus':9s} {'before s':>9s} {'after s':>9s}  {'x':20s}  ids identical",
    ]
    print("\n".join(tail), flush=True)
    tail += [tokenizer_end_to_end(texts, name, rounds) for name, texts in corpora.items()]
    tail.append(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    text = "\n".join(head + rows + tail)
    print(tail[-1])
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
