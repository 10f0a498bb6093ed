"""CogView image → codes speed (images/s): zhplm's ``CogViewImageTokenizer`` (Pillow + numpy preprocessing, the
VQ-VAE encoder and nearest code in torch) against THUDM's own ``VQVAETokenizer.read_img`` + ``api.img2code`` on the
same VQ-VAE and the same image files, with the same codes (checked every round).

The original runs from the pinned snapshot through ``tests/oracles/cogview_original.py img2code`` in ``.venv-ref``
(its torchvision transforms are the oracle's ``_torchvision_stub``: Resize/CenterCrop/ToTensor/Normalize on PIL
images, as torchvision computes them; torchvision is never installed). The VQ-VAE is the release's shape
(``api.new_model()``: 512 channels, 256-wide codes, 8192 codes, no residual block) with seeded random weights
(``--quick``: 128 channels, 64-wide codes); the images are ``--images`` JPEG photos-sized files (640×480 and
480×640, smooth random content) written here. Batch 1 as ``parse_query`` encodes, float32,
``torch.set_num_threads(2)`` on both sides, one untimed warm-up image per side and round. Rounds alternate the
sides (the original in a fresh ``.venv-ref`` process per round, timed inside around its loop; ours in this
process); the ratio is the median of the per-round ratios original seconds / zhplm seconds (> 1: zhplm is faster).
The goal row is that ratio ≥ 1.0.

    PYTHONPATH=src .venv/bin/python bench/bench_image_codes.py [--rounds 3] [--images 6] [--quick] [--out bench/results/image_codes.txt]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_text_to_image import alternate, oracle
from worker_protocol import cpu_name


def write_images(folder: Path, n: int) -> list[Path]:
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        w, h = (640, 480) if i % 2 == 0 else (480, 640)
        base = rng.integers(0, 256, (h // 16 + 2, w // 16 + 2, 3)).astype(np.uint8)
        path = folder / f"photo{i}.jpg"
        Image.fromarray(base).resize((w, h), Image.BICUBIC).save(path, quality=90)
        paths.append(path)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--images", type=int, default=6)
    ap.add_argument("--quick", action="store_true", help="a narrower VQ-VAE (128 channels, 64-wide codes)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    from zhplm.tasks.image_codes import CogViewImageTokenizer, load_vqvae

    torch.set_num_threads(2)
    channel, embed_dim = (128, 64) if args.quick else (512, 256)
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        oracle("vqvae", "--out", tmp / "vq", "--seed", 1, "--n-embed", 8192, "--channel", channel,
               "--embed-dim", embed_dim)  # fmt: skip
        vq = tmp / "vq" / "vqvae.pt"
        paths = write_images(tmp, args.images)
        feeds = {"images": [str(p) for p in paths], "threads": 2, "warmup": 1}
        (tmp / "in.json").write_text(json.dumps(feeds), encoding="utf-8")
        tok = CogViewImageTokenizer(load_vqvae(vq, encoder=True))
        tok([paths[0]])  # warm-up

        def original() -> tuple[list[list[int]], float]:
            summary = oracle(
                "img2code", "--vqvae", vq, "--inputs", tmp / "in.json", "--out", tmp / "ref.json"
            )
            ref = json.loads((tmp / "ref.json").read_text(encoding="utf-8"))
            return [x["codes"] for x in ref], float(summary["seconds"])  # type: ignore[arg-type]

        rounds = alternate(args.rounds, original, lambda: tok(paths))
    assert rounds.same, "codes differ from the original's"
    n = args.images
    lines = [
        "# CogView image -> codes (read_img + img2code), images/s; zhplm vs THUDM/CogView's own code, same VQ-VAE",
        f"# command: PYTHONPATH=src .venv/bin/python bench/bench_image_codes.py --rounds {args.rounds} "
        f"--images {n}{' --quick' if args.quick else ''}",
        f"# CPU: {cpu_name()}; torch threads 2; load average {os.getloadavg()[0]:.2f} at the end",
        f"# VQ-VAE: {channel} channels, {embed_dim}-wide codes, 8192 codes; {n} JPEG images 640x480 / 480x640, batch 1",
        f"original images/s (median of rounds): {n / statistics.median(rounds.original):.2f}",
        f"zhplm images/s (median of rounds):    {n / statistics.median(rounds.ours):.2f}",
        f"GOAL ratio original s / zhplm s (median of per-round ratios, >= 1.0): {rounds.ratio()}",
        "codes identical every round: yes",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
