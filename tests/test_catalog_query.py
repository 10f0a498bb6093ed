"""Filters, bilingual search, suggestions and acquisition steps over the real catalog."""

from __future__ import annotations

import pytest

import zhplm
from zhplm.catalog import get_catalog, how_to_get
from zhplm.errors import UnknownModelError
from zhplm.sources.plan import plan

CATALOG = get_catalog()


def _ids(records: list[zhplm.ModelRecord]) -> list[str]:
    return [r.id for r in records]


@pytest.mark.parametrize("query", ["legal", "司法", "law", "法律"])
def test_legal_finds_every_judicial_model(query: str) -> None:
    expected = {r.id for r in CATALOG if "司法" in r.domain_zh}
    assert len(expected) == 5
    assert set(_ids(zhplm.search(query))) >= expected


@pytest.mark.parametrize("query", ["医学", "医疗", "medical", "biomedical"])
def test_medical_synonyms_find_both_medical_domains(query: str) -> None:
    found = set(_ids(zhplm.search(query)))
    assert {"mc-bert-base", "yuyuan-3.5b"} <= found  # 生物医疗 and 医学领域


@pytest.mark.parametrize("query", ["finance", "金融", "财经"])
def test_finance(query: str) -> None:
    assert {"finbert", "mengzi-bert-base-fin"} <= set(_ids(zhplm.search(query)))


def test_search_ranks_exact_names_first_and_ands_terms() -> None:
    assert _ids(zhplm.search("macbert"))[:2] == ["macbert-base", "macbert-large"]
    assert _ids(zhplm.search("macbert large")) == ["macbert-large"]
    assert _ids(zhplm.search("hfl/chinese-pert-base"))[0] == "pert-base"
    assert zhplm.search("二郎神")[0].id == "erlangshen-1.3b"
    assert "ernie-gram-base" in _ids(zhplm.search("n-gram"))  # paper title
    assert zhplm.search("zzzzzz") == []


def test_filters() -> None:
    nlu = zhplm.list_models(section="NLU")
    assert len(nlu) == 92 and all(r.section == "NLU" for r in nlu)
    assert zhplm.list_models(section="NLU系列") == nlu
    paddle = zhplm.list_models(framework="paddlepaddle")
    assert {r.family for r in paddle} == {"ERNIE", "ERNIE3"}
    auto = zhplm.list_models(downloadable=True)
    manual = zhplm.list_models(downloadable=False)
    assert len(auto) + len(manual) == 150
    assert all(plan(r).automatic for r in auto) and not any(plan(r).automatic for r in manual)
    assert "macbert-base" in _ids(auto)  # a Google Drive link and hub copies count as automatic
    hf = zhplm.list_models(host="huggingface")
    assert all(any(d.host == "huggingface" for d in r.downloads) for r in hf) and len(hf) > 20
    assert _ids(zhplm.list_models(family="macbert")) == ["macbert-base", "macbert-large"]
    assert {r.id for r in zhplm.list_models(arch="nezha")} >= {"nezha-base", "wonezha-base"}
    assert all(r.size_label == "tiny" for r in zhplm.list_models(size="tiny"))
    assert {r.id for r in zhplm.list_models(domain="legal")} == {
        r.id for r in CATALOG if "司法" in r.domain_zh
    }
    assert zhplm.list_models(section="NLG", arch="gpt2", downloadable=True)


def test_unknown_id_suggests_the_closest() -> None:
    with pytest.raises(UnknownModelError) as err:
        zhplm.info("macbrt-base")
    assert err.value.suggestions[0] == "macbert-base"
    assert isinstance(err.value, LookupError)
    with pytest.raises(UnknownModelError):
        CATALOG.get("no-such-model-at-all")


def test_get_by_alias_is_case_insensitive() -> None:
    assert zhplm.info("HFL/Chinese-MacBERT-Base").id == "macbert-base"
    assert CATALOG.get(" rbt3 ").id == "rbt3"
    assert "uer/chinese_roberta_L-8_H-512" in CATALOG


def test_how_to_get_gives_manual_steps_with_the_code() -> None:
    got = how_to_get(zhplm.info("wobert-base"))
    assert [a.repo for a in got.automatic] == ["junnyu/wobert_chinese_base"]
    assert any("kim2" in s for s in got.steps)
    got = how_to_get(zhplm.info("macbert-base"))
    assert any("E2cP" in s for s in got.steps)
    got = how_to_get(zhplm.info("mengzi-bert-base"))
    assert got.automatic[0].repo == "Langboat/mengzi-bert-base"
    assert got.steps[0].startswith("zhplm download mengzi-bert-base")


def test_public_api_names() -> None:
    cat = zhplm.get_catalog()
    assert len(list(cat)) == len(cat.records) == 150
    assert isinstance(zhplm.info("bert-base"), zhplm.ModelRecord)
