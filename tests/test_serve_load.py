"""A short mixed load (the correctness half of bench/bench_serve_load.py, no timings): concurrent clients
send embeddings of 1-3 texts and greedy completions for a few seconds; every answer must be exactly its
own input's result (no lost, swapped or mixed-up rows), and the embeddings must have shared forwards."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="zhplm[serve] is not installed")
openai = pytest.importorskip("openai")

import zhplm  # noqa: E402
from helpers_serve import CHARS, running, tiny_gpt2  # noqa: E402


def tiny_bert(folder: Path) -> Path:
    """A 2-layer BERT saved by transformers (random weights, the character vocabulary of tiny_gpt2)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *CHARS]
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    BertModel(config).save_pretrained(folder)
    BertTokenizer(vocab={t: i for i, t in enumerate(vocab)}).save_pretrained(folder)
    return folder


def test_mixed_concurrent_load_answers_every_request_with_its_own_result(tmp_path: Path) -> None:
    bert, gpt2 = tiny_bert(tmp_path / "bert"), tiny_gpt2(tmp_path / "gpt2")
    rng = random.Random(0)
    texts = ["".join(rng.choice(CHARS) for _ in range(rng.randint(2, 40))) for _ in range(64)]
    prompts = ["".join(rng.choice(CHARS) for _ in range(rng.randint(1, 6))) for _ in range(8)]
    vectors = zhplm.pipeline("embeddings", bert)(texts)
    gen = zhplm.pipeline("text-generation", gpt2)
    continuations = [gen(p, max_new_tokens=4).text for p in prompts]
    problems: list[str] = []
    answered = {"embeddings": 0, "completions": 0}
    lock = threading.Lock()

    with running({"bert": bert, "gpt2": gpt2}, max_models=3, batch_wait_ms=20) as (url, state):
        client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=120)
        until = time.monotonic() + 4.0

        def embed(seed: int) -> None:
            r = random.Random(seed)
            while time.monotonic() < until:
                picks = [r.randrange(len(texts)) for _ in range(r.randint(1, 3))]
                try:
                    out = client.embeddings.create(model="bert", input=[texts[i] for i in picks])
                    rows = [d.embedding for d in sorted(out.data, key=lambda d: d.index)]
                    ok = len(rows) == len(picks) and np.allclose(rows, vectors[picks], atol=1e-5)
                except openai.OpenAIError as exc:
                    ok, rows = False, [repr(exc)]
                with lock:
                    answered["embeddings"] += 1
                    if not ok:
                        problems.append(f"embeddings {picks}")

        def complete(seed: int) -> None:
            r = random.Random(seed)
            while time.monotonic() < until:
                i = r.randrange(len(prompts))
                try:
                    out = client.completions.create(
                        model="gpt2", prompt=prompts[i], max_tokens=4, temperature=0
                    )
                    ok = out.choices[0].text == continuations[i]
                except openai.OpenAIError:
                    ok = False
                with lock:
                    answered["completions"] += 1
                    if not ok:
                        problems.append(f"completion {i}")

        client.embeddings.create(model="bert", input="热")  # both loaded before the clock starts
        client.completions.create(model="gpt2", prompt="热", max_tokens=1)
        batches_before, inputs_before = state.batches, state.batched_inputs
        threads = [threading.Thread(target=embed, args=(n,)) for n in range(6)]
        threads += [threading.Thread(target=complete, args=(100 + n,)) for n in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        batches, inputs = state.batches - batches_before, state.batched_inputs - inputs_before
    assert not problems, problems[:10]
    assert answered["embeddings"] > 6 and answered["completions"] > 2, answered
    assert inputs > batches  # requests shared forwards
