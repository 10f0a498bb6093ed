"""Optional graph path: ``torch.compile`` over a loaded model's forward (``load(compile=True)``, every
pipeline's ``compile=True``, the CLI's ``--compile``, ``ZHPLM_COMPILE=1``). Off by default.

Compiling costs seconds to minutes on the first call (Inductor writes and builds C++ for the graph) and
pays only when many batches follow: measured in ``bench/bench_backends.py`` (compile time and steady-state
speed, results in ``bench/results/backends.txt``). A short CLI run never compiles unless asked. Shapes
are marked dynamic from the start, so batches of other lengths reuse the one graph instead of compiling
again. Inductor caches what it built (``TORCHINDUCTOR_CACHE_DIR``), so a second process pays less.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)

ON = ("1", "true", "yes", "on")
BACKEND = "inductor"  # torch.compile's code generator (tests trace with "eager": same graph, no C++ build)


def compile_wanted(flag: bool | None) -> bool:
    """``flag`` when given, else ``ZHPLM_COMPILE`` (``1``/``true``/``yes``/``on``)."""
    if flag is not None:
        return flag
    return os.environ.get("ZHPLM_COMPILE", "").strip().lower() in ON


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
