"""``import zhplm`` and the catalog commands must never import the heavy frameworks."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "torch",
    "transformers",
    "tensorflow",
    "paddle",
    "mindspore",
    "safetensors",
    "tokenizers",
    "fastapi",  # zhplm[serve]: only `zhplm serve` imports the server stack
    "uvicorn",
    "starlette",
)


def _modules_after(code: str) -> set[str]:
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_import_zhplm_is_light() -> None:
    mods = _modules_after("import zhplm")
    assert not [m for m in mods if m.split(".")[0] in HEAVY]


def test_cli_parser_is_light() -> None:
    mods = _modules_after("from zhplm.cli.main import build_parser\nbuild_parser()")
    assert not [m for m in mods if m.split(".")[0] in HEAVY]


def test_public_functions_are_not_shadowed_by_submodules() -> None:
    import zhplm
    import zhplm.converter
    import zhplm.loader  # importing submodules must not replace the functions

    assert callable(zhplm.load) and callable(zhplm.convert) and callable(zhplm.pipeline)
