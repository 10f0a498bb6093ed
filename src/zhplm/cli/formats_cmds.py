"""CLI commands of the formats group: ``zhplm inspect``."""

from __future__ import annotations

import argparse
from typing import Any

from zhplm.cli.output import emit


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add this group's sub-commands to the zhplm parser."""
    p = sub.add_parser(
        "inspect",
        help="list a checkpoint's tensors and guess what model it is",
        description=(
            "Open a checkpoint in any format zhplm reads (TF1 bundle, safetensors, PyTorch, Paddle, …), "
            "list its tensors with shapes and dtypes, count parameters, and guess the architecture and "
            "sizes from the names and shapes, with the catalog rows it could belong to. Reads no tensor data."
        ),
    )
    p.add_argument("path", help="checkpoint file, TF prefix or .index file, or a folder holding one")
    p.add_argument(
        "--candidates", type=int, default=20, metavar="N", help="show at most N catalog candidates"
    )
    p.set_defaults(handler=_inspect)


def _inspect(args: argparse.Namespace) -> int:
    from zhplm.formats.inspect import inspect_checkpoint

    report = inspect_checkpoint(args.path)
    emit(args, report, lambda: print(report.render(max_candidates=args.candidates)))
    return 0
