"""The README's first command: the whole path on a small model — search, fetch, convert and verify, fill-mask
and similarity — so that a first run shows what zhplm is for, online or not.

With the hub reachable it runs on a real catalog row (``uer-roberta-tiny``: 2 layers, hidden 128, ~13 MB).
Without it (no network, ``ZHPLM_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``) it says so in one line and runs the
same path on a model it makes here: a 2-layer BERT trained for a few seconds on a few dozen sentences, saved
in an original release format — pytorch-pretrained-BERT's (a legacy torch pickle with ``LayerNorm.gamma/beta``
names, ``bert_config.json`` and ``vocab.txt``: what OpenCLaP and the first Chinese BERTs shipped). zhplm then
converts it like any download, and the converted model is checked against the model that wrote it.
"""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zhplm import config
from zhplm.errors import ZhplmError

HUB_MODEL = "uer-roberta-tiny"
SEARCH_QUERY = "轻量 填空"

# What the local model learns: short sentences whose masked characters have one answer.
CORPUS: tuple[str, ...] = (
    "北京是中国的首都。",
    "上海是中国最大的城市。",
    "长江是中国最长的河流。",
    "今天天气很好，我们去公园散步。",
    "我喜欢吃苹果和香蕉。",
    "他每天早上喝一杯咖啡。",
    "猫在沙发上睡觉。",
    "狗在院子里跑来跑去。",
    "学生们在教室里认真学习。",
    "老师在黑板上写字。",
    "春天来了，花都开了。",
    "冬天很冷，外面下雪了。",
    "我们一起去图书馆看书。",
    "妈妈在厨房做饭。",
    "火车从北京开往上海。",
    "飞机在天空中飞行。",
    "这本书非常有意思。",
    "他用电脑写程序。",
    "医生在医院给病人看病。",
    "孩子们在操场上踢足球。",
    "晚上我们一起看电影。",
    "爸爸开车去公司上班。",
    "她在商店里买了一件衣服。",
    "小鸟在树上唱歌。",
)
MASKED: tuple[str, ...] = ("北京是中国的首[MASK]。", "妈妈在厨房做[MASK]。", "猫在沙发上睡[MASK]。")
PAIRS: tuple[tuple[str, str], ...] = (
    ("猫在沙发上睡觉。", "猫在沙发上睡觉了。"),
    ("猫在沙发上睡觉。", "火车从北京开往上海。"),
)
SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


