"""Is the T5-PEGASUS gap of bench_text2text.py in the model zhplm loads? The same folder loaded by
``zhplm.pipeline`` and by ``AutoModelForSeq2SeqLM``: class, attention implementation, dtype, state dict compared,
then plain ``generate`` (encode 512, 24 new tokens) on each model, alternating, 3 rounds, in one process.

    PYTHONPATH=src:bench .venv/bin/python bench/bench_text2text_models.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import transformers

import zhplm
from bench_text2text import PAD, PARAGRAPH, SEP, build


def main() -> None:
    torch.set_num_threads(2)
    tmp = tempfile.mkdtemp()
    build("T5-PEGASUS base", Path(tmp))
    gen = zhplm.pipeline("text2text-generation", tmp)
    ours = gen.model
    theirs = transformers.AutoModelForSeq2SeqLM.from_pretrained(tmp).eval()
    for m in (ours, theirs):
        print(type(m).__name__, m.config._attn_implementation, m.dtype)
    sd1, sd2 = ours.state_dict(), theirs.state_dict()
    print(
        "keys differ:",
        set(sd1) ^ set(sd2),
        "max |weight diff|:",
        max((sd1[k] - sd2[k]).abs().max().item() for k in sd1),
    )
    enc = dict(gen.tokenizer((PARAGRAPH * 8)[:510], return_tensors="pt", return_token_type_ids=False))

    def run(m: Any) -> float:
        t = time.perf_counter()
        with torch.inference_mode():
            m.generate(**enc, max_new_tokens=24, do_sample=False, eos_token_id=[SEP], pad_token_id=PAD)
        return time.perf_counter() - t

    run(ours), run(theirs)
    ratios = []
    for _ in range(3):
        a, b = run(ours), run(theirs)
        ratios.append(b / a)
        print(f"zhplm-loaded model {a:.2f} s, transformers-loaded model {b:.2f} s")
    print(f"speed zhplm-loaded / transformers-loaded: median {statistics.median(ratios):.3f}x "
          f"[{min(ratios):.3f}-{max(ratios):.3f}]")  # fmt: skip


if __name__ == "__main__":
    main()
