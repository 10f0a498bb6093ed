"""Entry point of the ``zhplm`` command. Command groups live in their own modules and register here.

Each command module exposes ``register(subparsers)``; a registered sub-parser sets ``handler`` to a
function ``(args) -> int``. Modules import the heavy parts of zhplm only inside their handlers, so
``zhplm list`` never imports torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from zhplm import __version__
from zhplm.cli.errors import report

# One module per command group (see DESIGN.md: catalog / formats / sources / convert / tasks).
COMMAND_MODULES: tuple[str, ...] = (
    "zhplm.cli.catalog_cmds",
    "zhplm.cli.formats_cmds",
    "zhplm.cli.sources_cmds",
    "zhplm.cli.convert_cmds",
    "zhplm.cli.tasks_cmds",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zhplm",
        description="Find, fetch, convert, load and use the models of the Awesome Pretrained Chinese NLP Models list.",
    )
    parser.add_argument("--version", action="version", version=f"zhplm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except BrokenPipeError:  # `zhplm list | head`
        return 0
    except (Exception, KeyboardInterrupt) as exc:  # one place turns errors into messages + exit codes
        return report(exc)


if __name__ == "__main__":
    sys.exit(main())
