"""Architectures: the registry. Every public module of this package is one architecture and exports ``SPEC``
(an :class:`ArchSpec`); the module's name is the architecture's name (the catalog's ``arch`` field).

Nothing lists the modules: adding an architecture is one new file here plus its tests. Private modules
(``_rules``, ``_spec``) and the sub-packages (``modeling``: our own model classes, ``tokenization``: our
tokenizer classes) are not architectures. ``ZHPLM_ARCH_PATH`` (folders, ``os.pathsep``-separated) adds
architecture modules from outside the package, e.g. one under development.

Names are known without importing anything (the catalog validates rows against them and must stay light);
a module is imported when its spec is first asked for. :func:`rank_archs` is the one detector: ``zhplm
convert`` and ``zhplm inspect`` both rank a checkpoint's names with it, scored by :func:`score` from each
spec's declared :class:`Evidence`.
"""

from __future__ import annotations

import functools
import importlib
import os
import pkgutil
import re
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from zhplm.errors import ConversionError

if TYPE_CHECKING:
    from zhplm.arch._rules import Shape
    from zhplm.arch._spec import ArchSpec, Evidence, OwnModel

# re-exported lazily: the catalog reads architecture names through this package and must not import numpy
_LAZY = {"ArchSpec": "zhplm.arch._spec", "Evidence": "zhplm.arch._spec", "OwnModel": "zhplm.arch._spec"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


for _folder in filter(None, os.environ.get("ZHPLM_ARCH_PATH", "").split(os.pathsep)):
    if _folder not in __path__:
        __path__.append(_folder)

# a module defines one architecture unless it is private or one of these helper packages
_NOT_ARCHS = frozenset({"modeling", "tokenization", "assets"})

_lock = threading.RLock()
_specs: dict[str, ArchSpec] = {}


def arch_names() -> list[str]:
    """Every architecture module's name, sorted; nothing is imported (cached per search path)."""
    return list(_names_on(tuple(__path__)))


@functools.lru_cache(maxsize=8)
def _names_on(path: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(
        sorted(
            {
                m.name
                for m in pkgutil.iter_modules(list(path))
                if not m.name.startswith("_") and not m.ispkg and m.name not in _NOT_ARCHS
            }
        )
    )


def get_arch(name: str) -> ArchSpec:
    """The spec of architecture ``name`` (its module is imported on first use)."""
    spec = _specs.get(name)
    if spec is not None:
        return spec
    if name not in arch_names():
        raise UnknownArchError(name, arch_names())
    with _lock:
        module = importlib.import_module(f"{__name__}.{name}")
        spec = getattr(module, "SPEC", None)
        from zhplm.arch._spec import ArchSpec

        if not isinstance(spec, ArchSpec):
            raise ConversionError(f"architecture module {module.__name__} defines no SPEC (an ArchSpec)")
        if spec.name != name:
            raise ConversionError(
                f"architecture module {module.__name__} declares SPEC.name {spec.name!r}: it must be {name!r}"
            )
        _specs[name] = spec
    return spec


def all_specs() -> list[ArchSpec]:
    return [get_arch(name) for name in arch_names()]


class UnknownArchError(ConversionError):
    """No architecture module of that name."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        known = list(known)
        super().__init__(f"no converter for architecture {name!r} yet; available: {', '.join(known)}")
        self.name = name
        self.known = known


# --------------------------------------------------------------------------- the one detector


@functools.lru_cache(maxsize=1)
def _leftover() -> re.Pattern[str]:
    from zhplm.arch._spec import TRAINING_LEFTOVERS

    return _alternation(tuple(TRAINING_LEFTOVERS))


@functools.lru_cache(maxsize=256)
def _alternation(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One compiled regex for a spec's evidence patterns (compiled once, not per checkpoint and spec)."""
    return re.compile("|".join(f"(?:{p})" for p in patterns))


def _any_match(patterns: tuple[str, ...], names: Iterable[str]) -> bool:
    if not patterns:
        return False
    rx = _alternation(patterns)
    return any(rx.fullmatch(n) for n in names)


def score(spec: ArchSpec, names: Iterable[str], config: Mapping[str, Any] | None = None) -> float:
    """How well ``spec`` explains a checkpoint: the fraction of names its best scheme places (0..1),
    halved by a forbidden name, +1 for a distinctive one (when the names fit), scaled when a needed
    distinctive name is missing, +0.01 for each config tie-break that names it."""
    names = list(names)
    placed = max(spec.scheme_scores(names).values(), default=0.0)
    ev: Evidence = spec.evidence
    leftover = _leftover()
    model_names = [n for n in names if not leftover.fullmatch(n)]
    forbidden = _any_match(ev.forbidden, model_names)
    value = placed * (0.5 if forbidden else 1.0)
    if ev.distinctive:
        if _any_match(ev.distinctive, model_names):
            if placed > 0.9 and not forbidden:
                value += 1.0
        else:
            value *= ev.without_distinctive
    if ev.config:
        if config and all(config.get(k) == v for k, v in ev.config):
            value += 0.01
        else:
            value *= ev.without_config
    if config and config.get("model_type") == spec.name:
        value += 0.01
    return value


def rank_archs(
    shapes: Mapping[str, Shape], hint: Mapping[str, object] | None = None
) -> list[tuple[ArchSpec, float]]:
    """Architectures that could explain a checkpoint, best first (score ≥ 0.5).

    Names alone cannot tell some families apart (RoFormer and NEZHA share bert4keras names without
    position embeddings): ``hint``, the release's original config, breaks such ties.
    """
    names = list(shapes)
    ranked = [(spec, s) for spec in all_specs() if (s := score(spec, names, hint)) >= 0.5]
    ranked.sort(key=lambda item: -item[1])
    return ranked


# --------------------------------------------------------------------------- zhplm's own classes


def own_models() -> dict[str, OwnModel]:
    """``model_type`` → zhplm's own classes, for every architecture that brings them."""
    return {spec.model_type: spec.own_model for spec in all_specs() if spec.own_model is not None}


def reader_options(fmt: str) -> dict[str, Any]:
    """Options for the reader of format ``fmt`` that the architectures ask for: the classes of releases
    pickled as whole models (read as inert records by the torch reader)."""
    if fmt != "pytorch":
        return {}
    classes = sorted({c for spec in all_specs() for c in spec.pickled_classes})
    return {"records": tuple(classes)} if classes else {}


def tokenizer_modules() -> list[str]:
    """Modules of zhplm's own tokenizer classes (each with ``register()``), declared by the specs."""
    return list(dict.fromkeys(m for spec in all_specs() for m in spec.tokenizers))


__all__ = [
    "ArchSpec",
    "Evidence",
    "OwnModel",
    "UnknownArchError",
    "all_specs",
    "arch_names",
    "get_arch",
    "own_models",
    "rank_archs",
    "reader_options",
    "score",
    "tokenizer_modules",
]
