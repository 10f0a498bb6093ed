"""Chinese-CLIP feature extraction: images/s and texts/s, zhplm against cn_clip (the authors' package).

    PYTHONPATH=src .venv/bin/python bench/bench_clip.py [--rounds 3] [--quick] [--precisions fp32 bf16 int8]
        [--out bench/results/clip.txt]

Same weights on both sides: cn_clip's own ``CLIP`` with ViT-B-16 @ RoBERTa-wwm-ext-base shapes (ViT 768 × 12,
224 px, patch 16; text 768 × 12, FFN 3072, vocab 21128; embed 512), random values, saved as a release
``.pt`` by the test oracle (tests/oracles/cnclip_original.py) and converted by ``zhplm.convert``. Inputs:
16 JPEG files (640×480) and 32 Chinese texts (``--quick``: 8 and 16, one round).

Each side is ONE long-lived process (bench/worker_protocol.py, the protocol bench_multimodal.py uses), loaded
and warmed up once: cn_clip in ``.venv-ref`` (bench/mm_original_worker.py ``cnclip``), zhplm in ``.venv``, one
process per zhplm precision. The parent alternates them round by round, the first side swapping every round,
all with ``torch.set_num_threads(2)``. A ratio is the median over rounds of the per-round ratio cn_clip
seconds / zhplm seconds (> 1: zhplm faster), with [min–max].

zhplm's side goes through the API users call: ``zhplm.pipeline("image-text-similarity", folder, dtype=...)``
and its ``encoder``, so what zhplm does when it loads a model is included (zhplm.allocator's malloc settings
applied by the loader; the CLIP ViT's QuickGELU folded into SiLU by zhplm.tasks._inference.fold_quick_gelu;
``dtype="bf16"`` / ``"int8"`` from zhplm.precision).

Rows (the goal is fp32/cn_clip ≥ 1.0 on every row):
* ``images e2e``: read the 16 files, preprocess (zhplm: Pillow + numpy; cn_clip: its ``image_transform``,
  whose torchvision primitives are stubbed with the same Pillow calls, see tests/oracles/_torchvision_stub.py),
  encode in one batch, L2-normalise;
* ``images model``: the same preprocessed pixels (prepared once) through the image tower;
* ``texts``: tokenize (zhplm: the converted tokenizer, padded to the longest; cn_clip: ``clip.tokenize``,
  52 ids) + encode the 32 texts in one batch.
Accuracy, from each side's last round: the largest |cosine image–text score| difference (fp32 vs cn_clip;
bf16 and int8 vs zhplm fp32); per image, whether the order of the texts by score stays the same, whether its
top-1 text does, and the share of (image, text pair) orders kept.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import worker_protocol as wp

ROOT = wp.ROOT

ORACLE = ROOT / "tests" / "oracles" / "cnclip_original.py"
THREADS = 2
N_IMAGES, N_TEXTS = 16, 32
PRECISIONS = ("fp32", "bf16", "int8")
VIT_B_16 = [
    "--vision-width", "768", "--image-size", "224", "--patch", "16", "--layers", "12", "--text-hidden", "768",
    "--text-intermediate", "3072", "--text-positions", "512", "--embed", "512",
]  # fmt: skip
TEXTS = [
    f"{a}{b}" for a in ("一张", "一只可爱的", "海边的", "城市里的") for b in ("猫的照片", "狗在草地上奔跑", "日落", "红色汽车", "山和湖泊", "孩子们在踢足球", "一碗热腾腾的面条", "夜晚的街道")
][:N_TEXTS]  # fmt: skip
ROWS = {  # measurement -> what is counted, its unit
    "images": ("images", "images/s e2e (read + preprocess + encode)"),
    "images_model": ("images", "images/s model only"),
    "texts": ("texts", "texts/s (tokenize + encode)"),
}


def make_images(folder: Path, n: int = N_IMAGES) -> list[Path]:
    from PIL import Image

    r = np.random.default_rng(0)
    paths = []
    for i in range(n):
        y, x = np.mgrid[0:480, 0:640]
        img = np.stack([x * 255 / 639, y * 255 / 479, 128 + 100 * np.sin((x + 7 * i) / 17)], -1)
        img = np.clip(img + r.normal(0, 25, img.shape), 0, 255).astype(np.uint8)
        paths.append(folder / f"img{i:02d}.jpg")
        Image.fromarray(img).save(paths[-1], quality=90)
    return paths


def ours_worker(folder: Path, spec_file: Path, dtype: str) -> None:
    """zhplm's side: the public pipeline, loaded once, served by the shared protocol."""
    import torch

    import zhplm

    torch.set_num_threads(THREADS)
    spec = json.loads(spec_file.read_text(encoding="utf-8"))
    images, texts = spec["images"], spec["texts"]
    sim = zhplm.pipeline(
        "image-text-similarity", folder, batch_size=max(len(images), len(texts)), dtype=dtype
    )
    enc = sim.encoder
    pixels = enc.read_images(images).pixels

    def one_round() -> tuple[dict[str, float], dict[str, np.ndarray]]:
        t_img, img = wp.timed(lambda: enc.image_features(images).vectors)
        t_model, _ = wp.timed(lambda: enc.pixel_features(pixels))
        t_txt, txt = wp.timed(lambda: enc.text_features(texts))
        times = {"images": t_img, "images_model": t_model, "texts": t_txt}
        return times, {"image_embeds": img, "text_embeds": txt}

    wp.serve(one_round)


