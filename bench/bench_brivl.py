"""BriVL feature extraction: images/s and texts/s, zhplm against the authors' code (BAAI-WuDao/BriVL) on the same weights.

The release is written by the test oracle (tests/oracles/brivl_original.py ``write --preset bench``): BriVL's
own ``VL_model`` with BriVL-1.0's image tower at its real size — timm ``tf_efficientnet_b5_ns``, 380 px,
2048-wide RoI features on a 4×4 grid, up to 37 boxes — and BERT-base width, but 1-layer transformers and a
2-layer BERT (BriVL-1.0 has 4 and 12) so the random checkpoint stays under 1 GB; ``--quick`` uses the tiny
test model instead. Random weights, converted by ``zhplm.convert``. Inputs: N JPEG files (640×480) with 20
boxes each and N Chinese texts, one batch; fp32, 2 threads, inference mode.

* images, end to end: read + preprocess (theirs: ``XYBDataset_all[i]``, its torchvision transforms stubbed
  with torchvision 0.9.1's tensor ops, see the oracle; ours: Pillow + numpy) and encode;
* texts: tokenize (theirs: the dataset's ``AutoTokenizer`` with ``padding="max_length"``; ours: the converted
  tokenizer, the same padding) and encode.

Their code runs in a ``.venv-ref`` worker process (timm 0.4.12 and transformers 4.46 live there), ours in this
process; the rounds alternate (theirs, ours, theirs, ...) after one warm-up each, and the figure is the median
of per-round ratios (ours/theirs throughput, > 1: ours faster) with [min–max]. The goal row: ratio ≥ 1.0.
Reduced precision (``--precisions``): zhplm's ``dtype="bf16"`` / ``"int8"`` (zhplm.precision) loaded beside
fp32 and timed in the same rounds, with the largest feature / cosine-score difference against zhplm fp32 and
whether the text ranking of every image stays the same.

    .venv/bin/python bench/bench_brivl.py [--rounds 3] [--n 8] [--quick] [--precisions fp32 bf16 int8]
        [--out bench/results/brivl.txt]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from worker_protocol import cpu_name

ROOT = Path(__file__).resolve().parents[1]
REF_PYTHON = ROOT / ".venv-ref" / "bin" / "python"
ORACLES = ROOT / "tests" / "oracles"
THREADS = 2
TEXTS = [
    "一张猫的照片",
    "诺伍德大厅酒店位于阿伯丁，是家4星级酒店。",
    "海边的日落和红色的帆船",
    "孩子们在草地上踢足球",
]

WORKER = r"""
import json, shutil, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import brivl_original as B
import numpy as np, torch, transformers
torch.set_num_threads(int(sys.argv[3]))
ckpt, spec = Path(sys.argv[2]), json.loads(sys.argv[4])
tmp = Path(tempfile.mkdtemp())
bert = tmp / "bert"; bert.mkdir()
shutil.copy(ckpt / "vocab.txt", bert / "vocab.txt")
transformers.BertModel(transformers.BertConfig.from_json_file(str(ckpt / "config.json"))).save_pretrained(str(bert))
root = B._checkout(tmp, bert)
jsonl = tmp / "in.jsonl"
jsonl.write_text("".join(json.dumps({"image_id": it["image"], "sentences": [["sur_text", it["text"]]], "bbox": it["boxes"]}) + "\n" for it in spec["items"]))
cfg = B._cfg(root, B._shrunk_yml(root, tmp / "t.yml", bert, str(jsonl), B.release_model(ckpt)))
from dataset.xybDataset import XYBDataset_all
from models import build_network
from utils import getLanMask
import contextlib
with contextlib.redirect_stdout(sys.stderr):
    model = build_network(cfg.MODEL)
    dataset = XYBDataset_all(cfg, None, "val")
