"""The sources, by kind, in order of preference: the one place a source is registered.

A built-in source is a module ``zhplm.sources.<kind>`` whose ``SOURCE`` implements
:class:`~zhplm.sources.base.Source`; adding one is that module plus its name in :data:`BUILTIN`.
:func:`register` adds a source at run time (plugins, tests). Listing kinds imports no source module,
so the CLI can offer ``--source`` choices cheaply.
"""

from __future__ import annotations

import importlib

from zhplm.sources.base import Source

# Preference order: among equally ready attempts, an earlier kind is tried first.
BUILTIN: tuple[str, ...] = ("hf", "modelscope", "http", "gdrive", "manual")

_loaded: dict[str, Source] = {}
_extra: dict[str, Source] = {}


def kinds() -> tuple[str, ...]:
    """Every source kind, in order of preference."""
    return BUILTIN + tuple(k for k in _extra if k not in BUILTIN)


def get_source(kind: str) -> Source:
    """The source of one kind (ValueError naming the choices when there is none)."""
    if kind in _extra:
        return _extra[kind]
    if kind not in BUILTIN:
        raise ValueError(f"unknown source {kind!r}; choose one of {', '.join(kinds())}")
    if kind not in _loaded:
        source: Source = importlib.import_module(f"zhplm.sources.{kind}").SOURCE
        if source.kind != kind:
            raise RuntimeError(f"zhplm.sources.{kind}.SOURCE says its kind is {source.kind!r}")
        _loaded[kind] = source
    return _loaded[kind]


def all_sources() -> tuple[Source, ...]:
    """Every source, in order of preference."""
    return tuple(get_source(k) for k in kinds())


def register(source: Source) -> Source:
    """Add a source after the built-in ones (it is preferred last among equally ready attempts)."""
    if source.kind in kinds():
        raise ValueError(f"a source of kind {source.kind!r} is already registered")
    _extra[source.kind] = source
    return source


def unregister(kind: str) -> None:
    """Remove a source added by :func:`register` (built-in sources stay)."""
    _extra.pop(kind, None)


__all__ = ["BUILTIN", "all_sources", "get_source", "kinds", "register", "unregister"]
