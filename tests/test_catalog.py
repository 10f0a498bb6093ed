"""Contracts over every catalog record, and an independent check against the seed list.

The seed scan here is deliberately NOT the importer: a few plain regexes over the file's lines, so a bug
in zhplm.catalog.awesome cannot hide a missing row or link.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers_seed import SEED
from zhplm.catalog import arch_names, get_catalog
from zhplm.catalog.registry import load_builtin, parse_family_file
from zhplm.catalog.schema import (
    AUTOMATIC_HOSTS,
    CHECKPOINT_FORMATS,
    DOWNLOAD_NOTES,
    ModelRecord,
    record_from_dict,
)
from zhplm.errors import CatalogError
from zhplm.sources.plan import plan

DATA = Path(__file__).resolve().parents[1] / "src" / "zhplm" / "catalog" / "data"
CATALOG = get_catalog()
RECORDS = CATALOG.records


def _seed_lines() -> list[str]:
    if not SEED.exists():
        pytest.skip("seed list not available")
    return SEED.read_text(encoding="utf-8").splitlines()


def _seed_rows() -> list[tuple[int, str, list[str]]]:
    """(line number, family heading, cells) of every table row under the five model sections."""
    rows = []
    family = ""
    in_models = False
    for n, line in enumerate(_seed_lines(), 1):
        if line.startswith("## "):
            in_models = line[3:].strip() in {"NLU系列", "NLG系列", "NLU-NLG系列", "Multi-Modal", "Table"}
        elif line.startswith("### "):
            family = line[4:].strip()
        elif in_models and line.strip().startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells[0] == "模型" or set("".join(cells)) <= set("-: "):
                continue
            rows.append((n, family, cells))
    return rows


LINK = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")


def _record_urls(r: ModelRecord) -> set[str]:
    urls = {d.url for d in r.downloads}
    urls |= {u for u in (r.publisher.url, r.source_repo) if u}
    urls |= {c.listed for c in r.corrections}
    urls |= {m.group(2) for c in r.list_cells for m in LINK.finditer(c.text)}
    return urls


def test_counts_match_the_list() -> None:
    builtin = load_builtin()
    families, records = builtin.families, builtin.records
    assert len(records) == 150
    assert len(families) == 49
    by_section = {
        s: sum(1 for f in families if f.section == s)
        for s in ("NLU", "NLG", "NLU-NLG", "Multi-Modal", "Table")
    }
    assert by_section == {"NLU": 22, "NLG": 13, "NLU-NLG": 7, "Multi-Modal": 6, "Table": 1}


def test_every_record_round_trips_through_its_dict_form() -> None:
    for r in RECORDS:
        assert record_from_dict(r.to_dict(), file="roundtrip") == r, r.id


def test_ids_and_aliases_are_unique_and_lowercase_ids() -> None:
    seen: dict[str, str] = {}
    for r in RECORDS:
        assert r.id == r.id.lower() and re.fullmatch(r"[a-z0-9][a-z0-9._-]*[a-z0-9]", r.id), r.id
        for key in (r.id, *r.aliases):
            assert key.lower() not in seen, f"{key} used by {seen.get(key.lower())} and {r.id}"
            seen[key.lower()] = r.id


def test_every_record_is_curated() -> None:
    known = set(arch_names())
    for r in RECORDS:
        assert r.arch in known, r.id
        assert r.domain_en and r.domain_zh and r.size_label, r.id
        for d in r.downloads:
            assert d.format is None or d.format in CHECKPOINT_FORMATS
            assert set(d.notes) <= set(DOWNLOAD_NOTES)
            if d.host == "huggingface":
                assert d.hf_repo and d.hf_repo.count("/") == 1, r.id
                assert d.hf_repo in r.aliases, r.id
            if d.column != "project":
                assert d.format is not None or "page" in d.notes, f"{r.id}: {d.url} has no format"
            if d.host == "baidu-pan" or (d.host == "google-drive" and "/folders/" in d.url):
                assert "folder" in d.notes and not d.automatic, r.id


def test_every_row_and_link_of_the_seed_is_in_the_catalog() -> None:
    rows = _seed_rows()
    assert len(rows) == len(RECORDS) == 150
    for (n, family, cells), r in zip(rows, RECORDS, strict=True):
        assert r.family == family, f"line {n}"
        urls = _record_urls(r)
        for _text, url in LINK.findall("|".join(cells)):
            assert url in urls, f"line {n} ({r.id}): link {url} missing"
        by_url = {d.url: d for d in r.downloads}
        for text, url in LINK.findall("|".join(cells[2:])):
            m = re.fullmatch(r"(百度网盘|讯飞云)-(\w{4})", text.strip())
            if m:
                assert by_url[url].code == m.group(2), f"line {n}: code of {text}"
        # the domain cell is the list's text
        assert r.domain_zh in cells, f"line {n}"


def test_every_paper_line_of_the_seed_is_in_its_family() -> None:
    family = ""
    count = 0
    for n, line in enumerate(_seed_lines(), 1):
        if line.startswith("### "):
            family = line[4:].strip()
        elif line.startswith("+ ") and re.match(r"\+ \d{4} \|", line):
            count += 1
            year, title = (p.strip() for p in line[2:].split("|")[:2])
            urls = [u for _, u in LINK.findall(line)]
            fam = CATALOG.family(family)
            assert fam is not None, f"line {n}"
            match = [p for p in fam.papers if p.title == title and p.year == int(year)]
            assert match, f"line {n}: paper {title!r} missing"
            assert [k.url for k in match[0].links] == urls
            assert all(r.papers == fam.papers for r in RECORDS if r.family == family)
    assert count == 53


def test_corrections_from_the_research_notes() -> None:
    for mid in ("openclap-civil", "openclap-criminal"):
        r = CATALOG.get(mid)
        assert r.downloads[0].column == "tensorflow" and r.downloads[0].framework == "pytorch"
        assert r.downloads[0].format == "pytorch"
        assert any(c.listed == "tensorflow" and c.corrected == "pytorch" for c in r.corrections)
    for mid, listed in (("gpt2-ml-1.5b-30g", "30亿语料"), ("gpt2-ml-1.5b-15g", "15亿语料")):
        r = CATALOG.get(mid)
        assert r.parameters == 1_500_000_000
        assert any(c.field == "size" and c.listed == listed for c in r.corrections)
    gau = CATALOG.get("gau-alpha")
    assert gau.source_repo == "https://github.com/ZhuiyiTechnology/GAU-alpha"
    assert [c.listed for c in gau.corrections] == ["https://github.com/ymcui/Chinese-MobileBERT"]
    for mid in ("wenzhong-3.5b", "yuyuan-3.5b"):  # the list says large(L24); the hub config has 30 layers
        r = CATALOG.get(mid)
        assert r.size == "large(L24)" and r.layers == 30 and r.hidden == 3072
        assert [(c.field, c.listed, c.corrected) for c in r.corrections] == [("layers", "24", "30")]
        # the correction's arithmetic: GPT-2 blocks (12·L·H²) + the 50257-token embedding give 3.5B only at L30
        assert abs(12 * 30 * 3072**2 + 50257 * 3072 - r.parameters) / r.parameters < 0.02
        assert abs(12 * 24 * 3072**2 + 50257 * 3072 - r.parameters) / r.parameters > 0.15


def test_mobilebert_sizes_are_the_students_not_the_teachers() -> None:
    """ymcui/Chinese-MobileBERT README table + config/student_*.json (a529e3b): MobileBERT students are
    26-53M parameters; "large" names the RoBERTa-wwm-ext-large teacher (330M, 24 layers, H1024)."""
    want = {
        "mobilebert-base-f2": (12, 768, 12, 26_300_000),
        "mobilebert-base-f4": (12, 768, 12, 32_200_000),
        "mobilebert-large-f2": (24, 1024, 16, 40_600_000),
        "mobilebert-large-f4": (24, 1024, 16, 52_900_000),
    }
    teacher = CATALOG.get("roberta-wwm-ext-large")
    for mid, (layers, hidden, heads, params) in want.items():
        r = CATALOG.get(mid)
        assert (r.layers, r.hidden, r.heads, r.parameters) == (layers, hidden, heads, params), mid
        assert r.parameters is not None and r.parameters < teacher.layers * 12 * teacher.hidden**2 / 5
        assert any("teacher" in n and "a529e3b" in n for n in r.notes), mid


def test_curation_required_by_later_stages() -> None:
    uer = {
        "uer-roberta-tiny": "uer/chinese_roberta_L-2_H-128",
        "uer-roberta-mini": "uer/chinese_roberta_L-4_H-256",
        "uer-roberta-small": "uer/chinese_roberta_L-4_H-512",
        "uer-roberta-medium": "uer/chinese_roberta_L-8_H-512",
        "uer-roberta-base": "uer/chinese_roberta_L-12_H-768",
    }
    for mid, repo in uer.items():
        r = CATALOG.get(mid)
        assert {d.hf_repo for d in r.downloads} == {repo}
        assert CATALOG.get(repo) is r and plan(r).downloadable
        assert [a.repo for a in plan(r).automatic] == [repo]  # listed under two columns, tried once
    for mid in ("bart-base", "bart-large", "cpt-base", "cpt-large"):
        assert {d.revision for d in CATALOG.get(mid).downloads} == {"v1.0"}
    arch = {
        "guwenbert-base": "roberta",
        "erlangshen-1.3b": "megatron_bert",
        "wonezha-base": "nezha",
        "roformer-gpt-base": "roformer_gpt",
        "roformer-sim-v2-base": "roformer_sim",
        "roformer-v2-base": "roformer_v2",
        "simbert-base": "simbert",
        "unilm-base": "unilm",
        "nezha-gen-base": "nezha_gen",
        "nezha-gen-yuefu": "nezha_gen",
        "sdcup-base": "bert",
        "skep-ernie-1.0-large": "ernie",
        "ernie-3.0-nano": "ernie",
        "brightmart-albert-tiny": "albert_brightmart",
        "albert-base": "albert",
        "gpt2-ml-1.5b-30g": "grover",
        "zhouwenwang-110m": "zhouwenwang",
        "cpm-2-zh": "cpm2",
        "chinese-clip-vit-b-16": "chinese_clip",
    }
    assert {mid: CATALOG.get(mid).arch for mid in arch} == arch
    assert CATALOG.get("hfl/chinese-macbert-base").id == "macbert-base"
    assert "application-required" in CATALOG.get("cpm-2-zh").downloads[1].notes
    assert "login-required" in CATALOG.get("eva").downloads[1].notes
    assert CATALOG.get("roberta-tiny-clue").downloads[1].code == "8qvb"
    ernie3 = CATALOG.get("ernie-3.0-mini")
    assert (ernie3.layers, ernie3.hidden, ernie3.heads, ernie3.vocab_size) == (6, 384, 12, 40000)


def test_automatic_means_a_scriptable_file() -> None:
    for r in RECORDS:
        for d in r.downloads:
            if d.automatic:
                assert d.host in AUTOMATIC_HOSTS and d.column != "project"
                assert not {"folder", "page", "login-required", "application-required"} & set(d.notes)


def test_a_broken_record_names_its_file_and_field(tmp_path: Path) -> None:
    text = (DATA / "05-macbert.toml").read_text(encoding="utf-8")
    bad = text.replace('column = "tensorflow"', 'column = "tensorfloww"', 1)
    with pytest.raises(CatalogError) as err:
        parse_family_file(bad, "05-macbert.toml")
    assert err.value.file == "05-macbert.toml"
    assert err.value.field == "models[0].downloads[0].column"
    bad = text.replace('arch = "bert"', 'arch = "bort"', 1)
    with pytest.raises(CatalogError, match=r"05-macbert.toml: models\[0\].arch: unknown arch 'bort'"):
        parse_family_file(bad, "05-macbert.toml")
    bad = text.replace('size_label = "base"', 'size_labl = "base"', 1)
    with pytest.raises(CatalogError, match="size_label"):
        parse_family_file(bad, "05-macbert.toml")
    with pytest.raises(CatalogError, match="not valid TOML"):
        parse_family_file(text + "\n[[models]\n", "05-macbert.toml")


def test_a_verbatim_cell_must_agree_with_the_downloads() -> None:
    text = (DATA / "12-roformer.toml").read_text(encoding="utf-8")
    parse_family_file(text, "12-roformer.toml")
    stale = text.replace(
        'url = "https://open.zhuiyi.ai/releases/nlp/models/zhuiyi/chinese_roformer-v2-char_L-6_H-384_A-6.zip"',
        'url = "https://example.org/moved.zip"',
        1,
    )
    assert stale != text
    with pytest.raises(CatalogError, match=r"list_cells\[0\]"):
        parse_family_file(stale, "12-roformer.toml")
