"""The architecture vocabulary: every value a catalog record's ``arch`` may take, with what it means.

Catalog families are not code families: ``arch`` names the zhplm architecture module a row converts
with (see DESIGN.md). The vocabulary is the architecture registry (:mod:`zhplm.arch`: one module per
architecture, its ``SPEC.description``) plus :data:`PLANNED`, the architectures the list has that no module
implements yet. Adding a module makes its name known; its line here is then deleted (a test checks that
no name is in both). Names are lowercase snake_case; the loader rejects a record whose arch is in neither.
Reading names imports nothing (the catalog stays light); descriptions of registered ones import their spec.
"""

from __future__ import annotations

PLANNED: dict[str, str] = {
    # decoders
    # encoder-decoders and hybrids
    "cpm2_moe": (
        "CPM-2-MoE (198B; catalog and fetch only): BASE-layer experts (CPM-2-Pretrain's moe branch, "
        "mpu/baselayer.py), one FFN expert per data-parallel rank, tokens routed by a balanced assignment over "
        "the whole batch even at inference, so a token's output depends on the rest of the batch; transformers "
        "has no such layer, the per-expert shard layout is unpublished, and 198B cannot be run or checked here"
    ),
    "glm_130b": "GLM-130B (DeepNorm, GeGLU, rotary positions; catalog only)",
    # multimodal
    "taichu": "紫东太初 OPT multimodal models (MindSpore/Ascend; catalog only)",
    # rows imported from a newer list whose family does not tell the architecture
    "unknown": "not identified yet: a row from a newer list (`zhplm catalog import --add`); catalog only",
}


def arch_names() -> list[str]:
    """Every value ``arch`` may take: registered architectures, then planned ones (nothing imported)."""
    from zhplm.arch import arch_names as registered

    names = registered()
    return names + sorted(n for n in PLANNED if n not in names)


def is_known(arch: str) -> bool:
    return arch in PLANNED or arch in arch_names()


def is_convertible(arch: str) -> bool:
    """An architecture module exists for ``arch``."""
    from zhplm.arch import arch_names as registered

    return arch in registered()


def describe(arch: str) -> str:
    """What ``arch`` means: the registered spec's description, else the planned one."""
    from zhplm.arch import arch_names as registered

    if arch in registered():
        from zhplm.arch import get_arch

        return get_arch(arch).description
    return PLANNED.get(arch, "unknown architecture")


def vocabulary() -> dict[str, str]:
    """``{arch: description}`` for the whole vocabulary (imports every registered spec)."""
    return {name: describe(name) for name in arch_names()}
