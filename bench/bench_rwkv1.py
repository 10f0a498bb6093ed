"""RWKV-1 (AI-Writer) greedy decoding speed: zhplm's recurrent cache against the authors' own ``run.py`` loop.

The authors' loop recomputes the whole window (up to ``ctx_len`` characters, all layers, the ``[T, T]``
Toeplitz mixing and the ``[T, T]`` copy head) for every new character. zhplm's ``Rwkv1ForCausalLM`` keeps a
recurrent cache (``k·v`` history, ``Σk``, the shifted inputs, the copy head's keys) so a character inside the
window costs O(t); past the window both recompute the window, as ``run.py`` does.

The model has the release's widths (768 wide, 12 heads, ``ctx_len`` 512, the real 8849-character table) and
``--layers`` layers (the release has 12; fewer keep the original's side of the run short on a shared machine:
both sides scale linearly in the layer count). Random weights are pickled whole by RWKV-LM's ``RWKV-v1`` class
and the original runs from the pinned snapshots (``tests/oracles/rwkv1_original.py`` in ``.venv-ref``; its
step times are the perf-counter stamps of its sampling calls). zhplm converts the same pickle and runs
``generate`` (greedy) with the cache and without it (``use_cache=False``: its own parallel form, recomputing
the whole text each step). Decode tokens/s = (new − 1) / (time of the last token − time of the first).
The greedy ids of all three runs are checked equal. ``torch.set_num_threads(2)``.

    .venv/bin/python bench/bench_rwkv1.py [--layers 2] [--new 300] [--parallel-new 64] [--out bench/results/rwkv1.txt]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import zhplm
from worker_protocol import cpu_name

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT.parent / "shared" / "assets" / "BlinkDL+AI-Writer" / "model" / "wangwen-2022-02-15.json"
ORACLE = ROOT / "tests" / "oracles" / "rwkv1_original.py"
PROMPT = "这是一颗"


def oracle(*args: Any) -> dict[str, Any]:
    done = subprocess.run(
        [str(ROOT / ".venv-ref" / "bin" / "python"), str(ORACLE), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "2", "CUDA_VISIBLE_DEVICES": ""},
    )
    if done.returncode:
        sys.exit(done.stderr[-3000:])
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


class Stamps:
    """A ``generate`` streamer that notes when each new token arrives."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.ids: list[int] = []
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        self.times.append(time.perf_counter())
        self.ids += value.reshape(-1).tolist()

    def end(self) -> None:
        pass


def rate(times: list[float]) -> float:
    return (len(times) - 1) / (times[-1] - times[0])


def ours(folder: Path, new: int, use_cache: bool) -> tuple[list[int], list[float]]:
    gen = zhplm.pipeline("text-generation", str(folder))
    ids = torch.tensor([gen.format.encode(gen.tokenizer, PROMPT).input_ids])
    stamps = Stamps()
    with torch.inference_mode():
        gen.model.generate(
            ids,
            max_new_tokens=new,
            do_sample=False,
            use_cache=use_cache,
            streamer=stamps,
            bad_words_ids=[[gen.tokenizer.unk_token_id]],
            pad_token_id=0,
        )
    return stamps.ids, stamps.times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--new", type=int, default=300)
    p.add_argument("--parallel-new", type=int, default=64, help="tokens for the use_cache=False run")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "rwkv1.txt")
    a = p.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        config = {"ctx_len": 512, "n_layer": a.layers, "n_head": 12}
        (t / "cfg.json").write_text(json.dumps(config))
        oracle("write", "--out", t / "rel", "--table", TABLE, "--seed", "0", "--config", t / "cfg.json")
        spec = {"context": PROMPT, "length": a.new, "input_ids": [[1, 2]], "long_ids": [[1, 2]]}
        (t / "in.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
        theirs = oracle("run", "--ckpt", t / "rel", "--inputs", t / "in.json", "--out", t / "ref.npz",
                        "--config", t / "cfg.json")  # fmt: skip
        zhplm.convert(t / "rel" / "tiny.pth", t / "out", model_id="rwkv-ai-writer")
        cached_ids, cached = ours(t / "out", a.new, True)
        window = 512 - len(PROMPT) - 1  # new tokens that fit in the window after the prompt ("\n" + prompt)
        short = min(a.new, a.parallel_new)
        parallel_ids, parallel = ours(t / "out", short, False)
    assert cached_ids == theirs["greedy"], "zhplm's greedy ids differ from run.py's"
    assert parallel_ids == theirs["greedy"][:short], "the parallel form's ids differ from run.py's"
    original = theirs["step_times"]
    inside = slice(0, short)  # the same positions for every run
    rows = [
        ("AI-Writer run.py loop (recomputes the window)", original),
        ("zhplm generate, recurrent cache", cached),
        ("zhplm generate, use_cache=False (parallel form)", parallel),
    ]
    lines = [
        f"RWKV-1 (AI-Writer widths: 768 wide, 12 heads, ctx_len 512, vocab 8849) with {a.layers} layers; greedy, "
        f"prompt {PROMPT!r} (5 characters with run.py's leading newline), batch 1.",
        f"CPU: {cpu_name()}, torch {torch.__version__}, 2 threads. Decode tokens/s = (n − 1) / (last − first "
        "token time). 'first N' = the first N new tokens (the same positions for every run); 'all' = every "
        "token of the run; 'past' = after the window is full (both recompute the window there, as run.py "
        "does; nan when the run stays inside it). Greedy ids of all runs are identical.",
        "",
        f"{'run':52s} {'tokens':>7s} {'tok/s first ' + str(short):>15s} {'tok/s past':>11s} {'tok/s all':>10s}",
    ]
    for name, times in rows:
        ins = rate(times[inside]) if len(times) > 2 else float("nan")
        past = rate(times[window:]) if len(times) > window + 2 else float("nan")
        lines.append(f"{name:52s} {len(times):7d} {ins:15.1f} {past:11.1f} {rate(times):10.1f}")
    lines.append("")
    lines.append(
        f"zhplm recurrent / run.py over all {len(cached)} tokens: {rate(cached) / rate(original):.1f}x; "
        f"recurrent / its own parallel form over the first {short}: "
        f"{rate(cached[inside]) / rate(parallel[inside]):.1f}x"
    )
    text = "\n".join(lines) + "\n"
    print(text)
    a.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
