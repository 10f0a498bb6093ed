"""Greedy decoding speed of a CPM-1-sized model converted by zhplm: time to first token and decode tokens/s.

CPM-Large is 32 layers of width 2560 (32 heads, vocabulary 30000): 10.4 GB in float32, more than this machine
should hold next to five other engineers. So the model is measured as a **slice with the real widths** and 1
and 2 layers; the per-layer cost (2-layer − 1-layer) and the fixed cost (embeddings, final LN, the 30000-wide
LM head) give an **extrapolation** to 32 layers (stated as such in the table). Random weights are written by
this script in the ORIGINAL naming (one ``mp_rank_00_model_states.pt`` holding ``{"module": state_dict}``,
the names of CPM-Generate's ``GPT2Model``; the two-rank layout is what the parity test checks) and converted
by ``zhplm.convert``.

Each row runs transformers' ``generate`` (greedy, KV cache) on the converted folder: loaded by ``zhplm.load``
(SDPA attention) in float32 and in bf16, and by plain ``transformers.AutoModelForCausalLM.from_pretrained``
(its default attention) in float32. The original CPM-Generate loop needs CUDA and model-parallel process
groups (the test oracle runs it on CPU only with stubs), so it is not timed here. Prompt 32 tokens, 32 new
tokens, batch 1, ``torch.set_num_threads(2)``, best of ``--reps``.

    .venv/bin/python bench/bench_generate_cpm.py [--reps 3] [--out bench/results/generate_cpm.txt]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import zhplm
from worker_protocol import cpu_name

WIDTH, HEADS, VOCAB, POSITIONS, LAYERS = 2560, 32, 30000, 1024, 32
PROMPT, NEW = 32, 32


def write_shard(folder: Path, layers: int) -> None:
    g = torch.Generator().manual_seed(0)

    def rnd(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * 0.02

    sd: dict[str, torch.Tensor] = {
        "word_embeddings.weight": rnd(VOCAB, WIDTH),
        "position_embeddings.weight": rnd(POSITIONS, WIDTH),
    }
    for i in range(layers):
        p = f"transformer.layers.{i}."
        sd.update({
            p + "input_layernorm.weight": torch.ones(WIDTH), p + "input_layernorm.bias": torch.zeros(WIDTH),
            p + "attention.query_key_value.weight": rnd(3 * WIDTH, WIDTH), p + "attention.query_key_value.bias": rnd(3 * WIDTH),
            p + "attention.dense.weight": rnd(WIDTH, WIDTH), p + "attention.dense.bias": rnd(WIDTH),
            p + "post_attention_layernorm.weight": torch.ones(WIDTH), p + "post_attention_layernorm.bias": torch.zeros(WIDTH),
            p + "mlp.dense_h_to_4h.weight": rnd(4 * WIDTH, WIDTH), p + "mlp.dense_h_to_4h.bias": rnd(4 * WIDTH),
            p + "mlp.dense_4h_to_h.weight": rnd(WIDTH, 4 * WIDTH), p + "mlp.dense_4h_to_h.bias": rnd(WIDTH),
        })  # fmt: skip
    sd["transformer.final_layernorm.weight"] = torch.ones(WIDTH)
    sd["transformer.final_layernorm.bias"] = torch.zeros(WIDTH)
    (folder / "1").mkdir(parents=True)
    torch.save({"module": sd, "iteration": 1}, folder / "1" / "mp_rank_00_model_states.pt")
    (folder / "latest_checkpointed_iteration.txt").write_text("1")
    (folder / "cpm_config.json").write_text(f'{{"num_attention_heads": {HEADS}}}')


def timed(model: Any, reps: int) -> tuple[float, float]:
    """(time to first token, decode tokens/s after it), best of ``reps``."""
    ids = torch.randint(10, VOCAB, (1, PROMPT), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    best_first, best_rate = float("inf"), 0.0
    with torch.inference_mode():
        model.generate(ids, attention_mask=mask, max_new_tokens=2, do_sample=False)  # warm-up
        for _ in range(reps):
            t0 = time.perf_counter()
            model.generate(ids, attention_mask=mask, max_new_tokens=1, min_new_tokens=1, do_sample=False)
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            model.generate(ids, attention_mask=mask, max_new_tokens=NEW, min_new_tokens=NEW, do_sample=False)
            total = time.perf_counter() - t0
            best_first = min(best_first, first)
            best_rate = max(best_rate, (NEW - 1) / max(total - first, 1e-9))
    return best_first, best_rate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(2)
    import transformers

    rows: dict[str, dict[int, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for layers in (1, 2):
            src, out = Path(tmp) / f"src{layers}", Path(tmp) / f"out{layers}"
            write_shard(src, layers)
            zhplm.convert(src, out, arch="cpm1")
            runs = {
                "zhplm.load fp32 (sdpa) + generate": lambda o=out: zhplm.load(o).model,
                "zhplm.load bf16 (sdpa) + generate": lambda o=out: zhplm.load(o, dtype="bf16").model,
                "transformers from_pretrained fp32 + generate": lambda o=out: (
                    transformers.AutoModelForCausalLM.from_pretrained(str(o)).eval()
                ),
            }
            for name, build in runs.items():
                model = build()
                rows.setdefault(name, {})[layers] = timed(model, args.reps)
                del model
    lines = [
        f"CPM-1-sized greedy decoding (width {WIDTH}, {HEADS} heads, vocab {VOCAB}); CPU: {cpu_name()}, "
        f"torch {torch.__version__}, transformers {transformers.__version__}, 2 threads; prompt {PROMPT}, "
        f"{NEW} new tokens, batch 1, best of {args.reps}.",
        "Measured on 1- and 2-layer slices; the 32-layer column is EXTRAPOLATED: fixed + 32 × (2-layer − 1-layer).",
        "",
        f"{'run':<46} {'TTFT 1L':>9} {'TTFT 2L':>9} {'TTFT 32L*':>10} {'tok/s 1L':>9} {'tok/s 2L':>9} {'tok/s 32L*':>11}",
    ]
    for name, by in rows.items():
        (f1, r1), (f2, r2) = by[1], by[2]
        ttft32 = f1 + (LAYERS - 1) * (f2 - f1)
        step1, step2 = 1 / r1, 1 / r2
        rate32 = 1 / (step1 + (LAYERS - 1) * (step2 - step1))
        lines.append(
            f"{name:<46} {f1 * 1e3:>7.0f}ms {f2 * 1e3:>7.0f}ms {ttft32:>9.2f}s {r1:>9.1f} {r2:>9.1f} {rate32:>11.2f}"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
