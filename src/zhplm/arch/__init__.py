"""Architectures: one module per architecture, each exporting ``SPEC`` (an :class:`ArchSpec`).

Adding a model of a known architecture is a catalog edit; adding an architecture is one module here
(its naming schemes, config translation, heads, tokenizer) plus its tests.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from zhplm.arch._rules import Shape
from zhplm.arch._spec import ArchSpec
from zhplm.errors import ConversionError

# arch name (as the catalog's ``arch`` field) -> module defining SPEC
ARCH_MODULES: dict[str, str] = {
    "bert": "zhplm.arch.bert",
}


def get_arch(name: str) -> ArchSpec:
    module = ARCH_MODULES.get(name)
    if module is None:
        raise ConversionError(
            f"no converter for architecture {name!r} yet; known: {', '.join(sorted(ARCH_MODULES))}"
        )
    spec: ArchSpec = importlib.import_module(module).SPEC
    return spec


def detect_arch(shapes: Mapping[str, Shape]) -> tuple[ArchSpec, float]:
    """The architecture that best explains a checkpoint's names and shapes, with its score."""
    best: tuple[ArchSpec, float] | None = None
    for name in ARCH_MODULES:
        spec = get_arch(name)
        score = spec.matches(list(shapes), shapes)
        if best is None or score > best[1]:
            best = (spec, score)
    if best is None or best[1] < 0.5:
        raise ConversionError(
            "cannot tell which architecture this checkpoint is; pass --arch (see `zhplm inspect` for a guess)"
        )
    return best


__all__ = ["ARCH_MODULES", "ArchSpec", "detect_arch", "get_arch"]
