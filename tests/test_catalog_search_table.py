"""What a Chinese NLP user types, and the rows it must find (issue 11): one table, one parametrised test.

Each entry: the query, the rows that must be among its first ``top`` results, and rows that must either be
absent or rank below every one of those (``below``). ``absent`` rows must not be found at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import zhplm
from zhplm.catalog import get_catalog, terms

CATALOG = get_catalog()

ERNIE = (
    "ernie-1.0-base",
    "skep-ernie-1.0-large",
    "ernie-gram-base",
    "ernie-3.0-base",
    "ernie-3.0-medium",
    "ernie-3.0-mini",
    "ernie-3.0-micro",
    "ernie-3.0-nano",
)
HUAWEI = ("nezha-base", "nezha-large-wwm", "nezha-gen-base", "pangu-alpha-2.6b", "pangu-alpha-13b")
ALIBABA = ("structbert-large", "lattice-bert-tiny", "lattice-bert-base", "mc-bert-base", "sdcup-base")
TSINGHUA = (
    "glm-large-chinese",
    "glm-10b-chinese",
    "cpm-generate",
    "cdial-gpt-lccc-base",
    "eva",
    "openclap-civil",
)
HFL = ("macbert-base", "pert-large", "rbt3", "roberta-wwm-ext", "electra-180g-small", "mobilebert-large-f4")
ZHUIYI = ("wobert-base", "roformer-v2-base", "simbert-tiny", "gau-alpha", "t5-pegasus-base", "wonezha-base")
IDEA = ("erlangshen-1.3b", "wenzhong-3.5b", "yuyuan-3.5b", "zhouwenwang-110m", "zhouwenwang-1.3b")
MENGZI = ("mengzi-bert-base", "mengzi-t5-base", "mengzi-oscar-base", "bloom-6b4-zh")
FUDAN = ("bart-base", "bart-large", "cpt-base", "cpt-large")
SMALL = ("roberta-tiny-clue", "uer-roberta-tiny", "electra-180g-small", "simbert-tiny", "ernie-3.0-nano")
GENERATORS = (
    "pangu-alpha-2.6b",
    "glm-large-chinese",
    "cpm-2-zh",
    "wenzhong-3.5b",
    "yuyuan-3.5b",
    "uer-t5-small",
    "mengzi-t5-base",
    "cpm-generate",
    "gpt2-chinese-poem",
)


@dataclass(frozen=True)
class Case:
    query: str
    must: tuple[str, ...]
    top: int | None = None  # must be within the first `top` results (default: len(must))
    below: tuple[str, ...] = ()  # may be found, but never above any `must` row
    absent: tuple[str, ...] = ()


CASES = [
    Case("百度", ERNIE),
    Case("Baidu", ERNIE),
    Case("飞桨", ERNIE),
    Case("华为", HUAWEI, top=10),
    Case("Huawei", HUAWEI, top=10),
    Case("诺亚方舟", ("nezha-base", "nezha-large"), top=10),
    Case("阿里", ALIBABA, top=8, absent=("bert-base",)),
    Case("达摩院", ALIBABA, top=8),
    Case("清华", TSINGHUA, top=13),
    Case("THU", TSINGHUA, top=13),
    Case("哈工大", HFL, top=25, absent=("bert-base", "ernie-1.0-base")),
    Case("HFL", HFL, top=25),
    Case("讯飞", HFL, top=25),
    Case("追一", ZHUIYI, top=19),
    Case("ZhuiyiTechnology", ZHUIYI, top=19),
    Case("IDEA", IDEA),
    Case("封神榜", IDEA),
    Case("澜舟", MENGZI, top=5),
    Case("Langboat", MENGZI, top=5),
    Case("复旦", FUDAN),
    Case("fnlp", FUDAN),
    Case("小模型", (*SMALL, "mobilebert-base-f2"), top=40, absent=("bert-base", "macbert-large", "glm-130b")),
    Case("轻量", SMALL, top=40, absent=("bert-base",)),
    Case("NLG", GENERATORS, top=48, absent=("bert-base", "macbert-base")),
    Case("生成", GENERATORS, top=48, below=("cogview", "ernie-3.0-base")),
    Case("文本生成", GENERATORS, top=48, below=("cogview", "ernie-3.0-base")),
    Case(
        "摘要",
        ("t5-pegasus-base", "bart-base", "cpt-base", "mengzi-t5-base", "unilm-base"),
        top=12,
        absent=("bert-base", "gpt2-chinese-poem"),
    ),
    Case(
        "相似度",
        ("simbert-base", "simbert-tiny", "roformer-sim-base", "roformer-sim-v2-base"),
        top=8,
        absent=("bert-base", "gpt2-chinese-poem"),
    ),
    Case("对话", ("cdial-gpt-lccc-base", "eva", "gpt2-chitchat-dialogue"), top=8, absent=("bert-base",)),
    Case(
        "图文",
        ("chinese-clip-vit-b-16", "r2d2-vit-l", "brivl", "mengzi-oscar-base"),
        top=10,
        absent=("bert-base",),
    ),
    Case(
        "分类",
        ("bert-base", "macbert-base", "roberta-wwm-ext"),
        top=None,
        absent=("gpt2-chinese-poem", "pangu-alpha-2.6b"),
    ),
    Case(
        "large",
        (
            "wenzhong-3.5b",
            "yuyuan-3.5b",
            "erlangshen-1.3b",
            "zhouwenwang-1.3b",
            "roformer-v2-large",
            "structbert-large",
            "macbert-large",
        ),
        top=40,
        absent=("ernie-3.0-base", "pangu-alpha-2.6b", "cpm-generate", "albert-xlarge", "macbert-base"),
    ),
    Case("110M", ("bert-base", "macbert-base", "zhouwenwang-110m"), top=None, absent=("macbert-large",)),
    Case("1.3B", ("erlangshen-1.3b", "zhouwenwang-1.3b"), absent=("gpt2-ml-1.5b-30g", "bert-base")),
    Case("26亿", ("cpm-generate", "pangu-alpha-2.6b"), top=5),
    Case("10B", ("glm-10b-chinese", "cpm-2-zh-en"), top=3, absent=("glm-130b",)),
    Case("macbert large", ("macbert-large",), absent=("macbert-base",)),
    Case(
        "阿里 小模型", ("lattice-bert-tiny", "lattice-bert-small"), absent=("lattice-bert-base", "sdcup-base")
    ),
    Case("追一 相似度", ("simbert-base", "roformer-sim-base"), top=6, absent=("roformer-base",)),
    Case("二郎神", ("erlangshen-1.3b",)),
    Case("legal", ("legal-electra-base", "openclap-civil")),
]


def _ids(query: str) -> list[str]:
    return [r.id for r in zhplm.search(query)]


@pytest.mark.parametrize("case", CASES, ids=[c.query for c in CASES])
def test_search_table(case: Case) -> None:
    found = _ids(case.query)
    top = found[: case.top] if case.top else found
    missing = [m for m in case.must if m not in top]
    assert not missing, f"{case.query!r}: {missing} not in the first {case.top} of {found}"
    last_must = max(found.index(m) for m in case.must)
    for b in case.below:
        if b in found:
            assert found.index(b) > last_must, f"{case.query!r}: {b} outranks a row that must come first"
    for a in case.absent:
        assert a not in found, f"{case.query!r} should not find {a}"


def test_the_paper_title_words_the_table_relies_on_are_there() -> None:
    """Keeps the "large" and "生成" cases honest: those rows' papers do say Large-scale / Generation."""
    ernie3 = CATALOG.get("ernie-3.0-base")
    assert any("Large-scale" in p.title and "Generation" in p.title for p in ernie3.papers)
    assert "生成" in CATALOG.get("cogview").domain_zh


