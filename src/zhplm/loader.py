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

from zhplm._quiet import quietly
from zhplm.errors import ConversionError, InsufficientMemoryError, MissingDependencyError

log = logging.getLogger(__name__)


class Loaded(NamedTuple):
    """``model, tokenizer = zhplm.load(...)``; ``provenance`` is the folder's ``zhplm.json`` (or {})."""

    model: Any
    tokenizer: Any
    provenance: dict[str, Any]
    path: Path


def register_architectures(*model_types: str) -> None:
    """Register zhplm's own model classes with transformers (idempotent); only ``model_types`` if given.
    ``import zhplm`` already arranges this lazily (:mod:`zhplm._transformers_hook`); calling it is harmless."""
    from zhplm.arch import modeling

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


# what people write for a dtype → torch's name for it
DTYPES = {
    "bf16": "bfloat16",
    "bfloat16": "bfloat16",
    "fp16": "float16",
    "float16": "float16",
    "half": "float16",
    "fp32": "float32",
    "float32": "float32",
    "float": "float32",
}


def torch_dtype(dtype: Any) -> Any:
    """``"bf16"``/``"fp16"``/``"fp32"`` (or torch's names, or a ``torch.dtype``, or ``"auto"``: the folder's own)
    → what ``from_pretrained(dtype=…)`` takes. Loading a 3.5B model in bf16 needs 7 GB instead of 14."""
    import torch

    if dtype is None or isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    name = DTYPES.get(str(dtype).lower().removeprefix("torch."))
    if name is None:
        raise ConversionError(f"unknown dtype {dtype!r}: use one of bf16, fp16, fp32 or auto")
    return getattr(torch, name)


_ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}
HEADROOM = 1.15  # activations, the tokenizer and Python itself, beyond the weights


def available_memory() -> int | None:
    """Bytes this process can still allocate without swapping (Linux ``MemAvailable``; None elsewhere)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _stored_weights(folder: Path) -> tuple[int, int]:
    """(bytes of the folder's weights, bytes per parameter as stored), from the shard index or the file sizes
    and the config's dtype — never from the weights themselves."""
    index = folder / "model.safetensors.index.json"
    total = 0
    if index.is_file():
        try:
            total = int(
                json.loads(index.read_text(encoding="utf-8")).get("metadata", {}).get("total_size", 0)
            )
        except (OSError, ValueError, TypeError, AttributeError):
            total = 0
    if not total:
        total = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cfg = {}
    stored = (
        str(cfg.get("dtype") or cfg.get("torch_dtype") or "float32") if isinstance(cfg, dict) else "float32"
    )
    return total, _ITEMSIZE.get(stored.removeprefix("torch."), 4)


def check_memory(folder: Path, dtype: Any = None) -> None:
    """Refuse, before reading any weight, a model whose weights in the requested dtype (default float32) would
    not fit in the memory available: an 11B CPM-2 needs ~44 GB in fp32, ~22 GB in bf16."""
    avail = available_memory()
    stored_bytes, stored_size = _stored_weights(folder)
    if avail is None or not stored_bytes:
        return
    name = str(dtype if dtype is not None else "float32").removeprefix("torch.")
    want = stored_size if name == "auto" else _ITEMSIZE.get(DTYPES.get(name.lower(), name), 4)
    params = stored_bytes // stored_size
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
    raise InsufficientMemoryError(
        f"{folder} holds about {params / 1e9:.1f}B parameters: loading them in {name} needs about "
        f"{needed / gib:.1f} GiB of memory, and this machine has {avail / gib:.1f} GiB available; {hint}. "
        "Nothing was read. (Converting does not need this: it streams one tensor at a time.)"
    )


def load(
    id_or_dir: str | Path,
    *,
    task: str | None = None,
    dtype: Any = None,
    attn_implementation: str | None = None,
) -> Loaded:
    """Load a converted model and its tokenizer (eval mode, SDPA attention where supported); ``dtype`` is
    ``"bf16"``, ``"fp16"``, ``"fp32"``, ``"auto"`` or a ``torch.dtype`` (default: float32)."""
    try:
        import torch  # noqa: F401
        import transformers
    except ImportError as exc:
        raise MissingDependencyError("torch and transformers", "torch", "load models") from exc
    folder = resolve_model_dir(id_or_dir)
    check_memory(folder, dtype)
    register_architectures(*_model_type(folder))
    cls = model_class_for(folder, task)
    kwargs: dict[str, Any] = {}
    if dtype is not None:
        kwargs["dtype"] = torch_dtype(dtype)
    kwargs["attn_implementation"] = attn_implementation or "sdpa"
    try:
        model = quietly(cls.from_pretrained, str(folder), **kwargs)
    except (ValueError, ImportError) as exc:
        message = str(exc).lower()
        if attn_implementation is not None or not ("sdpa" in message or "scaled_dot_product" in message):
            raise
        kwargs.pop("attn_implementation")  # an architecture without SDPA support
        model = quietly(cls.from_pretrained, str(folder), **kwargs)
    model.eval()
    register_tokenizers()
    tokenizer = quietly(transformers.AutoTokenizer.from_pretrained, str(folder))
    return Loaded(model, tokenizer, read_provenance(folder), folder)
