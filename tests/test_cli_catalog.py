"""CLI: list, search, info, catalog import/export/add/remove/archs, their errors and exit codes."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers_seed import SEED
from zhplm.catalog import awesome
from zhplm.cli.main import main

HEAVY = ("torch", "transformers", "tensorflow", "paddle", "mindspore", "safetensors", "tokenizers")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_with_filters_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list", "--json")
    assert code == 0 and len(json.loads(out)) == 150
    code, out, _ = run(capsys, "list", "--section", "NLU", "--domain", "legal", "--json")
    assert {r["id"] for r in json.loads(out)} == {
        "openclap-civil",
        "openclap-criminal",
        "legal-electra-large",
        "legal-electra-base",
        "legal-electra-small",
    }
    code, out, _ = run(capsys, "list", "--host", "huggingface", "--downloadable", "--size", "large")
    assert code == 0 and "bart-large" in out and "macbert-large" not in out
    code, out, _ = run(capsys, "list", "--framework", "paddlepaddle", "--arch", "ernie", "--family", "ERNIE3")
    assert out.count("ernie-3.0-") == 5
    code, out, _ = run(capsys, "list", "--no-downloadable", "--json")
    assert all(not any(d.get("host") == "huggingface" for d in r["downloads"]) for r in json.loads(out))


def test_list_rejects_an_unknown_framework(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["list", "--framework", "jax"])
    assert exc.value.code == 2


def test_search(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "search", "医学", "--json")
    assert code == 0 and {"mc-bert-base", "yuyuan-3.5b"} <= {r["id"] for r in json.loads(out)}
    code, out, _ = run(capsys, "search", "legal")
    assert code == 0 and out.splitlines()[1].startswith("legal-electra")
    code, out, err = run(capsys, "search", "qqqqqq")
    assert code == 1 and "no model matches" in err


def test_info_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "info", "hfl/chinese-macbert-base")
    assert code == 0 and out.startswith("macbert-base") and "E2cP" in out and "how to get it" in out
    code, out, _ = run(capsys, "info", "uer-roberta-medium", "--json")
    data = json.loads(out)
    assert data["downloadable"] is True
    assert data["how_to_get"]["automatic"][0] == "uer/chinese_roberta_L-8_H-512"
    code, out, _ = run(capsys, "info", "gau-alpha")
    assert "ymcui/Chinese-MobileBERT" in out and "correction" in out


def test_info_unknown_id_exits_nonzero_with_suggestions(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "info", "macbrt-base")
    assert code == 2 and out == ""
    assert "macbert-base" in err and "Did you mean" in err


def test_export_formats(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "catalog", "export", "--format", "json")
    assert code == 0 and len(json.loads(out)) == 150
    code, out, _ = run(capsys, "catalog", "export", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 150 and rows[0]["id"] == "bert-base"
    code, out, _ = run(capsys, "catalog", "export", "--format", "bibtex")
    assert out.count("@") >= 45 and "title = {{BERT: Pre-training" in out
    target = tmp_path / "list.md"
    code, _, _ = run(capsys, "catalog", "export", "--format", "md", "-o", str(target))
    assert code == 0 and len(awesome.parse_file(target).rows) == 150


def test_import_reports_new_rows_and_round_trips(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "list.md"
    main(["catalog", "export", "--format", "md", "-o", str(target)])
    capsys.readouterr()
    code, out, _ = run(capsys, "catalog", "import", str(target))
    assert code == 0 and "150 rows" in out and "150 rows are in the catalog" in out
    text = target.read_text(encoding="utf-8").replace(
        "| MacBERT-large | large |", "| MacBERT-xlarge | xlarge |", 1
    )
    target.write_text(text, encoding="utf-8")
    code, out, _ = run(capsys, "catalog", "import", str(target), "--json")
    summary = json.loads(out)["summary"]
    assert summary["rows_in_catalog"] == 149
    assert [r["model"] for r in summary["rows_not_in_catalog"]] == ["MacBERT-xlarge"]
    line = summary["rows_not_in_catalog"][0]["line"]
    assert text.splitlines()[line - 1].startswith("| MacBERT-xlarge")


def test_import_of_malformed_markdown_exits_3_with_line_numbers(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    if not SEED.exists():
        pytest.skip("seed list not available")
    lines = SEED.read_text(encoding="utf-8").splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("| MacBERT-base"))
    lines[i] = "| MacBERT-base | base |"
    bad = tmp_path / "bad.md"
    bad.write_text("\n".join(lines), encoding="utf-8")
    code, _, err = run(capsys, "catalog", "import", str(bad))
    assert code == 3 and f"line {i + 1}: table row has 2 cells, the header has 7" in err


def test_add_and_remove(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "info", "bert-base", "--json")
    record = json.loads(out)
    for key in ("downloadable", "how_to_get"):
        record.pop(key)
    record.update(id="my-bert", aliases=["me/my-bert"])
    f = tmp_path / "mine.json"
    f.write_text(json.dumps([record]), encoding="utf-8")
    code, out, _ = run(capsys, "catalog", "add", str(f))
    assert code == 0 and "my-bert" in out
    code, out, _ = run(capsys, "info", "me/my-bert")
    assert code == 0 and out.startswith("my-bert")
    code, _, err = run(capsys, "catalog", "add", str(f))
    assert code == 3 and "my-bert" in err
    code, _, err = run(capsys, "catalog", "remove", "bert-base")
    assert code == 3 and "built-in" in err
    code, out, _ = run(capsys, "catalog", "remove", "my-bert")
    assert code == 0
    code, _, _ = run(capsys, "info", "my-bert")
    assert code == 2


def test_archs(capsys: pytest.CaptureFixture[str]) -> None:
    _code, out, _ = run(capsys, "catalog", "archs", "--json")
    archs = {a["arch"]: a["models"] for a in json.loads(out)}
    assert archs["bert"] > 40 and archs["roformer_v2"] == 3


@pytest.mark.parametrize(
    "argv",
    [
        ["list", "--json"],
        ["search", "legal"],
        ["info", "macbert-base"],
        ["catalog", "export", "--format", "md"],
        ["catalog", "import", str(SEED)],
    ],
)
def test_catalog_commands_never_import_heavy_frameworks(argv: list[str]) -> None:
    probe = (
        "import json, sys, contextlib, io\n"
        "from zhplm.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    code = main({argv!r})\n"
        "print(json.dumps([code, sorted(sys.modules)]))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    code, mods = json.loads(out.strip().splitlines()[-1])
    assert code == 0
    assert not [m for m in mods if m.split(".")[0] in HEAVY]
