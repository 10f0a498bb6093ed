"""Embeddings/s and decode tokens/s per precision, per int8 backend and with torch.compile, against
sentence-transformers on the same weights (issue #18: the rows that choose zhplm.precision's int8 order).

What runs (all in ONE process; each round runs every variant once, the order rotating by one each round,
so the load of a shared machine falls on all of them alike):

* encoders, BERT-base-shaped (12 x 768, the 21128-token Chinese vocabulary) and RoBERTa-large-shaped
  (24 x 1024, RoBERTa-wwm-ext-large is a BERT): ``zhplm.pipeline("embeddings", folder, pooling="mean",
  dtype=..., int8_backend=..., compile=...)`` over N distinct 62-character texts (64 tokens with [CLS] and
  [SEP]), batch B; and sentence-transformers (``models.Transformer`` + mean ``Pooling``) on the same
  converted folder in fp32 and bf16. Columns: sentences/s (median over rounds), speed-up against zhplm fp32
  = the median of the per-round time ratios [min-max], the first call's seconds (compile cost shows here),
  and the cosine of each text's vector against zhplm fp32's (minimum over the texts).
* decode, GPT2-Chinese-shaped (10 x 768, vocab 13317): ``zhplm.load(folder, dtype=..., int8_backend=...,
  compile=...).model.generate`` greedy from 16-token prompts, batch 1: new tokens/s, greedy agreement with
  fp32 (equal tokens at equal positions, over every prompt), first call's seconds.

Weights are transformers' own random initialisation (seed 0) written as a release and converted with
``zhplm.convert`` exactly as a user's checkpoint is. Random weights make near-ties, so agreement is a
pessimistic figure; cosine is the number zhplm.precision.BOUNDS holds the int8/bf16 paths to.

Goal rows (issue #18): on a CPU with native bf16 (AMX / AVX512-BF16), bf16 >= 3x fp32 at cosine >= 0.999;
on an AVX2-only CPU, int8 >= 1.5x fp32 at cosine >= 0.99. The int8 rows decide INT8_ORDER in
src/zhplm/precision.py (the fastest backend within the bounds).

    PYTHONPATH=src .venv/bin/python bench/bench_backends.py --quick --out bench/results/backends.txt   # < 5 min
    PYTHONPATH=src .venv/bin/python bench/bench_backends.py --rounds 3 --out bench/results/backends.txt
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers

import zhplm
from zhplm.hardware import system_report

ASSETS = Path(__file__).resolve().parents[2] / "shared" / "assets"
BERT_VOCAB = ASSETS / "yuxie11+R2D2" / "checkpoints" / "hfl_roberta" / "vocab.txt"  # bert-base-chinese's
GPT2_VOCAB = ASSETS / "Morizeyao+GPT2-Chinese" / "cache" / "vocab_small.txt"
ENCODERS = {
    "bert-base": {},
    "roberta-large": {
        "hidden_size": 1024,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "intermediate_size": 4096,
    },
}
PROMPT, TEXT_CHARS = 16, 62


@dataclass
class Variant:
    name: str
    build: Callable[[], Callable[[], Any]]  # returns the timed call (built, then warmed by the first call)
    run: Callable[[], Any] | None = None
    first: float = 0.0
    times: list[float] = field(default_factory=list)
    result: Any = None
    error: str = ""


def write_release(root: Path, model: Any, vocab: Path) -> Path:
    release = root / "release"
    release.mkdir(parents=True)
    torch.save(model.state_dict(), release / "pytorch_model.bin")
    (release / "config.json").write_text(model.config.to_json_string(), encoding="utf-8")
    (release / "vocab.txt").write_text(vocab.read_text(encoding="utf-8"), encoding="utf-8")
    zhplm.convert(release, root / "model")
    return root / "model"


def texts(n: int) -> list[str]:
    """n distinct texts of single CJK characters from the vocabulary (one token each)."""
    chars = [w for w in BERT_VOCAB.read_text(encoding="utf-8").split("\n") if len(w) == 1 and w >= "\u4e00"]
    rng = np.random.default_rng(0)
    return ["".join(rng.choice(chars[:3000], size=TEXT_CHARS)) for _ in range(n)]


def play(variants: list[Variant], rounds: int, say: Callable[[str], None]) -> None:
    """Build each variant and time its first call, then ``rounds`` alternating timed rounds."""
    for v in variants:
        try:
            v.run = v.build()
            start = time.perf_counter()
            v.result = v.run()
            v.first = time.perf_counter() - start
            say(f"  built {v.name}: first call {v.first:.1f} s")
        except Exception as exc:  # reported in the table, not hidden
            v.error = f"{type(exc).__name__}: {str(exc)[:120]}"
            say(f"  {v.name} failed: {v.error}")
    live = [v for v in variants if v.run is not None]
    for r in range(rounds):
        for v in live[r % len(live) :] + live[: r % len(live)]:
            assert v.run is not None
            start = time.perf_counter()
            v.result = v.run()
            v.times.append(time.perf_counter() - start)
        say(f"  round {r + 1}/{rounds} done (load {os.getloadavg()[0]:.1f})")


def ratio(base: Variant, v: Variant) -> str:
    if not v.times or not base.times:
        return "-"
    per_round = [b / t for b, t in zip(base.times, v.times, strict=True)]
    return f"{statistics.median(per_round):.2f}x [{min(per_round):.2f}-{max(per_round):.2f}]"


def encoder_variants(
    folder: Path, batch: int, lines: list[str], with_compile: bool, quick: bool = False
) -> list[Variant]:
    def pipe(**options: Any) -> Callable[[], Callable[[], Any]]:
        def build() -> Callable[[], Any]:
            p = zhplm.pipeline("embeddings", folder, pooling="mean", batch_size=batch, **options)
            return lambda: np.asarray(p(lines), dtype=np.float32)

        return build

    def st(dtype: torch.dtype) -> Callable[[], Callable[[], Any]]:
        def build() -> Callable[[], Any]:
            from sentence_transformers import SentenceTransformer, models

            word = models.Transformer(str(folder))
            model = SentenceTransformer(
                modules=[word, models.Pooling(word.get_embedding_dimension(), "mean")], device="cpu"
            ).to(dtype)
            return lambda: np.asarray(
                model.encode(
                    lines, batch_size=batch, normalize_embeddings=True, convert_to_tensor=True
                ).float()
            )

        return build

    out = [
        Variant("zhplm fp32", pipe()),
        Variant("zhplm bf16", pipe(dtype="bf16")),
        Variant("zhplm int8 fbgemm", pipe(dtype="int8", int8_backend="fbgemm")),
        Variant("zhplm int8 torchao", pipe(dtype="int8", int8_backend="torchao")),
    ]
    if with_compile:  # --quick keeps the two compiled rows that answer #18 (fp32 and torchao's int8)
        out += [
            Variant("zhplm fp32 +compile", pipe(compile=True)),
            Variant("zhplm int8 torchao +compile", pipe(dtype="int8", int8_backend="torchao", compile=True)),
        ]
        if not quick:
            out += [
                Variant("zhplm bf16 +compile", pipe(dtype="bf16", compile=True)),
                Variant(
                    "zhplm int8 fbgemm +compile", pipe(dtype="int8", int8_backend="fbgemm", compile=True)
                ),
            ]
    out += [Variant("sentence-transformers fp32", st(torch.float32))]
    out += [Variant("sentence-transformers bf16", st(torch.bfloat16))]
    return out


def decode_variants(folder: Path, prompts: torch.Tensor, new: int, with_compile: bool) -> list[Variant]:
    def gen(**options: Any) -> Callable[[], Callable[[], Any]]:
        def build() -> Callable[[], Any]:
            model = zhplm.load(folder, task="text-generation", **options).model

            def run() -> list[list[int]]:
                done = []
                with torch.inference_mode():
                    for p in prompts:
                        ids = model.generate(
                            p[None],
                            attention_mask=torch.ones_like(p[None]),
                            max_new_tokens=new,
                            min_new_tokens=new,
                            do_sample=False,
                            pad_token_id=0,
                        )
                        done.append(ids[0, PROMPT:].tolist())
                return done

            return run

        return build

    out = [
        Variant("fp32", gen()),
        Variant("bf16", gen(dtype="bf16")),
        Variant("int8 fbgemm", gen(dtype="int8", int8_backend="fbgemm")),
        Variant("int8 torchao", gen(dtype="int8", int8_backend="torchao")),
    ]
    if with_compile:
        out += [
            Variant("fp32 +compile", gen(compile=True)),
            Variant("bf16 +compile", gen(dtype="bf16", compile=True)),
            Variant("int8 torchao +compile", gen(dtype="int8", int8_backend="torchao", compile=True)),
        ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="16 texts, batch 8, 16 new tokens, 2 rounds, compile rows for BERT-base only",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--texts", type=int, default=32, help="texts per round and encoder")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--families", default="bert-base,roberta-large,gpt2")
    parser.add_argument("--compile", default="bert-base,gpt2", help="families that get the +compile rows")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--prompts", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.texts, args.batch, args.new_tokens, args.prompts = 2, 16, 8, 16, 1
        args.compile = "bert-base"  # compiling costs ~1 min a row even on a quiet machine
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    report = system_report()
    lines: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    versions = {
        m: zhplm.hardware._version(m) for m in ("torch", "torchao", "transformers", "sentence-transformers")
    }
    say("bench_backends: embeddings/s and decode tokens/s per precision / int8 backend / torch.compile (#18)")
    say(f"command: PYTHONPATH=src .venv/bin/python bench/bench_backends.py {shlex.join(sys.argv[1:])}")
    say(f"CPU: {report['cpu']}, {torch.get_num_threads()} torch threads; flags {', '.join(report['flags'])}")  # type: ignore[arg-type]
    say(f"dtype=auto picks {report['auto_precision']}; {json.dumps(versions)}")
    say(
        f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    say(f"{args.rounds} alternating rounds; speed-up = median of per-round time ratios vs fp32 [min-max]")
    families = args.families.split(",")
    compiled = set(args.compile.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        for family in (f for f in families if f in ENCODERS):
            torch.manual_seed(0)
            cfg = transformers.BertConfig(vocab_size=21128, **ENCODERS[family])
            folder = write_release(Path(tmp) / family, transformers.BertForMaskedLM(cfg).eval(), BERT_VOCAB)
            corpus = texts(args.texts)
            say(f"\n{family}: {args.texts} texts x 64 tokens, batch {args.batch}")
            variants = encoder_variants(folder, args.batch, corpus, family in compiled, args.quick)
            play(variants, args.rounds, say)
            base = variants[0]
            say(f"{'variant':32} {'sent/s':>8} {'vs zhplm fp32':>20} {'1st call s':>10} {'cos min':>8}")
            for v in variants:
                if v.error:
                    say(f"{v.name:32} failed: {v.error}")
                    continue
                cos = float(np.min(np.sum(v.result * base.result, axis=1)))
                speed = args.texts / statistics.median(v.times)
                say(f"{v.name:32} {speed:8.2f} {ratio(base, v):>20} {v.first:10.1f} {cos:8.5f}")
            del variants
            gc.collect()
        if "gpt2" in families:
            torch.manual_seed(0)
            cfg = transformers.GPT2Config(
                vocab_size=13317, n_embd=768, n_layer=10, n_head=12, bos_token_id=None, eos_token_id=None
            )
            folder = write_release(Path(tmp) / "gpt2", transformers.GPT2LMHeadModel(cfg).eval(), GPT2_VOCAB)
            prompts = torch.randint(
                100, 13000, (args.prompts, PROMPT), generator=torch.Generator().manual_seed(0)
            )
            n = args.prompts * args.new_tokens
            say(
                f"\ngpt2-chinese decode: {args.prompts} prompt(s) x {PROMPT} tokens, {args.new_tokens} greedy new tokens, batch 1"
            )
            variants = decode_variants(folder, prompts, args.new_tokens, "gpt2" in compiled)
            play(variants, args.rounds, say)
            base = variants[0]
            say(f"{'variant':32} {'tok/s':>8} {'vs fp32':>20} {'1st call s':>10} {'greedy agr':>10}")
            for v in variants:
                if v.error:
                    say(f"{v.name:32} failed: {v.error}")
                    continue
                same = [
                    a == b
                    for x, y in zip(v.result, base.result, strict=True)
                    for a, b in zip(x, y, strict=True)
                ]
                speed = n / statistics.median(v.times)
                say(
                    f"{v.name:32} {speed:8.2f} {ratio(base, v):>20} {v.first:10.1f} {sum(same) / len(same):10.3f}"
                )
    say(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.out:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
