"""Library manners: zhplm logs instead of printing, the CLI shows its log as ``zhplm: message`` on stderr
through one handler it removes again, and transformers' load reports, warnings and progress bars stay
out of the terminal unless ``--verbose`` — with their settings restored afterwards."""

from __future__ import annotations

import ast
import json
import logging
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import zhplm
from helpers_converted import converted_bert
from zhplm._quiet import quiet_libraries
from zhplm.cli.main import main
from zhplm.sources.progress import note

SRC = Path(zhplm.__file__).parent
ROOT = SRC.parents[1]


def test_no_print_in_library_code() -> None:
    """Only the CLI writes to the terminal; everything else logs."""
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if "cli" in path.relative_to(SRC).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert offenders == []


def _tuple_width(annotation: ast.expr | None) -> int:
    """The widest ``tuple[a, b, …]`` in a return annotation (``tuple[int, ...]`` is a sequence: 0)."""
    widest = 0
    for node in ast.walk(annotation) if annotation is not None else ():
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "tuple":
            items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            if not any(isinstance(i, ast.Constant) and i.value is Ellipsis for i in items):
                widest = max(widest, len(items))
    return widest


def test_public_functions_return_dataclasses_not_wide_tuples() -> None:
    """A result with three or more parts gets named fields (the lead's rewrite of converter/arch/loader
    is out of this check's scope for now)."""
    offenders = []
    for package in ("formats", "sources", "tasks", "catalog", "cli"):
        for path in sorted((SRC / package).rglob("*.py")):
            if path.name.startswith("_") and path.name != "__init__.py":
                continue  # private modules (protobuf wire iterators and the like)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                public = isinstance(node, ast.FunctionDef) and not node.name.startswith("_")
                if public and _tuple_width(node.returns) >= 3:
                    offenders.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name}")
    assert offenders == []


def test_note_logs_under_zhplm_and_quiet_drops_it(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="zhplm"):
        note("fetching x")
        note("never shown", quiet=True)
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("zhplm.sources", logging.INFO, "fetching x")
    ]
    assert caplog.records[0].funcName == "test_note_logs_under_zhplm_and_quiet_drops_it"  # the caller


