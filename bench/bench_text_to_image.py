"""CogView text-to-image sampling speed: zhplm's pipeline (transformers' ``generate`` + KV cache) against THUDM's
own ``filling_sequence`` loop on the same weights, the same seed and the same codes.

The original (``model/gpt2_modeling.GPT2Model`` + ``generation/sampling.py`` ``filling_sequence``, ``is_sparse=0``,
read from the pinned snapshot by ``tests/oracles/cogview_original.py sample`` in ``.venv-ref``, with the oracle's
named stubs) keeps every layer's *input* as its memory and recomputes the keys and values of the whole memory at
every step; zhplm caches keys and values. Both sample with the original defaults (temperature 1, top-k 200, only
image codes) after ``torch.manual_seed``; the codes must be the same every round (checked).

Medium, not 4B: width 1024, 16 heads, 4 layers, the release's 58240-token vocabulary, an 8×8 code image (64
sequential codes; the release draws 32×32 = 1024) after the ``[ROI1] 一只可爱的猫 [BASE] [BOI1]`` prompt, batch
1, float32, ``torch.set_num_threads(2)`` on both sides. Rounds alternate the sides (the original in a fresh
``.venv-ref`` process per round, one untimed warm-up run, then the timed seeded run); the ratio is the median of
the per-round ratios original seconds / zhplm seconds (> 1: zhplm is faster). The goal row is that ratio ≥ 1.0.

    PYTHONPATH=src .venv/bin/python bench/bench_text_to_image.py [--rounds 3] [--grid 8] [--out bench/results/text_to_image.txt]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import zhplm

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEADS, LAYERS, VOCAB = 1024, 16, 4, 58240
TEXT, SEED = "一只可爱的猫", 3
SP_MODEL = ROOT / ".." / "shared" / "assets" / "THUDM+CogView" / "pretrained" / "chinese_sentencepiece"


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def oracle(*args: str | int | Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    python = ROOT / ".venv-ref" / "bin" / "python"
    script = ROOT / "tests" / "oracles" / "cogview_original.py"
    subprocess.run([str(python), str(script), *map(str, args)], check=True, env=env, capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--grid", type=int, default=8, help="codes per image side (steps = grid²)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(2)
    steps = args.grid * args.grid
    load = os.getloadavg()[0]
    ref_s: list[float] = []
    our_s: list[float] = []
    same = True
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        release = tmp / "release"
        oracle("write", "--out", release, "--seed", "0", "--vocab", VOCAB, "--hidden", WIDTH, "--heads", HEADS,
               "--layers", LAYERS, "--positions", steps + 32)  # fmt: skip
        oracle("vqvae", "--out", tmp / "vq", "--seed", "1", "--n-embed", "8192")
        shutil.copy(SP_MODEL / "cog-pretrain.model", release / "cog-pretrain.model")
        shutil.copy(tmp / "vq" / "vqvae.pt", release / "vqvae.pt")
        zhplm.convert(release, tmp / "out")
        feeds = {"text": TEXT, "grid": args.grid, "seed": SEED, "top_k": 200, "temperature": 1.0, "warmup": 1,
                 "threads": 2}  # fmt: skip
        (tmp / "in.json").write_text(json.dumps(feeds, ensure_ascii=False), encoding="utf-8")
        draw = zhplm.pipeline("text-to-image", tmp / "out", grid=args.grid)
        draw.sample_codes(TEXT, seed=0)  # warm-up
        for r in range(args.rounds):
            for side in ("ref", "ours") if r % 2 == 0 else ("ours", "ref"):
                if side == "ref":
                    oracle("sample", "--ckpt", release, "--vqvae", release / "vqvae.pt", "--inputs", tmp / "in.json",
                           "--out", tmp / "ref.npz")  # fmt: skip
                    with np.load(tmp / "ref.npz") as ref:
                        ref_codes, seconds = ref["codes"].tolist(), float(ref["seconds"])
                    ref_s.append(seconds)
                else:
                    t0 = time.perf_counter()
                    codes = draw.sample_codes(TEXT, seed=SEED)[0].tolist()
                    our_s.append(time.perf_counter() - t0)
            same = same and codes == ref_codes
            print(r, ref_s[-1], our_s[-1], flush=True)
    ratios = [a / b for a, b in zip(ref_s, our_s, strict=True)]
    med = statistics.median
    lines = [
        f"CogView text-to-image sampling, width {WIDTH}, {LAYERS} layers, {HEADS} heads, vocab {VOCAB}, "
        f"{args.grid}×{args.grid} = {steps} codes (top-k 200, seed {SEED}), batch 1, float32, 2 threads",
        f"CPU: {cpu_name()}; torch {torch.__version__}; load average at start {load:.1f}; {args.rounds} rounds "
        "alternating the two sides",
        f"{'implementation':<36}{'s per image':>12}{'ms per code':>13}   per round s",
        f"{'original filling_sequence (mems)':<36}{med(ref_s):>12.2f}{med(ref_s) / steps * 1000:>13.1f}   "
        + ", ".join(f"{x:.2f}" for x in ref_s),
        f"{'zhplm pipeline (generate, KV cache)':<36}{med(our_s):>12.2f}{med(our_s) / steps * 1000:>13.1f}   "
        + ", ".join(f"{x:.2f}" for x in our_s),
        f"GOAL ROW original / zhplm: median of per-round ratios {med(ratios):.2f}x [{min(ratios):.2f}-{max(ratios):.2f}] "
        f"(>= 1.0: zhplm as fast or faster); same {steps} sampled codes in every round: {same}",
        "(both include the prompt's pass; zhplm's time is the whole sample_codes call: tokenizing, generate with "
        "the image-only constraint and top-k; the original's is filling_sequence alone)",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(f"Command: PYTHONPATH=src .venv/bin/python bench/bench_text_to_image.py --rounds {args.rounds} "
                            f"--grid {args.grid} --out {args.out}\n" + text + "\n", encoding="utf-8")  # fmt: skip


if __name__ == "__main__":
    main()
