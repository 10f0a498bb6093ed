"""Reduced precision for generation on this CPU: int8 (dynamic quantisation of the Linear layers) and bf16
against fp32, on the GPT2-Chinese-sized folder of ``bench_generate.py`` (random weights, real shapes).

The CPU here (AMD EPYC, AVX2, no AVX-512 BF16/AMX) has no native bf16 matmul: torch emulates it. int8 is
dynamic quantisation (weights int8 per channel, activations quantised per token at run time), done by this
script on the loaded model (zhplm has no quantisation API; GPT-2's ``Conv1D`` layers are first turned into
the equivalent ``nn.Linear``): ``torchao`` 0.18 ``Int8DynamicActivationInt8WeightConfig`` and torch's own
``torch.ao.quantization.quantize_dynamic`` (fbgemm; deprecated in favour of torchao). Per variant: the
largest logit difference to fp32 over the prompt set (all positions), greedy agreement (the fraction of the
``NEW`` generated tokens equal to fp32's at the same position, over all prompts), decode tokens/s (median
of ``--rounds``, 2 threads). Random weights give flatter next-token distributions than a trained model,
so near-ties make the agreement a pessimistic figure.

    PYTHONPATH=src .venv/bin/python bench/bench_generate_quant.py [--rounds 3] [--out bench/results/generate_quant.txt]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from bench_generate import Clock, write_release
from worker_protocol import cpu_name

PROMPTS = [
    "萧炎站在山崖之上，望着远处连绵不绝的群山",
    "今天天气很好，我们一起去公园散步吧。",
    "2023年3月15日，北京下了一场大雪。",
    "他说：“这件事情我们明天再讨论。”",
    "人工智能正在改变我们的生活和工作方式",
    "床前明月光，疑是地上霜。",
]
NEW = 32


def linear_from_conv1d(model: torch.nn.Module) -> torch.nn.Module:
    """GPT-2's ``Conv1D`` (``x @ W + b``, W [in, out]) as ``nn.Linear`` (W transposed): what quantisers know."""
    from transformers.pytorch_utils import Conv1D

    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, Conv1D):
                lin = torch.nn.Linear(child.weight.shape[0], child.weight.shape[1])
                lin.weight.data.copy_(child.weight.data.t())
                lin.bias.data.copy_(child.bias.data)
                setattr(module, child_name, lin)
        _ = name
    return model


def torchao_int8(model: torch.nn.Module) -> torch.nn.Module:
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    quantize_(linear_from_conv1d(model), Int8DynamicActivationInt8WeightConfig())
    return model


def torch_ao_int8(model: torch.nn.Module) -> torch.nn.Module:
    return torch.ao.quantization.quantize_dynamic(
        linear_from_conv1d(model), {torch.nn.Linear}, dtype=torch.qint8
    )


VARIANTS: dict[str, Callable[[torch.nn.Module], torch.nn.Module]] = {
    "fp32": lambda m: m,
    "bf16 (emulated)": lambda m: m.to(torch.bfloat16),
    "int8 torchao dynamic": torchao_int8,
    "int8 torch.ao quantize_dynamic": torch_ao_int8,
}


def greedy(model: Any, ids: torch.Tensor) -> tuple[list[int], float]:
    clock = Clock()
    with torch.inference_mode():
        out = model.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=NEW, do_sample=False,
            eos_token_id=None, pad_token_id=0, streamer=clock,
        )  # fmt: skip
    end = time.perf_counter()
    assert clock.first is not None
    return out[0, ids.shape[1] :].tolist(), (NEW - 1) / (end - clock.first)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    torch.set_num_threads(2)
    import transformers

    import zhplm

    with tempfile.TemporaryDirectory() as tmp:
        write_release(Path(tmp) / "release")
        zhplm.convert(Path(tmp) / "release", Path(tmp) / "out", prompt_format="gpt2-chinese")
        gen = zhplm.pipeline("text-generation", Path(tmp) / "out")
    prompts = [torch.tensor([gen.format.encode(gen.tokenizer, t).input_ids]) for t in PROMPTS]
    base = gen.model.eval()
    reference: dict[str, Any] = {}
    rows = []
    for name, make in VARIANTS.items():
        model = make(copy.deepcopy(base)).eval()
        with torch.inference_mode():
            logits = [model(ids).logits.float() for ids in prompts]
        tokens = [greedy(model, ids)[0] for ids in prompts]
        speeds = [greedy(model, prompts[0])[1] for _ in range(args.rounds)]
        if name == "fp32":
            reference = {"logits": logits, "tokens": tokens}
        diff = max(float((a - b).abs().max()) for a, b in zip(logits, reference["logits"], strict=True))
        same = sum(
            x == y
            for t, r in zip(tokens, reference["tokens"], strict=True)
            for x, y in zip(t, r, strict=True)
        )
        rows.append((name, diff, same / (NEW * len(prompts)), statistics.median(speeds)))
        del model
    spread = float(torch.cat([x.flatten() for x in reference["logits"]]).std())
    lines = [
        "Reduced precision: GPT2-Chinese-sized GPT-2 (10L/768H/12 heads, vocab 13317), random weights, batch 1",
        f"{len(PROMPTS)} prompts, greedy {NEW} new tokens, 2 threads, decode speed median of {args.rounds} runs",
        f"CPU: {cpu_name()} (AVX2, no native bf16); torch {torch.__version__}, "
        f"transformers {transformers.__version__}",
        f"fp32 logits std over the prompt set: {spread:.3f}",
        "",
        f"{'':32} {'max |logit - fp32|':>19} {'greedy agreement':>17} {'decode tok/s':>13} {'vs fp32':>8}",
        *[f"{n:32} {d:19.4f} {a:17.1%} {s:13.2f} {s / rows[0][3]:7.2f}x" for n, d, a, s in rows],
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
