"""CogView captioning speed (image2text): zhplm's ``image-to-text`` pipeline (transformers' ``generate`` + KV cache)
against THUDM's own ``filling_sequence`` on the same weights, the same image, the same seed and the same tokens.

The original (``model/gpt2_modeling.GPT2Model`` + ``generation/sampling.py`` ``filling_sequence``, ``is_sparse=0``,
from the pinned snapshot through ``tests/oracles/cogview_original.py caption`` in ``.venv-ref``, with the oracle's
named stubs) keeps every layer's input as its memory and recomputes keys and values over it every step, and its
prompt pass computes the logits of all 1048 positions; zhplm caches keys and values and computes the last
position's logits. Both sample the original's 20 text tokens (temperature 1, top-k 200, text pieces only) after
``[BASE] [BOI1] <1024 codes> [EOI1] [ROI1]`` after ``torch.manual_seed``; the tokens must be equal every round.

Medium, not 4B: width 1024, 16 heads, 4 layers, the release's 58240-token vocabulary and 1089 positions, a tiny
VQ-VAE (its encoding is part of zhplm's timed call, a few ms; the original's ``parse_query`` encoding is outside
its timed ``filling_sequence``), one 640×480 JPEG, batch 1, float32, ``torch.set_num_threads(2)`` on both sides.
Rounds alternate the sides (the original in a fresh ``.venv-ref`` process per round, one untimed warm-up run,
then the timed seeded run); the ratio is the median of the per-round ratios original seconds / zhplm seconds
(> 1: zhplm is faster). The goal row is that ratio ≥ 1.0.

    PYTHONPATH=src .venv/bin/python bench/bench_image_caption.py [--rounds 3] [--layers 4] [--out bench/results/image_caption.txt]
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
WIDTH, HEADS, VOCAB, POSITIONS, SEED = 1024, 16, 58240, 1089, 3
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
    from PIL import Image

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(2)
    load = os.getloadavg()[0]
    ref_s: list[float] = []
    our_s: list[float] = []
    same = True
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        release = tmp / "release"
        oracle("write", "--out", release, "--seed", "0", "--vocab", VOCAB, "--hidden", WIDTH, "--heads", HEADS,
               "--layers", args.layers, "--positions", POSITIONS)  # fmt: skip
        oracle("vqvae", "--out", tmp / "vq", "--seed", "1", "--n-embed", "8192")
        shutil.copy(SP_MODEL / "cog-pretrain.model", release / "cog-pretrain.model")
        shutil.copy(tmp / "vq" / "vqvae.pt", release / "vqvae.pt")
        zhplm.convert(release, tmp / "out")
        base = np.random.default_rng(0).integers(0, 256, (32, 42, 3)).astype(np.uint8)
        image = tmp / "photo.jpg"
        Image.fromarray(base).resize((640, 480), Image.BICUBIC).save(image, quality=90)
        feeds = {"image": str(image), "seed": SEED, "top_k": 200, "temperature": 1.0, "num": 1, "warmup": 1,
                 "threads": 2}  # fmt: skip
        (tmp / "in.json").write_text(json.dumps(feeds), encoding="utf-8")
        caption = zhplm.pipeline("image-to-text", tmp / "out")
        caption(image, seed=0)  # warm-up
        for r in range(args.rounds):
            for side in ("ref", "ours") if r % 2 == 0 else ("ours", "ref"):
                if side == "ref":
                    oracle("caption", "--ckpt", release, "--vqvae", release / "vqvae.pt", "--inputs", tmp / "in.json",
                           "--out", tmp / "ref.npz")  # fmt: skip
                    with np.load(tmp / "ref.npz") as ref:
                        ref_ids, seconds = ref["tokens"][0].tolist(), float(ref["seconds"])
                    ref_s.append(seconds)
                else:
                    t0 = time.perf_counter()
                    ids = caption(image, seed=SEED)[0].ids
                    our_s.append(time.perf_counter() - t0)
            same = same and ids == ref_ids
            print(r, ref_s[-1], our_s[-1], flush=True)
    ratios = [a / b for a, b in zip(ref_s, our_s, strict=True)]
    med = statistics.median
    lines = [
        f"CogView image2text captioning, width {WIDTH}, {args.layers} layers, {HEADS} heads, vocab {VOCAB}, "
        f"1048-token query + 20 sampled tokens (top-k 200, seed {SEED}), batch 1, float32, 2 threads",
        f"CPU: {cpu_name()}; torch {torch.__version__}; load average at start {load:.1f}; {args.rounds} rounds "
        "alternating the two sides",
        f"{'implementation':<38}{'s per caption':>14}   per round s",
        f"{'original filling_sequence (mems)':<38}{med(ref_s):>14.2f}   "
        + ", ".join(f"{x:.2f}" for x in ref_s),
        f"{'zhplm image-to-text (generate, cache)':<38}{med(our_s):>14.2f}   "
        + ", ".join(f"{x:.2f}" for x in our_s),
        f"GOAL ROW original / zhplm: median of per-round ratios {med(ratios):.2f}x [{min(ratios):.2f}-{max(ratios):.2f}] "
        f"(>= 1.0: zhplm as fast or faster); same 20 sampled tokens in every round: {same}",
        "(zhplm's time is the whole call: reading and encoding the image with the tiny VQ-VAE, generate, decoding "
        "the text; the original's is filling_sequence alone)",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(f"Command: PYTHONPATH=src .venv/bin/python bench/bench_image_caption.py --rounds {args.rounds} "
                            f"--layers {args.layers} --out {args.out}\n" + text + "\n", encoding="utf-8")  # fmt: skip


if __name__ == "__main__":
    main()
