"""What the pipelines do to a model they loaded themselves, before its first forward.

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


QUICK_GELU_SCALE = 1.702  # QuickGELUActivation: x * sigmoid(1.702 * x)


def fold_quick_gelu(model: Any) -> int:
    """Run every ``fc1 → QuickGELU → fc2`` MLP of OpenAI CLIP's ViT (R2D2's and Chinese-CLIP's image towers) as
    ``fc1' → SiLU → fc2'`` with ``fc1' = 1.702·fc1`` and ``fc2' = fc2 / 1.702``; return how many MLPs.

    ``SiLU(1.702·h) = 1.702·h·sigmoid(1.702·h) = 1.702·QuickGELU(h)``, so the fold computes the same function
    (rounding aside: a few 1e-7 relative in fp32) with one fused kernel where QuickGELU runs three tensor
    operations over the widest activation of every layer (3.3 vs 0.7–1.3 ms per ViT-B/16 layer on a batch
    of 8, AMD EPYC, 2 threads). Only fp32 ``nn.Linear`` pairs of transformers' CLIP MLP classes are folded:
    bf16 would round the scaled weights again, and quantised layers are left as they are. The weights stay
    the model's own to the outside: ``state_dict()`` / ``save_pretrained`` give them unscaled and
    ``load_state_dict`` scales what it loads."""
    import torch
    from transformers.activations import QuickGELUActivation
    from transformers.models.chinese_clip.modeling_chinese_clip import ChineseCLIPVisionMLP
    from transformers.models.clip.modeling_clip import CLIPMLP

    folded = 0
    for module in model.modules():
        if (
            type(module) not in (CLIPMLP, ChineseCLIPVisionMLP)
            or type(module.activation_fn) is not QuickGELUActivation
        ):
            continue
        fc1, fc2 = module.fc1, module.fc2
        if not all(
            type(layer) is torch.nn.Linear
            and type(layer.weight) is torch.nn.Parameter
            and layer.weight.dtype == torch.float32
            for layer in (fc1, fc2)
        ):
            continue
        with torch.no_grad():
            own = dict(module.named_parameters())
            _scale(own, "", QUICK_GELU_SCALE)
            for name, param in module.named_parameters():
                param.copy_(own[name])
        module.activation_fn = torch.nn.SiLU()
        module._register_state_dict_hook(_unfold_saved)
        module._register_load_state_dict_pre_hook(_fold_loaded)
        folded += 1
    if folded:
        log.debug("%d QuickGELU MLPs run as SiLU with the scale folded into their weights", folded)
    return folded


def _scale(tensors: dict[str, Any], prefix: str, by: float) -> None:
    """``fc1`` times ``by`` and ``fc2``'s weight divided by it, as new tensors (a ``keep_vars`` state dict holds
    the model's own parameters: they are not touched)."""
    for name, factor in (("fc1.weight", by), ("fc1.bias", by), ("fc2.weight", 1 / by)):
        value = tensors.get(prefix + name)
        if value is not None:
            tensors[prefix + name] = value.detach() * factor


def _unfold_saved(module: Any, state_dict: dict[str, Any], prefix: str, _meta: Any) -> None:
    _scale(state_dict, prefix, 1 / QUICK_GELU_SCALE)


def _fold_loaded(state_dict: dict[str, Any], prefix: str, *_args: Any) -> None:
    _scale(state_dict, prefix, QUICK_GELU_SCALE)


__all__ = ["fold_quick_gelu", "fuse_activations"]
