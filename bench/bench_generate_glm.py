"""Greedy blank filling speed of GLM converted by zhplm against THUDM/GLM's own ``generate_samples.py`` loop.

The original (``model/modeling_glm.GLMModel`` + ``mpu``, read from the pinned snapshot by
``tests/oracles/glm_original.py`` in ``.venv-ref``, with the oracle's named stubs) writes a medium model's weights
as two model-parallel ranks and times its ``--block-lm`` loop: the context once for the memories, then
``sample_sequence`` (top-k 1) feeding ``<|startofpiece|>`` and each new token with the memories — where every step
runs the fused QKV over memory + token again. zhplm converts the same shards and runs transformers' ``generate``
(greedy, DynamicCache, SDPA) on ``context <|startofpiece|>``. Both produce the same tokens (checked). Both use
torch 2.13 CPU and ``torch.set_num_threads(2)``.

Medium, not 10B: width 1024, 16 heads, 4 layers (GLM-large-chinese's width), the 50048-row embedding;
a 48-token context with one ``[MASK]``, 32 new tokens, batch 1, float32, best of ``--reps``.

    PYTHONPATH=src .venv/bin/python bench/bench_generate_glm.py [--reps 3] [--out bench/results/generate_glm.txt]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import zhplm
from worker_protocol import cpu_name
from zhplm.arch.glm import special_ids

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEADS, LAYERS, POSITIONS = 1024, 16, 4, 1024
CONTEXT, NEW = 48, 32


def oracle(*args: str | Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    python = ROOT / ".venv-ref" / "bin" / "python"
    script = ROOT / "tests" / "oracles" / "glm_original.py"
    subprocess.run([str(python), str(script), *map(str, args)], check=True, env=env, capture_output=True)


def zhplm_greedy(model: Any, prompt: torch.Tensor, new: int) -> tuple[list[int], float, float]:
    mask = torch.ones_like(prompt)
    with torch.inference_mode():
        t0 = time.perf_counter()
        model.generate(prompt, attention_mask=mask, max_new_tokens=1, do_sample=False)
        t1 = time.perf_counter()
        gen = model.generate(
            prompt, attention_mask=mask, max_new_tokens=new, do_sample=False, eos_token_id=None
        )
        t2 = time.perf_counter()
    first = t1 - t0
    return gen[0, prompt.shape[1] :].tolist(), first, (new - 1) / max(t2 - t1 - first, 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(2)
    ids = special_ids(fix_command_token=True)
    g = torch.Generator().manual_seed(1)
    context = [ids["cls"], *torch.randint(10, 40000, (CONTEXT - 3,), generator=g).tolist()]
    context[CONTEXT // 2] = ids["mask"]
    context += [7, ids["eos"]]
    commands = {"MASK": ids["mask"], "sMASK": ids["smask"], "gMASK": ids["gmask"], "sop": ids["sop"],
                "eop": ids["eop"], "eos": ids["eos"]}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sizes = ["--hidden", WIDTH, "--heads", HEADS, "--layers", LAYERS, "--positions", POSITIONS]
        oracle("write", "--out", tmp / "release", "--seed", "0", *sizes)
        feeds = {"prompt": context, "max_new_tokens": NEW, "commands": commands}
        (tmp / "in.json").write_text(json.dumps(feeds), encoding="utf-8")
        oracle("bench", "--ckpt", tmp / "release", "--inputs", tmp / "in.json", "--out", tmp / "o.json",
               "--reps", str(args.reps))  # fmt: skip
        ref = json.loads((tmp / "o.json").read_text(encoding="utf-8"))
        zhplm.convert(tmp / "release", tmp / "out")
        from transformers import AutoModelForCausalLM  # no tokenizer in this folder: the model class alone

        ours = AutoModelForCausalLM.from_pretrained(str(tmp / "out"), attn_implementation="sdpa").eval()
        prompt = torch.tensor([[*context, ids["sop"]]])
        best = (0.0, 0.0)
        toks: list[int] = []
        for _ in range(args.reps):
            toks, first, rate = zhplm_greedy(ours, prompt, NEW)
            best = max(best, (rate, -first))
    rows = [("original generate_samples", ref["first_s"] * 1000, ref["decode_tok_s"]),
            ("zhplm generate", -best[1] * 1000, best[0])]  # fmt: skip
    lines = [
        f"GLM greedy blank filling, width {WIDTH}, {LAYERS} layers, {HEADS} heads, vocab 50048, context {CONTEXT}, "
        f"{NEW} new, batch 1, float32, 2 threads, {cpu_name()}, torch {torch.__version__}",
        f"{'implementation':<28}{'first token ms':>16}{'decode tok/s':>14}",
        *(f"{n:<28}{f:>16.1f}{r:>14.1f}" for n, f, r in rows),
        f"ratio zhplm / original decode: {rows[1][2] / rows[0][2]:.2f}x; same tokens: {toks == ref['tokens']}",
        "(original 'first token' = the context pass; zhplm's = context + <|startofpiece|> + the first token)",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
