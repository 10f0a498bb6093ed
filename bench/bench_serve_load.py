"""Bounded load test on loopback: ``zhplm serve`` against plain transformers behind a naive FastAPI endpoint
(the baseline), on a tiny BERT and on a BERT-base-shaped one (random weights), fp32 on both sides.

C client threads (64 by default; ``--generators G`` of them send completions, the rest embeddings), each on
its own keep-alive connection. Both servers start once; then ``--rounds`` alternating rounds of
``--seconds`` load each (zhplm, naive; then naive, zhplm; ...), so a change in the machine's load hits both
sides. The headline is the median of the per-round ratios of embeddings req/s (goal: >= 2x the naive
endpoint, thanks to batching), with [min-max]. Every answer is checked against its own input: an embeddings
row against that text's vector, a completion against that prompt's greedy continuation, both computed
beforehand with ``zhplm.pipeline`` in this process; a wrong, mixed-up or missing answer counts as an error.
Each server's RSS is sampled every second under load (``--rounds 1 --seconds 100`` shows whether it levels).
``--before REV`` measures zhplm at another git revision too.

    # the headline, embeddings only, both model sizes (~4-5 min):
    PYTHONPATH=src .venv/bin/python bench/bench_serve_load.py > bench/results/serve_load.txt
    # mixed embeddings + completions:  --generators 8;   memory over a long run:  --models tiny --rounds 1 --seconds 100
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench_serve import CHARS, batch_metrics, cpu_seconds, free_port, make_model, rss_mib, wait_up
from worker_protocol import cpu_name

NAIVE = """
import sys, torch
from fastapi import FastAPI
from pydantic import BaseModel
from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer
tok = AutoTokenizer.from_pretrained(sys.argv[1])
model = AutoModel.from_pretrained(sys.argv[1]).eval()
gtok = AutoTokenizer.from_pretrained(sys.argv[2])
gpt = AutoModelForCausalLM.from_pretrained(sys.argv[2]).eval()
app = FastAPI()
class Body(BaseModel):
    model: str
    input: list[str]
class Completion(BaseModel):
    model: str
    prompt: str
    max_tokens: int = 16
@app.get("/health")
def health():
    return {"status": "ok"}
@app.post("/v1/embeddings")
def embed(body: Body):
    enc = tok(body.input, return_tensors="pt", padding=True, truncation=True, max_length=512)
    with torch.inference_mode():
        cls = model(**enc).last_hidden_state[:, 0]
    rows = torch.nn.functional.normalize(cls, dim=-1).tolist()
    return {"data": [{"index": i, "embedding": r} for i, r in enumerate(rows)]}
@app.post("/v1/completions")
def complete(body: Completion):
    ids = gtok(body.prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        out = gpt.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=body.max_tokens,
                           do_sample=False, pad_token_id=0)
    text = gtok.decode(out[0, ids.shape[1]:], skip_special_tokens=True).replace(" ", "")
    return {"choices": [{"index": 0, "text": text}]}
if __name__ == "__main__":
    import uvicorn
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[3]), log_level="warning")
"""
NEW_TOKENS = 8


def make_gpt2(folder: Path) -> Path:
    """A 2-layer GPT-2 (random weights, the BERT character vocabulary) that never writes special tokens."""
    import torch
    from transformers import BertTokenizer, GPT2Config, GPT2LMHeadModel

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *CHARS]
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(vocab), n_positions=256, n_embd=64, n_layer=2, n_head=2, bos_token_id=2, eos_token_id=3
    )
    model = GPT2LMHeadModel(config)
    model.generation_config.suppress_tokens = list(range(5))
    model.save_pretrained(folder)
    BertTokenizer(vocab={t: i for i, t in enumerate(vocab)}).save_pretrained(folder)
    return folder


class Load:
    """The clients of one run and what they saw."""

    def __init__(self, port: int, inputs: dict[str, Any]) -> None:
        self.port = port
        self.inputs = inputs
        self.latency: dict[str, list[float]] = {"embeddings": [], "completions": []}
        self.errors: dict[str, int] = {"embeddings": 0, "completions": 0}
        self.lock = threading.Lock()

    def client(self, seed: int, kind: str, until: float) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        mine: list[float] = []
        bad = 0
        while time.monotonic() < until:
            if kind == "embeddings":
                i = rng.randrange(len(self.inputs["texts"]))
                body = {"model": "bench-bert", "input": [self.inputs["texts"][i]]}
            else:
                i = rng.randrange(len(self.inputs["prompts"]))
                body = {
                    "model": "bench-gpt2",
                    "prompt": self.inputs["prompts"][i],
                    "max_tokens": NEW_TOKENS,
                    "temperature": 0,
                }
            raw_body = json.dumps(body, ensure_ascii=False).encode()
            start = time.perf_counter()
            try:
                conn.request("POST", f"/v1/{kind}", raw_body, {"Content-Type": "application/json"})
                res = conn.getresponse()
                raw = res.read()
                mine.append(time.perf_counter() - start)
                if res.status != 200 or not self.right(kind, i, json.loads(raw)):
                    bad += 1
            except (OSError, http.client.HTTPException, ValueError, KeyError):
                bad += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        with self.lock:
            self.latency[kind].extend(mine)
            self.errors[kind] += bad

    def right(self, kind: str, i: int, answer: dict[str, Any]) -> bool:
        if kind == "embeddings":
            row = np.array(answer["data"][0]["embedding"], np.float32)
            return len(answer["data"]) == 1 and bool(np.allclose(row, self.inputs["vectors"][i], atol=1e-4))
        return bool(answer["choices"][0]["text"] == self.inputs["continuations"][i])

    def run(self, clients: int, generators: int, seconds: float) -> float:
        until = time.monotonic() + seconds
        threads = [
            threading.Thread(
                target=self.client, args=(n, "completions" if n < generators else "embeddings", until)
            )
            for n in range(clients)
        ]
        began = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.monotonic() - began


def quantiles(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    ordered = sorted(values)
    return 1000 * statistics.median(ordered), 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


SHAPES = {  # name -> (layers, hidden, heads, intermediate)
    "tiny": (4, 256, 4, 1024),
    "base": (12, 768, 12, 3072),  # BERT-base's shape: where batching matters most on a CPU
}


def make_bert(folder: Path, shape: str) -> Path:
    """A BERT of ``shape`` with random weights and the bench's character vocabulary."""
    if shape == "tiny":
        return make_model(folder)
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    layers, hidden, heads, inner = SHAPES[shape]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *CHARS]
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=inner,
    )
    BertModel(config).save_pretrained(folder)
    BertTokenizer(vocab={t: i for i, t in enumerate(vocab)}).save_pretrained(folder)
    return folder


