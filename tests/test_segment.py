"""zhplm's segmenter gives Python jieba's words, with and without HMM, on a large mixed corpus: every
Markdown file of ../shared (Chinese prose, English, tables, code, URLs, numbers), texts built here from
the cases that break segmenters (digits in Chinese, Latin words, full-width punctuation, spaces, tabs,
newlines, hyphens and dots that jieba's clause regex keeps, emoji, characters outside the BMP), and
Chinese text drawn from jieba's dictionary by frequency with unknown characters between (the HMM's work).

Every path is checked: the C route (``_jieba_route``, as installed, or compiled here from its source when the
install had no compiler) and the pure-Python route, with the clause cache off (new text) and on.
Python jieba 0.42.1 (the library the original tokenizers call) is the oracle; its own ``cut``,
``get_DAG`` + ``calc`` and ``finalseg.viterbi`` run here."""

from __future__ import annotations

import importlib.util
import io
import itertools
import random
import shlex
import subprocess
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import jieba
import pytest
from jieba import finalseg

from zhplm.arch.tokenization import segment

SHARED = Path(__file__).resolve().parents[2] / "shared"

HARD = [
    "",
    " ",
    "\n\n",
    "今天是2022年9月1日，GPT-3有1750亿参数。",
    "我爱北京天安门 I love Beijing\t天安门上太阳升\r\n伟大领袖",
    "C++和C#都是语言；e-mail地址是a.b_c@d-e.com，50%的人用--option参数",
    "ＡＢＣ全角字母１２３全角数字！？。，、“引号”《书名》",
    "表情😀🚀和扩展区汉字𠀀𪚥混在一起",
    "小明硕士毕业于中国科学院计算所，后在日本京都大学深造",
    "他来到了网易杭研大厦",
    "丽丽丽和丽丽丽丽",  # equally likely segmentations: jieba keeps the longer word first (jieba_fast does not)
    "工信处女干事每月经过下属科室都要亲口交代24口交换机等技术性器件的安装工作",
    "a b c 1 2 3 abc123def 12.5kg 3.14159 v1.0.2 x-y-z",
    # the ASCII words of jieba's dictionary (a clause holding one takes the dictionary route)
    "C++ c++ C# c# AT&T AT&Tx xC++y c#c# at&t A&T++ 3.5%% x1.5%y _a_ &&& -- ..",
    "\r\r\n\n\r\n \r\n\r\n",
    "中国c++程序员用AT&T的T恤和B超机",
]


def chinese(count: int, seed: int) -> list[str]:
    """Sentences of dictionary words drawn by frequency, with characters the dictionary lacks in between
    (runs the HMM cuts), digits, Latin letters and punctuation."""
    rng = random.Random(seed)
    freq = jieba.dt.FREQ
    words = sorted(w for w, f in freq.items() if f)
    weights = list(itertools.accumulate(freq[w] for w in words))
    chars = [chr(c) for c in range(0x4E00, 0x9FD6)]
    extra = "，。、；：！？“”  0123abcXY.-%"
    sentences = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(3, 40)):
            r = rng.random()
            if r < 0.8:
                parts.append(rng.choices(words, cum_weights=weights)[0])
            elif r < 0.93:
                parts.append(rng.choice(chars))
            else:
                parts.append(rng.choice(extra))
        sentences.append("".join(parts))
    return sentences


def corpus() -> list[str]:
    lines = [
        line
        for path in sorted(SHARED.rglob("*.md"))
        for line in path.read_text(encoding="utf-8", errors="ignore").splitlines()
        if line.strip()
    ]
    rng = random.Random(0)
    pieces = [w for line in lines[:2000] for w in jieba.cut(line)]
    mixed = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 40))) for _ in range(2000)]
    return HARD + lines + mixed + chinese(1500, seed=1)


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return corpus()


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The C route as installed, or built here from its source with the C compiler Python was built with."""
    if segment._compiled is not None:
        return segment._compiled
    source = Path(segment.__file__).with_name("_jieba_route.c")
    out = tmp_path_factory.mktemp("ext") / f"_jieba_route{sysconfig.get_config_var('EXT_SUFFIX')}"
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    command = [*cc, "-shared", "-fPIC", "-O2", "-ffp-contract=off", f"-I{sysconfig.get_paths()['include']}"]
    subprocess.run([*command, str(source), "-o", str(out)], check=True)
    spec = importlib.util.spec_from_file_location("_jieba_route", out)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(params=["C route", "Python route"])
def route(request: pytest.FixtureRequest, compiled: ModuleType) -> Iterator[str]:
    """The segmenter on one route; the installed choice is put back afterwards."""
    seg = segment.segmenter()
    before = seg.compiled
    seg.use_compiled(compiled if request.param == "C route" else None)
    try:
        yield request.param
    finally:
        seg.use_compiled(before)


@pytest.mark.parametrize("hmm", [False, True])
def test_the_same_words_as_python_jieba(texts: list[str], hmm: bool, route: str) -> None:
    seg = segment.segmenter()
    assert (seg._table is not None) == (route == "C route")
    assert len(texts) > 5000 and sum(map(len, texts)) > 500_000
    want = [list(jieba.cut(t, HMM=hmm)) for t in texts]
    seg.cache_limit = 0  # new text: every clause computed
    try:
        different = [t for t, w in zip(texts, want, strict=True) if segment.cut(t, hmm=hmm) != w]
    finally:
        seg.cache_limit = segment.CACHE_LIMIT
    assert different == []
    # through the clause cache: cut once (filling it), then answered from it
    for _ in range(2):
        assert [segment.cut(t, hmm=hmm) for t in texts[:2000]] == want[:2000]


def test_the_route_is_jiebas_calc_for_every_clause(texts: list[str], route: str) -> None:
    """Not only the words: the best end index at every position (unvisited ones included) equals
    jieba's own get_DAG + calc, so no text can tell the two apart."""
    seg = segment.segmenter()
    clauses = [c for t in texts for c in jieba.re_han_default.split(t) if jieba.re_han_default.match(c)]
    assert len(clauses) > 20_000
    for clause in clauses:
        found: dict[int, tuple[float, int]] = {}
        jieba.dt.calc(clause, jieba.dt.get_DAG(clause), found)
        assert seg._route(clause) == [found[i][1] for i in range(len(clause))], clause


