"""Chinese-CLIP feature extraction: images/s and texts/s, zhplm against cn_clip (the authors' package).

Same weights on both sides: cn_clip's own ``CLIP`` with ViT-B-16 @ RoBERTa-wwm-ext-base shapes (ViT 768 × 12,
224 px, patch 16; text 768 × 12, FFN 3072, vocab 21128; embed 512), random values, saved as a release
``.pt`` by the test oracle (tests/oracles/cnclip_original.py) and converted by ``zhplm.convert``. Inputs:
16 JPEG files (640×480) and 32 Chinese texts. fp32, 2 threads, inference mode, one warm-up then one timed run
per measurement (a shared 2-core machine: the numbers are one sample each).

* images, end to end: read the files, preprocess (zhplm: Pillow + numpy; cn_clip: its ``image_transform``,
  whose torchvision primitives are stubbed with the same Pillow calls, see tests/oracles/_torchvision_stub.py),
  encode in one batch of 16;
* images, model only: the same preprocessed pixels through the image tower;
* texts: tokenize (zhplm: the converted tokenizer; cn_clip: ``clip.tokenize``, 52 ids) + encode, one batch;
* zhplm int8: ``torch.ao.quantization.quantize_dynamic`` on the Linear layers; the difference is measured as the
  largest change of a cosine image–text score against fp32.

    .venv/bin/python bench/bench_clip.py [--out bench/results/clip.txt]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REF_PYTHON = ROOT / ".venv-ref" / "bin" / "python"
ORACLE = ROOT / "tests" / "oracles" / "cnclip_original.py"
THREADS = 2
N_IMAGES, N_TEXTS = 16, 32
VIT_B_16 = [
    "--vision-width", "768", "--image-size", "224", "--patch", "16", "--layers", "12", "--text-hidden", "768",
    "--text-intermediate", "3072", "--text-positions", "512", "--embed", "512",
]  # fmt: skip
TEXTS = [
    f"{a}{b}" for a in ("一张", "一只可爱的", "海边的", "城市里的") for b in ("猫的照片", "狗在草地上奔跑", "日落", "红色汽车", "山和湖泊", "孩子们在踢足球", "一碗热腾腾的面条", "夜晚的街道")
][:N_TEXTS]  # fmt: skip

CN_CLIP_WORKER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import _torchvision_stub
_torchvision_stub.install()
import numpy as np, torch
from PIL import Image
import cn_clip.clip as clip
from cn_clip.clip.model import CLIP
torch.set_num_threads(int(sys.argv[3]))
ckpt, spec = sys.argv[2], json.loads(sys.stdin.read())
info = json.load(open(ckpt + "/model_info.json"))
model = CLIP(**info)
sd = torch.load(ckpt + "/clip_cn_tiny.pt", map_location="cpu", weights_only=False)["state_dict"]
model.load_state_dict({k[7:]: v for k, v in sd.items() if "bert.pooler" not in k})
model.float().eval()
transform = clip.image_transform(info["image_resolution"])
def images():
    return torch.stack([transform(Image.open(p)) for p in spec["images"]])
def run(fn):
    fn()
    t = time.perf_counter(); out = fn(); return time.perf_counter() - t, out
with torch.inference_mode():
    t_img, feats = run(lambda: model.encode_image(images()))
    pixels = images()
    t_model, _ = run(lambda: model.encode_image(pixels))
    t_txt, text = run(lambda: model.encode_text(clip.tokenize(spec["texts"])))
img = feats / feats.norm(dim=-1, keepdim=True); txt = text / text.norm(dim=-1, keepdim=True)
np.save(spec["scores"], (img @ txt.T).numpy())
print(json.dumps({"images_s": t_img, "images_model_s": t_model, "texts_s": t_txt}))
"""


