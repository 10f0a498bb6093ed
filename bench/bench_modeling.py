"""Forward throughput of zhplm's own NEZHA, RoFormerV2, GAU-α, ChineseBERT, ZEN and Lattice-BERT against
their peer implementations.

Base-sized configs, random weights, batch 8 × 128 tokens (the last 28 of every other row padded), fp32,
``torch.set_num_threads(2)``, inference mode. Each implementation runs in its own worker process (ours in
this venv; the peers in ``.venv-ref``: transformers 4.46.3 NEZHA, junnyu ``roformer`` 0.4.3, bert4keras
0.11.5 on TensorFlow 2.15 with two threads, JunnYu's ``chinesebert`` 0.2.1, the original sinovation/ZEN
code and the original AliceMind Lattice-BERT TF1 graph in ``tf.compat.v1``, both read from their git
snapshots by the test oracles ``tests/oracles/{zen,labert}_original.py``); the workers stay alive and are
timed in interleaved rounds so that machine drift hits all alike. Same weights on both sides: the torch
peers load our state dict (same parameter names); the Lattice-BERT graph saves its randomly initialised
``model.ckpt`` and ours is converted from it by ``zhplm.convert`` (the converter the parity test checks);
the bert4keras models get random weights of the same shapes (same work). Extra inputs, the same arrays on
both sides: ChineseBERT 8 pinyin ids per token; ZEN 20 n-grams per row (2-3 characters each, all inside
the unpadded part); Lattice-BERT a lattice of characters + one 2-character word per 5 tokens, with
start/end positions.

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

CHINESEBERT_BASE = dict(
    vocab_size=23236, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
    hidden_act="gelu", max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12,
    glyph_embedding_dim=1728, pinyin_map_len=32,
)  # fmt: skip
ZEN_BASE = dict(
    vocab_size=21128, hidden_size=768, num_hidden_layers=12, num_hidden_word_layers=6, num_attention_heads=12,
    intermediate_size=3072, hidden_act="gelu", max_position_embeddings=512, type_vocab_size=2,
    layer_norm_eps=1e-12, word_size=104089,
)  # fmt: skip
LATTICE_BERT_BASE = dict(  # vocab: 21128 characters + the release's ~102K lexicon words
    vocab_size=21128 + 102000, embedding_size=128, hidden_size=768, num_hidden_layers=12,
    num_attention_heads=12, intermediate_size=3072, hidden_act="gelu", max_position_embeddings=512,
    type_vocab_size=16, initializer_range=0.02, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
)  # fmt: skip
NGRAMS_PER_ROW = 20
PINYIN_SLOTS = 8

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
    "ChineseBERT base": [
        ("zhplm ChineseBertModel", "ours", "chinesebert"),
        ("chinesebert 0.2.1 ChineseBertModel", "ref", "junnyu-chinesebert"),
    ],
    "ZEN base (12+6 layers)": [
        ("zhplm ZenModel", "ours", "zen"),
        ("sinovation/ZEN original ZenModel", "ref", "original-zen"),
    ],
    "Lattice-BERT base": [
        ("zhplm LatticeBertModel", "ours", "lattice_bert"),
        ("AliceMind LaBertModel (TF 2.15 compat.v1)", "ref", "original-labert"),
    ],
}
# the workers that write the family's weights (started first); the others read them
WRITERS = {"nezha", "roformer_v2", "gau_alpha", "chinesebert", "zen", "original-labert"}
# which extra inputs a worker kind is fed
EXTRA_INPUTS = {
    "chinesebert": "pinyin", "junnyu-chinesebert": "pinyin",
    "zen": "ngrams", "original-zen": "ngrams",
    "lattice_bert": "lattice", "original-labert": "lattice",
}  # fmt: skip


# --------------------------------------------------------------------------------------------- workers


def _inputs_np(extra: str = "") -> dict[str, Any]:
    """The batch (ids < 10000, every other row padded from PAD_FROM) plus a family's extra inputs."""
    import numpy as np

    r = np.random.default_rng(0)
    ids = r.integers(1, 10000, (BATCH, LENGTH))
    mask = np.ones((BATCH, LENGTH), dtype=np.int64)
    ids[1::2, PAD_FROM:] = 0
    mask[1::2, PAD_FROM:] = 0
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    if extra == "pinyin":
        pinyin = r.integers(0, CHINESEBERT_BASE["pinyin_map_len"], (BATCH, LENGTH, PINYIN_SLOTS))
        pinyin[mask == 0] = 0
        feeds["pinyin_ids"] = pinyin
    elif extra == "ngrams":
        feeds["input_ngram_ids"] = r.integers(1, ZEN_BASE["word_size"], (BATCH, NGRAMS_PER_ROW))
        matrix = np.zeros((BATCH, LENGTH, NGRAMS_PER_ROW), dtype=np.float32)
        for n in range(NGRAMS_PER_ROW):  # n-gram n covers 2 or 3 characters from 1 + 5n (< PAD_FROM)
            matrix[:, 1 + 5 * n : 3 + 5 * n + n % 2, n] = 1
        feeds["ngram_position_matrix"] = matrix
        feeds["ngram_token_type_ids"] = np.zeros_like(feeds["input_ngram_ids"])
        feeds["ngram_attention_mask"] = np.ones_like(feeds["input_ngram_ids"])
    elif extra == "lattice":  # [CLS] chars… words… [SEP]: one 2-character word per 5 tokens
        start = np.zeros_like(ids)
        chars = LATTICE_BERT_BASE["vocab_size"] - 102000
        for row in range(BATCH):
            n = int(mask[row].sum())
            words = n // 5
            c = n - 2 - words
            start[row, 1 : c + 1] = np.arange(1, c + 1)
            start[row, c + 1 : c + 1 + words] = 1 + (2 * np.arange(words)) % (c - 1)
            start[row, n - 1] = c + 1
            ids[row, c + 1 : c + 1 + words] = r.integers(chars, LATTICE_BERT_BASE["vocab_size"], words)
            ids[row, 0], ids[row, n - 1] = 2, 3
        end = start.copy()
        for row in range(BATCH):
            n = int(mask[row].sum())
            words = n // 5
            end[row, n - 1 - words : n - 1] += 1
        feeds.update(start_position_ids=start, end_position_ids=end)
    return feeds