def test_the_library_configures_no_logging() -> None:
    """Importing zhplm and logging a note adds no handler anywhere and leaves the root logger alone."""
    probe = (
        "import logging, sys\n"
        "root = logging.getLogger(); before = (list(root.handlers), root.level)\n"
        "import zhplm\nfrom zhplm.sources.progress import note\nnote('hello')\n"
        "assert (list(root.handlers), root.level) == before\n"
        "assert not logging.getLogger('zhplm').handlers and not logging.getLogger('zhplm.sources').handlers\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""  # an INFO note is not shown without a handler


def test_cli_shows_notes_on_stderr_and_removes_its_handler(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from fakes.records import link, make_record
    from zhplm import config

    download = link("https://pan.baidu.com/s/1zz", host="baidu-pan", column="tensorflow", format="hf")
    record = make_record([download], model_id="zz-manners")
    config.user_catalog_path().parent.mkdir(parents=True, exist_ok=True)
    config.user_catalog_path().write_text(json.dumps([record.to_dict()]), encoding="utf-8")
    src = tmp_path / "dl"
    src.mkdir()
    (src / "config.json").write_text("{}")
    (src / "model.safetensors").write_bytes(b"weights")
    logger = logging.getLogger("zhplm")
    before = (list(logger.handlers), logger.level, list(logging.getLogger().handlers))

    assert main(["import", "zz-manners", str(src), "--no-convert"]) == 0
    out, err = capsys.readouterr()
    assert re.fullmatch(r"zhplm: zz-manners: imported .*dl .* into .*\n", err), err
    assert out.strip().endswith("zz-manners")
    assert (list(logger.handlers), logger.level, list(logging.getLogger().handlers)) == before

    assert main(["import", "zz-manners", str(src), "--no-convert", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_quiet_libraries_silences_and_restores_transformers_and_the_hub() -> None:
    import transformers
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars
    from huggingface_hub.utils import logging as hlog
    from transformers.utils import logging as tlog

    tlog.set_verbosity_info()
    tlog.enable_progress_bar()
    disable_progress_bars("zz.group")  # a per-group switch the user set: it must survive
    hlog.set_verbosity_info()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with quiet_libraries():
                assert tlog.get_verbosity() == tlog.ERROR
                assert not tlog.is_progress_bar_enabled() and are_progress_bars_disabled()
                assert not transformers.logging.get_logger("transformers.x").isEnabledFor(logging.WARNING)
                warnings.warn("swallowed", UserWarning, stacklevel=1)
            warnings.warn("seen again", UserWarning, stacklevel=1)
        assert [str(w.message) for w in caught] == ["seen again"]
        assert tlog.get_verbosity() == tlog.INFO and hlog.get_verbosity() == logging.INFO
        assert tlog.is_progress_bar_enabled() and not are_progress_bars_disabled()
        assert are_progress_bars_disabled("zz.group")

        logging.getLogger("zhplm").setLevel(logging.DEBUG)  # --verbose: hands off
        with quiet_libraries():
            assert tlog.get_verbosity() == tlog.INFO and tlog.is_progress_bar_enabled()
    finally:
        logging.getLogger("zhplm").setLevel(logging.NOTSET)
        tlog.set_verbosity_warning()
        hlog.set_verbosity_warning()
        tlog.enable_progress_bar()  # clears the group switch too


def test_quiet_libraries_imports_nothing_heavy() -> None:
    probe = (
        "import sys\nfrom zhplm._quiet import quiet_libraries, quietly\n"
        "with quiet_libraries():\n    pass\nassert quietly(len, 'ab') == 2\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers')]\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=_env())
    assert proc.returncode == 0, proc.stderr


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC.parent), env.get("PYTHONPATH", "")])
    return env


@pytest.fixture(scope="module")
def folder_with_extra_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A converted BERT folder whose checkpoint carries one tensor no model class has."""
    from safetensors.numpy import load_file, save_file

    folder = converted_bert(tmp_path_factory.mktemp("manners"))
    tensors = load_file(str(folder / "model.safetensors"))
    tensors["zz_extra_unexpected.weight"] = tensors["bert.embeddings.LayerNorm.weight"].copy()
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


def _fill_mask(folder: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "zhplm", "fill-mask", str(folder), "中国的人是[MASK]大", "--top-k", "3"]
    env = _env()
    env.pop("TRANSFORMERS_VERBOSITY", None)
    return subprocess.run([*cmd, *extra], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.oracle
def test_fill_mask_prints_only_the_answers(folder_with_extra_key: Path) -> None:
    proc = _fill_mask(folder_with_extra_key)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 3 and all(re.fullmatch(r"\s*[01]\.\d{4}  \S+  中国的人是.*", line) for line in lines)
    assert proc.stderr == ""


@pytest.mark.oracle
def test_fill_mask_verbose_shows_transformers_load_report(folder_with_extra_key: Path) -> None:
    proc = _fill_mask(folder_with_extra_key, "--verbose")
    assert proc.returncode == 0, proc.stderr
    assert "LOAD REPORT" in proc.stderr and "zz_extra_unexpected.weight" in proc.stderr
    assert "UNEXPECTED" in proc.stderr
    assert len(proc.stdout.splitlines()) == 3  # the report never lands among the answers


@pytest.mark.oracle
def test_load_in_a_python_program_writes_nothing_to_stderr(folder_with_extra_key: Path) -> None:
    """``zhplm.load`` outside the CLI: transformers' first model import pulls in torchao, whose import logs its
    missing GPU kernels and torch's pytree notes; none of it, nor the load report, reaches the program's stderr."""
    probe = f"import zhplm\nloaded = zhplm.load({str(folder_with_extra_key)!r})\nprint(type(loaded.model).__name__)\n"
    env = _env()
    env.pop("TRANSFORMERS_VERBOSITY", None)
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith("Bert") and proc.stderr == ""
