"""zhplm: every model of the Awesome Pretrained Chinese NLP Models list, found, fetched, converted,
loaded and used in one call.

The public API is resolved lazily, so ``import zhplm`` stays light: it never imports torch,
transformers, TensorFlow or Paddle. Those load only when a function that needs them is called. Once
zhplm is imported, ``transformers.AutoModel*/AutoTokenizer.from_pretrained`` load zhplm's own
architectures too (:mod:`zhplm._transformers_hook` registers them when transformers loads its Auto classes).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "list_models": "zhplm.catalog",
    "search": "zhplm.catalog",
    "info": "zhplm.catalog",
    "get_catalog": "zhplm.catalog",
    "ModelRecord": "zhplm.catalog.schema",
    "open_checkpoint": "zhplm.formats",
    "extract_archive": "zhplm.formats",
    "download": "zhplm.get",
    "import_file": "zhplm.get",
    "convert": "zhplm.converter",
    "load": "zhplm.loader",
    "pipeline": "zhplm.tasks",
}

__all__ = ["__version__", *sorted(_LAZY)]


# transformers' Auto classes learn zhplm's own architectures when transformers loads them (no import here)
_transformers_hook = importlib.import_module("zhplm._transformers_hook")
_transformers_hook.install()


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'zhplm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
