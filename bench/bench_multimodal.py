"""R2D2 and Mengzi-oscar feature extraction (and R2D2's ranking stage): zhplm against the ORIGINAL code.

    PYTHONPATH=src .venv/bin/python bench/bench_multimodal.py [--rounds 3] [--quick] [--out bench/results/multimodal.txt]

Same weights on both sides: the original classes write real-shaped random weights in the release layout
(tests/oracles/r2d2_original.py ``write --full``: R2D2's base variant — ViT-B/16 at 224 px, RoBERTa-wwm-ext-
base text tower, two 6-layer 768-wide cross-encoders; tests/oracles/oscar_original.py ``write --full``:
Mengzi-oscar-base's BERT-base with 2054-d regions), ``zhplm.convert`` converts them. The original side runs in
``.venv-ref`` (bench/mm_original_worker.py: R2D2's own ``models/r2d2.py`` + its demo's preprocess /
tokenize / cross-encoder code; Oscar's own ``BertImgModel``), zhplm's in ``.venv``; each side is ONE
long-lived process per model (loaded and warmed up once), and the parent alternates them round by round
(the first side swaps every round), all with ``torch.set_num_threads(2)``, fp32 unless said. A ratio is
the median over rounds of original seconds / zhplm seconds (> 1: zhplm faster), with [min–max].

Rows (the goal is ratio ≥ 1.0 on every fp32 row):
* R2D2 ``images``: 8 JPEGs (640×480) read, preprocessed and encoded in one batch (features);
* R2D2 ``texts``: 16 Chinese captions tokenized and encoded (R2D2 pads to 64; zhplm pads to the longest);
* R2D2 ``image→text``: one image against the 16 texts, cosine ranking, then the top 8 re-ranked by the
  cross-encoders' ITM score (``itm + cosine``, R2D2's ranking score);
* R2D2 ``text→image``: one caption against the 8 images, the top 4 re-ranked likewise;
* Oscar ``e2e``: 16 (caption, 50 regions × 2054) pairs tokenized and encoded in one batch (states + pooled);
  ``model``: the same pre-tokenized batch through the encoder only.
Reduced precision: zhplm's ``dtype="bf16"`` / ``"int8"`` (zhplm.precision) in their own processes, with the
largest difference of features / ranking scores against zhplm fp32 (and fp32 against the original).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_clip import make_images  # noqa: E402
from worker_protocol import (  # noqa: E402
    OURS_PYTHON,
    REF_PYTHON,
    Results,
    Worker,
    add_options,
    alternate,
    ratio,
    serve,
    timed,
    worker_env,
)

ORACLES = ROOT / "tests" / "oracles"
THREADS = 2
TEXTS = [
    f"{a}{b}" for a in ("一张", "海边的") for b in ("猫的照片", "狗在草地上奔跑", "日落", "红色汽车", "山和湖泊", "孩子们在踢足球", "一碗热腾腾的面条", "夜晚的街道")
]  # fmt: skip
K_TEXTS, K_IMAGES = 8, 4
OSCAR_PAIRS, OSCAR_REGIONS, OSCAR_MAX_LENGTH = 16, 50, 35
PRECISIONS = ("fp32", "bf16", "int8")


# --------------------------------------------------------------------------- zhplm's side (a worker)


def _ours_r2d2(folder: Path, spec: dict[str, Any], dtype: str) -> Any:
    from zhplm.tasks.image_text import ClipEncoder, ImageTextSimilarity

    enc = ClipEncoder.from_model(folder, batch_size=32, dtype=dtype)
    i2t = ImageTextSimilarity(enc, rerank=spec["k_texts"])
    t2i = ImageTextSimilarity(enc, rerank=spec["k_images"])
    texts = spec["texts"]

    def one_round() -> tuple[dict[str, float], dict[str, np.ndarray]]:
        t_img, img = timed(lambda: enc.image_features(spec["images"]).vectors)
        t_txt, txt = timed(lambda: enc.text_features(texts))
        t_i2t, by_text = timed(lambda: i2t.image_to_text(spec["query_image"], texts, k=spec["k_texts"]))
        t_t2i, by_image = timed(
            lambda: t2i.text_to_image(spec["query_text"], spec["images"], k=spec["k_images"])
        )
        times = {"images": t_img, "texts": t_txt, "i2t": t_i2t, "t2i": t_t2i}
        outputs = {
            "image_embeds": img,
            "text_embeds": txt,
            "i2t_order": np.array([texts.index(m.item) for m in by_text]),
            "i2t_score": np.array([m.score for m in by_text], np.float32),
            "t2i_order": np.array([spec["images"].index(m.item) for m in by_image]),
            "t2i_score": np.array([m.score for m in by_image], np.float32),
        }
        return times, outputs

    return one_round


def _ours_oscar(folder: Path, spec: dict[str, Any], dtype: str) -> Any:
    import torch

    from zhplm.tasks.region_text import RegionTextFeatures

    feats = RegionTextFeatures.from_model(folder, max_length=spec["max_length"], batch_size=64, dtype=dtype)
    regions = np.load(spec["regions"])
    pairs = list(regions)
    enc = next(iter(feats._batches(spec["texts"], pairs, None)))

    def model_only() -> Any:
        with torch.inference_mode():
            return feats.model.base_model(**enc[0], img_feats=enc[1])

    def one_round() -> tuple[dict[str, float], dict[str, np.ndarray]]:
        t_e2e, out = timed(lambda: feats.batch(spec["texts"], pairs))
        t_model, _ = timed(model_only)
        pooled = np.stack([o.pooled for o in out])
        return {"e2e": t_e2e, "model": t_model}, {"pooled": pooled}

    return one_round


def ours_worker(kind: str, folder: Path, spec_file: Path, dtype: str) -> None:
    import torch

    torch.set_num_threads(THREADS)
    spec = json.loads(spec_file.read_text(encoding="utf-8"))
    serve({"r2d2": _ours_r2d2, "oscar": _ours_oscar}[kind](folder, spec, dtype))


# --------------------------------------------------------------------------- the parent


def prepare(tmp: Path, quick: bool, sections: list[str]) -> dict[str, Any]:
    import zhplm

    run = {"check": True, "capture_output": True, "env": worker_env()}
    r2d2_release, oscar_release = tmp / "r2d2-release", tmp / "oscar-release"
    for kind, release in (("r2d2", r2d2_release), ("oscar", oscar_release)):
        if kind in sections:
            subprocess.run([str(REF_PYTHON), str(ORACLES / f"{kind}_original.py"), "write", "--out", str(release), "--full"], **run)  # type: ignore[call-overload]  # fmt: skip
            zhplm.convert(release, tmp / kind)
    (tmp / "images").mkdir()
    images = [str(p) for p in make_images(tmp / "images")][: 4 if quick else 8]
    texts = TEXTS[: 8 if quick else 16]
    r2d2 = {
        "images": images,
        "texts": texts,
        "query_image": images[1],
        "query_text": texts[3],
        "k_texts": K_TEXTS // 2 if quick else K_TEXTS,
        "k_images": K_IMAGES // 2 if quick else K_IMAGES,
    }
    rng = np.random.default_rng(0)
    n = 8 if quick else OSCAR_PAIRS
    np.save(tmp / "regions.npy", rng.normal(size=(n, OSCAR_REGIONS, 2054)).astype(np.float32))
    oscar = {
        "texts": [TEXTS[i % len(TEXTS)] + "，旁边有人" for i in range(n)],
        "regions": str(tmp / "regions.npy"),
    }
    oscar["max_length"] = OSCAR_MAX_LENGTH
    for name, spec in (("r2d2", r2d2), ("oscar", oscar)):
        (tmp / f"{name}.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    return {"r2d2": r2d2, "oscar": oscar, "r2d2_release": r2d2_release, "oscar_release": oscar_release}


def measure(
    kind: str, tmp: Path, release: Path, rounds: int, precisions: list[str]
) -> tuple[dict[str, dict[str, list[float]]], dict[str, Any]]:
    """Rounds alternating the original and zhplm's precisions; seconds per side and measurement."""
    spec = tmp / f"{kind}.json"
    sides = {"original": Worker("original", [str(REF_PYTHON), str(ROOT / "bench" / "mm_original_worker.py"), kind, str(release), str(spec), str(THREADS)])}  # fmt: skip
    for dtype in precisions:
        sides[dtype] = Worker(dtype, [str(OURS_PYTHON), __file__, "--worker", kind, str(tmp / kind), str(spec), dtype])  # fmt: skip
    return alternate(sides, rounds, tmp, kind)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_options(p, PRECISIONS, ROOT / "bench" / "results" / "multimodal.txt", "fewer images/texts/pairs")
    p.add_argument("--sections", nargs="+", choices=("oscar", "r2d2"), default=["oscar", "r2d2"])
    p.add_argument("--worker", nargs=4, metavar=("KIND", "FOLDER", "SPEC", "DTYPE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        kind, folder, spec, dtype = args.worker
        ours_worker(kind, Path(folder), Path(spec), dtype)
        return
    res = Results("bench_multimodal.py", args, THREADS, f" --sections {' '.join(args.sections)}")
    rounds, precisions, say = res.rounds, res.precisions, res.say
    say("# zhplm vs the original code on the same random real-shaped weights (see this script's docstring);")
    say("# columns: items/s per side (median over rounds); goal: fp32/original >= 1.0 on every row")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = prepare(tmp, args.quick, args.sections)
        r2d2, oscar = data["r2d2"], data["oscar"]
        for kind in args.sections:
            times, outputs = measure(kind, tmp, data[f"{kind}_release"], rounds, precisions)
            report(kind, times, outputs, r2d2 if kind == "r2d2" else oscar, rounds, say, precisions)
            res.write()  # section by section: a slow machine still leaves what it measured
    res.write(end=True)


def report(kind: str, times: dict[str, dict[str, list[float]]], outputs: dict[str, Any], spec: dict[str, Any], rounds: int, say: Any, precisions: list[str]) -> None:  # fmt: skip
    ref = times["original"]
    if kind == "r2d2":
        units = {
            "images": (len(spec["images"]), "images/s"),
            "texts": (len(spec["texts"]), "texts/s"),
            "i2t": (1, f"queries/s (1 image, {len(spec['texts'])} texts, top {spec['k_texts']} ITM)"),
            "t2i": (1, f"queries/s (1 text, {len(spec['images'])} images, top {spec['k_images']} ITM)"),
        }
        say()
        say(f"## R2D2 (base: ViT-B/16 224 px + BERT-base + 2×6-layer cross-encoders), {rounds} round(s)")
    else:
        units = {
            "e2e": (len(spec["texts"]), f"pairs/s e2e ({OSCAR_REGIONS} regions, tokenize + encode)"),
            "model": (len(spec["texts"]), "pairs/s model only"),
        }
        say()
        say(f"## Mengzi-oscar (BERT-base + {OSCAR_REGIONS}×2054 regions), {rounds} round(s)")
    say(
        f"{'measurement':58s} {'original':>9s} "
        + " ".join(f"{d:>9s}" for d in precisions)
        + "   fp32/original"
    )
    for key, (n, unit) in units.items():
        row = f"{key + ': ' + unit:58s} {n / statistics.median(ref[key]):9.2f} "
        row += " ".join(f"{n / statistics.median(times[d][key]):9.2f}" for d in precisions)
        say(row + "   " + ratio(ref[key], times["fp32"][key]))
    for d in precisions[1:]:
        say(
            f"{d} vs fp32 (zhplm), median ratio: "
            + ", ".join(f"{k} {ratio(times['fp32'][k], times[d][k])}" for k in units)
        )
    say(_differences(kind, outputs))


def _differences(kind: str, outputs: dict[str, Any]) -> str:
    ref, fp32 = outputs["original"], outputs["fp32"]
    if kind == "oscar":
        parts = [f"max |pooled| diff: fp32 vs original {np.abs(fp32['pooled'] - ref['pooled']).max():.2e}"]
        parts += [
            f"{d} vs fp32 {np.abs(outputs[d]['pooled'] - fp32['pooled']).max():.2e}"
            for d in outputs
            if d not in ("original", "fp32")
        ]
        return "; ".join(parts) + f" (pooled values span ±{np.abs(fp32['pooled']).max():.2f})"
    lines = []
    pairs = [("fp32 vs original", fp32, ref)]
    pairs += [(f"{d} vs fp32", outputs[d], fp32) for d in outputs if d not in ("original", "fp32")]
    for name, other, base in pairs:
        feat = max(np.abs(other[k] - base[k]).max() for k in ("image_embeds", "text_embeds"))
        same = all(np.array_equal(other[k], base[k]) for k in ("i2t_order", "t2i_order"))
        score = max(np.abs(np.sort(other[k]) - np.sort(base[k])).max() for k in ("i2t_score", "t2i_score"))
        lines.append(f"{name}: max |feature| diff {feat:.2e}, ranking order {'identical' if same else 'DIFFERS'}, "
                     f"max |itm+cos score| diff {score:.2e}")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
