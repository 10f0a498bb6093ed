"""After ``import zhplm``, transformers' Auto classes know zhplm's own architectures and tokenizers — without
``import zhplm`` importing transformers or torch, and without importing our classes before they are needed.

A post-import hook (a ``sys.meta_path`` finder wrapping the loader of two transformers modules) teaches
transformers to ask zhplm when it meets a name it does not know:

* when ``transformers.models.auto.configuration_auto`` loads, its ``CONFIG_MAPPING`` learns, on a lookup miss
  (e.g. ``model_type: "nezha"`` in a folder's config.json), to register zhplm's config classes (torch-free
  modules) and look again; each config class registers its model classes the first time one is built, i.e.
  on the first ``AutoModel*.from_pretrained`` of such a folder;
* when ``transformers.models.auto.tokenization_auto`` loads, its ``tokenizer_class_from_name`` learns, on a
  miss (``tokenizer_class: "JiebaWordPieceTokenizer"``), to register zhplm's tokenizer classes and look again.

Nothing is registered while a transformers module is still being imported (our classes would meet it
half-built); the hook itself only swaps in those two small wrappers. A registration that fails logs at debug
level and the lookup misses as it would have: a hook must never break the user's transformers, and
:func:`zhplm.load` registers explicitly anyway.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

CONFIG_AUTO = "transformers.models.auto.configuration_auto"
TOKENIZER_AUTO = "transformers.models.auto.tokenization_auto"

_lock = threading.RLock()
_registered: set[str] = set()


def _importing_transformers() -> bool:
    """Is a transformers module still executing (our classes would meet it half-built)?"""
    for name, module in list(sys.modules.items()):
        spec = getattr(module, "__spec__", None)
        if name.startswith("transformers") and getattr(spec, "_initializing", False):
            return True
    return False


def _register_once(what: str, register: Callable[[], None]) -> bool:
    """Run ``register`` once; True if it ran now (so a lookup is worth repeating)."""
    with _lock:
        if what in _registered or _importing_transformers():
            return False
        _registered.add(what)
    try:
        register()
    except Exception:  # never break the user's transformers
        log.debug("registering zhplm's %s with transformers failed", what, exc_info=True)
        return False
    return True


def _register_configs() -> None:
    from zhplm.arch.modeling import register_configs

    register_configs()


def _register_tokenizers() -> None:
    from zhplm.loader import register_tokenizers

    register_tokenizers()


def _teach_config_mapping(module: ModuleType) -> None:
    mapping = module.CONFIG_MAPPING
    base = type(mapping)

    class ZhplmConfigMapping(base):  # type: ignore[valid-type,misc]
        """transformers' lazy config mapping that asks zhplm once about a model type it does not know."""

        def __getitem__(self, key: str) -> Any:
            try:
                return super().__getitem__(key)
            except KeyError:
                if not _register_once("configs", _register_configs):
                    raise
                return super().__getitem__(key)

        def __contains__(self, item: object) -> bool:
            if super().__contains__(item):
                return True
            return _register_once("configs", _register_configs) and super().__contains__(item)

    mapping.__class__ = ZhplmConfigMapping


def _teach_tokenizer_lookup(module: ModuleType) -> None:
    original = module.tokenizer_class_from_name

    def tokenizer_class_from_name(class_name: str) -> Any:
        found = original(class_name)
        if found is None and _register_once("tokenizers", _register_tokenizers):
            found = original(class_name)
        return found

    tokenizer_class_from_name.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(module, "tokenizer_class_from_name", tokenizer_class_from_name)  # noqa: B010


_PATCHES: dict[str, Callable[[ModuleType], None]] = {
    CONFIG_AUTO: _teach_config_mapping,
    TOKENIZER_AUTO: _teach_tokenizer_lookup,
}
_patched: set[str] = set()


def _patch(name: str, module: ModuleType) -> None:
    with _lock:
        if name in _patched:
            return
        _patched.add(name)
    try:
        _PATCHES[name](module)
    except Exception:  # a transformers version whose internals differ: zhplm.load still registers
        log.debug("could not hook zhplm into %s", name, exc_info=True)


class _Loader(importlib.abc.Loader):
    """The original loader, plus our patch once the module has executed."""

    def __init__(self, wrapped: importlib.abc.Loader, name: str) -> None:
        self._wrapped = wrapped
        self._name = name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._wrapped.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._wrapped.exec_module(module)
        _patch(self._name, module)

    def __getattr__(self, attr: str) -> Any:  # get_source, get_filename, … for tracebacks and tools
        return getattr(self._wrapped, attr)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _PATCHES or fullname in _patched:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _Loader(spec.loader, fullname)
                return spec
        return None


def install() -> None:
    """Install the hook (idempotent); patch at once the modules transformers has already loaded."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
    for name in _PATCHES:
        module = sys.modules.get(name)
        if module is not None:
            _patch(name, module)
