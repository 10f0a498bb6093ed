"""zhplm's segmenter gives Python jieba's words, with and without HMM, on a large mixed corpus: every
Markdown file of ../shared (Chinese prose, English, tables, code, URLs, numbers), and texts built here from
the cases that break segmenters (digits in Chinese, Latin words, full-width punctuation, spaces, tabs,
newlines, hyphens and dots that jieba's clause regex keeps, emoji, characters outside the BMP).

Python jieba 0.42.1 (the library the original tokenizers call) is the oracle; its own ``cut`` runs here."""

from __future__ import annotations

import random
from pathlib import Path

import jieba
import pytest

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
]


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
    return HARD + lines + mixed


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return corpus()


@pytest.mark.parametrize("hmm", [False, True])
def test_the_same_words_as_python_jieba(texts: list[str], hmm: bool) -> None:
    assert len(texts) > 5000 and sum(map(len, texts)) > 500_000
    different = [t for t in texts if segment.cut(t, hmm=hmm) != list(jieba.cut(t, HMM=hmm))]
    assert different == []
    # answered again from the clause cache: still the same
    assert all(segment.cut(t, hmm=hmm) == list(jieba.cut(t, HMM=hmm)) for t in texts[:300])


def test_the_route_is_jiebas_calc_for_every_clause(texts: list[str]) -> None:
    """Not only the words: the best end index at every position (unvisited ones included) equals
    jieba's own get_DAG + calc, so no text can tell the two apart."""
    seg = segment.segmenter()
    clauses = [c for t in texts for c in jieba.re_han_default.split(t) if jieba.re_han_default.match(c)]
    assert len(clauses) > 20_000
    for clause in clauses:
        found: dict[int, tuple[float, int]] = {}
        jieba.dt.calc(clause, jieba.dt.get_DAG(clause), found)
        assert seg._route(clause) == [found[i][1] for i in range(len(clause))], clause


def test_the_tokenizers_cut_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """WoBERT-style word tokenizers and CPM go through the segmenter (so they get its speed)."""
    from zhplm.arch.tokenization import cpm, word

    calls: list[tuple[str, bool]] = []
    real = segment.cut

    def spy(text: str, *, hmm: bool) -> list[str]:
        calls.append((text, hmm))
        return real(text, hmm=hmm)

    monkeypatch.setattr(segment, "cut", spy)
    monkeypatch.setattr(cpm, "cut", spy)
    list(word._jieba_cut()("北京大学"))
    cpm.segment("北京大学 在\n这里")
    assert calls == [("北京大学", False), ("北京大学 在\n这里", True)]
