"""zhplm's own transformers-5 model implementations, and their registration with the Auto classes.

Which classes exist is declared by each architecture's ``SPEC.own_model`` (:mod:`zhplm.arch`); nothing here
lists them. Registration is in two steps so that each costs only what it needs:

* :func:`register_configs` makes ``AutoConfig`` know every own ``model_type`` (configuration modules only:
  no torch, no model code);
* :func:`register` makes the ``AutoModel*`` classes know the model classes of the given types, importing
  only those model modules. A registered config class registers its own models the first time an
  instance is built, so ``AutoModel*.from_pretrained(folder)`` works after :func:`register_configs` alone.

:mod:`zhplm._transformers_hook` calls :func:`register_configs` as soon as transformers' ``AutoConfig`` module
is imported, so a plain ``import zhplm`` is enough. Shared layers live in ``_layers``; the head models over
our own encoders share ``_encoder_heads``.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

_lock = threading.RLock()
_configs: set[str] = set()
_models: set[str] = set()


def _own_models() -> dict[str, Any]:
    from zhplm.arch import own_models

    return own_models()


def register_configs() -> None:
    """Register every own config class with ``AutoConfig`` (idempotent, torch-free)."""
    own = _own_models()
    with _lock:
        if _configs.issuperset(own):
            return
        from transformers.models.auto.configuration_auto import AutoConfig

        for model_type, spec in own.items():
            if model_type in _configs:
                continue
            config_cls = getattr(importlib.import_module(spec.config_module), spec.config_class)
            AutoConfig.register(model_type, config_cls, exist_ok=True)
            _register_models_on_first_use(config_cls)
            _configs.add(model_type)


def _register_models_on_first_use(config_cls: Any) -> None:
    """Wrap the config's ``__post_init__`` (ours, not transformers') so that building an instance also
    registers the model classes of its type: ``AutoModel.from_pretrained`` reads the config first."""
    if getattr(config_cls, "_zhplm_registers_models", False):
        return
    original = config_cls.__post_init__

    def __post_init__(self: Any, **kwargs: Any) -> None:
        original(self, **kwargs)
        register(self.model_type)

    config_cls.__post_init__ = __post_init__
    config_cls._zhplm_registers_models = True


def register(*model_types: str) -> None:
    """Register the model classes of ``model_types`` (default: every own type) with the transformers
    Auto classes (safe to call many times). Each model module is imported only when its type is registered."""
    own = _own_models()
    wanted = [t for t in (model_types or own) if t in own]
    with _lock:
        if _models.issuperset(wanted):
            return
        register_configs()
        import transformers

        for model_type in wanted:
            if model_type in _models:
                continue
            _models.add(model_type)  # before importing: a config built while importing must not recurse
            spec = own[model_type]
            config_cls = getattr(importlib.import_module(spec.config_module), spec.config_class)
            module = importlib.import_module(spec.module)
            for auto_name, model_name in spec.auto:
                getattr(transformers, auto_name).register(
                    config_cls, getattr(module, model_name), exist_ok=True
                )


def model_class(name: str) -> Any:
    """One of zhplm's own model classes (``NezhaForPreTraining``, …) by name, or None."""
    for spec in _own_models().values():
        if name in spec.classes:
            return getattr(importlib.import_module(spec.module), name)
    return None


__all__ = ["model_class", "register", "register_configs"]
