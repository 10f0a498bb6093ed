"""Greedy decoding speed of PanGu-α converted by zhplm against the original torch model's own incremental loop.

The original is CodeGeeX's pure-torch ``codegeex/torch/codegeex_model.py`` (the PanGu-α design, the parity
oracle of ``tests/test_parity_pangu_alpha.py``), read from the pinned snapshot (``$ZHPLM_ORIGINALS`` or
/work/.mirror, THUDM+CodeGeeX) into a temporary folder — never copied into the project — with the oracle's
float32 stubs (``model.float()``, ``attention_softmax_in_fp32=False``, the logits ``F.linear`` in float32). Its
decoding loop is the one its ``inference.py`` runs: the prompt once with ``get_key_value=True``, then one token
per step with ``layer_past`` (its KV cache), argmax. zhplm runs transformers' ``generate`` (greedy, DynamicCache,
SDPA; loaded with ``AutoModelForCausalLM``, as the folder has no tokenizer) on the folder ``zhplm.convert`` made from the same weights written as a one-rank Megatron shard
(the release's names). Both produce the same tokens (checked).

A medium model, not 2.6B (10 GB in float32, too much beside other engineers): width 1024, 16 heads, 4 layers
(3 blocks + the top query layer), the real 40000-token vocabulary. Prompt 32 tokens, 32 new, batch 1,
``torch.set_num_threads(2)``, best of ``--reps``.

    PYTHONPATH=src .venv/bin/python bench/bench_generate_pangu.py [--reps 3] [--out bench/results/generate_pangu.txt]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import zhplm
from worker_protocol import cpu_name

WIDTH, HEADS, BLOCKS, VOCAB, POSITIONS = 1024, 16, 3, 40000, 1024
PROMPT, NEW = 32, 32
REPO, MODEL_FILE = "THUDM/CodeGeeX", "codegeex/torch/codegeex_model.py"


def original_module(tmp: Path) -> Any:
    pins = Path(__file__).resolve().parents[1] / "tests" / "oracles" / "SNAPSHOTS.txt"
    commit = dict(
        line.split() for line in pins.read_text().splitlines() if line.strip() and not line.startswith("#")
    )[REPO]
    root = Path(os.environ.get("ZHPLM_ORIGINALS") or "/work/.mirror") / REPO.replace("/", "+") / "repo"
    src = subprocess.run(
        ["git", "--git-dir", str(root), "show", f"{commit}:{MODEL_FILE}"], capture_output=True, check=True
    ).stdout
    path = tmp / "codegeex_model.py"
    path.write_bytes(src)
    spec = importlib.util.spec_from_file_location("codegeex_model", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def build_original(mod: Any) -> Any:
    model = mod.CodeGeeXModel(WIDTH, BLOCKS, HEADS, VOCAB, POSITIONS).float().eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layernorm.weight"):
                p.fill_(1.0)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    for m in model.modules():
        if hasattr(m, "attention_softmax_in_fp32"):
            m.attention_softmax_in_fp32 = False
        if hasattr(m, "activation_func"):
            m.activation_func = lambda x: torch.nn.functional.gelu(x, approximate="tanh")  # PanGu-α's nn.GELU
    return model


def original_greedy(model: Any, prompt: torch.Tensor, new: int) -> tuple[list[int], float, float]:
    """The original's incremental loop; returns (tokens, first-token seconds, decode tokens/s)."""
    table = model.language_model.embedding.word_embeddings.weight
    total = prompt.shape[1] + new
    mask = torch.triu(torch.ones(1, 1, total, total, dtype=torch.bool), diagonal=1)
    out: list[int] = []
    with torch.inference_mode():
        t0 = time.perf_counter()
        pos = torch.arange(prompt.shape[1])[None]
        h, past = model.language_model(prompt, pos, mask, get_key_value=True)
        nxt = torch.nn.functional.linear(h[:, -1], table).argmax(-1)
        t1 = time.perf_counter()
        out.append(int(nxt))
        for step in range(1, new):
            cur = prompt.shape[1] + step - 1
            h, past = model.language_model(
                nxt[:, None], torch.tensor([[cur]]), mask, layer_past=past, get_key_value=True
            )
            nxt = torch.nn.functional.linear(h[:, -1], table).argmax(-1)
            out.append(int(nxt))
        t2 = time.perf_counter()
    return out, t1 - t0, (new - 1) / (t2 - t1)


def zhplm_greedy(model: Any, prompt: torch.Tensor, new: int) -> tuple[list[int], float, float]:
    mask = torch.ones_like(prompt)
    with torch.inference_mode():
        t0 = time.perf_counter()
        model.generate(prompt, attention_mask=mask, max_new_tokens=1, do_sample=False)
        t1 = time.perf_counter()
        gen = model.generate(
            prompt, attention_mask=mask, max_new_tokens=new, do_sample=False, eos_token_id=None
        )
        t2 = time.perf_counter()
    first = t1 - t0
    return gen[0, prompt.shape[1] :].tolist(), first, (new - 1) / max(t2 - t1 - first, 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        original = build_original(original_module(tmp))
        shard = tmp / "release"
        shard.mkdir()
        torch.save({"module": original.state_dict()}, shard / "mp_rank_00_model_states.pt")
        (shard / "config.json").write_text(json.dumps({"num_heads": HEADS}), encoding="utf-8")
        zhplm.convert(shard, tmp / "out")
        from transformers import AutoModelForCausalLM  # no tokenizer in this folder: the model class alone

        ours = AutoModelForCausalLM.from_pretrained(str(tmp / "out"), attn_implementation="sdpa").eval()
        prompt = torch.randint(10, VOCAB, (1, PROMPT), generator=torch.Generator().manual_seed(1))
        rows = []
        tokens = {}
        for name, fn, model in (
            ("original CodeGeeX loop", original_greedy, original),
            ("zhplm generate", zhplm_greedy, ours),
        ):
            best = (0.0, 0.0)
            for _ in range(args.reps):
                toks, first, rate = fn(model, prompt, NEW)
                best = max(best, (rate, -first))
            tokens[name] = toks
            rows.append((name, -best[1] * 1000, best[0]))
        same = len(set(map(tuple, tokens.values()))) == 1
    lines = [
        f"PanGu-α greedy decode, width {WIDTH}, {BLOCKS}+1 layers, vocab {VOCAB}, prompt {PROMPT}, {NEW} new, "
        f"batch 1, float32, 2 threads, {cpu_name()}, torch {torch.__version__}",
        f"{'implementation':<26}{'first token ms':>16}{'decode tok/s':>14}",
        *(f"{n:<26}{f:>16.1f}{r:>14.1f}" for n, f, r in rows),
        f"ratio zhplm / original decode: {rows[1][2] / rows[0][2]:.2f}x; same tokens: {same}",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
