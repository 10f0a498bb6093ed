"""Does the KV cache of zhplm's OpenAI-GPT class pay? CDial-GPT-base-sized (12 layers, 768 hidden, 12 heads,
513 positions, the 13088-token LCCC vocabulary), random weights, written as an HF-era folder by transformers'
``OpenAIGPTLMHeadModel`` and converted by ``zhplm.convert``. The same folder is decoded by zhplm's
``OpenAIGPTCachedForCausalLM`` (what ``AutoModelForCausalLM`` gives once ``import zhplm`` ran: KV cache) and by transformers' own
``OpenAIGPTLMHeadModel`` (no cache: every step recomputes the whole sequence), through the same ``generate``
call: greedy, ``--prompt`` tokens, ``--new`` new tokens, fp32, batch 1, 2 threads, alternating rounds,
median. The greedy tokens of both are checked equal first.

    PYTHONPATH=src .venv/bin/python bench/bench_generate_kv.py [--rounds 3] [--out bench/results/generate_kv.txt]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from bench_generate import Clock
from worker_protocol import cpu_name

SHAPE = {"n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 513, "vocab_size": 13088}


def decode(model: Any, ids: torch.Tensor, new: int) -> tuple[float, float, list[int]]:
    clock = Clock()
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(
            ids, max_new_tokens=new, do_sample=False, eos_token_id=None, pad_token_id=0, streamer=clock
        )
    end = time.perf_counter()
    assert clock.first is not None
    return clock.first - start, (new - 1) / (end - clock.first), out[0, ids.shape[1] :].tolist()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--prompt", type=int, default=32)
    p.add_argument("--new", type=int, default=64)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    torch.set_num_threads(2)
    import transformers

    import zhplm

    with tempfile.TemporaryDirectory() as tmp:
        release, out = Path(tmp) / "release", Path(tmp) / "out"
        torch.manual_seed(0)
        model = transformers.OpenAIGPTLMHeadModel(transformers.OpenAIGPTConfig(**SHAPE))
        release.mkdir()
        torch.save(model.state_dict(), release / "pytorch_model.bin")
        (release / "config.json").write_text(json.dumps({**SHAPE, "afn": "gelu"}), encoding="utf-8")
        zhplm.convert(release, out)
        ours = transformers.AutoModelForCausalLM.from_pretrained(out).eval()  # zhplm's class, registered
        assert type(ours).__name__ == "OpenAIGPTCachedForCausalLM"
        theirs = transformers.OpenAIGPTLMHeadModel.from_pretrained(out).eval()
        ids = torch.randint(
            5, SHAPE["vocab_size"], (1, args.prompt), generator=torch.Generator().manual_seed(1)
        )
        assert decode(ours, ids, 8)[2] == decode(theirs, ids, 8)[2]  # also the warm-up
        runs: dict[str, list[tuple[float, float, list[int]]]] = {"cached": [], "uncached": []}
        for _ in range(args.rounds):
            runs["cached"].append(decode(ours, ids, args.new))
            runs["uncached"].append(decode(theirs, ids, args.new))
    assert runs["cached"][0][2] == runs["uncached"][0][2]
    med = {
        k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v)) for k, v in runs.items()
    }
    lines = [
        "OpenAI-GPT KV cache: CDial-GPT-base-sized (12L/768H/12 heads, vocab 13088), random weights, fp32, batch 1",
        f"greedy, prompt {args.prompt} tokens, {args.new} new tokens (identical on both), 2 threads, "
        f"median of {args.rounds} alternating rounds",
        f"CPU: {cpu_name()}; torch {torch.__version__}, transformers {transformers.__version__}",
        "",
        f"{'':48} {'TTFT ms':>9} {'decode tok/s':>13}",
        f"{'zhplm OpenAIGPTCachedForCausalLM (KV cache)':48} {med['cached'][0] * 1000:9.1f} {med['cached'][1]:13.2f}",
        f"{'transformers OpenAIGPTLMHeadModel (no cache)':48} {med['uncached'][0] * 1000:9.1f} "
        f"{med['uncached'][1]:13.2f}",
        "",
        f"cached / uncached decode speed: {med['cached'][1] / med['uncached'][1]:.2f}x",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
