"""What this CPU computes natively, read without importing torch, and the precision ``dtype="auto"`` picks.

The same model runs very differently across the machines people have: Intel CPUs with AMX (and AMD Zen 4+
with AVX512-BF16) multiply bf16 matrices several times faster than fp32, while AVX2-only CPUs emulate bf16
(slower than fp32) but run int8 linear layers through fbgemm's AVX2 kernels faster than fp32. ``auto``
therefore reads the instruction-set flags the kernel reports (``/proc/cpuinfo``; on other systems it
knows nothing and stays with fp32) and picks the fastest path that keeps the accuracy bounds of
:mod:`zhplm.precision`. ``zhplm info --system`` prints what was found and what ``auto`` picks.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")

# flags that matter for the kernels torch runs on CPU (Linux names)
BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # native bf16 matrix multiply (oneDNN)
INT8_FLAGS = ("amx_int8", "avx512_vnni", "avx_vnni", "avx512bw", "avx2")  # fbgemm int8 kernels
SHOWN_FLAGS = (
    "avx2",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
    "avx_vnni",
)

PRECISIONS = ("fp32", "bf16", "int8")


@dataclass(frozen=True)
class Cpu:
    """The CPU as the operating system reports it."""

    model: str
    cores: int  # usable by this process (affinity), not the machine's total
    flags: frozenset[str] = field(default_factory=frozenset)

    @property
    def native_bf16(self) -> bool:
        return any(f in self.flags for f in BF16_FLAGS)

    @property
    def fast_int8(self) -> bool:
        return any(f in self.flags for f in INT8_FLAGS)

    @property
    def auto_precision(self) -> str:
        """bf16 where the CPU multiplies bf16 natively, else int8 where fbgemm has kernels, else fp32."""
        if self.native_bf16:
            return "bf16"
        if self.fast_int8:
            return "int8"
        return "fp32"

    def reason(self) -> str:
        if self.native_bf16:
            found = ", ".join(f for f in BF16_FLAGS if f in self.flags)
            return f"native bf16 matrix multiply ({found})"
        if self.fast_int8:
            found = next(f for f in INT8_FLAGS if f in self.flags)
            return f"no native bf16 (bf16 would be emulated, slower than fp32); int8 kernels ({found})"
        return "neither native bf16 nor int8 kernels were found"


def parse_cpuinfo(text: str) -> tuple[str, frozenset[str]]:
    """``(model name, flags)`` of the first processor listed in a ``/proc/cpuinfo`` text."""
    model, flags = "", frozenset[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
        if model and flags:
            break
    return model, flags


def cpu(cpuinfo: Path = CPUINFO) -> Cpu:
    """This machine's CPU (cached per call site is cheap: one small file read)."""
    try:
        model, flags = parse_cpuinfo(cpuinfo.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        model, flags = "", frozenset()
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return Cpu(
        model=model or platform.processor() or platform.machine() or "unknown", cores=cores, flags=flags
    )


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def system_report(probe: Cpu | None = None) -> dict[str, object]:
    """What ``zhplm info --system`` prints (nothing imported: versions come from the installed metadata)."""
    from zhplm.allocator import freed_memory_state

    c = probe or cpu()
    return {
        "cpu": c.model,
        "cores": c.cores,
        "flags": [f for f in SHOWN_FLAGS if f in c.flags],
        "native_bf16": c.native_bf16,
        "int8_kernels": c.fast_int8,
        "auto_precision": c.auto_precision,
        "auto_reason": c.reason(),
        "torch": _version("torch"),
        "transformers": _version("transformers"),
        "int8_backend": _int8_pick(),
        "allocator": freed_memory_state(),
    }


def _int8_pick() -> str:
    """The int8 backend ``auto`` would take here, judged without importing torch: fbgemm ships in every
    x86/ARM torch wheel, torchao when it is installed (``zhplm.precision.int8_backend`` checks for real)."""
    from zhplm.precision import INT8_ORDER

    forced = os.environ.get("ZHPLM_INT8_BACKEND", "").strip().lower()
    has_torch = importlib.util.find_spec("torch") is not None
    fbgemm = has_torch and platform.machine().lower() in ("x86_64", "amd64", "aarch64", "arm64")
    present = {"fbgemm": fbgemm, "torchao": has_torch and importlib.util.find_spec("torchao") is not None}
    if forced and forced != "auto":
        return f"{forced} (ZHPLM_INT8_BACKEND)"
    return next((name for name in INT8_ORDER["eager"] if present.get(name)), "none installed")