@pytest.mark.parametrize("word", ["roberta", "bert", "gpt", "t5"])
def test_name_alias_family_hits_outrank_paper_title_hits(word: str) -> None:
    found = zhplm.search(word)
    named = [
        i
        for i, r in enumerate(found)
        if any(word in s.lower() for s in (r.id, r.name, r.family, r.arch, *r.aliases))
    ]
    paper_only = [
        i for i, r in enumerate(found) if i not in named and any(word in p.title.lower() for p in r.papers)
    ]
    assert named
    assert not paper_only or min(paper_only) > max(named), word


def test_every_org_is_linked_to_publishers_the_catalog_has() -> None:
    publishers = {r.publisher.name for r in CATALOG}
    keys = [o.key for o in terms.ORGS]
    assert len(keys) == len(set(keys))
    for org in terms.ORGS:
        assert org.publishers and set(org.publishers) <= publishers, org.key
    # every organisation publisher with several rows is reachable by a name other than its own spelling
    linked = {p for o in terms.ORGS for p in o.publishers}
    assert {
        "PaddlePaddle",
        "Baidu",
        "HUAWEI",
        "Alibaba",
        "Yiming Cui",
        "ZhuiyiTechnology",
        "IDEA-CCNL",
    } <= linked


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("110M", 110_000_000),
        ("1.3B", 1_300_000_000),
        ("10b", 10_000_000_000),
        ("26亿", 2_600_000_000),
        ("110亿参数", 11_000_000_000),
        ("base", None),
        ("b", None),
        ("1.3", None),
    ],
)
def test_parse_count(text: str, count: int | None) -> None:
    assert terms.parse_count(text) == count


def test_tasks_derive_from_arch_and_section_not_per_row_tags() -> None:
    """A user row of a decoder arch generates; an encoder row in NLU classifies; CogView makes images."""
    wenzhong = CATALOG.get("wenzhong-3.5b")
    assert "generation" in terms.tasks_of(wenzhong)
    assert "classification" not in terms.tasks_of(wenzhong)
    assert "generation" not in terms.tasks_of(CATALOG.get("macbert-base"))
    assert "generation" not in terms.tasks_of(CATALOG.get("cogview"))
    assert "text-to-image" in terms.tasks_of(CATALOG.get("cogview"))
    assert "summarization" in terms.tasks_of(CATALOG.get("bart-base"))