model.learnable.load_state_dict(torch.load(ckpt / B.RELEASE, map_location="cpu")["learnable"])
model.eval()
texts = [it["text"] for it in spec["items"]]
def images():
    rows = [dataset[i] for i in range(len(dataset))]
    imgs = torch.stack([r[0] for r in rows]); boxes = torch.stack([r[4] for r in rows])
    mask = getLanMask(torch.cat([r[1] for r in rows]), cfg.MODEL.MAX_IMG_LEN)
    return torch.nn.functional.normalize(model.learnable["imgencoder"](imgs, mask, boxes), dim=-1)
def text():
    enc = dataset.text_transform(texts, padding="max_length", truncation=True, max_length=cfg.MODEL.MAX_TEXT_LEN, return_tensors="pt")
    mask = getLanMask(enc.attention_mask.sum(1), cfg.MODEL.MAX_TEXT_LEN)
    return torch.nn.functional.normalize(model.learnable["textencoder"](enc.input_ids, mask), dim=-1)
with torch.inference_mode():
    img, txt = images(), text()  # warm-up
    np.save(spec["scores"], (img @ txt.T).numpy())
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        t0 = time.perf_counter(); images(); t1 = time.perf_counter(); text(); t2 = time.perf_counter()
        print(json.dumps({"images_s": t1 - t0, "texts_s": t2 - t1}), flush=True)
