"""Batch jobs (zhplm.jobs): the local engine vs Ray on the same job, on this machine, for ``embed`` and
``generate`` — and the constants of the scaling model for N machines, measured.

What is measured (each a median over ``--rounds``; local and Ray runs alternate within a round):

1. driver: ``plan_blocks`` over a large text input (the one serial pass the driver makes), lines/s;
2. local engine, per task: startup (building the pipeline = loading the model), the time of one block at two
   block sizes (the faster of 2 repeats, then the median over rounds) → per-block overhead ``o`` and steady
   rows/s ``r`` (``t(b) = o + b / r``), and of a block's time its input read + Parquet write;
3. the same job end to end: local, Ray with 1 actor (all threads), Ray with one actor per CPU (1 thread
   each): wall time, time to the first finished block (Ray: actor start + model load), steady rows/s after
   the first wave of blocks (from the part files' mtimes), and the Ray/local wall ratio per round.

The models are small random ones in real layouts (zhplm converts them; BERT for embed, GPT-2 for generate
with greedy decoding) so that one run stays under ~5 minutes on 2 busy cores; ``--embed-shape`` and
``--gen-shape`` (HIDDEN,LAYERS) size them up on a quieter machine. The numbers feed the model written in
bench/results/jobs.txt and README's "Batch jobs" section:

    time(N) ≈ S + P + R / (N · a · r) + ceil(B / (N · a)) · o

(S: Ray + actor startup, P: driver planning = R / plan rate, R rows, B blocks, a actors per machine, r rows/s
per actor, o per-block overhead).

    PYTHONPATH=src .venv/bin/python bench/bench_jobs.py --rounds 2    # ~5 min on 2 quiet cores; --quick ~2
"""

from __future__ import annotations

import argparse
import builtins
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import transformers

import zhplm
from worker_protocol import cpu_name
from zhplm import jobs

SMALL_VOCAB = Path(__file__).resolve().parents[2] / "shared" / "assets" / "Morizeyao+GPT2-Chinese" / "cache" / "vocab_small.txt"  # fmt: skip
CHARS = "我们是中国人他在上海大国天气很好今天的北京学生老师工作时间问题，。abc123"


def shape(text: str) -> tuple[int, int]:
    hidden, layers = (int(x) for x in text.split(","))
    return hidden, layers


def build_bert(folder: Path, hidden: int, layers: int) -> Path:
    vocab = SMALL_VOCAB.read_text(encoding="utf-8").split("\n")
    heads = max(1, hidden // 64)
    cfg = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=4 * hidden,
    )
    torch.manual_seed(0)
    (folder / "bert-release").mkdir(parents=True)
    torch.save(transformers.BertForMaskedLM(cfg).state_dict(), folder / "bert-release" / "pytorch_model.bin")
    (folder / "bert-release" / "config.json").write_text(cfg.to_json_string(), encoding="utf-8")
    shutil.copy(SMALL_VOCAB, folder / "bert-release" / "vocab.txt")
    zhplm.convert(folder / "bert-release", folder / "bert")
    return folder / "bert"


