"""Markdown import/export: the catalog regenerates the list, round trips lose nothing, bad input is reported."""

from __future__ import annotations

import pytest

from helpers_seed import SEED
from zhplm.catalog import awesome, export, get_catalog
from zhplm.errors import MarkdownParseError

SMALL = """# A list

intro line

## NLU系列

### BERT

+ 2018 | BERT: Pre-training | Jacob Devlin, et al. | arXiv | [`PDF`](https://arxiv.org/abs/1810.04805)

| 模型 | 版本 | TensorFlow | PyTorch | 作者| 源地址 | 应用领域 |
| ---- | ---- | ---- | ---- | ---- | ---- | ---- |
| BERT-wwm | base | <p>[Google Drive](https://drive.google.com/open?id=1)<br>[讯飞云-07Xj](http://pan.iflytek.com/#/link/A)</p> | | [Yiming Cui](https://github.com/ymcui) | [github](https://github.com/ymcui/x) | 通用 |
| GPT2-x | base | - | <p>[Google Drive](https://drive.google.com/drive/folders/F)</br>[百度网盘-osi6](https://pan.baidu.com/s/1q)</p> | [y](https://github.com/y) | [github](-) | 闲聊对话 |

备注:

> wwm 表示 **Whole Word Masking**

## Multi-Modal

### EVA

| 模型 | 版本 | 介绍 | 模型下载 | 作者| 源地址 | 应用领域 | 备注 |
| ---- | ---- | ---- | ---- | ---- | ---- |---- |---- |
| EVA |  28亿参数 | [项目首页](https://wudaoai.cn/model/detail/EVA) | [模型下载](https://wudaoai.cn/model/download?x=1) | [thu-coai](https://github.com/thu-coai) | [github](https://github.com/thu-coai/EVA) | 中文开放域对话  | 需要登陆才能下载 |

## 更新

* 2022.09.11 something
"""


def _seed() -> awesome.Document:
    if not SEED.exists():
        pytest.skip("seed list not available")
    return awesome.parse_file(SEED)


def test_the_catalog_regenerates_the_seed_document() -> None:
    md = export.to_markdown(get_catalog())
    assert awesome.parse_markdown(md) == _seed()


def test_round_trip_export_import_export_is_stable() -> None:
    md = export.to_markdown(get_catalog())
    doc = awesome.parse_markdown(md)
    assert awesome.render_document(doc) == md
    assert awesome.parse_markdown(awesome.render_document(doc)) == doc


def test_md_export_keeps_rows_and_links_in_order() -> None:
    seed_lines = SEED.read_text(encoding="utf-8").splitlines() if SEED.exists() else pytest.skip("no seed")
    md_lines = export.to_markdown(get_catalog()).splitlines()

    def links(lines: list[str]) -> list[str]:
        import re

        return [u for line in lines for u in re.findall(r"\]\(([^)]*)\)", line)]

    assert links(md_lines) == links(seed_lines)


def test_small_document_parses_every_construct() -> None:
    doc = awesome.parse_markdown(SMALL)
    assert doc.preamble == ("# A list", "", "intro line")
    assert [s.key for s in doc.sections] == ["NLU", "Multi-Modal"]
    bert = doc.sections[0].families[0]
    assert bert.papers[0].year == 2018 and bert.papers[0].links[0].label == "PDF"
    assert bert.notes_label and bert.notes == ("wwm 表示 **Whole Word Masking**",)
    assert bert.table is not None and len(bert.table.rows) == 2
    fields = awesome.row_fields(bert.table.header, bert.table.rows[0].cells)
    assert [d["host"] for d in fields["downloads"]] == ["google-drive", "iflytek"]
    assert fields["downloads"][1]["code"] == "07Xj"
    row2 = awesome.row_fields(bert.table.header, bert.table.rows[1].cells)
    assert row2["downloads"][0]["notes"] == ["folder"] and row2["downloads"][1]["code"] == "osi6"
    assert row2["source_repo"] is None and row2["source_label"] == "github"
    eva = doc.sections[1].families[0]
    assert eva.table is not None and len(eva.table.header) == 8
    ev = awesome.row_fields(eva.table.header, eva.table.rows[0].cells)
    assert [d["column"] for d in ev["downloads"]] == ["project", "pytorch"]
    assert ev["downloads"][1]["notes"] == ["login-required"] and ev["downloads"][1]["host"] == "wudao"
    assert doc.changelog == ("* 2022.09.11 something",)
    assert awesome.parse_markdown(awesome.render_document(doc)) == doc


def _problems(text: str) -> list[tuple[int, str]]:
    with pytest.raises(MarkdownParseError) as err:
        awesome.parse_markdown(text, file="bad.md")
    assert "bad.md" in str(err.value)
    return err.value.problems


def test_a_row_with_too_few_cells_is_reported_with_its_line() -> None:
    lines = SMALL.splitlines()
    n = next(i for i, line in enumerate(lines) if line.startswith("| BERT-wwm"))
    lines[n] = "| BERT-wwm | base | | [Yiming Cui](https://github.com/ymcui) | 通用 |"
    problems = _problems("\n".join(lines))
    assert problems == [(n + 1, "table row has 5 cells, the header has 7")]


def test_a_broken_link_is_reported_with_its_line() -> None:
    lines = SMALL.splitlines()
    n = next(i for i, line in enumerate(lines) if line.startswith("| EVA"))
    lines[n] = lines[n].replace(
        "[模型下载](https://wudaoai.cn/model/download?x=1)", "[模型下载](https://wudaoai.cn/x"
    )
    problems = _problems("\n".join(lines))
    assert len(problems) == 1 and problems[0][0] == n + 1 and "broken link" in problems[0][1]


def test_an_unknown_section_and_several_problems_are_all_reported() -> None:
    lines = SMALL.splitlines()
    n = lines.index("## Multi-Modal")
    lines[n] = "## Speech"
    p = lines.index(
        "+ 2018 | BERT: Pre-training | Jacob Devlin, et al. | arXiv | [`PDF`](https://arxiv.org/abs/1810.04805)"
    )
    lines[p] = "+ 20xx | BERT | someone | arXiv | [`PDF`](https://x)"
    lines.insert(p + 1, "some stray text")
    problems = _problems("\n".join(lines))
    numbers = [k for k, _ in problems]
    assert p + 1 in numbers and p + 2 in numbers
    assert any("unknown section 'Speech'" in msg for _, msg in problems)
    assert any("line under an unknown section" in msg for _, msg in problems)  # nothing dropped silently
    assert numbers == sorted(numbers)


def test_host_kinds_and_codes() -> None:
    assert awesome.host_kind("https://huggingface.co/uer") == "huggingface"
    assert awesome.host_kind("https://storage.googleapis.com/x.zip") == "google-storage"
    assert awesome.host_kind("https://thunlp.oss-cn-qingdao.aliyuncs.com/bert/ms.zip") == "aliyun-oss"
    assert awesome.host_kind("https://github.com/BlinkDL/AI-Writer/releases") == "github-release"
    assert awesome.host_kind("https://bj.bcebos.com/paddlenlp/x.pdparams") == "bcebos"
    assert awesome.host_kind("https://git.openi.org.cn/PCL") == "openi"
    assert awesome.host_kind("https://gitee.com/x") == "other"
    assert awesome.extraction_code("百度网盘-8qvb", "baidu-pan") == "8qvb"
    assert awesome.extraction_code("百度网盘", "baidu-pan") is None
    assert awesome.extraction_code("bert-base-民事", "aliyun-oss") is None
