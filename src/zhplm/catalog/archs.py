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
    "taichu": "紫东太初 OPT multimodal models (MindSpore/Ascend; catalog, guided fetch and inspect only)",
    # rows imported from a newer list whose family does not tell the architecture
    "unknown": "not identified yet: a row from a newer list (`zhplm catalog import --add`); catalog only",
}


# Planned architectures zhplm refuses to convert or load, and why (said by convert, load and the fetch steps);
# the regex marks their checkpoints by tensor names, so a file given without its catalog id is refused too.
REFUSED: dict[str, tuple[str, str]] = {
    "taichu": (
        r"(?:.*\.)?uniter\.(?:img_embeddings|audio_embeddings)\..*|(?:.*\.)?(?:txt_output|img_output)\.decoder\..*",
        "紫东太初 (OPT, Omni-Perception Pre-Trainer) is released as MindSpore .ckpt files of a three-modal model "
        "written for Huawei Ascend NPUs with MindSpore 1.6 (mindspore-ai/zidongtaichu; gitee "
        "zidongtaichu/multi-modal-models): text, image and audio embeddings (a ViT patch encoder, a speech "
        "front end) feeding one UNITER-style cross-modal encoder of MindSpore's parallel TransformerEncoder, "
        "plus text and image decoders. zhplm cannot convert or load it: no transformers or zhplm class "
        "implements that cross-modal model, and there is no reference to check a conversion against (the "
        "original code runs only under MindSpore's semi-auto parallel on Ascend; its tokenizer vocabulary "
        "ids_to_tokens_zh.json and the image/speech feature extractors are separate downloads). What works: "
        "`zhplm download`/`zhplm import` keep the file in the store, and `zhplm inspect FILE.ckpt` lists its "
        "tensors (names, shapes, dtypes) without MindSpore",
    ),
}


def refusal(arch: str | None) -> str | None:
    """Why zhplm will not convert or load ``arch`` (None: it is not refused)."""
    return REFUSED[arch][1] if arch in REFUSED else None


def refused_by_names(names: list[str]) -> str | None:
    """The refused architecture whose tensor names these are, if any (a file given without its catalog id)."""
    import re

    for arch, (pattern, _) in REFUSED.items():
        rx = re.compile(pattern)
        if any(rx.fullmatch(n) for n in names):
            return arch
    return None


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
