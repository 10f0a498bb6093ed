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
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import zhplm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from worker_protocol import cpu_name

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEADS, LAYERS, VOCAB = 1024, 16, 4, 58240
TEXT, SEED = "一只可爱的猫", 3
SP_MODEL = ROOT / ".." / "shared" / "assets" / "THUDM+CogView" / "pretrained" / "chinese_sentencepiece"


def oracle(*args: str | int | Path) -> dict[str, object]:
    """``tests/oracles/cogview_original.py ARGS`` in ``.venv-ref``; its summary (the last stdout line, JSON)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    python = ROOT / ".venv-ref" / "bin" / "python"
    script = ROOT / "tests" / "oracles" / "cogview_original.py"
    proc = subprocess.run(
        [str(python), str(script), *map(str, args)], check=True, env=env, capture_output=True, text=True
    )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def cogview_release(tmp: Path, layers: int, positions: int) -> tuple[Path, Path]:
    """A release-shaped CogView (the oracle's random Megatron shard at width 1024 / 16 heads / the release
    vocabulary, a random VQ-VAE with the release's 8192 codes, the release sentencepiece model) and its zhplm
    conversion: ``(release, converted)``."""
    release = tmp / "release"
    oracle("write", "--out", release, "--seed", "0", "--vocab", VOCAB, "--hidden", WIDTH, "--heads", HEADS,
           "--layers", layers, "--positions", positions)  # fmt: skip
    oracle("vqvae", "--out", tmp / "vq", "--seed", "1", "--n-embed", "8192")
    shutil.copy(SP_MODEL / "cog-pretrain.model", release / "cog-pretrain.model")
    shutil.copy(tmp / "vq" / "vqvae.pt", release / "vqvae.pt")
    zhplm.convert(release, tmp / "out")
    return release, tmp / "out"


@dataclass
class Rounds:
    """Seconds per round of each side, and whether both gave the same output in every round."""

    original: list[float] = field(default_factory=list)
    ours: list[float] = field(default_factory=list)
    same: bool = True

    def ratio(self) -> str:
        """Median of the per-round ratios original seconds / zhplm seconds, with [min-max]."""
        ratios = [a / b for a, b in zip(self.original, self.ours, strict=True)]
        return f"{statistics.median(ratios):.2f}x [{min(ratios):.2f}-{max(ratios):.2f}]"


def alternate(rounds: int, original: Callable[[], tuple[Any, float]], ours: Callable[[], Any]) -> Rounds:
    """``rounds`` rounds, the first side swapped every round: ``original()`` gives its output and its own timed
    seconds, ``ours()`` its output (timed here, whole call)."""
    result = Rounds()
    for r in range(rounds):
        for side in ("original", "ours") if r % 2 == 0 else ("ours", "original"):
            if side == "original":
                ref, seconds = original()
                result.original.append(seconds)
            else:
                t0 = time.perf_counter()
                mine = ours()
                result.ours.append(time.perf_counter() - t0)
        result.same = result.same and mine == ref
        print(f"round {r}: original {result.original[-1]:.2f} s, zhplm {result.ours[-1]:.2f} s", flush=True)
    return result


def sampling_table(rounds: Rounds, unit: str, labels: tuple[str, str], steps: int | None = None) -> list[str]:
    """One row per side: median seconds per ``unit``, (with ``steps``) ms per step, and every round's seconds."""
    width = max(len(label) for label in labels) + 2
    step = f"{'ms per code':>13}" if steps else ""
    lines = [f"{'implementation':<{width}}{'s per ' + unit:>14}{step}   per round s"]
    for label, times in zip(labels, (rounds.original, rounds.ours), strict=True):
        median = statistics.median(times)
        per_step = f"{median / steps * 1000:>13.1f}" if steps else ""
        lines.append(f"{label:<{width}}{median:>14.2f}{per_step}   " + ", ".join(f"{x:.2f}" for x in times))
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--grid", type=int, default=8, help="codes per image side (steps = grid²)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(2)
    steps = args.grid * args.grid
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        release, converted = cogview_release(tmp, LAYERS, steps + 32)
        feeds = {"text": TEXT, "grid": args.grid, "seed": SEED, "top_k": 200, "temperature": 1.0, "warmup": 1,
                 "threads": 2}  # fmt: skip
        (tmp / "in.json").write_text(json.dumps(feeds, ensure_ascii=False), encoding="utf-8")
        draw = zhplm.pipeline("text-to-image", converted, grid=args.grid)
        draw.sample_codes(TEXT, seed=0)  # warm-up

        def original() -> tuple[list[int], float]:
            oracle("sample", "--ckpt", release, "--vqvae", release / "vqvae.pt", "--inputs", tmp / "in.json",
                   "--out", tmp / "ref.npz")  # fmt: skip
            with np.load(tmp / "ref.npz") as ref:
                return ref["codes"].tolist(), float(ref["seconds"])

        rounds = alternate(args.rounds, original, lambda: draw.sample_codes(TEXT, seed=SEED)[0].tolist())
    lines = [
        f"CogView text-to-image sampling, width {WIDTH}, {LAYERS} layers, {HEADS} heads, vocab {VOCAB}, "
        f"{args.grid}×{args.grid} = {steps} codes (top-k 200, seed {SEED}), batch 1, float32, 2 threads",
        f"CPU: {cpu_name()}; torch {torch.__version__}; load average at start {load:.1f}; {args.rounds} rounds "
        "alternating the two sides",
        *sampling_table(
            rounds,
            "image",
            ("original filling_sequence (mems)", "zhplm pipeline (generate, KV cache)"),
            steps,
        ),
        f"GOAL ROW original / zhplm: median of per-round ratios {rounds.ratio()} "
        f"(>= 1.0: zhplm as fast or faster); same {steps} sampled codes in every round: {rounds.same}",
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
