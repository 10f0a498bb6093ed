"""``zhplm.load(id_or_dir)``: a converted folder (or a catalog id whose converted folder is in the
store) → model and tokenizer, in eval mode, with the best attention implementation available.

Our own architectures (NEZHA, RoFormerV2, …) are registered with the transformers Auto classes first,
so a converted folder of theirs loads like any other.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, NamedTuple

from zhplm._quiet import import_model_machinery, quietly
from zhplm.allocator import keep_freed_memory, release_freed_memory
from zhplm.compiled import compile_model, compile_wanted
from zhplm.config import env_flag
from zhplm.errors import ConversionError, InsufficientMemoryError, MissingDependencyError
from zhplm.precision import quantize_int8
from zhplm.precision import resolve as resolve_precision

log = logging.getLogger(__name__)


class Loaded(NamedTuple):
    """``model, tokenizer, provenance, path = zhplm.load(...)``; ``provenance`` is the folder's ``zhplm.json`` (or {})."""

    model: Any
    tokenizer: Any
    provenance: dict[str, Any]
    path: Path


def register_architectures(*model_types: str) -> None:
    """Register zhplm's own model classes with transformers (idempotent); only ``model_types`` if given.
    ``import zhplm`` already arranges this lazily (:mod:`zhplm._transformers_hook`); calling it is harmless."""
    from zhplm.arch import modeling

    import_model_machinery()  # the first model import of a program: transformers' imports say nothing
    modeling.register(*model_types)


def register_tokenizers() -> None:
    """Make ``AutoTokenizer`` resolve zhplm's own tokenizer classes (idempotent); the architectures'
    specs name their modules (``SPEC.tokenizers``)."""
    import importlib

    from zhplm.arch import tokenizer_modules

    for name in tokenizer_modules():
        importlib.import_module(name).register()


def own_model_class(name: str) -> Any:
    """One of zhplm's own model classes (``NezhaForPreTraining``, …) by name, or None."""
    from zhplm.arch import modeling

    return modeling.model_class(name)


def resolve_model_dir(id_or_dir: str | Path) -> Path:
    """A folder as given, else the converted folder of a catalog id in the store."""
    path = Path(id_or_dir)
    if path.is_dir():
        return path
    from zhplm.catalog import get_catalog
    from zhplm.sources import store

    record = get_catalog().get(str(id_or_dir))
    from zhplm.catalog.archs import refusal

    reason = refusal(record.arch)
    if reason is not None:
        raise ConversionError(f"{record.id} cannot be loaded: {reason}")
    return Path(store.Store().converted_dir(record.id))


def _model_type(folder: Path) -> list[str]:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    model_type = config.get("model_type") if isinstance(config, dict) else None
    return [model_type] if isinstance(model_type, str) else []


def read_provenance(folder: Path) -> dict[str, Any]:
    path = folder / "zhplm.json"
    if not path.exists():
        return {}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def model_class_for(folder: Path, task: str | None = None) -> Any:
    """The class to instantiate: the folder's declared architecture, or the Auto class for ``task``."""
    import transformers

    if task is not None:
        auto = {
            "fill-mask": transformers.AutoModelForMaskedLM,
            "embeddings": transformers.AutoModel,
            "text-generation": transformers.AutoModelForCausalLM,
            "text2text-generation": transformers.AutoModelForSeq2SeqLM,
            "base": transformers.AutoModel,
        }.get(task)
        if auto is None:
            raise ConversionError(f"unknown task {task!r}")
        return auto
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    for name in config.get("architectures") or []:
        cls = getattr(transformers, name, None) or own_model_class(name)
        if cls is not None:
            return cls
    return transformers.AutoModel


_ITEMSIZE = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
}
_TORCH_ITEMSIZE = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2}
_HEADER_LIMIT = 100 << 20
HEADROOM = 1.15  # activations, the tokenizer and Python itself, beyond the weights


def available_memory() -> int | None:
    """Bytes this process can still allocate without swapping (Linux ``MemAvailable``; None elsewhere)."""
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def weight_elements(folder: Path) -> tuple[int, int]:
    """(parameters, bytes as stored) of a converted folder, from the safetensors headers — or, where the shard
    files are not all there, from the shard index's total size and the config's dtype. Never the weights."""
    total = stored = 0
    for path in sorted(folder.glob("*.safetensors")):
        with path.open("rb") as fh:
            size = int.from_bytes(fh.read(8), "little")
            if not 0 < size <= _HEADER_LIMIT:
                continue  # a damaged header: from_pretrained reports it
            try:
                header = json.loads(fh.read(size))
            except ValueError:
                continue
        for name, entry in header.items():
            if name != "__metadata__" and isinstance(entry, dict):
                n = 1
                for d in entry.get("shape", ()):
                    n *= int(d)
                total += n
                stored += n * _ITEMSIZE.get(str(entry.get("dtype")), 4)
    indexed = _indexed_bytes(folder)
    if indexed > stored:  # shards named by the index are missing here (not fetched yet)
        itemsize = _config_itemsize(folder)
        return indexed // itemsize, indexed
    return total, stored


