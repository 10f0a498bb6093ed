"""Reduced precision for CPU inference: what ``dtype=`` means in :func:`zhplm.load`, every pipeline, the
CLI's ``--dtype`` and the server.

* ``fp32`` (the default): exact — what the parity tests check.
* ``bf16``: weights and activations in bfloat16; fast only where the CPU multiplies bf16 natively
  (:mod:`zhplm.hardware`), emulated (slower than fp32) elsewhere.
* ``int8``: dynamic quantisation of the linear layers (int8 weights, per-token int8 activations) through
  torchao, the maintained successor of the deprecated ``torch.ao.quantization`` (used only when torchao is
  not installed). GPT-2's ``Conv1D`` layers are turned into ``nn.Linear`` first so that they are quantised
  too. The output embedding (the LM/MLM head, often tied to the input embedding) stays in fp32: it decides
  which token wins, and quantising it costs most of the agreement with fp32 for little speed.
* ``auto``: the fastest of these this CPU runs natively, unless the family is listed in :data:`DEGRADES`
  for it, then fp32. ``stored`` keeps the dtype the folder was saved in (transformers' ``"auto"``).

The accuracy each family keeps is measured by ``bench/bench_precision.py`` (embedding cosine, fill-mask
top-1/top-5 agreement, logit difference, greedy agreement against fp32; results in
``bench/results/precision.txt``); the bounds below are what a user may rely on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from zhplm._quiet import quiet_libraries, quiet_loggers
from zhplm.errors import ConversionError
from zhplm.hardware import Cpu, cpu

log = logging.getLogger(__name__)

# what people write → our name for it
ALIASES = {
    "fp32": "fp32",
    "float32": "fp32",
    "float": "fp32",
    "bf16": "bf16",
    "bfloat16": "bf16",
    "fp16": "fp16",
    "float16": "fp16",
    "half": "fp16",
    "int8": "int8",
    "qint8": "int8",
    "auto": "auto",
    "stored": "stored",
}
TORCH_NAMES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}

# the bounds a reduced precision must keep against fp32 (bench/bench_precision.py checks every family)
BOUNDS = {
    "bf16": {"embedding_cosine": 0.999, "top1_agreement": 0.9, "greedy_agreement": 0.8},
    "int8": {"embedding_cosine": 0.99, "top1_agreement": 0.8, "greedy_agreement": 0.6},
}

# (architecture, precision) pairs measured to fall outside BOUNDS: ``auto`` uses fp32 for them and an
# explicit request logs a warning. Filled from bench/results/precision.txt.
DEGRADES: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Precision:
    """The precision a model is loaded in, and why."""

    name: str  # fp32 | bf16 | fp16 | int8 | stored
    reason: str

    @property
    def quantized(self) -> bool:
        return self.name == "int8"

    def torch_dtype(self) -> Any:
        """What ``from_pretrained(dtype=…)`` takes (int8 loads in fp32 and is quantised afterwards)."""
        import torch

        if self.name == "stored":
            return "auto"
        return getattr(torch, TORCH_NAMES.get(self.name, "float32"))


def resolve(dtype: Any, *, arch: str | None = None, probe: Cpu | None = None) -> Precision:
    """``dtype`` as given (a name, a ``torch.dtype`` or None) → the precision to load in."""
    if dtype is None:
        return Precision("fp32", "the default (exact)")
    name = ALIASES.get(str(dtype).lower().removeprefix("torch."))
    if name is None:
        raise ConversionError(f"unknown dtype {dtype!r}: use one of auto, fp32, bf16, int8, fp16 or stored")
    if name == "auto":
        found = probe or cpu()
        pick = found.auto_precision
        why = DEGRADES.get((arch or "", pick))
        if why:
            return Precision("fp32", f"auto: {arch} loses too much in {pick} ({why})")
        return Precision(pick, f"auto: {found.reason()}")
    why = DEGRADES.get((arch or "", name))
    if why:
        log.warning("%s in %s falls outside zhplm's accuracy bounds: %s", arch, name, why)
    return Precision(name, "asked for")


def quantize_int8(model: Any) -> Any:
    """Dynamic int8 quantisation of ``model``'s linear layers in place (the output embedding excepted)."""
    import torch

    _conv1d_to_linear(model)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None

    def wanted(module: Any, _fqn: str) -> bool:
        return isinstance(module, torch.nn.Linear) and module is not head

    try:
        with quiet_libraries(), quiet_loggers("torchao", "torch.utils._pytree"):
            from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_
    except ImportError:
        return _quantize_with_torch_ao(model, wanted)
    quantize_(model, Int8DynamicActivationInt8WeightConfig(), filter_fn=wanted)
    return model


def _quantize_with_torch_ao(model: Any, wanted: Any) -> Any:
    import warnings

    import torch

    log.info(
        "torchao is not installed: int8 through the deprecated torch.ao.quantization (pip install torchao)"
    )
    names = {name for name, module in model.named_modules() if wanted(module, name)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(model, qconfig_spec=names, dtype=torch.qint8, inplace=True)  # type: ignore[no-untyped-call]


def _conv1d_to_linear(model: Any) -> None:
    """GPT-2's ``Conv1D`` (a Linear with a transposed weight) → ``nn.Linear``, so int8 reaches it."""
    import torch
    from transformers.pytorch_utils import Conv1D

    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, Conv1D):
                n_in, n_out = child.weight.shape
                linear = torch.nn.Linear(n_in, n_out, dtype=child.weight.dtype)
                with torch.no_grad():
                    linear.weight.copy_(child.weight.t())
                    linear.bias.copy_(child.bias)
                setattr(parent, child_name, linear)
