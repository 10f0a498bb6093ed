"""Optional graph path: ``torch.compile`` over a loaded model's forward (``load(compile=True)``, every
pipeline's ``compile=True``, the CLI's ``--compile``, ``ZHPLM_COMPILE=1``). Off by default, never on in
the CLI unless asked: a short run would pay the compile and gain nothing.

Measured on a 2-core AMD EPYC (``bench/results/backends.txt``): Inductor's first call on a BERT-base
model took 55-265 s (fp32), 200 s (bf16), 510 s (fbgemm int8) and 80-1530 s (torchao int8) depending on
the machine's load, and the steady state did not beat the eager paths zhplm already takes (fp32 compiled
0.8x [0.5-1.5] of eager fp32; torchao int8 compiled 1.1x fp32 against fbgemm int8 eager 1.7x). It is
kept for CPUs and shapes where a user measures a gain over a long job (``bench/bench_backends.py``).
Compile one model per process: several compiled models of the same class share one guarded code cache,
and alternating between them kept recompiling in the bench (a new graph every ~30 s). Shapes are marked
dynamic from the start, so batches of other lengths reuse the one graph instead of
compiling again; Inductor caches what it built (``TORCHINDUCTOR_CACHE_DIR``), so a second process pays less.
"""

from __future__ import annotations

import logging
from typing import Any

from zhplm.config import env_flag

log = logging.getLogger(__name__)

BACKEND = "inductor"  # torch.compile's code generator (tests trace with "eager": same graph, no C++ build)


def compile_wanted(flag: bool | None) -> bool:
    """``flag`` when given, else ``ZHPLM_COMPILE`` (``1``/``true``/``yes``/``on``)."""
    if flag is not None:
        return flag
    return env_flag("ZHPLM_COMPILE")


def compile_model(model: Any) -> Any:
    """Route ``model``'s forward through ``torch.compile`` (dynamic shapes); the model object stays the same,
    so ``generate`` and the pipelines call it as before."""
    import torch

    model.forward = torch.compile(model.forward, dynamic=True, backend=BACKEND)
    model.zhplm_compiled = True
    log.info(
        "%s: forward compiled with torch.compile (the first call builds the graph)", type(model).__name__
    )
    return model
