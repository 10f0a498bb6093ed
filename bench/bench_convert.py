"""Convert a BERT-base TF1 checkpoint, and use the converted model: zhplm against transformers.

1. Conversion, each in a fresh subprocess, alternating rounds: zhplm (pure-Python reader, streamed
   safetensors) against transformers 4.46.3's own TF→PyTorch path (``load_tf_weights_in_bert`` into
   ``BertForPreTraining``, then ``save_pretrained``), in .venv-ref with TensorFlow. Wall time and peak
   RSS growth over the RSS after imports.
2. Throughput on the converted folder, in one process, interleaved: fill-mask (``zhplm.pipeline`` vs
   ``transformers.pipeline("fill-mask")``) and embeddings (``zhplm.pipeline("embeddings")`` vs plain
   ``AutoModel`` + CLS pooling), same texts, same batch size, 2 threads.

    .venv/bin/python bench/bench_convert.py [--rounds 3] [--out bench/results/convert.txt]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tf1_read import MAIN_PY, REF_PY, ROOT, WORK, _env, ensure_checkpoint

OUT = ROOT / "bench" / "_work" / "convert"
CONFIG = {
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 768,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "max_position_embeddings": 512,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "type_vocab_size": 2,
    "vocab_size": 21128,
}

_RSS = r"""
def _kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])
"""

CONVERT_OURS = (
    _RSS
    + r"""
import sys, time, json
import zhplm, zhplm.converter, transformers, torch
from transformers import BertForPreTraining  # the same modules the other side imports before timing
base = _kb("VmRSS")
t = time.perf_counter()
zhplm.convert(sys.argv[1], sys.argv[2], overwrite=True)
print(json.dumps([base, time.perf_counter() - t, _kb("VmHWM")]))
"""
)

CONVERT_HF4 = (
    _RSS
    + r"""
import sys, time, json, os
import tensorflow as tf, torch
from transformers import BertConfig, BertForPreTraining, load_tf_weights_in_bert
base = _kb("VmRSS")
t = time.perf_counter()
config = BertConfig.from_json_file(os.path.join(sys.argv[1], "bert_config.json"))
model = BertForPreTraining(config)
load_tf_weights_in_bert(model, config, os.path.join(sys.argv[1], "bert_model.ckpt"))
model.save_pretrained(sys.argv[2], safe_serialization=True)
print(json.dumps([base, time.perf_counter() - t, _kb("VmHWM")]))
"""
)


def prepare() -> None:
    ensure_checkpoint()
    (WORK / "bert_config.json").write_text(json.dumps(CONFIG, indent=2), encoding="utf-8")
    specials = ["[PAD]"] + [f"[unused{i}]" for i in range(1, 100)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = [chr(0x4E00 + i) for i in range(CONFIG["vocab_size"] - len(specials))]
    (WORK / "vocab.txt").write_text("\n".join(specials + chars) + "\n", encoding="utf-8")
    (WORK / "checkpoint").write_text('model_checkpoint_path: "bert_model.ckpt"\n', encoding="utf-8")


def run(python: Path, code: str, out: Path) -> list[float]:
    """[RSS after imports KB, seconds after imports, peak RSS KB, seconds of the whole process]."""
    if out.exists():
        shutil.rmtree(out)
    start = time.perf_counter()
    proc = subprocess.run(
        [str(python), "-c", code, str(WORK), str(out)], capture_output=True, text=True, env=_env(), cwd=ROOT
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return [*json.loads(proc.stdout.strip().splitlines()[-1]), time.perf_counter() - start]


def conversion(rounds: int) -> list[str]:
    runs: dict[str, list[list[float]]] = {"zhplm": [], "transformers 4.46.3": []}
    for _ in range(rounds):
        runs["zhplm"].append(run(MAIN_PY, CONVERT_OURS, OUT / "ours"))
        runs["transformers 4.46.3"].append(run(REF_PY, CONVERT_HF4, OUT / "hf4"))
    model_mb = sum(p.stat().st_size for p in WORK.glob("bert_model.ckpt.data-*")) / 1e6
    lines = [
        f"1. conversion of a BERT-base TF1 checkpoint ({model_mb:.0f} MB of tensors, largest 64.9 MB), "
        f"{rounds} rounds, fresh subprocess each",
        "",
        "(after imports = the conversion call alone; whole process = what a user waits for, imports included:",
        " TensorFlow for transformers' loader, none for zhplm)",
        "",
        f"{'converter':<24} {'after imports s':>16} {'whole process s':>16} {'peak-RSS growth MB':>19}",
    ]
    summary = {}
    for name, rs in runs.items():
        secs = statistics.median(r[1] for r in rs)
        whole = statistics.median(r[3] for r in rs)
        grow = statistics.median((r[2] - r[0]) / 1024 for r in rs)
        summary[name] = (secs, whole, grow)
        lines.append(f"{name:<24} {secs:>16.2f} {whole:>16.2f} {grow:>19.0f}")
    ours, theirs = summary["zhplm"], summary["transformers 4.46.3"]
    lines += [
        "",
        f"time ratio zhplm/transformers (medians): after imports {ours[0] / theirs[0]:.2f}, "
        f"whole process {ours[1] / theirs[1]:.2f}",
        f"peak-RSS growth: zhplm {ours[2] / model_mb:.2f}x the model size, transformers {theirs[2] / model_mb:.2f}x",
    ]
    return lines


THROUGHPUT = r"""
import json, sys, time, statistics
import torch, transformers, zhplm, numpy as np
torch.set_num_threads(2)
folder, rounds = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
chars = [chr(0x4E00 + i) for i in range(3000)]
texts = ["".join(rng.choice(chars, size=int(rng.integers(20, 60)))) for _ in range(64)]
masked = [t[:10] + "[MASK]" + t[11:] for t in texts]
bs = 16