def _torch_model(kind: str, weights: Path) -> Any:
    """Build a worker's torch model; a writer saves its state dict under ``weights``, a reader loads it."""
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
    elif kind == "chinesebert":
        from zhplm.arch.modeling.chinesebert import ChineseBertConfig, ChineseBertModel

        model = ChineseBertModel(ChineseBertConfig(**CHINESEBERT_BASE))
    elif kind == "zen":
        from zhplm.arch.modeling.zen import ZenConfig, ZenModel

        model = ZenModel(ZenConfig(**ZEN_BASE))
    elif kind == "lattice_bert":
        from zhplm.arch.modeling.lattice_bert import LatticeBertModel

        # the graph's model.ckpt through our converter (the one tests/test_parity_lattice_bert.py checks),
        # in a process of its own: the converter's large, freed buffers would leave this heap in a state
        # (glibc's raised mmap threshold) that slows every forward pass after it by ~15%
        convert = "import sys, zhplm; zhplm.convert(sys.argv[1], sys.argv[2])"
        subprocess.run(
            [sys.executable, "-c", convert, str(weights / "labert"), str(weights / "labert-zhplm")],
            check=True,
        )
        model = LatticeBertModel.from_pretrained(str(weights / "labert-zhplm"))
    elif kind == "hf4-nezha":
        from transformers.models.deprecated.nezha import NezhaConfig as HFNezhaConfig
        from transformers.models.deprecated.nezha import NezhaModel as HFNezhaModel

        model = HFNezhaModel(HFNezhaConfig(**NEZHA_BASE))
    elif kind == "junnyu-roformer-v2":
        from roformer import RoFormerConfig, RoFormerModel

        cfg = RoFormerConfig(**ROFORMER_V2_BASE, norm_type="rms_norm", use_bias=False, layer_norm_eps=1e-12)
        model = RoFormerModel(cfg)
    elif kind == "junnyu-chinesebert":
        from chinesebert import ChineseBertConfig as PeerConfig
        from chinesebert import ChineseBertModel as PeerModel

        model = PeerModel(PeerConfig(**CHINESEBERT_BASE))
    elif kind == "original-zen":
        model = _original_zen(weights)
    else:
        raise SystemExit(f"unknown worker kind {kind}")
    model.eval()
    if kind in WRITERS:
        from safetensors.torch import save_file

        save_file(
            {k: v.contiguous() for k, v in model.state_dict().items()}, str(weights / "weights.safetensors")
        )
    elif kind != "lattice_bert":
        from safetensors.torch import load_file

        missing, unexpected = model.load_state_dict(
            load_file(str(weights / "weights.safetensors")), strict=False
        )
        left = [m for m in missing if "embed_positions" not in m and not m.endswith("position_ids")]
        if left or unexpected:
            raise SystemExit(f"{kind}: weights do not fit: missing {left}, unexpected {unexpected}")
    return model


