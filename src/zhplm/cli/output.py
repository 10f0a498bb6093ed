"""The one way a command prints its result: JSON under ``--json``, else the command's human text.

Every handler builds a result (dataclasses, dicts, lists, Paths, numpy values …) and hands it to
:func:`emit` with the human rendering; ``--json`` then works the same for every command, errors included
(see :func:`zhplm.cli.errors.report`). No torch or numpy import here: numpy values are recognised by
their type's module.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import Any

Human = str | Callable[[], object] | None


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: objects with ``to_dict()`` through it, dataclasses field by field,
    paths as strings, numpy arrays and scalars as lists and numbers, tuples and sets as lists."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, type):
        raise TypeError(f"cannot print the class {value.__name__} as JSON")
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_jsonable(to_dict())
    if dataclasses.is_dataclass(value):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((to_jsonable(v) for v in value), key=str)
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):  # ndarray, np.float32, …
        return to_jsonable(value.tolist())
    raise TypeError(f"cannot print a {type(value).__name__} as JSON")


def emit(args: argparse.Namespace, result: Any, human: Human = None) -> None:
    """Print ``result`` as JSON on stdout when the command got ``--json``; otherwise the human form:
    ``human`` is a text (printed as a line on stdout) or a function that prints it (tables, several
    streams); None prints nothing."""
    if getattr(args, "json", False):
        text = json.dumps(to_jsonable(result), ensure_ascii=False, indent=2)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    elif callable(human):
        human()
    elif human is not None:
        sys.stdout.write(human + "\n")


__all__ = ["emit", "to_jsonable"]