@dataclass
class DemoResult:
    """What the demo did (``zhplm demo --json``)."""

    mode: str  # "hub" or "local"
    model: str  # catalog id, or the local checkpoint folder
    converted: Path | None = None
    offline_reason: str | None = None
    search: list[str] = field(default_factory=list)
    verified: dict[str, Any] = field(default_factory=dict)
    fill_mask: list[dict[str, Any]] = field(default_factory=list)
    similarity: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the hub cannot be used now (a short reason), or None when a TCP connection to it opens."""
    if config.offline():
        return "ZHPLM_OFFLINE is set"
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        return "HF_HUB_OFFLINE is set"
    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    parts = urllib.parse.urlsplit(endpoint)
    host = parts.hostname or "huggingface.co"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"{host}:{port} cannot be reached ({exc.__class__.__name__}: {exc})"


# --------------------------------------------------------------------------- a model made here


def _vocab() -> list[str]:
    chars = sorted(
        {c for s in CORPUS for c in s}
        | {c for s in (*MASKED, *(p for pair in PAIRS for p in pair)) for c in s.replace("[MASK]", "")}
    )
    return [*SPECIALS, *chars]


def make_local_checkpoint(folder: Path, *, steps: int = 300, seed: int = 0) -> tuple[Any, dict[str, Any]]:
    """Train a 2-layer BERT on :data:`CORPUS` and save it in pytorch-pretrained-BERT's release format.

    Returns the trained model (the reference the converted one is compared with) and what was made."""
    import torch

    start = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(
        1
    )  # a tiny model: more threads only contend (tens of times slower on a busy machine)
    try:
        return _train_and_save(folder, steps, seed, start)
    finally:
        torch.set_num_threads(threads)


def _train_and_save(folder: Path, steps: int, seed: int, start: float) -> tuple[Any, dict[str, Any]]:
    import torch
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(seed)
    vocab = _vocab()
    index = {t: i for i, t in enumerate(vocab)}
    cfg = BertConfig(
        vocab_size=len(vocab),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=64,
        type_vocab_size=2,
    )
    model = BertForMaskedLM(cfg)
    length = max(len(s) for s in CORPUS) + 2
    ids = torch.zeros((len(CORPUS), length), dtype=torch.long)
    attention = torch.zeros_like(ids)
    for row, s in enumerate(CORPUS):
        tokens = [index["[CLS]"], *(index[c] for c in s), index["[SEP]"]]
        ids[row, : len(tokens)] = torch.tensor(tokens)
        attention[row, : len(tokens)] = 1
    lengths = attention.sum(1)
    optimiser = torch.optim.AdamW(model.parameters(), lr=5e-3)
    model.train()
    first = last = 0.0
    for step in range(steps):
        # mask one random character per sentence (never [CLS]/[SEP]), plus ~15% more
        pick = (torch.rand(len(CORPUS)) * (lengths - 2).float()).long() + 1
        masked = torch.zeros_like(ids, dtype=torch.bool)
        masked[torch.arange(len(CORPUS)), pick] = True
        inner = (ids > index["[MASK]"]) & (torch.rand(ids.shape) < 0.15)
        masked |= inner
        labels = torch.where(masked, ids, torch.full_like(ids, -100))
        inputs = torch.where(masked, torch.full_like(ids, index["[MASK]"]), ids)
        loss = model(input_ids=inputs, attention_mask=attention, labels=labels).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        last = float(loss.detach())
        first = last if step == 0 else first
    model.train(False)
    folder.mkdir(parents=True, exist_ok=True)
    state = {}
    for name, tensor in model.state_dict().items():
        if name.endswith("position_ids") or name == "cls.predictions.decoder.bias":
            continue  # buffers, and the bias pytorch-pretrained-BERT keeps once as cls.predictions.bias
        name = name.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        state[name] = tensor.detach().clone()
    torch.save(state, folder / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    original_config = {
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": cfg.hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": cfg.intermediate_size,
        "max_position_embeddings": cfg.max_position_embeddings,
        "num_attention_heads": cfg.num_attention_heads,
        "num_hidden_layers": cfg.num_hidden_layers,
        "type_vocab_size": cfg.type_vocab_size,
        "vocab_size": cfg.vocab_size,
    }
    (folder / "bert_config.json").write_text(json.dumps(original_config, indent=2) + "\n", encoding="utf-8")
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    made = {
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps": steps,
        "loss": [round(first, 3), round(last, 3)],
        "seconds": round(time.perf_counter() - start, 1),
        "files": sorted(p.name for p in folder.iterdir()),
    }
    return model, made


def _max_logit_difference(reference: Any, converted: Path) -> float:
    """Largest |logit| difference between the model that wrote the checkpoint and zhplm's conversion."""
    import torch

    from zhplm.loader import load

    loaded = load(converted, task="fill-mask")
    enc = loaded.tokenizer(list(MASKED), return_tensors="pt", padding=True)
    with torch.no_grad():
        ours = loaded.model(**enc).logits
        theirs = reference(**enc).logits
    return float((ours - theirs).abs().max())


# --------------------------------------------------------------------------- the path


def _use(folder: Path, result: DemoResult, say: Callable[[str], None]) -> None:
    from zhplm.tasks import pipeline

    fill = pipeline("fill-mask", folder, top_k=3)
    say("fill-mask")
    for text in MASKED:
        predictions = fill(text)[0]
        shown = "  ".join(f"{p.token} {p.score:.2f}" for p in predictions)
        say(f"  {text}  →  {shown}")
        result.fill_mask.append({"text": text, "top": [[p.token, round(p.score, 4)] for p in predictions]})
    embed = pipeline("embeddings", folder, pooling="mean")
    say("similarity (mean-pooled embeddings, cosine)")
    for a, b in PAIRS:
        va, vb = embed([a, b])
        cosine = float((va * vb).sum())
        say(f"  {a} / {b}  {cosine:.3f}")
        result.similarity.append({"a": a, "b": b, "cosine": round(cosine, 4)})