def _indexed_bytes(folder: Path) -> int:
    index = folder / "model.safetensors.index.json"
    if not index.is_file():
        return 0
    try:
        return int(json.loads(index.read_text(encoding="utf-8")).get("metadata", {}).get("total_size", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return 0


def _config_itemsize(folder: Path) -> int:
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cfg = {}
    stored = (
        str(cfg.get("dtype") or cfg.get("torch_dtype") or "float32") if isinstance(cfg, dict) else "float32"
    )
    return _TORCH_ITEMSIZE.get(stored.removeprefix("torch."), 4)


def check_memory(folder: Path, dtype: Any = None) -> None:
    """Refuse, before reading any weight, a model whose weights in the requested dtype (default float32) would
    not fit in the memory available — an 11B CPM-2 needs ~44 GB in fp32, PanGu-α 13B ~52 GB — with the sizes;
    ``ZHPLM_SKIP_MEMORY_CHECK=1`` skips the check."""
    if env_flag("ZHPLM_SKIP_MEMORY_CHECK"):
        return
    avail = available_memory()
    params, stored = weight_elements(folder)
    if avail is None or not params:
        return
    name = str(dtype if dtype is not None else "float32").removeprefix("torch.")
    want = stored / params if name == "auto" else _TORCH_ITEMSIZE.get(name, 4)
    needed = int(params * want * HEADROOM)
    if needed <= avail:
        return
    gib = 2**30
    half = int(params * 2 * HEADROOM)
    if want <= 2:
        hint = "use a machine with more memory"
    elif half <= avail:
        hint = "load it with dtype='bf16' (half the memory), which fits"
    else:
        hint = f"it does not fit in bf16 either (about {half / gib:.1f} GiB): use a machine with more memory"
    shown = {"bfloat16": "bf16", "float16": "fp16", "auto": "its stored dtype"}.get(name, name)
    raise InsufficientMemoryError(
        f"{folder} holds about {params / 1e9:.1f}B parameters (exactly {params:,}): loading them in {shown} "
        f"needs about {needed / gib:.1f} GiB of memory, and this machine has {avail / gib:.1f} GiB available; "
        f"{hint}. Nothing was read (set ZHPLM_SKIP_MEMORY_CHECK=1 to try anyway). Converting does not need "
        "this: it streams one tensor at a time."
    )


def load(
    id_or_dir: str | Path,
    *,
    task: str | None = None,
    dtype: Any = None,
    attn_implementation: str | None = None,
    int8_backend: str | None = None,
    compile: bool | None = None,
) -> Loaded:
    """Load a converted model and its tokenizer (eval mode, SDPA attention where supported); ``dtype`` is
    ``"fp32"`` (default), ``"bf16"``, ``"int8"``, ``"auto"`` (the fastest this CPU runs natively within
    zhplm's accuracy bounds), ``"fp16"``, ``"stored"`` (the folder's own) or a ``torch.dtype`` — see
    :mod:`zhplm.precision`. Loading a 3.5B model in bf16 needs 7 GB instead of 14. ``int8_backend``
    (``fbgemm``/``torchao``, default ``ZHPLM_INT8_BACKEND`` or the fastest installed) chooses how int8 runs;
    ``compile=True`` (or ``ZHPLM_COMPILE=1``) runs the forward through ``torch.compile`` — see
    :mod:`zhplm.compiled` for where that pays and what the first call costs."""
    try:
        import torch  # noqa: F401
        import transformers
    except ImportError as exc:
        raise MissingDependencyError("torch and transformers", "torch", "load models") from exc
    folder = resolve_model_dir(id_or_dir)
    register_architectures(*_model_type(folder))
    cls = model_class_for(folder, task)
    provenance = read_provenance(folder)
    precision = resolve_precision(dtype, arch=provenance.get("arch"))
    kwargs: dict[str, Any] = {}
    if dtype is not None:
        kwargs["dtype"] = precision.torch_dtype()
    kwargs["attn_implementation"] = attn_implementation or "sdpa"
    check_memory(folder, kwargs.get("dtype"))
    keep_freed_memory()
    try:
        model = quietly(cls.from_pretrained, str(folder), **kwargs)
    except (ValueError, ImportError) as exc:
        message = str(exc).lower()
        if attn_implementation is not None or not ("sdpa" in message or "scaled_dot_product" in message):
            raise
        kwargs.pop("attn_implementation")  # an architecture without SDPA support
        model = quietly(cls.from_pretrained, str(folder), **kwargs)
    model.eval()
    graph = compile_wanted(compile)
    if precision.quantized:
        quantize_int8(model, int8_backend, arch=provenance.get("arch"), compiled=graph)
    if graph:
        compile_model(model)
    model.zhplm_precision = precision.name  # what the model runs in (pipelines and the server report it)
    # said when the user chose (auto's pick is news); the default fp32 goes without saying
    log.log(
        logging.DEBUG if dtype is None else logging.INFO,
        "%s runs in %s (%s)",
        folder.name,
        precision.name,
        precision.reason,
    )
    register_tokenizers()
    tokenizer = quietly(transformers.AutoTokenizer.from_pretrained, str(folder))
    release_freed_memory()  # what loading freed goes back; forwards keep theirs (zhplm.allocator)
    return Loaded(model, tokenizer, provenance, folder)