class Server:
    """One server process, started and warmed once, measured in several rounds; RSS is sampled every
    second while its own load runs (the other server's rounds leave it idle)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int) -> None:
        self.name, self.port = name, port
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.rss: list[float] = []
        self.rounds: list[dict[str, Any]] = []

    def start(self, inputs: dict[str, Any]) -> None:
        wait_up(self.port, self.proc)
        Load(self.port, inputs).run(8, 2, 3.0)  # warm-up: first calls, thread pools, allocator

    def round(self, inputs: dict[str, Any], args: argparse.Namespace) -> None:
        done = threading.Event()

        def sample() -> None:
            while not done.wait(1.0):
                self.rss.append(rss_mib(self.proc.pid))

        sampler = threading.Thread(target=sample)
        cpu, batches = cpu_seconds(self.proc.pid), batch_metrics(self.port)
        self.rss.append(rss_mib(self.proc.pid))
        sampler.start()
        load = Load(self.port, inputs)
        elapsed = load.run(args.clients, args.generators, args.seconds)
        done.set()
        sampler.join()
        after = batch_metrics(self.port)
        answered = sum(len(v) for v in load.latency.values())
        self.rounds.append(
            {
                "load": load,
                "elapsed": elapsed,
                "emb_rps": len(load.latency["embeddings"]) / elapsed,
                "gen_rps": len(load.latency["completions"]) / elapsed,
                "cpu_ms": 1000 * (cpu_seconds(self.proc.pid) - cpu) / max(1, answered),
                "batch": (after[1] - batches[1]) / max(1.0, after[0] - batches[0]),
            }
        )

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}x [{min(values):.2f}-{max(values):.2f}]"


def compare(shape: str, tmp: Path, gpt2: Path, args: argparse.Namespace) -> list[str]:
    """Alternating rounds of zhplm serve and the naive endpoint on a BERT of ``shape``: the table's lines."""
    import zhplm

    bert = make_bert(tmp / shape / "bench-bert", shape)  # served under its folder name
    rng = random.Random(0)
    texts = ["".join(rng.choice(CHARS) for _ in range(rng.randint(8, 64))) for _ in range(256)]
    prompts = ["".join(rng.choice(CHARS) for _ in range(rng.randint(2, 12))) for _ in range(32)]
    gen = zhplm.pipeline("text-generation", gpt2)
    inputs = {
        "texts": texts,
        "vectors": zhplm.pipeline("embeddings", bert)(texts),
        "prompts": prompts,
        "continuations": [gen(p, max_new_tokens=NEW_TOKENS).text for p in prompts],
    }
    env = {**os.environ, "ZHPLM_HOME": str(tmp / "home")}
    (tmp / "naive.py").write_text(NAIVE)
    argvs: dict[str, tuple[list[str], dict[str, str]]] = {}
    ports = {}
    for name in ("zhplm serve", "naive FastAPI"):
        ports[name] = port = free_port()
        if name == "zhplm serve":
            argv = [sys.executable, "-m", "zhplm", "serve", str(bert), str(gpt2), "--port", str(port)]
            argvs[name] = ([*argv, "--preload", "--max-models", "4"], env)
        else:
            argvs[name] = ([sys.executable, str(tmp / "naive.py"), str(bert), str(gpt2), str(port)], env)
    if args.before:
        old = tmp / "before"
        if not old.exists():
            old.mkdir()
            archive = subprocess.run(
                ["git", "archive", args.before, "src"], check=True, capture_output=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        name = f"zhplm serve at {args.before}"
        ports[name] = free_port()
        argv = [sys.executable, "-m", "zhplm", "serve", str(bert), str(gpt2), "--port", str(ports[name])]
        argvs[name] = ([*argv, "--preload", "--max-models", "4"], {**env, "PYTHONPATH": str(old / "src")})
    servers = [Server(name, argv, env_, ports[name]) for name, (argv, env_) in argvs.items()]
    load_start = os.getloadavg()[0]
    try:
        for server in servers:
            server.start(inputs)
        for r in range(args.rounds):  # alternating order: neither side always runs first
            for server in servers if r % 2 == 0 else servers[::-1]:
                server.round(inputs, args)
    finally:
        for server in servers:
            server.stop()
    layers, hidden, _, _ = SHAPES[shape]
    lines = [
        f"## BERT {shape} ({layers} layers x {hidden} hidden), fp32 on both sides; load average "
        f"{load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end",
        f"{'server':28} {'emb req/s':>9} {'p50':>6} {'p99':>6} {'gen req/s':>9} {'p50':>6} {'p99':>6}"
        f" {'errors':>6} {'CPU ms/req':>10} {'batch':>5} {'RSS MiB':>23}",
    ]
    for server in servers:
        lat: dict[str, list[float]] = {"embeddings": [], "completions": []}
        for rd in server.rounds:
            for kind in lat:
                lat[kind] += rd["load"].latency[kind]
        e50, e99 = quantiles(lat["embeddings"])
        g50, g99 = quantiles(lat["completions"])
        errors = sum(sum(rd["load"].errors.values()) for rd in server.rounds)
        rss = server.rss
        lines.append(
            f"{server.name:28} {statistics.median(rd['emb_rps'] for rd in server.rounds):9.1f} {e50:6.0f}"
            f" {e99:6.0f} {statistics.median(rd['gen_rps'] for rd in server.rounds):9.1f} {g50:6.0f} {g99:6.0f}"
            f" {errors:6d} {statistics.median(rd['cpu_ms'] for rd in server.rounds):10.2f}"
            f" {statistics.median(rd['batch'] for rd in server.rounds):5.1f}"
            f" {'/'.join(f'{rss[round(q * (len(rss) - 1))]:.0f}' for q in (0, 0.25, 0.5, 0.75, 1))} (max {max(rss):.0f})"
        )
    naive = next(s for s in servers if s.name == "naive FastAPI")
    for server in servers:
        if server is naive:
            continue
        rps = [a["emb_rps"] / b["emb_rps"] for a, b in zip(server.rounds, naive.rounds, strict=True)]
        cpu = [b["cpu_ms"] / a["cpu_ms"] for a, b in zip(server.rounds, naive.rounds, strict=True)]
        lines.append(
            f"# {shape}: embeddings req/s, {server.name} / naive, per round: {spread(rps)}"
            f" (GOAL >= 2x); per server CPU (naive ms/req / ours): {spread(cpu)}"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(
        description="zhplm serve vs transformers behind a naive FastAPI endpoint, alternating rounds"
    )
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument(
        "--generators", type=int, default=0, help="of the clients, how many send completions (mixed: 8)"
    )
    ap.add_argument("--seconds", type=float, default=15, help="seconds of load per round and server")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per server")
    ap.add_argument("--models", default="tiny,base", help="BERT shapes: tiny, base or both (comma)")
    ap.add_argument(
        "--before", help="a git revision of zhplm to measure too (its src/ exported to a temp dir)"
    )
    args = ap.parse_args()
    import torch

    tmp = Path(tempfile.mkdtemp(prefix="zhplm-bench-load-"))
    gpt2 = make_gpt2(tmp / "bench-gpt2")
    load_start = os.getloadavg()[0]
    lines: list[str] = []
    for shape in args.models.split(","):
        lines += compare(shape.strip(), tmp, gpt2, args)
    print(
        "# PYTHONPATH=src .venv/bin/python bench/bench_serve_load.py "
        + " ".join(f"--{k} {v}" for k, v in vars(args).items() if v is not None)
    )
    print(
        f"# zhplm serve vs a naive endpoint: {args.clients} clients ({args.clients - args.generators} "
        f"embeddings, {args.generators} completions) x {args.seconds:g} s x {args.rounds} alternating rounds"
    )
    print(
        f"# CPU: {cpu_name()} ({os.cpu_count()} logical cores; load average {load_start:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end)"
    )
    print(
        f"# torch {torch.__version__}; one text of 8-64 characters per embeddings request; completions: "
        f"GPT-2 2 layers x 64, {NEW_TOKENS} greedy tokens"
    )
    print("# errors: non-200, or an answer not equal to its own input's precomputed result (lost / mixed up)")
    print("# req/s, CPU ms/req (server process), batch (inputs per forward): medians of the rounds;")
    print(
        "# p50/p99 ms over all rounds; RSS MiB sampled every second under load: first / 25% / 50% / 75% / last"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