def build_gpt2(folder: Path, hidden: int, layers: int) -> Path:
    vocab = SMALL_VOCAB.read_text(encoding="utf-8").split("\n")
    cfg = transformers.GPT2Config(
        vocab_size=len(vocab), n_embd=hidden, n_layer=layers, n_head=max(1, hidden // 64), n_positions=128
    )
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # random weights scaled so that greedy continuations vary (as the tests do)
        for p in model.parameters():
            p.normal_(0, 0.5 if p.dim() > 1 else 0.1)
    (folder / "gpt2-release").mkdir(parents=True)
    torch.save(model.state_dict(), folder / "gpt2-release" / "pytorch_model.bin")
    config = {"n_ctx": 128, "n_embd": hidden, "n_head": cfg.n_head, "n_layer": layers, "n_positions": 128}
    config["vocab_size"] = len(vocab)
    (folder / "gpt2-release" / "config.json").write_text(json.dumps(config), encoding="utf-8")
    shutil.copy(SMALL_VOCAB, folder / "gpt2-release" / "vocab.txt")
    zhplm.convert(folder / "gpt2-release", folder / "gpt2")
    return folder / "gpt2"


def write_texts(path: Path, n: int, lo: int, hi: int, seed: int) -> None:
    rng = random.Random(seed)
    path.write_text(
        "".join("".join(rng.choice(CHARS) for _ in range(rng.randint(lo, hi))) + "\n" for _ in range(n)),
        encoding="utf-8",
    )


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def span(xs: list[float]) -> str:
    return f"[{min(xs):.2f}-{max(xs):.2f}]" if xs else "[-]"


def local_constants(job: jobs.Job, small: int, big: int, repeats: int) -> dict[str, float]:
    """Startup, per-block overhead o and steady rows/s r of the local engine (t(b) = o + b / r)."""
    t0 = time.perf_counter()
    worker = jobs.BlockWorker(asdict(job))
    startup = time.perf_counter() - t0
    out = Path(job.output)
    out.mkdir(parents=True, exist_ok=True)
    src = job.source()
    times: dict[int, list[float]] = {small: [], big: []}
    io: list[float] = []
    worker.compute(jobs.Block(0, 0, small, 0))  # warm-up (first call allocations)
    blocks = {b: jobs.plan_blocks(src, b) for b in (small, big)}
    block = blocks[big][1]
    results = job.spec.compute(worker.pipe, jobs.read_block(src, block, job.spec.fields), job.call)
    for r in range(repeats):
        for size in (small, big):
            t = time.perf_counter()
            worker.compute(blocks[size][1 + r % (len(blocks[size]) - 1)])
            times[size].append(time.perf_counter() - t)
        t = time.perf_counter()
        records = jobs.read_block(src, block, job.spec.fields)
        jobs._write_block(out, block, job.spec, records, results)
        io.append(time.perf_counter() - t)
    t_small, t_big = min(times[small]), min(times[big])  # the least-disturbed run on a shared machine
    rate = (big - small) / (t_big - t_small) if t_big > t_small else float("nan")
    overhead = max(0.0, t_small - small / rate)
    part = out / blocks[big][1].name
    return {
        "startup": startup,
        "t_small": t_small,
        "t_big": t_big,
        "rate": rate,
        "overhead": overhead,
        "io": median(io),
        "part_bytes_per_row": part.stat().st_size / big,
    }


def end_to_end(job: jobs.Job, engine: str, workers: int | None) -> dict[str, float]:
    """Wall time, and when each block really finished: its part file's mtime (Ray hands results to the
    driver in bursts, so the driver's progress calls would make a wave of blocks look instantaneous)."""
    import pyarrow.parquet as pq

    if Path(job.output).exists():
        shutil.rmtree(job.output)
    t0 = time.time()
    jobs.run(job, engine=engine, workers=workers)
    wall = time.time() - t0
    parts = sorted(Path(job.output).glob("part-*.parquet"), key=lambda p: p.stat().st_mtime)
    done = [(p.stat().st_mtime - t0, pq.ParquetFile(p).metadata.num_rows) for p in parts]
    actors = workers or 1
    steady = float("nan")
    if len(done) > actors:  # rows after the first wave (one block per actor) over the time they took
        steady = sum(r for _, r in done[actors:]) / (done[-1][0] - done[actors - 1][0])
    return {"wall": wall, "first": done[0][0], "steady": steady, "per_actor": steady / actors}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument(
        "--quick", action="store_true", help="smaller jobs (~2 min): a smoke run, not for quoting"
    )
    ap.add_argument("--embed-shape", default="256,4", help="BERT HIDDEN,LAYERS (default 256,4)")
    ap.add_argument("--gen-shape", default="128,4", help="GPT-2 HIDDEN,LAYERS (default 128,4)")
    ap.add_argument("--embed-lines", type=int, default=1600)
    ap.add_argument("--gen-prompts", type=int, default=96)
    ap.add_argument("--plan-lines", type=int, default=500_000, help="lines of the driver-planning input")
    ap.add_argument("--no-ray", action="store_true", help="local constants only")
    args = ap.parse_args()
    if args.quick:
        args.embed_lines, args.gen_prompts, args.plan_lines = 512, 32, 100_000
    cpus = os.cpu_count() or 1
    tmp = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    say: Callable[[str], None] = lambda line: builtins.print(line, flush=True)  # noqa: E731
    say(f"bench_jobs: zhplm.jobs local engine vs Ray {_ray_version()} on one machine")
    say(f"CPU: {cpu_name()}, {cpus} CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads)")
    say(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (a shared machine)")
    say(
        f"rounds: {args.rounds}{' (quick)' if args.quick else ''}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )

    # ------------------------------------------------------------------ 1. driver planning
    write_texts(tmp / "plan.txt", args.plan_lines, 8, 40, 3)
    plan = []
    for _ in range(max(1, args.rounds)):
        t = time.perf_counter()
        jobs.plan_blocks(tmp / "plan.txt", 1000)
        plan.append(time.perf_counter() - t)
    plan_rate = args.plan_lines / median(plan)
    mb = (tmp / "plan.txt").stat().st_size / 2**20
    say(
        f"\n1. driver: plan_blocks over {args.plan_lines} lines ({mb:.0f} MiB): {plan_rate / 1e6:.2f} M lines/s"
    )

    # ------------------------------------------------------------------ 2. + 3. per task
    eh, el = shape(args.embed_shape)
    gh, gl = shape(args.gen_shape)
    write_texts(tmp / "embed.txt", args.embed_lines, 8, 40, 1)
    write_texts(tmp / "prompts.txt", args.gen_prompts, 2, 10, 2)
    bert = build_bert(tmp, eh, el)
    gpt2 = build_gpt2(tmp, gh, gl)
    tasks = {
        "embed": (
            f"BERT {eh}x{el} (random), cls pooling, batch 32",
            lambda out, b: jobs.Job("embed", str(bert), str(tmp / "embed.txt"), out, b),
            (32, 256),
            max(32, args.embed_lines // 8),
        ),
        "generate": (
            f"GPT-2 {gh}x{gl} (random), greedy, 16 new tokens, batch 8",
            lambda out, b: jobs.Job(
                "generate",
                str(gpt2),
                str(tmp / "prompts.txt"),
                out,
                b,
                call={"max_new_tokens": 16, "batch_size": 8},
            ),
            (8, 16),
            max(4, args.gen_prompts // 8),
        ),
    }
    ray = None
    ray_start = float("nan")
    if not args.no_ray:
        import ray as ray_module

        ray = ray_module
        t = time.perf_counter()
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
        ray_start = time.perf_counter() - t
        say(f"Ray instance start (ray.init, {cpus} CPUs): {ray_start:.1f} s")
    summary: dict[str, Any] = {"plan_rate": plan_rate, "ray_start": ray_start, "cpus": cpus}
    try:
        for name, (desc, make, (small, big), block) in tasks.items():
            rows = args.embed_lines if name == "embed" else args.gen_prompts
            say(
                f"\n2. {name}: {desc}; local engine constants (t(b) = o + b / r, blocks of {small} and {big})"
            )
            consts = [
                local_constants(make(str(tmp / f"{name}-c{r}"), big), small, big, 2)
                for r in range(args.rounds)
            ]
            c = {k: median([x[k] for x in consts]) for k in consts[0]}
            say(f"   startup (load the model, build the pipeline)   {c['startup']:8.2f} s")
            say(
                f"   block of {small:4d} rows / of {big:4d} rows               {c['t_small']:8.3f} s / {c['t_big']:.3f} s"
            )
            say(
                f"   steady rows/s r (2 threads, one process)       {c['rate']:8.1f}  {span([x['rate'] for x in consts])}"
            )
            say(f"   per-block overhead o                           {c['overhead']:8.3f} s")
            say(
                f"   of a {big}-row block: read input + write Parquet  {c['io']:8.4f} s ({c['part_bytes_per_row']:.0f} bytes/row on disk)"
            )
            summary[name] = {"local": c}
            if ray is None:
                continue
            say(f"\n3. {name}: the same job end to end, {rows} rows in blocks of {block}; alternating rounds")
            runs: dict[str, list[dict[str, float]]] = {"local": [], "ray x1": [], f"ray x{cpus}": []}
            for _ in range(args.rounds):
                runs["local"].append(end_to_end(make(str(tmp / f"{name}-local"), block), "local", None))
                runs["ray x1"].append(end_to_end(make(str(tmp / f"{name}-ray1"), block), "ray", 1))
                runs[f"ray x{cpus}"].append(end_to_end(make(str(tmp / f"{name}-rayn"), block), "ray", cpus))
            say(
                f"   {'engine':<12}{'wall s':>9}{'first block s':>15}{'steady rows/s':>15}{'per actor':>11}"
                f"{'Ray/local wall':>22}"
            )
            for engine, got in runs.items():
                ratios = [g["wall"] / b["wall"] for g, b in zip(got, runs["local"], strict=True)]
                ratio = "" if engine == "local" else f"{median(ratios):.2f}x {span(ratios)}"
                say(
                    f"   {engine:<12}{median([g['wall'] for g in got]):9.2f}{median([g['first'] for g in got]):15.2f}"
                    f"{median([g['steady'] for g in got]):15.1f}{median([g['per_actor'] for g in got]):11.1f}{ratio:>22}"
                )
            summary[name]["e2e"] = {k: {m: median([g[m] for g in v]) for m in v[0]} for k, v in runs.items()}
    finally:
        if ray is not None:
            ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    say("\nsummary (JSON, for the scaling model):")
    say(json.dumps(summary, indent=1, default=float))


def _ray_version() -> str:
    try:
        import ray

        return str(ray.__version__)
    except ImportError:
        return "(not installed)"


if __name__ == "__main__":
    main()