def _search(result: DemoResult, say: Callable[[str], None], query: str) -> None:
    from zhplm.catalog import search

    hits = search(query)
    result.search = [r.id for r in hits]
    ids = [r.id for r in hits]
    where = f"#{ids.index(HUB_MODEL) + 1}" if HUB_MODEL in ids else "not among them"
    say(f"search {query!r}: {len(hits)} rows ({', '.join(ids[:4])}, …); {HUB_MODEL} is {where}")


def _hub_path(result: DemoResult, say: Callable[[str], None]) -> None:
    from zhplm.get import download
    from zhplm.loader import read_provenance

    say(f"download {HUB_MODEL} (fetch → verify → convert)")
    folder = download(HUB_MODEL, quiet=True)
    provenance = read_provenance(folder)
    result.converted = folder
    result.verified = {
        k: provenance[k] for k in ("source", "arch", "format", "heads", "inputs") if k in provenance
    }
    say(
        f"  converted into {folder} (arch {provenance.get('arch', '?')}, heads {provenance.get('heads', {})})"
    )


def _local_path(result: DemoResult, say: Callable[[str], None], workdir: Path, steps: int) -> None:
    from zhplm.converter import convert

    original = workdir / "chinese_demo_L-2_H-64_A-2"
    reference, made = make_local_checkpoint(original, steps=steps)
    say(
        f"made {original} in {made['seconds']} s: a 2-layer BERT ({made['parameters']:,} parameters) trained "
        f"{made['steps']} steps on {len(CORPUS)} sentences (MLM loss {made['loss'][0]} → {made['loss'][1]}), "
        f"saved as {', '.join(made['files'])} (pytorch-pretrained-BERT format)"
    )
    out = workdir / "converted"
    converted = convert(original, out, overwrite=True)
    result.converted = out
    say(
        f"convert: detected {converted.arch} ({converted.scheme} names, {converted.format} file) → {out} "
        f"(safetensors + tokenizer + zhplm.json; heads {converted.heads})"
    )
    diff = _max_logit_difference(reference, out)
    result.verified = {"max_abs_logit_difference": diff, "reference": "the model that wrote the checkpoint"}
    say(f"verify: converted vs original model, max |Δ logit| = {diff:.2e}")
    if diff > 1e-4:
        raise ZhplmError(f"the converted demo model differs from its original by {diff} (expected < 1e-4)")


def run(
    say: Callable[[str], None],
    *,
    offline: bool | None = None,
    workdir: Path | None = None,
    steps: int = 300,
    query: str = SEARCH_QUERY,
) -> DemoResult:
    """Run the demo, reporting each step through ``say``. ``offline=True`` skips the hub check."""
    start = time.perf_counter()
    reason = "asked for the local path" if offline else hub_unreachable()
    result = DemoResult(mode="hub" if reason is None else "local", model=HUB_MODEL)
    _search(result, say, query)
    if reason is None:
        try:
            _hub_path(result, say)
        except (ZhplmError, OSError) as exc:  # reachable but not usable (a proxy, a block): go local
            reason = f"the download failed ({exc})"
            result.mode = "local"
    workdir = workdir or config.home() / "demo"
    if reason is not None:
        result.offline_reason = reason
        say(f"offline: the hub is not usable ({reason}); running the same path on a BERT zhplm makes here")
        result.model = str(workdir / "chinese_demo_L-2_H-64_A-2")
        _local_path(result, say, workdir, steps)
    assert result.converted is not None
    _use(result.converted, result, say)
    result.seconds = round(time.perf_counter() - start, 1)
    say(f"done in {result.seconds} s")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m zhplm.demo [--offline]`` (the same as ``zhplm demo``)."""
    from zhplm.cli.main import main as cli

    return cli(["demo", *(argv or [])])


if __name__ == "__main__":
    raise SystemExit(main())