ours_fill = zhplm.pipeline("fill-mask", folder, top_k=5)
hf_fill = transformers.pipeline("fill-mask", model=folder, tokenizer=folder, top_k=5, device="cpu")
ours_emb = zhplm.pipeline("embeddings", folder, pooling="cls", batch_size=bs)
tok = transformers.AutoTokenizer.from_pretrained(folder)
plain = transformers.AutoModel.from_pretrained(folder).eval()

def plain_embed(batch):
    out = []
    for i in range(0, len(batch), bs):
        enc = tok(batch[i:i + bs], return_tensors="pt", padding=True, truncation=True)
        with torch.inference_mode():
            h = plain(**enc).last_hidden_state[:, 0]
        out.append(torch.nn.functional.normalize(h, dim=-1))
    return torch.cat(out)

tasks = {
    "fill-mask  zhplm.pipeline": lambda: ours_fill.batch(masked, batch_size=bs),
    "fill-mask  transformers.pipeline": lambda: hf_fill(masked, batch_size=bs),
    "embeddings zhplm.pipeline": lambda: ours_emb(texts),
    "embeddings AutoModel + CLS": lambda: plain_embed(texts),
}
for f in tasks.values():
    f()  # warm up
times = {k: [] for k in tasks}
for _ in range(rounds):
    for k, f in tasks.items():
        t = time.perf_counter(); f(); times[k].append(time.perf_counter() - t)
print(json.dumps({k: [len(texts) / min(v), len(texts) / statistics.median(v)] for k, v in times.items()}))
"""


def throughput(rounds: int) -> list[str]:
    folder = OUT / "ours"
    proc = subprocess.run(
        [str(MAIN_PY), "-c", THROUGHPUT, str(folder), str(rounds)],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    rates = json.loads(proc.stdout.strip().splitlines()[-1])
    lines = [
        "",
        f"2. throughput on the converted folder (64 texts of 20-60 chars, batch 16, 2 threads, {rounds} rounds)",
        "",
        f"{'task':<36} {'best texts/s':>13} {'median texts/s':>15}",
    ]
    for name, (best, med) in rates.items():
        lines.append(f"{name:<36} {best:>13.1f} {med:>15.1f}")
    fm = rates["fill-mask  zhplm.pipeline"][1] / rates["fill-mask  transformers.pipeline"][1]
    em = rates["embeddings zhplm.pipeline"][1] / rates["embeddings AutoModel + CLS"][1]
    lines += ["", f"ratio zhplm/plain (median): fill-mask {fm:.2f}, embeddings {em:.2f}"]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    prepare()
    header = [
        "zhplm convert + use, BERT-base (random weights written by TensorFlow 2.15.1)",
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}",
        "",
    ]
    lines = header + conversion(args.rounds) + throughput(args.rounds)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
