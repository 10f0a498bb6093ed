"""Bounded load test on loopback: mixed embeddings + generation against ``zhplm serve`` and against plain
transformers behind a naive FastAPI endpoint (the baseline).

C client threads (by default 64: 56 send embeddings, 8 send completions), each on its own keep-alive
connection, for D seconds. Every answer is checked against its own input: an embeddings row against that
text's vector, a completion against that prompt's greedy continuation, both computed beforehand with
``zhplm.pipeline`` in this process; a wrong, mixed-up or missing answer counts as an error. The server's
RSS is sampled every second. ``--before REV`` measures zhplm at another git revision too (before/after).

    PYTHONPATH=src .venv/bin/python bench/bench_serve_load.py [--clients 64] [--seconds 30] [--before REV] \\
        > bench/results/serve_load.txt
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

from bench_serve import CHARS, batch_metrics, cpu_name, cpu_seconds, free_port, make_model, rss_mib, wait_up

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


def measure(
    argv: list[str], env: dict[str, str], port: int, inputs: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_up(port, proc)
        Load(port, inputs).run(8, 2, 3.0)  # warm-up: first calls, thread pools, allocator
        rss: list[float] = []
        done = threading.Event()

        def sample() -> None:
            while not done.wait(1.0):
                rss.append(rss_mib(proc.pid))

        sampler = threading.Thread(target=sample)
        cpu, batches = cpu_seconds(proc.pid), batch_metrics(port)
        rss.append(rss_mib(proc.pid))
        sampler.start()
        load = Load(port, inputs)
        elapsed = load.run(args.clients, args.generators, args.seconds)
        done.set()
        sampler.join()
        after = batch_metrics(port)
        answered = sum(len(v) for v in load.latency.values())
        return {
            "load": load,
            "elapsed": elapsed,
            "rss": rss,
            "cpu_ms": 1000 * (cpu_seconds(proc.pid) - cpu) / max(1, answered),
            "batch": (after[1] - batches[1]) / max(1.0, after[0] - batches[0]),
        }
    finally:
        proc.terminate()
        proc.wait(60)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--generators", type=int, default=8, help="of the clients, how many send completions")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument(
        "--before", help="a git revision of zhplm to measure too (its src/ exported to a temp dir)"
    )
    args = ap.parse_args()
    import torch

    import zhplm

    tmp = Path(tempfile.mkdtemp(prefix="zhplm-bench-load-"))
    bert = make_model(tmp / "bench-bert")
    gpt2 = make_gpt2(tmp / "bench-gpt2")
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

    def zhplm_argv(port: int) -> list[str]:
        base = [sys.executable, "-m", "zhplm", "serve", str(bert), str(gpt2), "--port", str(port)]
        return [*base, "--preload", "--max-models", "4"]

    servers: dict[str, tuple[Any, dict[str, str]]] = {}
    if args.before:
        old = tmp / "before"
        old.mkdir()
        archive = subprocess.run(
            ["git", "archive", args.before, "src"], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        servers[f"zhplm serve at {args.before} (before)"] = (
            zhplm_argv,
            {**env, "PYTHONPATH": str(old / "src")},
        )
    servers["zhplm serve (now)"] = (zhplm_argv, env)
    servers["transformers + naive FastAPI"] = (
        lambda port: [sys.executable, str(tmp / "naive.py"), str(bert), str(gpt2), str(port)],
        env,
    )
    rows = []
    load_start = os.getloadavg()[0]
    for name, (argv, server_env) in servers.items():
        port = free_port()
        rows.append((name, measure(argv(port), server_env, port, inputs, args)))
    print(
        f"# zhplm serve vs a naive endpoint under mixed load: {args.clients} clients x {args.seconds:g} s on "
        f"loopback ({args.clients - args.generators} embeddings, {args.generators} completions)"
    )
    print(
        f"# CPU: {cpu_name()} ({os.cpu_count()} logical cores; load average {load_start:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end: other jobs share the machine)"
    )
    print(
        f"# torch {torch.__version__}; embeddings: BERT 4 layers x 256 hidden, one text of 8-64 characters per "
        f"request; completions: GPT-2 2 layers x 64, {NEW_TOKENS} greedy tokens"
    )
    print("# errors: non-200, or an answer not equal to its own input's precomputed result (lost / mixed up)")
    print("# RSS MiB: sampled every second; at the start / 25% / 50% / 75% / the end of the run")
    print(
        f"{'server':34} {'emb req/s':>9} {'p50':>6} {'p99':>6} {'gen req/s':>9} {'p50':>6} {'p99':>6}"
        f" {'errors':>6} {'CPU ms/req':>10} {'batch':>5} {'RSS MiB':>23}"
    )
    for name, r in rows:
        load = r["load"]
        e50, e99 = quantiles(load.latency["embeddings"])
        g50, g99 = quantiles(load.latency["completions"])
        rss = r["rss"]
        print(
            f"{name:34} {len(load.latency['embeddings']) / r['elapsed']:9.1f} {e50:6.0f} {e99:6.0f}"
            f" {len(load.latency['completions']) / r['elapsed']:9.1f} {g50:6.0f} {g99:6.0f}"
            f" {sum(load.errors.values()):6d} {r['cpu_ms']:10.2f} {r['batch']:5.1f}"
            f" {'/'.join(f'{rss[round(q * (len(rss) - 1))]:.0f}' for q in (0, 0.25, 0.5, 0.75, 1))}"
        )
    naive = len(rows[-1][1]["load"].latency["embeddings"]) / rows[-1][1]["elapsed"]
    for name, r in rows[:-1]:
        ours = len(r["load"].latency["embeddings"]) / r["elapsed"]
        print(f"# embeddings throughput, {name} / naive: {ours / naive:.2f}x")


if __name__ == "__main__":
    main()
