"""What bf16 and int8 (zhplm.precision) cost in accuracy and buy in speed, per architecture family, against
fp32 on the same real-shaped random weights and a fixed input set.

Families (transformers' classes at the list's real sizes, weights from transformers' own initialisation with a
fixed seed): BERT-base (the 21128-token Chinese vocabulary: MacBERT, RoBERTa-wwm-ext base, …), RoBERTa-large
(24 layers, 1024 hidden: RoBERTa-wwm-ext-large), RoFormer-base, and a GPT2-Chinese-sized GPT-2 (10 layers,
13317 tokens). Each precision is applied exactly as ``zhplm.load(dtype=…)`` applies it
(:func:`zhplm.precision.quantize_int8` with each int8 backend, ``.to(bfloat16)``).

Reported per family and precision:
* embedding cosine (mean-pooled last hidden state) against fp32: minimum over the inputs;
* top-1 agreement of the LM/MLM head over every input position, and top-5 (fp32's top-1 within the top-5);
* logit max |diff| relative to the fp32 logits' standard deviation;
* greedy agreement (GPT-2): the fraction of 32 new tokens equal to fp32's, position by position;
* sentences/s (batch 8 × 64 tokens) or decode tokens/s, median of ``--rounds`` (``--rounds 0``: accuracy only;
  bench/bench_backends.py is the speed comparison, alternating rounds).

Random weights give flatter output distributions than trained ones, so top-k agreement here is a pessimistic
figure (near-ties flip more easily); cosine and relative logit error are the numbers to compare with
zhplm.precision.BOUNDS.

    PYTHONPATH=src .venv/bin/python bench/bench_precision.py [--rounds 3] [--out bench/results/precision.txt]
    PYTHONPATH=src .venv/bin/python bench/bench_precision.py --rounds 0   # accuracy only, minutes
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import transformers

from zhplm.hardware import cpu, system_report
from zhplm.precision import BOUNDS, quantize_int8

BATCH, LENGTH, NEW_TOKENS = 8, 64, 32
FAMILIES: dict[str, Callable[[], Any]] = {
    "bert-base": lambda: transformers.BertForMaskedLM(
        transformers.BertConfig(vocab_size=21128)  # 12 layers, 768 hidden, 3072 intermediate
    ),
    "roberta-large": lambda: transformers.BertForMaskedLM(
        transformers.BertConfig(
            vocab_size=21128,
            hidden_size=1024,
            num_hidden_layers=24,
            num_attention_heads=16,
            intermediate_size=4096,
        )
    ),
    "roformer-base": lambda: transformers.RoFormerForMaskedLM(
        transformers.RoFormerConfig(vocab_size=50000, embedding_size=768)
    ),
    "gpt2-chinese": lambda: transformers.GPT2LMHeadModel(
        transformers.GPT2Config(
            vocab_size=13317,
            n_embd=768,
            n_layer=10,
            n_head=12,
            n_positions=1024,
            bos_token_id=None,
            eos_token_id=None,
        )
    ),
}


def with_precision(model: Any, name: str) -> Any:
    m = copy.deepcopy(model)
    if name == "bf16":
        return m.to(torch.bfloat16)
    if name.startswith("int8:"):
        quantize_int8(m, name.removeprefix("int8:"))
    return m


def timed(fn: Callable[[], Any], rounds: int) -> float:
    if rounds == 0:
        return float("nan")
    fn()  # warm-up
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def encoder_row(model: Any, ref: dict[str, Any], ids: torch.Tensor, rounds: int) -> dict[str, float]:
    row = accuracy(model, ref, ids)
    with torch.inference_mode():
        row["speed"] = BATCH / timed(lambda: model(ids), rounds)
    return row


def greedy(model: Any, prompt: torch.Tensor) -> list[int]:
    with torch.inference_mode():
        out = model.generate(
            prompt,
            attention_mask=torch.ones_like(prompt),
            max_new_tokens=NEW_TOKENS,
            do_sample=False,
            pad_token_id=0,
        )
    return list(out[0, prompt.shape[1] :].tolist())


def decoder_row(model: Any, ref: dict[str, Any], prompts: torch.Tensor, rounds: int) -> dict[str, float]:
    row = accuracy(model, ref, prompts)
    same = []
    for i, prompt in enumerate(prompts):
        got = greedy(model, prompt[None, :16])
        same.append(sum(a == b for a, b in zip(got, ref["greedy"][i], strict=True)) / NEW_TOKENS)
    row["greedy"] = statistics.mean(same)
    seconds = timed(lambda: greedy(model, prompts[:1, :16]), rounds)
    row["speed"] = NEW_TOKENS / seconds
    return row


def accuracy(model: Any, ref: dict[str, Any], ids: torch.Tensor) -> dict[str, float]:
    with torch.inference_mode():
        out = model(ids, output_hidden_states=True)
        hidden = out.hidden_states[-1].float().mean(1)
        logits = out.logits.float()
    return {
        "cosine": torch.nn.functional.cosine_similarity(hidden, ref["hidden"], dim=-1).min().item(),
        "top1": (logits.argmax(-1) == ref["logits"].argmax(-1)).float().mean().item(),
        "top5": (logits.topk(5, -1).indices == ref["logits"].argmax(-1, keepdim=True))
        .any(-1)
        .float()
        .mean()
        .item(),
        "logit_rel": ((logits - ref["logits"]).abs().max() / ref["logits"].std()).item(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(2)
    report = system_report()
    lines = [
        "Reduced precision vs fp32 per family: real-shaped random weights (transformers' init, seed 0), "
        f"batch {BATCH} x {LENGTH} tokens; GPT-2: 4 prompts of 16 tokens, {NEW_TOKENS} greedy tokens",
        f"CPU: {report['cpu']}, {report['cores']} cores; flags {', '.join(report['flags'])}; "  # type: ignore[arg-type]
        f"dtype=auto picks {report['auto_precision']}; torch {report['torch']}, int8 auto backend {report['int8_backend']}",
        f"bounds (zhplm.precision.BOUNDS): {BOUNDS}",
        "",
        f"{'family':15s} {'dtype':12s} {'cos min':>8s} {'top1':>6s} {'top5':>6s} {'logit rel':>9s} {'greedy':>7s} "
        f"{'speed':>9s} {'x fp32':>7s}",
    ]
    print("\n".join(lines), flush=True)
    gen = torch.Generator().manual_seed(0)
    for family in args.families.split(","):
        torch.manual_seed(0)
        base = FAMILIES[family]().eval()
        vocab = base.config.vocab_size
        ids = torch.randint(100, vocab, (BATCH, LENGTH), generator=gen)
        decoder = family.startswith("gpt2")
        if decoder:
            ids = ids[:4]  # four prompts: logits over all 64 positions, greedy from their first 16 tokens
        with torch.inference_mode():
            out = base(ids, output_hidden_states=True)
            ref: dict[str, Any] = {"hidden": out.hidden_states[-1].mean(1), "logits": out.logits}
        if decoder:
            ref["greedy"] = [greedy(base, p[None, :16]) for p in ids]
        rows = {}
        for name in ("fp32", "bf16", "int8:fbgemm", "int8:torchao"):
            model = with_precision(base, name)
            rows[name] = (
                decoder_row(model, ref, ids, args.rounds)
                if decoder
                else encoder_row(model, ref, ids, args.rounds)
            )
            r = rows[name]
            unit = "tok/s" if decoder else "sent/s"
            line = (
                f"{family:15s} {name:12s} {r['cosine']:8.5f} {r['top1']:6.3f} {r['top5']:6.3f} {r['logit_rel']:9.4f} "
                f"{(format(r['greedy'], '7.3f') if decoder else '      -')} {r['speed']:6.1f} {unit:>6s}"
                f" {r['speed'] / rows['fp32']['speed']:6.2f}x"
            )
            lines.append(line)
            print(line, flush=True)
    lines += ["", f"auto on this CPU: {cpu().auto_precision} ({cpu().reason()})"]
    if args.out:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
