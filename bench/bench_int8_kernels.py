"""The int8 kernels underneath zhplm.precision, model forward only (no tokenizer, no pipeline): a BERT-base-
shaped ``BertModel`` (12 x 768, vocab 21128, transformers' random init, seed 0) on one batch of token ids,
every variant in ONE process, alternating rounds (the order rotates each round).

Variants: fp32; bf16; torchao Int8DynamicActivationInt8WeightConfig eager and under torch.compile (static
shapes); torch's quantize_dynamic (fbgemm) with per-tensor weights (its default) and per-channel weights
(what zhplm uses); fp32 under torch.compile. Printed: first-call seconds (compile cost), seconds per batch
per round, speed-up vs fp32 = median of per-round ratios [min-max], cosine of mean-pooled vectors vs fp32.

    PYTHONPATH=src .venv/bin/python bench/bench_int8_kernels.py [--rounds 3] [--batch 8] [--no-compile]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
import transformers

from zhplm.hardware import cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    torch.manual_seed(0)
    base = transformers.BertModel(transformers.BertConfig(vocab_size=21128)).eval()
    ids = torch.randint(100, 21000, (args.batch, args.length), generator=torch.Generator().manual_seed(0))

    def torchao() -> Any:
        m = copy.deepcopy(base)
        quantize_(m, Int8DynamicActivationInt8WeightConfig())
        return m

    def fbgemm(spec: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return quantize_dynamic(copy.deepcopy(base), spec, dtype=torch.qint8)

    builders: dict[str, Callable[[], Any]] = {
        "fp32": lambda: base,
        "bf16": lambda: copy.deepcopy(base).to(torch.bfloat16),
        "torchao eager": torchao,
        "fbgemm per-tensor": lambda: fbgemm({torch.nn.Linear}),
        "fbgemm per-channel": lambda: fbgemm({torch.nn.Linear: per_channel_dynamic_qconfig}),
    }
    if not args.no_compile:
        builders["torchao +compile"] = lambda: torch.compile(torchao())
        builders["fp32 +compile"] = lambda: torch.compile(copy.deepcopy(base))
    print(f"CPU: {cpu().model}, {torch.get_num_threads()} threads; torch {torch.__version__}; "
          f"load average {os.getloadavg()[0]:.1f}; batch {args.batch} x {args.length} tokens")  # fmt: skip
    models, first, times, cos = {}, {}, {}, {}
    with torch.inference_mode():
        ref = base(ids).last_hidden_state.mean(1)
        for name, build in builders.items():
            models[name] = build()
            start = time.perf_counter()
            out = models[name](ids).last_hidden_state.float().mean(1)
            first[name] = time.perf_counter() - start
            cos[name] = torch.nn.functional.cosine_similarity(out, ref).min().item()
            times[name] = []
        names = list(models)
        for r in range(args.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                start = time.perf_counter()
                models[name](ids)
                times[name].append(time.perf_counter() - start)
    print(f"{'variant':20} {'1st call s':>10} {'s/batch per round':>28} {'vs fp32':>20} {'cos min':>8}")
    for name in names:
        ratios = [a / b for a, b in zip(times["fp32"], times[name], strict=True)]
        spread = f"{statistics.median(ratios):.2f}x [{min(ratios):.2f}-{max(ratios):.2f}]"
        per = " ".join(f"{t:.2f}" for t in times[name])
        print(f"{name:20} {first[name]:10.1f} {per:>28} {spread:>20} {cos[name]:8.5f}")
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
