"""The C allocator tuned for repeated forward passes: memory a forward frees stays for the next one.

glibc hands large blocks straight back to the kernel: a block above its mmap threshold is unmapped on free,
and free space above its trim threshold at the top of the heap is returned. A forward pass frees most of
what it allocated (activations of tens of MiB each), so the next forward faults the same pages in again —
for ViT-B/16 on a batch of 8 images that is ~156,000 minor page faults and ~0.3 s of system time per
forward, ~10 % of the pass (bench/results/multimodal.txt). Raising both thresholds keeps the freed pages
in the process, where the next forward reuses them: the same thing jemalloc/tcmalloc (which PyTorch
recommends for CPU inference) do, without preloading a library.

The price is resident memory: the working set of the largest forward stays resident after it (at most
``TRIM_THRESHOLD`` of free space at the top of the heap; what was freed inside the heap glibc keeps
anyway). :func:`keep_freed_memory` therefore runs once, when a model is loaded (:func:`zhplm.load`), and
:func:`release_freed_memory` gives back what loading itself left behind. ``ZHPLM_KEEP_FREED_MEMORY=0``
keeps glibc's defaults; without glibc (musl, macOS, Windows) both are no-ops. The server additionally
trims at a bounded rate (``zhplm.serve.batching.MemoryTrim``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

from zhplm.config import env_flag

log = logging.getLogger(__name__)

ENV = "ZHPLM_KEEP_FREED_MEMORY"
MIB = 1024 * 1024
# blocks up to this size come from the heap (above it: mmap, as before — rare single allocations)
MMAP_THRESHOLD = 256 * MIB
# free space kept at the top of the heap before glibc returns it to the kernel
TRIM_THRESHOLD = 1024 * MIB
_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3

_lock = threading.Lock()
_state: dict[str, bool] = {}


@functools.cache
def libc_function(name: str) -> Callable[..., Any] | None:
    """glibc's ``name`` (``mallopt``, ``malloc_trim``), or None where the C library has no such function.

    Looked up once per name: ``find_library`` runs ``ldconfig``, and every model load trims."""
    path = ctypes.util.find_library("c")
    if not path:
        return None
    try:
        function: Callable[..., Any] = getattr(ctypes.CDLL(path), name)
    except (OSError, AttributeError):  # not glibc
        return None
    return function


def _switched_off() -> bool:
    """``ZHPLM_KEEP_FREED_MEMORY=0`` (or false/no/off): glibc's defaults stay."""
    return not env_flag(ENV, default=True)


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process (once); whether they are raised.

    Off with ``ZHPLM_KEEP_FREED_MEMORY=0``; a no-op without glibc."""
    with _lock:
        if "kept" in _state:
            return _state["kept"]
        kept = False
        if not _switched_off():
            mallopt = libc_function("mallopt")
            if mallopt is not None:
                # both set: setting either also stops glibc from moving the thresholds itself
                kept = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
                    mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
                )
        _state["kept"] = kept
        log.debug("freed memory kept for the next forward: %s", kept)
        return kept


def release_freed_memory() -> bool:
    """Give the free memory the heap holds back to the kernel now (``malloc_trim(0)``); whether it ran."""
    trim = libc_function("malloc_trim")
    if trim is None:
        return False
    trim(0)
    return True


def freed_memory_state() -> str:
    """A line for ``zhplm info --system``."""
    if libc_function("mallopt") is None:
        return "C library's defaults (not glibc)"
    if _switched_off():
        return f"glibc defaults ({ENV}=0)"
    return (
        f"glibc, freed forward memory kept for the next forward (mmap threshold {MMAP_THRESHOLD // MIB} MiB, "
        f"trim threshold {TRIM_THRESHOLD // MIB} MiB; {ENV}=0 for glibc's defaults)"
    )
