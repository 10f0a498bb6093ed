"""Decode speed of zhplm's text-generation pipeline against transformers' ``generate`` on the same folder.

A GPT2-Chinese-sized model (the prose model's real shapes: 10 layers, 768 hidden, 12 heads, 1024 positions,
its 13317-token vocabulary from ``../shared/assets``), random weights, written as an HF-era folder and
converted by ``zhplm.convert``. Both sides load the converted folder: zhplm through
``zhplm.pipeline("text-generation", …)`` (its prompt format, streaming callback, stop handling), transformers
through ``GPT2LMHeadModel.from_pretrained`` + ``generate`` with a streamer that only records time. Greedy,
prompt of 32 tokens, 64 new tokens (no stop token can end it early), fp32, batch 1,
``torch.set_num_threads(2)``; the two sides alternate for ``--rounds`` rounds and the median is reported.
Time to first token = from the call to the first generated token reaching the streamer; decode tokens/s =
(new tokens − 1) / (end − first token). The ratio is the median of the per-round ratios (each round runs both
sides back to back, so a load change between rounds cancels). "outside forward" is the time per new token
spent outside the model's ``forward`` (logits processors, stopping criteria, streamer, prompt handling): the
part where zhplm's pipeline could be slower than plain ``generate``, measured with forward hooks.

    PYTHONPATH=src .venv/bin/python bench/bench_generate.py [--rounds 5] [--out bench/results/generate.txt]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from worker_protocol import cpu_name

ASSETS = Path(__file__).resolve().parents[2] / "shared" / "assets"
VOCAB = ASSETS / "Morizeyao+GPT2-Chinese" / "cache" / "vocab_small.txt"
SHAPE = {"n_embd": 768, "n_layer": 10, "n_head": 12, "n_positions": 1024, "n_ctx": 1024}
PROMPT = "萧炎站在山崖之上，望着远处连绵不绝的群山，心中涌起一股说不出的豪情，他知道自己终于"
NEW = 64


def write_release(folder: Path) -> None:
    import transformers

    vocab = VOCAB.read_text(encoding="utf-8").split("\n")
    cfg = transformers.GPT2Config(vocab_size=len(vocab), **{k: v for k, v in SHAPE.items() if k != "n_ctx"})
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(cfg).eval()
    folder.mkdir(parents=True)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    (folder / "config.json").write_text(json.dumps({**SHAPE, "vocab_size": len(vocab)}), encoding="utf-8")
    (folder / "vocab.txt").write_text(VOCAB.read_text(encoding="utf-8"), encoding="utf-8")


class Clock:
    """A streamer that notes when the first generated token arrives (``generate`` first hands the prompt)."""

    def __init__(self) -> None:
        self.calls = 0
        self.first: float | None = None

    def put(self, value: Any) -> None:
        self.calls += 1
        if self.calls == 2:
            self.first = time.perf_counter()

    def end(self) -> None:
        pass


class ForwardTimer:
    """Sums the wall time spent inside a model's ``forward`` (pre/post hooks on the top module)."""

    def __init__(self, model: Any) -> None:
        self.total = 0.0
        self._start = 0.0
        model.register_forward_pre_hook(lambda *_: self._begin())
        model.register_forward_hook(lambda *_: self._end())

    def _begin(self) -> None:
        self._start = time.perf_counter()

    def _end(self) -> None:
        self.total += time.perf_counter() - self._start


def run_zhplm(gen: Any, timer: ForwardTimer) -> tuple[float, float, int, float]:
    first: list[float] = []
    timer.total = 0.0
    start = time.perf_counter()
    result = gen(PROMPT, max_new_tokens=NEW, on_text=lambda _: first.append(time.perf_counter()))
    end = time.perf_counter()
    n = len(result.token_ids)
    return first[0] - start, (n - 1) / (end - first[0]), n, (end - start - timer.total) / n


def run_transformers(
    model: Any, ids: torch.Tensor, banned: list[list[int]], timer: ForwardTimer
) -> tuple[float, float, int, float]:
    clock = Clock()
    timer.total = 0.0
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=NEW, do_sample=False,
            eos_token_id=None, pad_token_id=0, bad_words_ids=banned, streamer=clock,
        )  # fmt: skip
    end = time.perf_counter()
    n = out.shape[1] - ids.shape[1]
    assert clock.first is not None
    return clock.first - start, (n - 1) / (end - clock.first), n, (end - start - timer.total) / n


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    torch.set_num_threads(2)
    import transformers

    import zhplm

    with tempfile.TemporaryDirectory() as tmp:
        write_release(Path(tmp) / "release")
        zhplm.convert(Path(tmp) / "release", Path(tmp) / "out", prompt_format="gpt2-chinese")
        gen = zhplm.pipeline("text-generation", Path(tmp) / "out")
        model = transformers.GPT2LMHeadModel.from_pretrained(Path(tmp) / "out").eval()
        ids = torch.tensor([gen.format.encode(gen.tokenizer, PROMPT).input_ids])
        assert gen(PROMPT, max_new_tokens=8).token_ids == model.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=8, do_sample=False, eos_token_id=None,
            pad_token_id=0, bad_words_ids=[[gen.tokenizer.unk_token_id]],
        )[0, ids.shape[1] :].tolist()  # fmt: skip
        banned = [[gen.tokenizer.unk_token_id]]  # the same work: GPT2-Chinese's format never writes [UNK]
        our_timer, their_timer = ForwardTimer(gen.model), ForwardTimer(model)
        run_zhplm(gen, our_timer), run_transformers(model, ids, banned, their_timer)  # warm-up
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(run_zhplm(gen, our_timer))
            theirs.append(run_transformers(model, ids, banned, their_timer))
    rows = []
    for name, runs in (("zhplm pipeline", ours), ("transformers generate", theirs)):
        ttft = statistics.median(r[0] for r in runs) * 1000
        tps = statistics.median(r[1] for r in runs)
        outside = statistics.median(r[3] for r in runs) * 1000
        rows.append((name, ttft, tps, runs[0][2], outside))
    ratios = [a[1] / b[1] for a, b in zip(ours, theirs, strict=True)]
    ratio = statistics.median(ratios)
    lines = [
        "Text generation: GPT2-Chinese-sized GPT-2 (10L/768H/12 heads, vocab 13317), random weights, fp32, batch 1",
        f"greedy, prompt {ids.shape[1]} tokens, {NEW} new tokens, 2 threads, median of {args.rounds} alternating rounds",
        f"CPU: {cpu_name()}; torch {torch.__version__}, transformers {transformers.__version__}",
        "",
        f"{'':24} {'TTFT ms':>9} {'decode tok/s':>13} {'tokens':>7} {'outside forward ms/token':>25}",
        *[f"{n:24} {t:9.1f} {s:13.2f} {k:7d} {o:25.2f}" for n, t, s, k, o in rows],
        "",
        f"zhplm / transformers decode speed: {ratio:.2f}x, median of the per-round ratios "
        f"({', '.join(f'{r:.2f}' for r in ratios)}; goal >= 1.0x)",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
