"""Greedy decode speed of Chinese-Transformer-XL converted by zhplm against THUDM's own generation loop.

The original (``model/gpt2_modeling.GPT2Model`` with ``relative_encoding=True`` + ``mpu``, read from the pinned
snapshot by ``tests/oracles/txl_original.py`` in ``.venv-ref``, with the oracle's named stubs) writes a medium
model's shard and times ``generate_samples.sample_sequence`` (top-k 1, ``transformer_xl=True``): the prompt once,
then each new token against the segment memory, which fills and is cut at ``mem_length``. zhplm converts the
same shard and runs transformers' ``generate`` (greedy; the per-layer memory is the cache). Both produce the
same tokens (checked every round). Both use torch 2.13 CPU and ``torch.set_num_threads(2)``.

Medium, not 2.9B: width 1024, 16 heads, 4 layers, the real 50048-token vocabulary, memory 64; a 48-token
prompt, 32 new tokens (the memory is cut from the 17th), batch 1, float32. Rounds alternate the two sides
(the original in a fresh ``.venv-ref`` process per round, timed inside it with forward hooks, as ours is);
the ratio is the median of the per-round ratios.

    PYTHONPATH=src .venv/bin/python bench/bench_generate_txl.py [--rounds 3] [--out bench/results/generate_txl.txt]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import zhplm
from worker_protocol import cpu_name

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEADS, LAYERS, MEM = 1024, 16, 4, 64
PROMPT, NEW = 48, 32
SIZES = ["--hidden", WIDTH, "--heads", HEADS, "--layers", LAYERS, "--mem", MEM]


def oracle(*args: str | int | Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    python = ROOT / ".venv-ref" / "bin" / "python"
    script = ROOT / "tests" / "oracles" / "txl_original.py"
    subprocess.run([str(python), str(script), *map(str, args)], check=True, env=env, capture_output=True)


def zhplm_greedy(model: Any, prompt: torch.Tensor) -> tuple[list[int], float, float, float]:
    """Tokens, first-token seconds, decode tok/s, and seconds per token spent outside ``forward``."""
    calls: list[float] = []
    inside = [0.0, 0.0]  # start of the current forward, total inside
    pre = model.register_forward_pre_hook(lambda *_: inside.__setitem__(0, time.perf_counter()))

    def post(*_: Any) -> None:
        now = time.perf_counter()
        calls.append(now)
        inside[1] += now - inside[0]

    handle = model.register_forward_hook(post)
    with torch.inference_mode():
        t0 = time.perf_counter()
        out = model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=NEW, do_sample=False,
                             eos_token_id=None)  # fmt: skip
        t1 = time.perf_counter()
    handle.remove()
    pre.remove()
    assert len(calls) == NEW, (len(calls), NEW)
    return (
        out[0, prompt.shape[1] :].tolist(),
        calls[0] - t0,
        (NEW - 1) / (t1 - calls[0]),
        (t1 - t0 - inside[1]) / NEW,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(2)
    g = torch.Generator().manual_seed(1)
    context = torch.randint(10, 40000, (PROMPT,), generator=g).tolist()
    load = os.getloadavg()[0]
    ref_runs: list[dict[str, float]] = []
    ours: list[tuple[float, float]] = []
    outside: list[float] = []
    same = True
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        oracle("write", "--out", tmp / "release", "--seed", "0", *SIZES)
        (tmp / "in.json").write_text(
            json.dumps({"prompt": [context], "max_new_tokens": NEW}), encoding="utf-8"
        )
        zhplm.convert(tmp / "release", tmp / "out")
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(str(tmp / "out")).eval()
        prompt = torch.tensor([context])
        zhplm_greedy(model, prompt[:, :8])  # warm-up
        for r in range(args.rounds):
            for side in ("ref", "ours") if r % 2 == 0 else ("ours", "ref"):
                if side == "ref":
                    oracle("bench", "--ckpt", tmp / "release", "--inputs", tmp / "in.json", "--out", tmp / "o.json",
                           "--reps", 1, *SIZES)  # fmt: skip
                    ref = json.loads((tmp / "o.json").read_text(encoding="utf-8"))
                    ref_runs += ref["runs"]
                else:
                    toks, first, rate, out_s = zhplm_greedy(model, prompt)
                    ours.append((first, rate))
                    outside.append(out_s)
            same = same and toks == ref["tokens"]
            print(r, ref_runs[-1], ours[-1], flush=True)
    ratios = [o[1] / t["decode_tok_s"] for o, t in zip(ours, ref_runs, strict=True)]
    first_ratios = [t["first_s"] / o[0] for o, t in zip(ours, ref_runs, strict=True)]
    med = statistics.median
    rows = [("original sample_sequence", [t["first_s"] for t in ref_runs], [t["decode_tok_s"] for t in ref_runs]),
            ("zhplm generate", [o[0] for o in ours], [o[1] for o in ours])]  # fmt: skip
    lines = [
        f"Chinese-Transformer-XL greedy decode, width {WIDTH}, {LAYERS} layers, {HEADS} heads, vocab 50048, memory "
        f"{MEM}, prompt {PROMPT}, {NEW} new, batch 1, float32, 2 threads",
        f"CPU: {cpu_name()}; torch {torch.__version__}; load average at start {load:.1f} (shared 2-core machine); "
        f"{args.rounds} rounds alternating the two sides",
        f"{'implementation':<28}{'first token ms':>16}{'decode tok/s':>14}   per round decode tok/s",
        *(
            f"{n:<28}{med(f) * 1000:>16.1f}{med(d):>14.1f}   {', '.join(f'{x:.1f}' for x in d)}"
            for n, f, d in rows
        ),
        f"zhplm / original decode: median of per-round ratios {med(ratios):.2f}x [{min(ratios):.2f}-{max(ratios):.2f}]; "
        f"first token {med(first_ratios):.2f}x [{min(first_ratios):.2f}-{max(first_ratios):.2f}]; same {NEW} "
        f"greedy tokens in every round: {same}",
        "(first token = the 48-token prompt's pass on both sides; decode = the 31 steps after it, memory cut from "
        "the 17th new token on)",
        f"zhplm: time outside the model's forward (generate's own loop) {med(outside) * 1000:.2f} ms per token, "
        f"{med(outside) * med([o[1] for o in ours]) * 100:.1f}% of a decode step",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