def prepare(tmp: Path, quick: bool) -> Path:
    """Write the release with cn_clip, convert it with zhplm, write the images; the spec file both read."""
    import zhplm

    release = tmp / "release"
    subprocess.run(
        [str(wp.REF_PYTHON), str(ORACLE), "write", "--out", str(release), *VIT_B_16],
        check=True,
        capture_output=True,
        env=wp.worker_env(),
    )
    zhplm.convert(release, tmp / "model", arch="chinese_clip")
    (tmp / "images").mkdir()
    images = make_images(tmp / "images", N_IMAGES // 2 if quick else N_IMAGES)
    spec = {"images": [str(p) for p in images], "texts": TEXTS[: N_TEXTS // 2 if quick else N_TEXTS]}
    (tmp / "clip.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    return tmp / "clip.json"


def accuracy(name: str, other: dict[str, np.ndarray], base: dict[str, np.ndarray]) -> str:
    """Largest cosine-score difference, and how many images keep the same order of texts by score."""
    scores = other["image_embeds"] @ other["text_embeds"].T
    ref = base["image_embeds"] @ base["text_embeds"].T
    same = sum(np.array_equal(a, b) for a, b in zip(np.argsort(-scores, 1), np.argsort(-ref, 1), strict=True))
    top1 = int((scores.argmax(1) == ref.argmax(1)).sum())
    n, m = scores.shape
    upper = np.triu(np.ones((m, m), bool), 1)  # each pair of texts once
    kept = (np.sign(scores[:, :, None] - scores[:, None, :]) == np.sign(ref[:, :, None] - ref[:, None, :]))[
        :, upper
    ]
    return (
        f"{name}: max |cosine score| diff {np.abs(scores - ref).max():.2e}; text ranking identical for "
        f"{same}/{n} images{'' if same == n else ' (DIFFERS)'}, same top-1 text for {top1}/{n}, "
        f"{100 * kept.mean():.1f}% of text pairs in the same order"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    wp.add_options(p, PRECISIONS, ROOT / "bench" / "results" / "clip.txt", "8 images, 16 texts")
    p.add_argument("--worker", nargs=3, metavar=("FOLDER", "SPEC", "DTYPE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        folder, spec, dtype = args.worker
        ours_worker(Path(folder), Path(spec), dtype)
        return
    res = wp.Results("bench_clip.py", args, THREADS)
    rounds, precisions = res.rounds, res.precisions
    res.say(
        "# zhplm (zhplm.pipeline('image-text-similarity').encoder) vs cn_clip 1.6.0 on the same random ViT-B-16"
    )
    res.say(
        "# weights (see this script's docstring); columns: items/s per side (median over rounds); ratios:"
    )
    res.say(
        "# median [min–max] of per-round cn_clip seconds / zhplm seconds; goal: fp32/cn_clip >= 1.0 on every row"
    )
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        spec_file = prepare(tmp, args.quick)
        spec = json.loads(spec_file.read_text(encoding="utf-8"))
        sides = {"cn_clip": wp.Worker("cn_clip", [str(wp.REF_PYTHON), str(ROOT / "bench" / "mm_original_worker.py"), "cnclip", str(tmp / "release"), str(spec_file), str(THREADS)])}  # fmt: skip
        for dtype in precisions:
            sides[dtype] = wp.Worker(dtype, [str(wp.OURS_PYTHON), __file__, "--worker", str(tmp / "model"), str(spec_file), dtype])  # fmt: skip
        times, outputs = wp.alternate(sides, rounds, tmp, "clip")
    report(times, outputs, spec, rounds, precisions, res.say)
    res.write(end=True)


def report(times: dict[str, dict[str, list[float]]], outputs: dict[str, Any], spec: dict[str, Any], rounds: int, precisions: list[str], say: Any) -> None:  # fmt: skip
    ref = times["cn_clip"]
    say()
    say(f"## Chinese-CLIP ViT-B-16, {len(spec['images'])} JPEGs 640x480 in one batch, {len(spec['texts'])} texts, {rounds} round(s)")  # fmt: skip
    say(
        f"{'measurement':45s} {'cn_clip':>9s} " + " ".join(f"{d:>9s}" for d in precisions) + "   fp32/cn_clip"
    )
    for key, (count, unit) in ROWS.items():
        n = len(spec[count])
        row = f"{unit:45s} {n / statistics.median(ref[key]):9.2f} "
        row += " ".join(f"{n / statistics.median(times[d][key]):9.2f}" for d in precisions)
        say(row + "   " + wp.ratio(ref[key], times["fp32"][key]))
    for d in precisions[1:]:
        say(f"{d} vs fp32 (zhplm), median ratio: " + ", ".join(f"{k} {wp.ratio(times['fp32'][k], times[d][k])}" for k in ROWS))  # fmt: skip
    say(accuracy("fp32 vs cn_clip", outputs["fp32"], outputs["cn_clip"]))
    for d in precisions[1:]:
        say(accuracy(f"{d} vs fp32", outputs[d], outputs["fp32"]))
    fp32 = outputs["fp32"]["image_embeds"] @ outputs["fp32"]["text_embeds"].T
    say(
        f"(fp32 cosine scores span {fp32.min():.3f}..{fp32.max():.3f}: random weights, close scores, so a small"
    )
    say(" difference can swap two texts; the ranking columns say how often it does)")


if __name__ == "__main__":
    main()
