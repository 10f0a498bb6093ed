"""Forward throughput of zhplm's own NEZHA, RoFormerV2 and GAU-α against their peer implementations.

Base-sized configs, random weights, batch 8 × 128 tokens (the last 28 of every other row padded), fp32,
``torch.set_num_threads(2)``, inference mode. Each implementation runs in its own worker process (ours in
this venv; the peers in ``.venv-ref``: transformers 4.46.3 NEZHA, junnyu ``roformer`` 0.4.3, bert4keras
0.11.5 on TensorFlow 2.15 with two threads); the workers stay alive and are timed in interleaved rounds
so that machine drift hits all alike. The torch peers get our very weights (same parameter names); the
bert4keras models get random weights of the same shapes (same work).

    .venv/bin/python bench/bench_modeling.py [--rounds 5] [--reps 3] [--out bench/results/modeling.txt]
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

ROOT = Path(__file__).resolve().parents[1]
REF_PYTHON = ROOT / ".venv-ref" / "bin" / "python"
BATCH, LENGTH, PAD_FROM = 8, 128, 100
THREADS = 2

NEZHA_BASE = dict(
    vocab_size=21128, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
    hidden_act="gelu", max_position_embeddings=512, max_relative_position=64, type_vocab_size=2,
)  # fmt: skip
ROFORMER_V2_BASE = dict(
    vocab_size=12000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
    hidden_act="relu", max_position_embeddings=512, type_vocab_size=2,
)  # fmt: skip
GAU_ALPHA_BASE = dict(
    vocab_size=12000, hidden_size=768, num_hidden_layers=24, intermediate_size=1536, attention_key_size=128,
    hidden_act="swish", max_position_embeddings=512, type_vocab_size=2,
)  # fmt: skip

# family -> implementations (name, interpreter, worker kind); the first is ours
FAMILIES: dict[str, list[tuple[str, str, str]]] = {
    "NEZHA base": [
        ("zhplm NezhaModel", "ours", "nezha"),
        ("transformers 4.46.3 NezhaModel", "ref", "hf4-nezha"),
    ],
    "RoFormerV2 base": [
        ("zhplm RoFormerV2Model", "ours", "roformer_v2"),
        ("roformer 0.4.3 RoFormerModel (V2 mode)", "ref", "junnyu-roformer-v2"),
        ("bert4keras 0.11.5 RoFormerV2 (TF 2.15)", "ref", "bert4keras-roformer_v2"),
    ],
    "GAU-α base (24 layers)": [
        ("zhplm GAUAlphaModel", "ours", "gau_alpha"),
        ("bert4keras 0.11.5 GAU-α (TF 2.15)", "ref", "bert4keras-gau_alpha"),
    ],
}


# --------------------------------------------------------------------------------------------- workers


def _inputs_np() -> dict[str, Any]:
    import numpy as np

    r = np.random.default_rng(0)
    ids = r.integers(1, 10000, (BATCH, LENGTH))
    mask = np.ones((BATCH, LENGTH), dtype=np.int64)
    ids[1::2, PAD_FROM:] = 0
    mask[1::2, PAD_FROM:] = 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def _torch_model(kind: str, weights: Path) -> Any:
    import torch

    torch.manual_seed(0)
    if kind == "nezha":
        from zhplm.arch.modeling.nezha import NezhaConfig, NezhaModel

        model: Any = NezhaModel(NezhaConfig(**NEZHA_BASE))
    elif kind == "roformer_v2":
        from zhplm.arch.modeling.roformer_v2 import RoFormerV2Config, RoFormerV2Model

        model = RoFormerV2Model(RoFormerV2Config(**ROFORMER_V2_BASE, layer_norm_eps=1e-12))
    elif kind == "gau_alpha":
        from zhplm.arch.modeling.gau_alpha import GAUAlphaConfig, GAUAlphaModel

        model = GAUAlphaModel(GAUAlphaConfig(**GAU_ALPHA_BASE))
    elif kind == "hf4-nezha":
        from transformers.models.deprecated.nezha import NezhaConfig as HFNezhaConfig
        from transformers.models.deprecated.nezha import NezhaModel as HFNezhaModel

        model = HFNezhaModel(HFNezhaConfig(**NEZHA_BASE))
    elif kind == "junnyu-roformer-v2":
        from roformer import RoFormerConfig, RoFormerModel

        cfg = RoFormerConfig(**ROFORMER_V2_BASE, norm_type="rms_norm", use_bias=False, layer_norm_eps=1e-12)
        model = RoFormerModel(cfg)
    else:
        raise SystemExit(f"unknown worker kind {kind}")
    model.eval()
    if kind in ("nezha", "roformer_v2", "gau_alpha"):
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    else:
        from safetensors.torch import load_file

        missing, unexpected = model.load_state_dict(load_file(str(weights)), strict=False)
        left = [m for m in missing if "embed_positions" not in m]
        if left or unexpected:
            raise SystemExit(f"{kind}: weights do not fit: missing {left}, unexpected {unexpected}")
    return model


def _worker(kind: str, weights: Path) -> None:
    """Build one model, then time ``run N`` requests from stdin, answering one JSON line each."""
    if kind.startswith("bert4keras-"):
        run = _bert4keras_runner(kind.split("-", 1)[1])
    else:
        import torch

        torch.set_num_threads(THREADS)
        model = _torch_model(kind, weights)
        feeds = {k: torch.from_numpy(v) for k, v in _inputs_np().items()}

        def run() -> None:
            with torch.inference_mode():
                model(**feeds)

    run()
    run()
    print("ready", flush=True)
    for line in sys.stdin:
        n = int(line.split()[1])
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
        print(json.dumps(times), flush=True)


def _bert4keras_runner(arch: str) -> Any:
    os.environ["TF_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.keras = keras  # see tests/oracles/peer_bert4keras.py
    sys.path.insert(0, str(ROOT / "tests" / "oracles"))
    import peer_bert4keras
    from bert4keras.models import build_transformer_model

    config = dict(ROFORMER_V2_BASE if arch == "roformer_v2" else GAU_ALPHA_BASE)
    config["num_attention_heads"] = config.get("num_attention_heads", 1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bert_config.json"
        path.write_text(json.dumps(config))
        model = build_transformer_model(
            str(path), model=peer_bert4keras.GAUAlpha if arch == "gau_alpha" else "roformer_v2"
        )
    feeds = _inputs_np()
    ids, segments = tf.constant(feeds["input_ids"]), tf.constant(feeds["token_type_ids"])

    def run() -> None:
        model([ids, segments], training=False)

    return run


# ------------------------------------------------------------------------------------------------ parent


class Worker:
    def __init__(self, label: str, venv: str, kind: str, weights: Path) -> None:
        python = sys.executable if venv == "ours" else str(REF_PYTHON)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env.update({"OMP_NUM_THREADS": str(THREADS), "CUDA_VISIBLE_DEVICES": "", "USE_TF": "0"})
        if kind.startswith("bert4keras-"):
            env.pop("USE_TF")
        self.label = label
        self.proc = subprocess.Popen(
            [python, __file__, "--worker", kind, "--weights", str(weights)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=ROOT,
        )
        self._expect("ready")
        self.times: list[float] = []  # wall seconds per forward

    def _expect(self, what: str) -> str:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise SystemExit(f"worker {self.label} died")
            if line.startswith(what) or what == "":
                return line

    def run(self, reps: int) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"run {reps}\n")
        self.proc.stdin.flush()
        self.times += json.loads(self._expect("["))

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker")
    p.add_argument("--weights", type=Path)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--out", type=Path)
    p.add_argument("--family", action="append", help="only these families (default: all)")
    args = p.parse_args()
    if args.worker:
        _worker(args.worker, args.weights)
        return

    lines = [
        f"forward pass, batch {BATCH} x {LENGTH} tokens (half the rows padded from {PAD_FROM}), fp32, "
        f"{THREADS} threads, inference mode; {args.rounds} interleaved rounds x {args.reps} reps per implementation",
        f"host load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (a shared machine: the best",
        "run is the least disturbed one); ratios: its time / ours (> 1: ours is faster)",
        "",
        f"{'family':<24} {'implementation':<42} {'best s':>7} {'median s':>8} {'tokens/s':>8} "
        f"{'best':>6} {'median':>6}",
    ]
    for family, impls in FAMILIES.items():
        if args.family and family.split()[0] not in args.family:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            weights = Path(tmp) / "weights.safetensors"
            workers = [Worker(label, venv, kind, weights) for label, venv, kind in impls]
            for r in range(args.rounds):
                order = workers if r % 2 == 0 else workers[::-1]
                for w in order:
                    w.run(args.reps)
            for w in workers:
                w.close()
        ours_best, ours_med = min(workers[0].times), statistics.median(workers[0].times)
        for w in workers:
            best, med = min(w.times), statistics.median(w.times)
            ratios = "" if w is workers[0] else f"{best / ours_best:5.2f}x {med / ours_med:5.2f}x"
            lines.append(
                f"{family:<24} {w.label:<42} {best:7.3f} {med:8.3f} {BATCH * LENGTH / best:8.0f} {ratios}"
            )
            family = ""
        print("\n".join(lines[-len(workers) :]), flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
