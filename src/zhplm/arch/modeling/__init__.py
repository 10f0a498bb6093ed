"""zhplm's own transformers-5 model implementations and their registration with the Auto classes.

transformers 5 has none of the architectures in :data:`MODELS`. :func:`register` makes ``AutoConfig`` and
the ``AutoModel*`` classes know our ``model_type`` values, so a converted folder (``config.json`` with, say,
``"model_type": "nezha"``) loads with ``AutoModel.from_pretrained(path)``. Importing this package imports
neither torch nor transformers; :func:`register` does. Shared layers live in ``_layers``.
"""

from __future__ import annotations

import importlib
import threading

# model_type -> (module, config class, {Auto class name: model class name})
MODELS: dict[str, tuple[str, str, dict[str, str]]] = {
    "nezha": (
        "zhplm.arch.modeling.nezha",
        "NezhaConfig",
        {
            "AutoModel": "NezhaModel",
            "AutoModelForMaskedLM": "NezhaForMaskedLM",
            "AutoModelForPreTraining": "NezhaForPreTraining",
        },
    ),
    "roformer_v2": (
        "zhplm.arch.modeling.roformer_v2",
        "RoFormerV2Config",
        {"AutoModel": "RoFormerV2Model", "AutoModelForMaskedLM": "RoFormerV2ForMaskedLM"},
    ),
    "gau_alpha": (
        "zhplm.arch.modeling.gau_alpha",
        "GAUAlphaConfig",
        {"AutoModel": "GAUAlphaModel", "AutoModelForMaskedLM": "GAUAlphaForMaskedLM"},
    ),
    "chinesebert": (
        "zhplm.arch.modeling.chinesebert",
        "ChineseBertConfig",
        {"AutoModel": "ChineseBertModel", "AutoModelForMaskedLM": "ChineseBertForMaskedLM"},
    ),
    "zen": (
        "zhplm.arch.modeling.zen",
        "ZenConfig",
        {
            "AutoModel": "ZenModel",
            "AutoModelForMaskedLM": "ZenForMaskedLM",
            "AutoModelForPreTraining": "ZenForPreTraining",
        },
    ),
    "lattice_bert": (
        "zhplm.arch.modeling.lattice_bert",
        "LatticeBertConfig",
        {
            "AutoModel": "LatticeBertModel",
            "AutoModelForMaskedLM": "LatticeBertForMaskedLM",
            "AutoModelForPreTraining": "LatticeBertForPreTraining",
        },
    ),
}

_lock = threading.Lock()
_registered: set[str] = set()


def register(*model_types: str) -> None:
    """Register the given model types (default: every model above) with the transformers Auto classes
    (safe to call many times). Each model module is imported only when its type is registered."""
    wanted = [t for t in (model_types or MODELS) if t in MODELS]
    with _lock:
        if _registered.issuperset(wanted):
            return
        import transformers

        for model_type in wanted:
            if model_type in _registered:
                continue
            module_name, config_name, heads = MODELS[model_type]
            module = importlib.import_module(module_name)
            config_cls = getattr(module, config_name)
            transformers.AutoConfig.register(model_type, config_cls, exist_ok=True)
            for auto_name, model_name in heads.items():
                auto_cls = getattr(transformers, auto_name)
                auto_cls.register(config_cls, getattr(module, model_name), exist_ok=True)
            _registered.add(model_type)


__all__ = ["MODELS", "register"]
