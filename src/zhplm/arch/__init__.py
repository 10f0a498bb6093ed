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

# arch name (as the catalog's ``arch`` field) -> module defining SPEC (or "module:ATTRIBUTE")
ARCH_MODULES: dict[str, str] = {
    "bert": "zhplm.arch.bert",
    "roberta": "zhplm.arch.roberta",
    "albert": "zhplm.arch.albert",
    "albert_brightmart": "zhplm.arch.albert_brightmart",
    "electra": "zhplm.arch.electra",
    "electra_generator": "zhplm.arch.electra:GENERATOR",
    "xlnet": "zhplm.arch.xlnet",
    "roformer": "zhplm.arch.roformer",
    "mobilebert": "zhplm.arch.mobilebert",
    "megatron_bert": "zhplm.arch.megatron_bert",
    "ernie": "zhplm.arch.ernie",
    "nezha": "zhplm.arch.nezha",
    "roformer_v2": "zhplm.arch.roformer_v2",
    "gau_alpha": "zhplm.arch.gau_alpha",
    "bloom": "zhplm.arch.bloom",
    "chinesebert": "zhplm.arch.chinesebert",
    "zen": "zhplm.arch.zen",
    "lattice_bert": "zhplm.arch.lattice_bert",
}


def available_archs() -> list[str]:
    """Architectures whose converter module is present in this build."""
    import importlib.util

    return [
        name
        for name, mod in ARCH_MODULES.items()
        if importlib.util.find_spec(mod.partition(":")[0]) is not None
    ]


def get_arch(name: str) -> ArchSpec:
    module = ARCH_MODULES.get(name)
    if module is None or name not in available_archs():
        raise ConversionError(
            f"no converter for architecture {name!r} yet; available: {', '.join(available_archs())}"
        )
    module_name, _, attribute = module.partition(":")
    spec: ArchSpec = getattr(importlib.import_module(module_name), attribute or "SPEC")
    return spec


def rank_archs(
    shapes: Mapping[str, Shape], hint: Mapping[str, object] | None = None
) -> list[tuple[ArchSpec, float]]:
    """Architectures that could explain a checkpoint, best first (score ≥ 0.5).

    Names alone cannot tell some families apart (RoFormer and NEZHA share bert4keras names without
    position embeddings): ``hint``, the release's original config, breaks such ties.
    """
    ranked = []
    for name in available_archs():
        spec = get_arch(name)
        score = spec.matches(list(shapes), shapes)
        if hint and config_hint(hint) == name:
            score += 0.01
        if score >= 0.5:
            ranked.append((spec, score))
    ranked.sort(key=lambda item: -item[1])
    return ranked


def config_hint(config: Mapping[str, object]) -> str | None:
    """The architecture an original config names outright, if any."""
    if config.get("use_relative_position") is True:
        return "nezha"
    model_type = config.get("model_type")
    if isinstance(model_type, str) and model_type in ARCH_MODULES:
        return model_type
    return None


def detect_arch(
    shapes: Mapping[str, Shape], hint: Mapping[str, object] | None = None
) -> tuple[ArchSpec, float]:
    """The architecture that best explains a checkpoint's names and shapes, with its score."""
    ranked = rank_archs(shapes, hint)
    if not ranked:
        raise ConversionError(
            "cannot tell which architecture this checkpoint is; pass --arch (see `zhplm inspect` for a guess)"
        )
    return ranked[0]


__all__ = [
    "ARCH_MODULES",
    "ArchSpec",
    "available_archs",
    "config_hint",
    "detect_arch",
    "get_arch",
    "rank_archs",
]
