"""Read every tensor of a BERT-base-sized TF1 checkpoint: zhplm's pure-Python reader vs TensorFlow's.

TensorFlow (in .venv-ref) writes the checkpoint once into bench/_work/ (12 layers, hidden 768,
intermediate 3072, vocab 21128: ~102 M float32 parameters, ~409 MB). Each reader then runs in its
own fresh subprocess, several rounds alternating, and reports wall time for opening + reading every
tensor and its peak RSS (VmHWM) above the RSS it had after imports. The page cache is warm for both
(a first untimed pass reads the files).

    .venv/bin/python bench/bench_tf1_read.py [--rounds 3] [--out bench/results/tf1_read.txt]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "_work" / "tf1_bert_base"
PREFIX = WORK / "bert_model.ckpt"
MAIN_PY = ROOT / ".venv" / "bin" / "python"
REF_PY = ROOT / ".venv-ref" / "bin" / "python"

WRITE_TF = r"""
import sys, numpy as np, tensorflow as tf
prefix = sys.argv[1]
L, H, I, V, P = 12, 768, 3072, 21128, 512
shapes = {"bert/embeddings/word_embeddings": [V, H], "bert/embeddings/position_embeddings": [P, H],
          "bert/embeddings/token_type_embeddings": [2, H], "bert/embeddings/LayerNorm/gamma": [H],
          "bert/embeddings/LayerNorm/beta": [H]}
for i in range(L):
    p = f"bert/encoder/layer_{i}/"
    for name, shape in {"attention/self/query": [H, H], "attention/self/key": [H, H],
                        "attention/self/value": [H, H], "attention/output/dense": [H, H],
                        "intermediate/dense": [H, I], "output/dense": [I, H]}.items():
        shapes[p + name + "/kernel"] = shape
        shapes[p + name + "/bias"] = [shape[1]]
    for ln in ("attention/output/LayerNorm", "output/LayerNorm"):
        shapes[p + ln + "/gamma"] = shapes[p + ln + "/beta"] = [H]
shapes.update({"bert/pooler/dense/kernel": [H, H], "bert/pooler/dense/bias": [H],
               "cls/predictions/transform/dense/kernel": [H, H], "cls/predictions/transform/dense/bias": [H],
               "cls/predictions/transform/LayerNorm/gamma": [H], "cls/predictions/transform/LayerNorm/beta": [H],
               "cls/predictions/output_bias": [V], "cls/seq_relationship/output_weights": [2, H],
               "cls/seq_relationship/output_bias": [2]})
rng = np.random.default_rng(0)
names = sorted(shapes)
tensors = [tf.constant(rng.standard_normal(shapes[n], dtype=np.float32)) for n in names]
tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names), tensors=tensors)
"""

# Both readers print: rss_after_imports_kb, seconds, peak_kb, n_tensors, total_bytes, largest_bytes
_MEASURE = r"""
def _kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])
"""

READ_OURS = (
    _MEASURE
    + r"""
import sys, time, json
from zhplm.formats import open_checkpoint
base = _kb("VmRSS:")
t0 = time.perf_counter()
n = total = largest = 0
with open_checkpoint(sys.argv[1]) as r:
    for name in r.keys():
        a = r.get(name)
        n += 1; total += a.nbytes; largest = max(largest, a.nbytes)
        del a
dt = time.perf_counter() - t0
print(json.dumps([base, dt, _kb("VmHWM:"), n, total, largest]))
"""
)

READ_TF = (
    _MEASURE
    + r"""
import sys, time, json
import tensorflow as tf
base = _kb("VmRSS:")
t0 = time.perf_counter()
n = total = largest = 0
r = tf.train.load_checkpoint(sys.argv[1])
for name in r.get_variable_to_shape_map():
    a = r.get_tensor(name)
    n += 1; total += a.nbytes; largest = max(largest, a.nbytes)
    del a
dt = time.perf_counter() - t0
print(json.dumps([base, dt, _kb("VmHWM:"), n, total, largest]))
"""
)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update({"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""})
    return env


def _run(python: Path, code: str) -> list[float]:
    out = subprocess.run(
        [str(python), "-c", code, str(PREFIX)],
        capture_output=True,
        text=True,
        env=_env(),
        check=True,
        cwd=ROOT,
    )
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def ensure_checkpoint() -> None:
    if Path(str(PREFIX) + ".index").exists():
        return
    if not REF_PY.exists():
        sys.exit("bench needs .venv-ref (TensorFlow) to write the checkpoint: bash scripts/setup.sh --ref")
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"writing a BERT-base TF1 checkpoint with TensorFlow into {WORK} …", flush=True)
    subprocess.run([str(REF_PY), "-c", WRITE_TF, str(PREFIX)], env=_env(), check=True, cwd=ROOT)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, help="also write the table to this file")
    args = ap.parse_args()
    ensure_checkpoint()
    data_bytes = sum(p.stat().st_size for p in WORK.glob("bert_model.ckpt.data-*"))
    readers = {
        "zhplm (pure Python)": (MAIN_PY, READ_OURS),
        "TensorFlow 2.15 load_checkpoint": (REF_PY, READ_TF),
    }
    for python, code in readers.values():  # warm the page cache, check both see the same tensors
        _run(python, code)
    results: dict[str, list[list[float]]] = {k: [] for k in readers}
    for _ in range(args.rounds):
        for name, (python, code) in readers.items():
            results[name].append(_run(python, code))
    rows = []
    for name, runs in results.items():
        secs = [r[1] for r in runs]
        delta_mb = [(r[2] - r[0]) / 1024 for r in runs]
        peak_mb = [r[2] / 1024 for r in runs]
        rows.append(
            (
                name,
                min(secs),
                statistics.median(secs),
                statistics.median(delta_mb),
                statistics.median(peak_mb),
                runs[0],
            )
        )
    ours, theirs = rows[0], rows[1]
    n, total, largest = ours[5][3], ours[5][4], ours[5][5]
    lines = [
        "TF1 bundle read: every tensor of a BERT-base checkpoint (written by TensorFlow 2.15.1)",
        f"checkpoint: {n} tensors, {total / 1e6:.1f} MB of tensor data (data file {data_bytes / 1e6:.1f} MB), "
        f"largest tensor {largest / 1e6:.1f} MB",
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"{args.rounds} rounds per reader, warm page cache, each run in a fresh subprocess",
        "",
        f"{'reader':<34} {'best s':>8} {'median s':>9} {'GB/s':>6} {'peak-RSS growth MB':>19} {'peak RSS MB':>12}",
    ]
    for name, best, med, delta, peak, _ in rows:
        lines.append(
            f"{name:<34} {best:>8.3f} {med:>9.3f} {total / best / 1e9:>6.2f} {delta:>19.1f} {peak:>12.1f}"
        )
    lines += [
        "",
        f"time ratio zhplm/TensorFlow (best): {ours[1] / theirs[1]:.2f}  (median: {ours[2] / theirs[2]:.2f})",
        f"peak-RSS growth ratio zhplm/TensorFlow: {ours[3] / theirs[3]:.2f}",
        f"zhplm peak-RSS growth / largest tensor: {ours[3] * 2**20 / largest:.2f}  "
        f"(/ whole model: {ours[3] * 2**20 / total:.2f})",
        "peak-RSS growth = VmHWM at the end minus VmRSS after imports (TensorFlow's import alone is ~0.5 GB).",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    t = time.perf_counter()
    main()
    print(f"(bench ran {time.perf_counter() - t:.0f} s)", file=sys.stderr)