def test_the_hmm_path_is_finalseg_viterbi(texts: list[str], route: str) -> None:
    """The unrolled Viterbi (C and Python) gives finalseg's own state path on every Chinese run of the corpus,
    on random runs, and where the sums tie or sink to MIN_FLOAT (characters the model never emits)."""
    seg = segment.segmenter()
    assert (seg._hmm is not None) == (route == "C route")
    rng = random.Random(2)
    runs = [r for t in texts for r in finalseg.re_han.findall(t)]
    cjk = [chr(c) for c in range(0x4E00, 0x9FD6)]
    unknown = [c for c in cjk if all(c not in finalseg.emit_P[y] for y in "BMES")]
    assert len(unknown) > 10
    runs += ["".join(rng.choices(cjk, k=rng.randint(1, 30))) for _ in range(3000)]
    runs += ["".join(rng.choices(unknown, k=rng.randint(1, 8))) for _ in range(300)]
    runs += ["".join(rng.choices([*unknown[:3], "的", "是"], k=rng.randint(1, 12))) for _ in range(300)]
    assert len(runs) > 8000
    for run in runs:
        _, path = finalseg.viterbi(run, "BMES", finalseg.start_P, finalseg.trans_P, finalseg.emit_P)
        assert ["BMES"[s] for s in seg._hmm_path(run)] == path, run
    if route == "C route":  # finalseg.re_han never hands it other characters; if it did: an error, no guess
        with pytest.raises(ValueError, match="U\\+4E00"):
            seg._hmm_path("ab")


def test_words_added_to_the_dictionary(route: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A word added (add_word / suggest_freq, a user dictionary) or removed (del_word, which also makes the HMM
    split it) changes both the same way: the segmenter rebuilds what it derived from the dictionary, once
    after a whole user dictionary, not per word."""
    seg = segment.segmenter()
    refreshes: list[None] = []
    refresh = seg._refresh
    monkeypatch.setattr(seg, "_refresh", lambda: (refreshes.append(None), refresh())[1])
    text = "丽丽丽丽丽和小明硕士C+++写的zh-plm工具"
    jieba.dt.check_initialized()  # (jieba loads its dictionary on the first cut: before the snapshot)
    saved = [(t, dict(t.FREQ), t.total) for t in (jieba.dt, seg)]
    forced = set(finalseg.Force_Split_Words)
    try:
        for tokenizer in (jieba.dt, seg):
            tokenizer.load_userdict(io.StringIO("丽丽丽丽丽 10000000\nC+++ 1000000\n"))
        for hmm in (False, True):
            assert segment.cut(text, hmm=hmm) == list(jieba.cut(text, HMM=hmm))
        assert len(refreshes) == 1
        assert "丽丽丽丽丽" in segment.cut(text, hmm=False) and "C+++" in segment.cut(text, hmm=False)
        for tokenizer in (jieba.dt, seg):
            tokenizer.del_word("硕士")  # a dictionary word: now the HMM must split it too
        assert "硕士" in finalseg.Force_Split_Words
        for hmm in (False, True):
            assert segment.cut(text, hmm=hmm) == list(jieba.cut(text, HMM=hmm))
    finally:  # the process's jieba as it was, for the tests after this one
        finalseg.Force_Split_Words.clear()
        finalseg.Force_Split_Words.update(forced)
        for tokenizer, freq, total in saved:
            tokenizer.FREQ, tokenizer.total = freq, total
        seg._forget()