def make_images(folder: Path) -> list[Path]:
    from PIL import Image

    r = np.random.default_rng(0)
    paths = []
    for i in range(N_IMAGES):
        y, x = np.mgrid[0:480, 0:640]
        img = np.stack([x * 255 / 639, y * 255 / 479, 128 + 100 * np.sin((x + 7 * i) / 17)], -1)
        img = np.clip(img + r.normal(0, 25, img.shape), 0, 255).astype(np.uint8)
        paths.append(folder / f"img{i:02d}.jpg")
        Image.fromarray(img).save(paths[-1], quality=90)
    return paths


def timed(fn: Any) -> tuple[float, Any]:
    fn()  # warm-up
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def ours(folder: Path, paths: list[Path], int8: bool = False) -> tuple[dict[str, float], np.ndarray]:
    import torch

    from zhplm.tasks.image_text import ClipEncoder

    torch.set_num_threads(THREADS)
    enc = ClipEncoder.from_model(folder, batch_size=N_IMAGES)
    enc.batch_size = max(N_IMAGES, N_TEXTS)
    if int8:
        enc.model = torch.ao.quantization.quantize_dynamic(enc.model, {torch.nn.Linear}, dtype=torch.qint8)
    t_img, feats = timed(lambda: enc.image_features(paths))
    pixels = enc.transform.batch(paths)
    t_model, _ = timed(lambda: enc.pixel_features(pixels))
    t_txt, text = timed(lambda: enc.text_features(TEXTS))
    return {"images_s": t_img, "images_model_s": t_model, "texts_s": t_txt}, feats.vectors @ text.T


def cn_clip(release: Path, paths: list[Path], scores: Path) -> dict[str, float]:
    spec = {"images": [str(p) for p in paths], "texts": TEXTS, "scores": str(scores)}
    proc = subprocess.run(
        [str(REF_PYTHON), "-c", CN_CLIP_WORKER, str(ORACLE.parent), str(release), str(THREADS)],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def cpu_name() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    import zhplm

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "clip.txt")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        subprocess.run(
            [str(REF_PYTHON), str(ORACLE), "write", "--out", str(tmp / "release"), *VIT_B_16],
            check=True,
            capture_output=True,
        )
        zhplm.convert(tmp / "release", tmp / "model", arch="chinese_clip")
        (tmp / "images").mkdir()
        paths = make_images(tmp / "images")
        load = os.getloadavg()[0]
        ref = cn_clip(tmp / "release", paths, tmp / "ref_scores.npy")
        fp32, scores = ours(tmp / "model", paths)
        q8, scores8 = ours(tmp / "model", paths, int8=True)
        ref_scores = np.load(tmp / "ref_scores.npy")
    rows = [("cn_clip 1.6.0 CLIP", ref), ("zhplm ChineseCLIPModel fp32", fp32), ("zhplm int8 (dynamic)", q8)]
    lines = [
        f"Chinese-CLIP ViT-B-16 shapes, random weights; {N_IMAGES} JPEGs 640x480 in one batch, {N_TEXTS} texts; "
        f"fp32 unless said, {THREADS} threads, one warm-up + one timed run each",
        f"CPU: {cpu_name()}; load average at start {load:.1f} (a shared machine)",
        "",
        f"{'implementation':30s} {'images/s e2e':>13s} {'images/s model':>15s} {'texts/s':>9s}",
    ]
    for name, r in rows:
        lines.append(
            f"{name:30s} {N_IMAGES / r['images_s']:13.2f} {N_IMAGES / r['images_model_s']:15.2f} "
            f"{N_TEXTS / r['texts_s']:9.1f}"
        )
    lines += [
        "",
        f"ratios zhplm fp32 / cn_clip (> 1: ours faster): images e2e {ref['images_s'] / fp32['images_s']:.2f}x, "
        f"images model {ref['images_model_s'] / fp32['images_model_s']:.2f}x, texts {ref['texts_s'] / fp32['texts_s']:.2f}x",
        f"max |cosine score| difference: zhplm fp32 vs cn_clip {np.abs(scores - ref_scores).max():.2e}; "
        f"int8 vs fp32 {np.abs(scores8 - scores).max():.2e} (scores span {scores.min():.3f}..{scores.max():.3f})",
    ]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
