"""What the generation pipelines do to a model they loaded themselves, before the first ``generate``.

transformers' ``gelu_new`` (``NewGELUActivation``: the tanh GELU of Google's BERT and OpenAI's GPT, used by
T5 v1.1 / mT5 / T5-PEGASUS / Mengzi-T5's gated FFN, GPT-2, ALBERT, PanGu-α …) is written as seven tensor
operations; torch's ``gelu(approximate="tanh")`` computes the same formula in one kernel (transformers ships
it as ``GELUTanh``, ``gelu_pytorch_tanh``). On a 512-token T5-PEGASUS-base encoder pass the seven operations
cost about as much as a fifth of the pass, and each decoder step pays ~0.1 ms per layer for them. The two
differ by rounding only (a few 1e-7 in fp32), so greedy tokens stay the same
(tests/test_generate_inference.py checks it; bench/bench_text2text.py asserts it on every round).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def fuse_activations(model: Any) -> int:
    """Swap every ``NewGELUActivation`` in ``model`` for transformers' fused ``GELUTanh``; return how many.

    Only the pipelines' own models are touched (a model the caller built stays as it is)."""
    from transformers.activations import GELUTanh, NewGELUActivation

    swaps = [
        (parent, name)
        for parent in model.modules()
        for name, child in parent.named_children()
        if type(child) is NewGELUActivation  # a subclass may compute something else
    ]
    for parent, name in swaps:
        setattr(parent, name, GELUTanh())
    if swaps:
        log.debug("%d tanh-GELU activations run as one fused kernel", len(swaps))
    return len(swaps)


__all__ = ["fuse_activations"]
