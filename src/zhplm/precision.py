"""Reduced precision for CPU inference: what ``dtype=`` means in :func:`zhplm.load`, every pipeline, the
CLI's ``--dtype`` and the server.

* ``fp32`` (the default): exact — what the parity tests check.
* ``bf16``: weights and activations in bfloat16; fast only where the CPU multiplies bf16 natively
  (:mod:`zhplm.hardware`), emulated (slower than fp32) elsewhere.
* ``int8``: dynamic quantisation of the linear layers (int8 weights, int8 activations quantised per call)
  through one of two backends (:data:`INT8_BACKENDS`, :func:`int8_backend`): ``fbgemm`` — torch's
  ``quantize_dynamic`` with its fbgemm/oneDNN kernels — or ``torchao`` (``Int8DynamicActivationInt8WeightConfig``),
  the maintained successor. ``auto`` takes the fastest one that is installed and keeps the family inside
  :data:`BOUNDS` (order and exceptions measured by ``bench/bench_backends.py``); ``ZHPLM_INT8_BACKEND`` or
  ``load(int8_backend=…)`` forces one. GPT-2's ``Conv1D`` layers are turned into ``nn.Linear`` first so that
  they are quantised too. The output embedding (the LM/MLM head, often tied to the input embedding) stays
  in fp32: it decides which token wins, and quantising it costs most of the agreement with fp32 for little
  speed.
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

from zhplm._quiet import quiet_libraries
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


# the int8 backends, fastest first (bench/results/backends.txt, AMD EPYC with AVX512-VNNI, torch 2.13,
# torchao 0.18): torch's fbgemm kernels run each linear layer as one fused op (1.5-2.5x fp32 for BERT-base,
# about 2x for RoBERTa-large), while torchao's CPU path runs several eager ops per layer (quantise, int
# matmul, rescale: 0.3-0.6x fp32) and only reaches 1.1x fp32 under torch.compile, after a compile of minutes.
# So auto takes fbgemm, through an API torch has deprecated (torch.ao.quantization.quantize_dynamic): its
# kernels are the fastest on CPU today, its deprecation warnings are silenced (the user cannot act on them),
# and torchao stays the fallback where torch lacks the quantized engines and the choice for who forces it.
INT8_BACKENDS = ("fbgemm", "torchao")
INT8_ORDER = {"eager": ("fbgemm", "torchao"), "compiled": ("fbgemm", "torchao")}
INT8_LIBRARIES = {
    "fbgemm": "torch.ao.quantization.quantize_dynamic (fbgemm/oneDNN kernels; a deprecated torch API)",
    "torchao": "torchao Int8DynamicActivationInt8WeightConfig",
}

# (architecture, backend) pairs measured outside BOUNDS["int8"]: auto skips that backend for the family.
INT8_DEGRADES: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Int8Backend:
    """The int8 backend a model is quantised with, and why."""

    name: str  # one of INT8_BACKENDS
    reason: str


def int8_available(name: str) -> bool:
    """Whether backend ``name`` can run here (torchao installed; torch built with an x86 or ARM int8 engine)."""
    import importlib.util

    if name == "torchao":
        return importlib.util.find_spec("torchao") is not None
    import torch

    engines = set(torch.backends.quantized.supported_engines)
    return bool(engines & {"fbgemm", "x86", "qnnpack"}) and hasattr(torch.ao.quantization, "quantize_dynamic")


def int8_backend(
    requested: str | None = None, *, arch: str | None = None, compiled: bool = False
) -> Int8Backend:
    """The backend ``quantize_int8`` uses: ``requested`` (or ``ZHPLM_INT8_BACKEND``) when it names one, else
    the first of :data:`INT8_ORDER` that is installed and not listed in :data:`INT8_DEGRADES` for ``arch``."""
    import os

    from zhplm.errors import MissingDependencyError

    wanted = (requested or os.environ.get("ZHPLM_INT8_BACKEND") or "auto").strip().lower()
    if wanted != "auto":
        if wanted not in INT8_BACKENDS:
            raise ConversionError(
                f"unknown int8 backend {wanted!r}: use one of auto, {', '.join(INT8_BACKENDS)} "
                "(ZHPLM_INT8_BACKEND or load(int8_backend=...))"
            )
        if not int8_available(wanted):
            if wanted == "torchao":
                raise MissingDependencyError("torchao", "int8", "quantise with the torchao backend")
            raise ConversionError(
                "the fbgemm int8 backend needs a torch build with quantized engines (x86 or ARM); "
                "use int8_backend='torchao' (pip install 'zhplm[int8]')"
            )
        why = INT8_DEGRADES.get((arch or "", wanted))
        if why:
            log.warning("%s with the %s int8 backend falls outside zhplm's bounds: %s", arch, wanted, why)
        return Int8Backend(wanted, "asked for")
    skipped = []
    for name in INT8_ORDER["compiled" if compiled else "eager"]:
        why = INT8_DEGRADES.get((arch or "", name))
        if why:
            skipped.append(f"{name}: {why}")
        elif int8_available(name):
            note = f"; skipped {'; '.join(skipped)}" if skipped else ""
            return Int8Backend(name, f"auto: the fastest installed backend within the bounds{note}")
        else:
            skipped.append(f"{name}: not installed")
    from zhplm.errors import MissingDependencyError

    raise MissingDependencyError("torchao", "int8", f"run in int8 ({'; '.join(skipped)})")


def quantize_int8(
    model: Any, backend: str | None = None, *, arch: str | None = None, compiled: bool = False
) -> Int8Backend:
    """Dynamic int8 quantisation of ``model``'s linear layers in place (the output embedding excepted), with
    the backend :func:`int8_backend` chooses; returns that choice (also on ``model.zhplm_int8_backend``)."""
    import torch

    chosen = int8_backend(backend, arch=arch, compiled=compiled)
    _conv1d_to_linear(model)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None

    # nn.MultiheadAttention's out_proj is a Linear the attention never calls (it passes out_proj.weight to
    # the functional attention, which a quantised module no longer has): torch marks it with this subclass
    skip = torch.nn.modules.linear.NonDynamicallyQuantizableLinear
    # an nn.TransformerEncoderLayer's fused inference path reads linear1/linear2's weight tensors directly:
    # fbgemm's modules have none (torchao's int8 tensors make torch take the module path by itself)
    fused = {
        id(child)
        for layer in model.modules()
        if isinstance(layer, torch.nn.TransformerEncoderLayer)
        for child in (layer.linear1, layer.linear2)
    }

    def wanted(module: Any, _fqn: str) -> bool:
        if not isinstance(module, torch.nn.Linear) or isinstance(module, skip) or module is head:
            return False
        return chosen.name != "fbgemm" or id(module) not in fused

    if chosen.name == "fbgemm":
        _quantize_with_torch_ao(model, wanted)
    else:
        with quiet_libraries():  # torchao's import-time logs included
            from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

            quantize_(model, Int8DynamicActivationInt8WeightConfig(), filter_fn=wanted)
    model.zhplm_int8_backend = chosen.name
    log.debug("int8 through %s (%s)", INT8_LIBRARIES[chosen.name], chosen.reason)
    return chosen


def _quantize_with_torch_ao(model: Any, wanted: Any) -> Any:
    """torch's eager dynamic quantisation with per-channel int8 weights; its deprecation warnings (the API,
    and the quantised-tensor constructors it calls) are silenced here: the user cannot act on them."""
    import warnings

    import torch

    names = {name for name, module in model.named_modules() if wanted(module, name)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        spec = dict.fromkeys(names, per_channel_dynamic_qconfig)
        return quantize_dynamic(model, qconfig_spec=spec, dtype=torch.qint8, inplace=True)  # type: ignore[no-untyped-call]


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
