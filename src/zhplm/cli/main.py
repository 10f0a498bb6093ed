"""Entry point of the ``zhplm`` command. Command groups live in their own modules and register here.

Each command module exposes ``register(subparsers)``; a registered sub-parser sets ``handler`` to a
function ``(args) -> int``. Modules import the heavy parts of zhplm only inside their handlers, so
``zhplm list`` never imports torch. Every command then gets the same ``--json``, ``--verbose`` and
``--quiet`` here (results go through :func:`zhplm.cli.output.emit`); the library's log messages reach the
terminal through the one handler this module attaches to the ``zhplm`` logger while a command runs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from zhplm import __version__
from zhplm._quiet import NOISY_LOGGERS, quiet_loggers
from zhplm.cli.errors import report

# One module per command group (see DESIGN.md: catalog / formats / sources / convert / tasks).
COMMAND_MODULES: tuple[str, ...] = (
    "zhplm.cli.catalog_cmds",
    "zhplm.cli.formats_cmds",
    "zhplm.cli.sources_cmds",
    "zhplm.cli.convert_cmds",
    "zhplm.cli.tasks_cmds",
    "zhplm.cli.image_cmds",
    "zhplm.cli.similar_cmds",
    "zhplm.cli.generate_cmds",
    "zhplm.cli.serve_cmds",
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
    for _, command in commands(parser):
        _add_common_options(command)
    return parser


def commands(parser: argparse.ArgumentParser) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every runnable command under ``parser`` as (words, sub-parser), e.g. (("store", "list"), …):
    the leaves of the sub-command tree, so a new command is found without being listed anywhere."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        yield (), parser
        return
    for group in groups:
        for name, child in group.choices.items():
            for words, leaf in commands(child):
                yield (name, *words), leaf


def _add_common_options(p: argparse.ArgumentParser) -> None:
    """--json, --verbose and --quiet on one command (a command may define its own --quiet, with a
    help text that says what it silences)."""
    have = p._option_string_actions
    if "--json" not in have:
        p.add_argument(
            "--json", action="store_true", help="print the result (or the error) as JSON on stdout"
        )
    if "--verbose" not in have:
        flags = ["--verbose"] + ([] if "-v" in have else ["-v"])
        p.add_argument(
            *flags,
            action="store_true",
            help="debug messages, and the reports, warnings and progress bars of transformers",
        )
    if "--quiet" not in have:
        flags = ["--quiet"] + ([] if "-q" in have else ["-q"])
        p.add_argument(*flags, action="store_true", help="only warnings and errors on stderr")


class _StderrHandler(logging.Handler):
    """Writes ``zhplm: message`` to whatever ``sys.stderr`` is when a record arrives (so a redirected
    or captured stderr gets it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


@contextmanager
def _log_to_stderr(args: argparse.Namespace) -> Iterator[None]:
    """While a command runs: one handler on the ``zhplm`` logger, INFO by default, DEBUG with
    --verbose (which also lets transformers speak, see zhplm._quiet), WARNING with --quiet."""
    level = logging.INFO
    if getattr(args, "verbose", False):
        level = logging.DEBUG
    elif getattr(args, "quiet", False):
        level = logging.WARNING
    logger = logging.getLogger("zhplm")
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("zhplm: %(message)s"))
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


@contextmanager
def _model_options(args: argparse.Namespace) -> Iterator[None]:
    """``--compile`` / ``--int8-backend`` reach every ``zhplm.load`` the command makes through the environment
    variables the library reads (ZHPLM_COMPILE, ZHPLM_INT8_BACKEND), set only while the command runs."""
    wanted = {
        "ZHPLM_COMPILE": "1" if getattr(args, "compile", False) else None,
        "ZHPLM_INT8_BACKEND": getattr(args, "int8_backend", None),
    }
    saved = {name: os.environ.get(name) for name in wanted}
    for name, value in wanted.items():
        if value is not None:
            os.environ[name] = value
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    with _log_to_stderr(args), quiet_loggers(*NOISY_LOGGERS), _model_options(args):
        try:
            return int(handler(args) or 0)
        except BrokenPipeError:  # `zhplm list | head`
            return 0
        except (Exception, KeyboardInterrupt) as exc:  # one place turns errors into messages + exit codes
            return report(exc, args)


if __name__ == "__main__":
    sys.exit(main())
