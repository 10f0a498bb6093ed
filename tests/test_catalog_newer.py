"""A newer version of the list (issue 11): compare with the built-in catalog, then merge it as an overlay.

The newer list is written here from the seed (the catalog's own md export when the seed file is not beside
the checkout: a test elsewhere proves they are byte-identical) with a few rows changed, added and removed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import zhplm
from helpers_seed import SEED
from zhplm import config
from zhplm.catalog import export
from zhplm.catalog.newer import UNKNOWN_ARCH, import_list
from zhplm.catalog.registry import builtin_catalog, load_builtin
from zhplm.cli.main import main

NEW_ROBERTA = (
    "| RoBERTa-wwm-ext-xlarge | xlarge | [百度网盘-ab12](https://pan.baidu.com/s/1newXLargeRoberta?pwd=ab12) "
    "| [huggingface](https://huggingface.co/hfl/chinese-roberta-wwm-ext-xlarge) "
    "| [Yiming Cui](https://github.com/ymcui) | [github](https://github.com/ymcui/Chinese-BERT-wwm) | 通用 |"
)
NEW_GPT = (
    "| GPT2-新闻模型 | base |  | [huggingface](https://huggingface.co/uer/gpt2-chinese-news) "
    "| [Zeyao Du](https://github.com/Morizeyao) | [github](https://github.com/Morizeyao/GPT2-Chinese) | 新闻 |"
)
NEW_FAMILY = [
    "### 悟道·天鹰",
    "",
    "+ 2023 | Aquila: an open bilingual model | BAAI, et al. | arXiv | [`PDF`](https://example.org/aquila.pdf)",
    "",
    "| 模型 | 版本 | TensorFlow | PyTorch | 作者| 源地址 | 应用领域 |",
    "| ---- | ---- | ---- | ---- | ---- | ---- | ---- |",
    "| 天鹰 | 7B | | [huggingface](https://huggingface.co/BAAI/Aquila-7B) | [BAAI](https://github.com/FlagAI-Open) "
    "| [github](https://github.com/FlagAI-Open/Aquila) | 中文通用 |",
    "",
]


def _seed_text() -> str:
    if SEED.exists():
        return SEED.read_text(encoding="utf-8")
    return export.to_markdown(builtin_catalog())


def _newer(tmp_path: Path) -> Path:
    lines = _seed_text().splitlines()
    out: list[str] = []
    for line in lines:
        if line.startswith("| RBTL6 "):
            continue  # gone
        if line.startswith("| MacBERT-large "):
            line = line.replace("| MacBERT-large | large  |", "| MacBERT-large | large(L24) |")  # changed
        out.append(line)
        if line.startswith("| RoBERTa-wwm-ext-large "):
            out.append(NEW_ROBERTA)
        if line.startswith("| GPT2-对联模型"):
            out.append(NEW_GPT)
        if line.startswith("## NLU-NLG系列"):
            # a new family at the end of the NLG section: insert before this heading
            out[-1:-1] = NEW_FAMILY
    p = tmp_path / "NEWER.md"
    p.write_text("\n".join(out) + "\n", encoding="utf-8")
    return p


def test_compare_reports_new_changed_gone(tmp_path: Path) -> None:
    result = import_list(_newer(tmp_path))
    diff = result.diff
    assert diff.rows == 150 - 1 + 3 and diff.unchanged == 148
    assert [(c.id, c.columns) for c in diff.changed] == [
        ("macbert-large", (("版本", "large", "large(L24)"),))
    ]
    assert [g.id for g in diff.gone] == ["rbtl6"]
    new = {n.model: n for n in diff.new}
    assert set(new) == {"RoBERTa-wwm-ext-xlarge", "GPT2-新闻模型", "天鹰"}
    roberta = new["RoBERTa-wwm-ext-xlarge"].record
    assert roberta.arch == "bert" and roberta.size_label == "xlarge" and roberta.section == "NLU"
    assert roberta.tokenizer == zhplm.info("roberta-wwm-ext").tokenizer
    tf = next(d for d in roberta.downloads if d.column == "tensorflow")
    assert tf.format == "tf1" and tf.code == "ab12" and not tf.automatic  # the family's TF column is TF1
    hf = next(d for d in roberta.downloads if d.host == "huggingface")
    assert hf.hf_repo == "hfl/chinese-roberta-wwm-ext-xlarge" and hf.automatic and hf.format == "hf"
    # the GPT family has four archs: the closest sibling name decides
    gpt = new["GPT2-新闻模型"].record
    assert gpt.arch == "gpt2" and "gpt2-chinese-" in gpt.notes[0]
    aquila = new["天鹰"]
    assert not aquila.typed and aquila.record.arch == UNKNOWN_ARCH and aquila.record.size_label == "7b"
    assert aquila.record.family == "悟道·天鹰" and aquila.record.section == "NLG"
    assert aquila.record.papers[0].title == "Aquila: an open bilingual model"
    assert aquila.record.domain_en == "general"
    assert aquila.record.id == "aquila-7b" and "天鹰" in aquila.record.aliases  # ASCII id from the hub repo
    assert not result.added  # without --add nothing is written
    assert not config.user_catalog_path().exists()


def test_add_merges_an_overlay_and_leaves_the_builtin_catalog_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    newer = _newer(tmp_path)
    before = [r.to_dict() for r in load_builtin().records]
    assert main(["catalog", "import", str(newer), "--add", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["diff"]
    assert len(report["added"]) == 3 and report["already_added"] == []
    assert [c["id"] for c in report["changed"]] == ["macbert-large"]
    assert [g["id"] for g in report["gone"]] == ["rbtl6"]
    assert {n["model"]: n["typed"] for n in report["new"]} == {
        "RoBERTa-wwm-ext-xlarge": True,
        "GPT2-新闻模型": True,
        "天鹰": False,
    }
    # the built-in catalog is unchanged: rbtl6 is still there, macbert-large still says large
    load_builtin.cache_clear()
    assert [r.to_dict() for r in load_builtin().records] == before
    cat = zhplm.get_catalog()
    assert len(cat) == 153 and "rbtl6" in cat and cat.get("macbert-large").size == "large"
    added = report["added"]
    assert all(not cat.is_builtin(i) for i in added)
    assert zhplm.info(added[0]).family == "RoBERTa" and "newer list" in zhplm.info(added[0]).notes[0]
    assert [r.id for r in zhplm.search("天鹰")] == [n["id"] for n in report["new"] if n["model"] == "天鹰"]
    assert any(r.id in added for r in zhplm.search("roberta xlarge"))
    assert zhplm.info("天鹰").id == "aquila-7b" and zhplm.info("天鹰").arch == UNKNOWN_ARCH
    # a second --add finds them already there and writes nothing new
    saved = config.user_catalog_path().read_bytes()
    assert main(["catalog", "import", str(newer), "--add"]) == 0
    out = capsys.readouterr().out
    assert "added 0 record(s)" in out and "(3 added before)" in out
    assert config.user_catalog_path().read_bytes() == saved
    assert "new      line" in out and "gone     rbtl6" in out and "changed  line" in out


def test_add_keeps_ids_clear_of_builtin_and_earlier_ones(tmp_path: Path) -> None:
    """A new row named like a built-in id gets a fresh id; the overlay validates like `catalog add`."""
    text = _seed_text().replace(
        "| RoBERTa-wwm-ext-large ",
        "| RBT3 | 3层base | | | [Yiming Cui](https://github.com/ymcui) | [github](https://github.com/ymcui/x) | 通用 |\n"
        "| RoBERTa-wwm-ext-large ",
        1,
    )
    p = tmp_path / "dup.md"
    p.write_text(text, encoding="utf-8")
    result = import_list(p, add=True)
    (new,) = result.diff.new
    assert new.record.id not in builtin_catalog() and new.record.id.startswith("rbt3")
    assert zhplm.info(new.record.id).arch == "bert"
