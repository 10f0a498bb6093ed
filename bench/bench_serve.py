"""Load test of ``zhplm serve`` embeddings against plain transformers behind a naive FastAPI endpoint.

Both servers run the same model folder (a BERT saved by transformers, random weights, CLS pooling,
L2-normalised) in their own process on 127.0.0.1. C client threads, each on one keep-alive connection,
send one text per request for D seconds. Every answer is checked against its own input's embedding
(computed beforehand with ``zhplm.pipeline``): a wrong or mixed-up row counts as an error. The table
shows throughput, p50/p99 latency, errors and the server's RSS before and after.

    PYTHONPATH=src .venv/bin/python bench/bench_serve.py [--clients 32] [--seconds 20] > bench/results/serve.txt
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from worker_protocol import cpu_name

NAIVE = """
import sys, torch
from fastapi import FastAPI
from pydantic import BaseModel
from transformers import AutoModel, AutoTokenizer
folder = sys.argv[1]
tok = AutoTokenizer.from_pretrained(folder)
model = AutoModel.from_pretrained(folder).eval()
app = FastAPI()
class Body(BaseModel):
    model: str
    input: list[str]
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
if __name__ == "__main__":
    import uvicorn
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""

CHARS = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经"


def make_model(folder: Path) -> Path:
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *CHARS]
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=256,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=1024,
    )
    BertModel(config).save_pretrained(folder)
    BertTokenizer(vocab={t: i for i, t in enumerate(vocab)}).save_pretrained(folder)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).read()
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("server exited") from None
            time.sleep(0.2)
    raise TimeoutError("server did not come up")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def batch_metrics(port: int) -> tuple[float, float]:
    """(forward passes, inputs in them) from zhplm's /metrics; (nan, nan) for the baseline."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    except OSError:
        return float("nan"), float("nan")
    values = dict(
        line.split(" ", 1) for line in text.splitlines() if line.startswith("zhplm_embedding_batch")
    )
    return float(values.get("zhplm_embedding_batches_total", "nan")), float(
        values.get("zhplm_embedding_batched_inputs_total", "nan")
    )


def load(
    port: int, texts: list[str], expected: np.ndarray[Any, Any], clients: int, seconds: float
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        bad = 0
        while time.monotonic() < stop:
            i = rng.randrange(len(texts))
            body = json.dumps({"model": "bench-bert", "input": [texts[i]]}, ensure_ascii=False).encode()
            start = time.perf_counter()
            try:
                conn.request("POST", "/v1/embeddings", body, {"Content-Type": "application/json"})
                res = conn.getresponse()
                raw = res.read()
                mine.append(time.perf_counter() - start)
                row = (
                    np.array(json.loads(raw)["data"][0]["embedding"], np.float32)
                    if res.status == 200
                    else None
                )
                if row is None or not np.allclose(row, expected[i], atol=1e-4):
                    bad += 1
            except (OSError, http.client.HTTPException, ValueError, KeyError):
                bad += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    latencies.sort()
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        if latencies
        else float("nan"),
        "errors": errors[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=20)
    args = ap.parse_args()
    import torch

    import zhplm

    tmp = Path(tempfile.mkdtemp(prefix="zhplm-bench-serve-"))
    folder = make_model(tmp / "bench-bert")
    rng = random.Random(0)
    texts = ["".join(rng.choice(CHARS) for _ in range(rng.randint(8, 64))) for _ in range(256)]
    expected = zhplm.pipeline("embeddings", folder)(texts)
    env = {**os.environ, "ZHPLM_HOME": str(tmp / "home")}
    (tmp / "naive.py").write_text(NAIVE)
    servers = {
        "zhplm serve (dynamic batching)": lambda port: [
            sys.executable,
            "-m",
            "zhplm",
            "serve",
            str(folder),
            "--port",
            str(port),
            "--preload",
            "--max-inputs",
            "64",
        ],
        "transformers + naive FastAPI": lambda port: [
            sys.executable,
            str(tmp / "naive.py"),
            str(folder),
            str(port),
        ],
    }
    rows = []
    for name, argv in servers.items():
        port = free_port()
        proc = subprocess.Popen(argv(port), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_up(port, proc)
            load(port, texts, expected, 4, 2.0)  # warm-up
            before, cpu, batches = rss_mib(proc.pid), cpu_seconds(proc.pid), batch_metrics(port)
            result = load(port, texts, expected, args.clients, args.seconds)
            result["rss_before"], result["rss_after"] = before, rss_mib(proc.pid)
            result["cpu_ms"] = 1000 * (cpu_seconds(proc.pid) - cpu) / max(1, result["requests"])
            after = batch_metrics(port)
            result["batch"] = (after[1] - batches[1]) / max(1.0, after[0] - batches[0])
            rows.append((name, result))
        finally:
            proc.terminate()
            proc.wait(60)
    print(
        f"# zhplm serve vs a naive endpoint: embeddings, {args.clients} clients x {args.seconds:g} s, loopback"
    )
    print(
        f"# CPU: {cpu_name()} ({os.cpu_count()} logical cores, load average {os.getloadavg()[0]:.1f} at the end)"
    )
    print(
        f"# torch {torch.__version__}, {torch.get_num_threads()} threads; model: BERT 4 layers x 256 hidden, random"
    )
    print("# weights, one text of 8-64 characters per request, each answer checked against its own input")
    print("# server CPU ms/req: the server process's CPU time over the requests it answered")
    print(
        f"{'server':32} {'requests':>8} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}"
        f" {'CPU ms/req':>10} {'batch':>5} {'RSS MiB':>11}"
    )
    for name, r in rows:
        print(
            f"{name:32} {r['requests']:8d} {r['rps']:7.1f} {r['p50_ms']:7.1f} {r['p99_ms']:7.1f} {r['errors']:6d}"
            f" {r['cpu_ms']:10.2f} {r['batch']:5.1f} {r['rss_before']:5.0f}->{r['rss_after']:<5.0f}"
        )
    if len(rows) == 2 and rows[1][1]["rps"]:
        print(f"# throughput ratio: {rows[0][1]['rps'] / rows[1][1]['rps']:.2f}x")


if __name__ == "__main__":
    main()
