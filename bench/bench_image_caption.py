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
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

import zhplm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_text_to_image import HEADS, VOCAB, WIDTH, alternate, cogview_release, oracle, sampling_table
from worker_protocol import cpu_name

POSITIONS, SEED = 1089, 3


def main() -> None:
    from PIL import Image

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(2)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        release, converted = cogview_release(tmp, args.layers, POSITIONS)
        base = np.random.default_rng(0).integers(0, 256, (32, 42, 3)).astype(np.uint8)
        image = tmp / "photo.jpg"
        Image.fromarray(base).resize((640, 480), Image.BICUBIC).save(image, quality=90)
        feeds = {"image": str(image), "seed": SEED, "top_k": 200, "temperature": 1.0, "num": 1, "warmup": 1,
                 "threads": 2}  # fmt: skip
        (tmp / "in.json").write_text(json.dumps(feeds), encoding="utf-8")
        caption = zhplm.pipeline("image-to-text", converted)
        caption(image, seed=0)  # warm-up

        def original() -> tuple[list[int], float]:
            oracle("caption", "--ckpt", release, "--vqvae", release / "vqvae.pt", "--inputs", tmp / "in.json",
                   "--out", tmp / "ref.npz")  # fmt: skip
            with np.load(tmp / "ref.npz") as ref:
                return ref["tokens"][0].tolist(), float(ref["seconds"])

        rounds = alternate(args.rounds, original, lambda: caption(image, seed=SEED)[0].ids)
    lines = [
        f"CogView image2text captioning, width {WIDTH}, {args.layers} layers, {HEADS} heads, vocab {VOCAB}, "
        f"1048-token query + 20 sampled tokens (top-k 200, seed {SEED}), batch 1, float32, 2 threads",
        f"CPU: {cpu_name()}; torch {torch.__version__}; load average at start {load:.1f}; {args.rounds} rounds "
        "alternating the two sides",
        *sampling_table(
            rounds, "caption", ("original filling_sequence (mems)", "zhplm image-to-text (generate, cache)")
        ),
        f"GOAL ROW original / zhplm: median of per-round ratios {rounds.ratio()} "
        f"(>= 1.0: zhplm as fast or faster); same 20 sampled tokens in every round: {rounds.same}",
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
