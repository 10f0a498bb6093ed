"""``--json`` on every command: found by walking the argparse tree (a new command is covered without new
test code); each prints exactly one JSON document on stdout, results and errors alike, with the usual
exit codes; representative commands print the data they show as text."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from helpers_converted import converted_bert
from zhplm.cli.errors import exit_code
from zhplm.cli.main import build_parser, commands, main
from zhplm.cli.output import to_jsonable
from zhplm.errors import UnknownModelError

COMMANDS = {" ".join(words): parser for words, parser in commands(build_parser())}


def _placeholders(parser: argparse.ArgumentParser) -> list[str]:
    """A value for every required argument of a command (positionals and required options), and one for
    an optional list of positionals too (``serve ID_OR_DIR…``: with none it would start serving)."""
    argv: list[str] = []
    for action in parser._actions:
        if action.option_strings:
            if action.required:
                argv += [action.option_strings[0], "placeholder.txt"]
        elif action.nargs != "?":
            argv.append("placeholder")
    return argv


def test_the_walk_finds_every_command() -> None:
    """The walk sees the nested groups' leaves, not the groups themselves."""
    assert {"list", "info", "inspect", "convert", "fill-mask", "store list", "catalog archs"} <= set(COMMANDS)
    assert "store" not in COMMANDS and "catalog" not in COMMANDS


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_takes_json_verbose_and_quiet(command: str) -> None:
    argv = [*command.split(), *_placeholders(COMMANDS[command])]
    args = build_parser().parse_args([*argv, "--json", "--verbose", "--quiet"])
    assert args.json is True and args.verbose is True and args.quiet is True
    assert callable(args.handler)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_prints_one_json_document(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Placeholder arguments: most commands fail (unknown model, missing file) and must say so as a
    JSON error object with their exit code; the others succeed with a JSON result."""
    monkeypatch.chdir(tmp_path)  # placeholders never name a real file; nothing lands in the repo
    monkeypatch.setenv("ZHPLM_OFFLINE", "1")
    code = main([*command.split(), *_placeholders(COMMANDS[command]), "--json"])
    out = capsys.readouterr().out
    doc = json.loads(out)  # exactly one document: trailing text would make this fail
    if isinstance(doc, dict) and "error" in doc:
        assert code == doc["exit_code"] != 0
        assert doc["message"] and doc["error"].isidentifier()
    else:
        assert code in (0, 1)  # `store remove` of an absent id answers {"removed": false} with 1


def test_errors_under_json_carry_type_message_and_the_usual_exit_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["info", "no-such-model-zz"]) == 2
    human = capsys.readouterr()
    assert human.out == "" and human.err.startswith("zhplm: error: unknown model 'no-such-model-zz'")
    assert main(["info", "no-such-model-zz", "--json"]) == 2
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["error"] == "UnknownModelError" and doc["exit_code"] == exit_code(UnknownModelError("x"))
    assert "no-such-model-zz" in doc["message"] and err == ""


def test_catalog_commands_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--arch", "nezha", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(r["arch"] == "nezha" for r in rows)
    assert main(["info", "macbert-base", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["id"] == "macbert-base" and info["how_to_get"]["steps"]
    assert main(["store", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []  # the isolated store is empty
    assert main(["catalog", "export", "--format", "csv", "--json"]) == 0
    export = json.loads(capsys.readouterr().out)
    assert export["format"] == "csv" and export["text"].startswith("id,name,")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return converted_bert(tmp_path_factory.mktemp("cli-json"))


@pytest.mark.oracle
def test_inspect_convert_and_fill_mask_as_json(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = model_dir.parent / "ckpt"
    assert main(["inspect", str(ckpt), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    names = {t["name"] for t in report["tensors"]}
    assert "bert/embeddings/word_embeddings" in names

    assert main(["convert", str(ckpt), "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["arch"] == "bert" and plan["out"] is None and plan["tensors"] > 0

    assert main(["fill-mask", str(model_dir), "中国的人是[MASK]大", "--top-k", "2", "--json"]) == 0
    (mask,) = json.loads(capsys.readouterr().out)
    assert len(mask) == 2 and {"token", "token_id", "score", "sequence"} == set(mask[0])
    assert mask[0]["score"] >= mask[1]["score"] and mask[0]["sequence"].startswith("中国的人是")


def test_to_jsonable_serialises_dataclasses_paths_and_numpy() -> None:
    @dataclasses.dataclass
    class Row:
        path: Path
        vector: np.ndarray
        score: np.float32
        shape: tuple[int, ...]

    value = to_jsonable([Row(Path("/a/b"), np.arange(3, dtype=np.int64), np.float32(0.5), (2, 3))])
    assert value == [{"path": "/a/b", "vector": [0, 1, 2], "score": 0.5, "shape": [2, 3]}]
    assert json.loads(json.dumps(value)) == value
    with pytest.raises(TypeError, match="object"):
        to_jsonable(object())