def _original_zen(weights: Path) -> Any:
    """The original ``ZEN/modeling.py`` ZenModel, imported from the git snapshot by the test oracle's loader."""
    sys.path.insert(0, str(ROOT / "tests" / "oracles"))
    import zen_original

    zen_original.materialise_original(Path(tempfile.mkdtemp(dir=weights)))
    from ZEN.modeling import ZenConfig, ZenModel

    config = {k: v for k, v in ZEN_BASE.items() if k not in ("vocab_size", "word_size")}
    return ZenModel(ZenConfig(ZEN_BASE["vocab_size"], ZEN_BASE["word_size"], **config))


def _worker(kind: str, weights: Path) -> None:
    """Build one model, then time ``run N`` requests from stdin, answering one JSON line each."""
    if kind.startswith("bert4keras-"):
        run = _bert4keras_runner(kind.split("-", 1)[1])
    elif kind == "original-labert":
        run = _labert_runner(weights)
    else:
        import torch

        torch.set_num_threads(THREADS)
        model = _torch_model(kind, weights)
        feeds = {k: torch.from_numpy(v) for k, v in _inputs_np(EXTRA_INPUTS.get(kind, "")).items()}
        if kind == "original-zen":
            feeds["output_all_encoded_layers"] = False  # type: ignore[assignment]

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


def _labert_runner(weights: Path) -> Any:
    """The original Lattice-BERT graph (the oracle's ``build_graph``: model + pre-training heads on
    placeholders), randomly initialised and saved as a release-style ``model.ckpt`` for ours to convert;
    the timed call is the ``session.run`` of the sequence output."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT / "tests" / "oracles"))
    import labert_original

    labert_original.materialise_original(Path(tempfile.mkdtemp(dir=weights)))
    import modeling_labert
    import tensorflow as tf

    v1 = tf.compat.v1
    out = weights / "labert"
    out.mkdir()
    (out / "labert_config.json").write_text(json.dumps(LATTICE_BERT_BASE))
    config = modeling_labert.LaBertConfig.from_json_file(str(out / "labert_config.json"))
    session_config = v1.ConfigProto(intra_op_parallelism_threads=THREADS, inter_op_parallelism_threads=1)
    graph = tf.Graph()
    with graph.as_default():
        v1.set_random_seed(0)
        tensors = labert_original.build_graph(config, BATCH, LENGTH)
        session = v1.Session(graph=graph, config=session_config)
        session.run(v1.global_variables_initializer())
        v1.train.Saver().save(session, str(out / "model.ckpt"))
    feeds = _inputs_np("lattice")
    ph = tensors["placeholders"]
    names = {
        "input_ids": "input_ids",
        "input_mask": "attention_mask",
        "segment_ids": "token_type_ids",
        "start": "start_position_ids",
        "end": "end_position_ids",
    }
    feed = {ph[k]: feeds[v].astype("int32") for k, v in names.items()}
    fetch = tensors["sequence_output"]

    def run() -> None:
        session.run(fetch, feed_dict=feed)

    return run


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
        if venv == "ours":  # measure this checkout's zhplm, not whichever one the venv was installed from
            env["PYTHONPATH"] = str(ROOT / "src")
        if kind.startswith("bert4keras-") or kind == "original-labert":
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
    p.add_argument("--weights", type=Path, help="(worker) the folder of the shared weights")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--out", type=Path)
    p.add_argument("--family", action="append", help="only these families, by first word (default: all)")
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
            started = {
                kind: Worker(label, venv, kind, Path(tmp))
                for label, venv, kind in sorted(impls, key=lambda impl: impl[2] not in WRITERS)
            }
            workers = [started[kind] for _, _, kind in impls]
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