"""


def _inputs(folder: Path, n: int) -> list[dict[str, Any]]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    items = []
    for i in range(n):
        pixels = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        path = folder / f"img{i}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        boxes = []
        for _ in range(20):
            x1, x2 = sorted(rng.uniform(0, 640, 2))
            y1, y2 = sorted(rng.uniform(0, 480, 2))
            boxes.append([round(float(v), 1) for v in (x1, y1, x2 + 1, y2 + 1)])
        items.append({"image": str(path), "boxes": boxes, "text": TEXTS[i % len(TEXTS)]})
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n", type=int, default=8, help="images and texts per batch")
    parser.add_argument(
        "--quick", action="store_true", help="the tiny test model instead of the b5-sized one"
    )
    parser.add_argument("--precisions", nargs="+", choices=("fp32", "bf16", "int8"), default=["fp32"])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    reduced = [d for d in ("bf16", "int8") if d in args.precisions]

    import torch

    import zhplm
    from zhplm.tasks.region_image import BoxedImage

    torch.set_num_threads(THREADS)
    with tempfile.TemporaryDirectory(prefix="bench-brivl-") as tmp_name:
        tmp = Path(tmp_name)
        preset = "tiny" if args.quick else "bench"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env["CUDA_VISIBLE_DEVICES"] = ""
        write = [str(ORACLES / "brivl_original.py"), "write", "--out", str(tmp / "release"), "--seed", "1"]
        subprocess.run(
            [str(REF_PYTHON), *write, "--preset", preset],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        zhplm.convert(tmp / "release", tmp / "model")
        items = _inputs(tmp / "images", args.n)
        spec = {"items": items, "scores": str(tmp / "scores.npy")}
        worker = subprocess.Popen(
            [
                str(REF_PYTHON),
                "-c",
                WORKER,
                str(ORACLES),
                str(tmp / "release"),
                str(THREADS),
                json.dumps(spec),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        assert worker.stdin is not None and worker.stdout is not None
        json.loads(worker.stdout.readline())  # built and warmed up
        sim = zhplm.pipeline("image-text-similarity", tmp / "model", batch_size=args.n)
        boxed = [BoxedImage(it["image"], it["boxes"]) for it in items]
        texts = [it["text"] for it in items]

        sims = {"fp32": sim}
        for dtype in reduced:
            sims[dtype] = zhplm.pipeline(
                "image-text-similarity", tmp / "model", batch_size=args.n, dtype=dtype
            )
        outputs: dict[str, tuple[np.ndarray, np.ndarray]] = {}

        def ours(dtype: str = "fp32") -> dict[str, float]:
            enc = sims[dtype].encoder
            t0 = time.perf_counter()
            img = enc.image_features(boxed).vectors
            t1 = time.perf_counter()
            txt = enc.text_features(texts)
            t2 = time.perf_counter()
            outputs[dtype] = (img, img @ txt.T)
            return {"images_s": t1 - t0, "texts_s": t2 - t1}

        for dtype in sims:
            ours(dtype)  # warm-up
        load = os.getloadavg()[0]
        rows: list[tuple[dict[str, float], dict[str, float]]] = []
        reduced_rows: dict[str, list[dict[str, float]]] = {d: [] for d in reduced}
        for _ in range(args.rounds):
            worker.stdin.write("round\n")
            worker.stdin.flush()
            theirs = json.loads(worker.stdout.readline())
            rows.append((theirs, ours()))
            for dtype in reduced:
                reduced_rows[dtype].append(ours(dtype))
        worker.stdin.close()
        worker.wait(timeout=60)
        diff = float(np.abs(outputs["fp32"][1] - np.load(spec["scores"])).max())
    cpu = cpu_name()
    lines = [
        "command: .venv/bin/python bench/bench_brivl.py"
        + (" --quick" if args.quick else "")
        + f" --rounds {args.rounds} --n {args.n} --precisions {' '.join(args.precisions)}",
        f"model: {'tiny test model' if args.quick else 'b5 @ 380 px image tower (real size), BERT-base width, 1-layer transformers, 2-layer BERT'}; "
        f"{args.n} JPEGs 640x480 with 20 boxes each and {args.n} texts, one batch, fp32, {THREADS} threads",
        f"CPU: {cpu}; load average at start {load:.1f} (a shared machine)",
        "",
        f"{'round':<8}{'theirs img/s':>14}{'ours img/s':>12}{'theirs txt/s':>14}{'ours txt/s':>12}",
    ]
    img_ratio, txt_ratio = [], []
    for i, (theirs, mine) in enumerate(rows):
        ti, oi = args.n / theirs["images_s"], args.n / mine["images_s"]
        tt, ot = args.n / theirs["texts_s"], args.n / mine["texts_s"]
        img_ratio.append(oi / ti)
        txt_ratio.append(ot / tt)
        lines.append(f"{i:<8}{ti:>14.2f}{oi:>12.2f}{tt:>14.1f}{ot:>12.1f}")
    lines += [
        "",
        f"GOAL ratio ours/theirs (>= 1.0): images {statistics.median(img_ratio):.2f}x [{min(img_ratio):.2f}-{max(img_ratio):.2f}], "
        f"texts {statistics.median(txt_ratio):.2f}x [{min(txt_ratio):.2f}-{max(txt_ratio):.2f}]",
        f"max |cosine score| difference ours vs theirs: {diff:.2e}",
    ]
    if not reduced:
        lines.append("reduced precision: not measured in this run (--precisions fp32 bf16 int8)")
    for dtype in reduced:
        fp32_rows = [mine for _, mine in rows]
        img_x = [f["images_s"] / r["images_s"] for f, r in zip(fp32_rows, reduced_rows[dtype], strict=True)]
        txt_x = [f["texts_s"] / r["texts_s"] for f, r in zip(fp32_rows, reduced_rows[dtype], strict=True)]
        feats, scores = outputs[dtype]
        same = bool((np.argsort(-scores, 1) == np.argsort(-outputs["fp32"][1], 1)).all())
        lines.append(
            f"zhplm {dtype} vs zhplm fp32 (same rounds): images {statistics.median(img_x):.2f}x "
            f"[{min(img_x):.2f}-{max(img_x):.2f}], texts {statistics.median(txt_x):.2f}x "
            f"[{min(txt_x):.2f}-{max(txt_x):.2f}]; max |image feature| diff "
            f"{float(np.abs(feats - outputs['fp32'][0]).max()):.2e}, max |cosine score| diff "
            f"{float(np.abs(scores - outputs['fp32'][1]).max()):.2e}, text ranking per image "
            f"{'identical' if same else 'DIFFERS'}"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
