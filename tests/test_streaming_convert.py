"""Large HF-layout decoders (Wenzhong-3.5B, Yuyuan-3.5B: 7 GB in ``pytorch_model-0000X-of-0000N.bin`` shards)
convert one tensor at a time and load in bf16.

* transformers 4.46.3 writes a sharded checkpoint (``save_pretrained(max_shard_size=…)``: the shards + their
  ``pytorch_model.bin.index.json``) and its own logits; zhplm converts the folder (every shard, through the
  index) and matches within 1e-4. Run for every HF-layout causal LM whose architecture module is registered:
  BLOOM here, GPT-2 (Wenzhong/Yuyuan's class) once the ``gpt2`` module of the generation branch is merged.
* Peak memory of a conversion, in a fresh process (``tests/helpers_memory.py``): a many-shard tiny checkpoint
  and a ~270 MB one; the work holds about one tensor at a time, never a shard or the model.
* ``zhplm.load(folder, dtype="bf16")`` gives bf16 parameters without a float32 copy in between.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import zhplm
from helpers_parity import compare, hf4_checkpoint
from zhplm.arch import arch_names
from zhplm.errors import CorruptCheckpointError
from zhplm.formats import open_checkpoint, sniff

ROOT = Path(__file__).resolve().parents[1]
CAUSAL = {
    "bloom": ("BloomForCausalLM", {"vocab_size": 300, "hidden_size": 32, "n_layer": 3, "n_head": 4}),
    "gpt2": (
        "GPT2LMHeadModel",
        {"vocab_size": 300, "n_embd": 32, "n_layer": 3, "n_head": 4, "n_positions": 32},
    ),
}
CORPUS = [
    "闻仲是IDEA研究院封神榜大模型中的GPT-2生成模型，有35亿参数。",
    "余元是医疗领域的生成模型，mostly trained on English PubMed abstracts.",
    "今天天气不错，我们去北京的颐和园玩吧！价格：128.50元，折扣 15%。",
]
TEXTS = [*CORPUS, "第一行\n第二行\n\n  两个空格  和\t制表符", "没见过的字：龘靐齉 😀", "Hello, world!"]


def _byte_level_bpe(folder: Path, vocab_size: int) -> None:
    """A byte-level BPE (GPT-2's and BLOOM's kind) trained on a few lines, saved both ways releases ship it:
    ``tokenizer.json`` and GPT-2's ``vocab.json`` + ``merges.txt``."""
    from tokenizers import ByteLevelBPETokenizer

    tok = ByteLevelBPETokenizer()
    tok.train_from_iterator(CORPUS * 5, vocab_size=vocab_size, min_frequency=1, show_progress=False)
    tok.save(str(folder / "tokenizer.json"))
    tok.save_model(str(folder))
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "PreTrainedTokenizerFast"}))


def _registered(arch: str) -> Any:
    return pytest.param(
        arch,
        marks=pytest.mark.skipif(
            arch not in arch_names(), reason=f"the {arch} architecture module is not in this branch yet"
        ),
    )


@pytest.mark.oracle
@pytest.mark.parametrize("arch", [_registered(a) for a in CAUSAL])
def test_sharded_hf_checkpoint_matches_transformers4(arch: str, tmp_path: Path) -> None:
    cls, config = CAUSAL[arch]
    ckpt, peer = hf4_checkpoint(cls, config, tmp_path, max_shard_size="20KB")
    _byte_level_bpe(ckpt, config["vocab_size"])
    shards = sorted(ckpt.glob("pytorch_model-*-of-*.bin"))
    assert len(shards) >= 3 and (ckpt / "pytorch_model.bin.index.json").is_file()
    assert sniff(ckpt) == "pytorch"
    with open_checkpoint(ckpt) as reader:
        assert set(reader.keys()) == set(
            json.loads((ckpt / "pytorch_model.bin.index.json").read_text())["weight_map"]
        )
    result = zhplm.convert(ckpt, tmp_path / "out", arch=arch)
    assert result.format == "pytorch" and len(result.inputs) >= len(shards)
    model, tokenizer, *_ = zhplm.load(tmp_path / "out")
    for text in TEXTS:  # the byte-level BPE loses nothing: not a space, not a rare character
        assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text
    # every input the peer ran with: GPT-2 embeds token_type_ids with its word table and adds them
    feed = {k: v for k, v in peer.inputs.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.inference_mode():
        logits = model(**feed).logits.numpy()
    diffs = compare(
        {"logits": logits}, {"logits": peer.outputs["logits"].numpy()}, feed["attention_mask"].numpy()
    )
    assert diffs["logits"] < 1e-4


@pytest.mark.oracle
def test_a_missing_or_foreign_shard_is_a_clear_error(tmp_path: Path) -> None:
    cls, config = CAUSAL["bloom"]
    ckpt, _ = hf4_checkpoint(cls, config, tmp_path, max_shard_size="20KB")
    index = json.loads((ckpt / "pytorch_model.bin.index.json").read_text())
    last = sorted(set(index["weight_map"].values()))[-1]
    (ckpt / last).rename(tmp_path / last)
    with pytest.raises(CorruptCheckpointError, match=rf"shard .*{last} is missing"):
        zhplm.convert(ckpt, tmp_path / "out", arch="bloom")
    assert not (tmp_path / "out").exists()
    (tmp_path / last).rename(ckpt / last)
    first = sorted(set(index["weight_map"].values()))[0]
    (ckpt / first).write_bytes((ckpt / last).read_bytes())  # another shard's tensors under this name
    with pytest.raises(CorruptCheckpointError, match=r"not in this shard|does not list"):
        zhplm.convert(ckpt, tmp_path / "out", arch="bloom")


# --------------------------------------------------------------------------- memory


def _bloom_release(folder: Path, *, hidden: int, layers: int, vocab: int, shard_bytes: int) -> None:
    """A BLOOM release in transformers' names, sharded as save_pretrained does, written one shard at a time
    (the fixture itself never holds the model)."""
    from transformers import BloomConfig, BloomForCausalLM

    config = BloomConfig(vocab_size=vocab, hidden_size=hidden, n_layer=layers, n_head=max(1, hidden // 64))
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in BloomForCausalLM(config).state_dict().items()}
    folder.mkdir(parents=True)
    config.save_pretrained(str(folder))
    _byte_level_bpe(folder, 300)
    names = [n for n in shapes if n != "lm_head.weight"]
    groups: list[list[str]] = [[]]
    size = 0
    for name in names:
        nbytes = int(np.prod(shapes[name])) * 4
        if groups[-1] and size + nbytes > shard_bytes:
            groups.append([])
            size = 0
        groups[-1].append(name)
        size += nbytes
    g = torch.Generator().manual_seed(0)
    weight_map = {}
    for i, group in enumerate(groups, 1):
        file = f"pytorch_model-{i:05d}-of-{len(groups):05d}.bin"
        torch.save({n: torch.randn(shapes[n], generator=g) * 0.02 for n in group}, folder / file)
        weight_map.update(dict.fromkeys(group, file))
    (folder / "pytorch_model.bin.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map})
    )


def _probe(*args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "helpers_memory.py"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "HOME": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    print("memory:", json.dumps(result))
    return result


def test_many_tiny_shards_convert_with_every_tensor(tmp_path: Path) -> None:
    _bloom_release(tmp_path / "src", hidden=64, layers=6, vocab=300, shard_bytes=40_000)
    shards = list((tmp_path / "src").glob("pytorch_model-*.bin"))
    assert len(shards) >= 20
    m = _probe("convert", str(tmp_path / "src"), str(tmp_path / "out"), "bloom")
    held = m["peak"] - m["before"]
    assert held < 64 * 1024**2, m  # a few MB of bookkeeping for ~1 MB of tensors in 20+ files
    from safetensors.numpy import load_file

    converted = load_file(str(tmp_path / "out" / "model.safetensors"))
    with open_checkpoint(tmp_path / "src") as reader:
        for name in reader:
            assert np.array_equal(converted[name], reader.get(name)), name


def test_a_300mb_checkpoint_converts_holding_about_one_tensor_and_loads_in_bf16(tmp_path: Path) -> None:
    _bloom_release(tmp_path / "src", hidden=1024, layers=4, vocab=16000, shard_bytes=100 * 1024**2)
    m = _probe("convert", str(tmp_path / "src"), str(tmp_path / "out"), "bloom")
    held, own = m["peak"] - m["before"], m["peak_anon"] - m["before_anon"]
    assert m["total"] > 250 * 1024**2 and m["largest_tensor"] == 16000 * 1024 * 4
    # one tensor (64 MB) + a 16 MB read chunk + bookkeeping (measured: 1.3× anon, 1.5× in all); a whole shard
    # (100 MB) plus its tensor, or the model (270 MB), would fail
    assert own < 1.6 * m["largest_tensor"], (own / m["largest_tensor"], m)
    assert held < 2 * m["largest_tensor"] and held < 0.5 * m["total"], m
    (tmp_path / "src").rename(tmp_path / "gone")  # the loads below read only the converted folder
    b = _probe("load", str(tmp_path / "out"), "bf16")
    assert b["dtypes"] == "torch.bfloat16"
    assert b["params_bytes"] * 2 == m["total"]  # half of the float32 tensors
    # bf16 from the start: the process's own memory grows by the bf16 model plus less than one float32 tensor;
    # a float32 model on the way (270 MB) would fail
    assert b["peak_anon"] - b["before_anon"] < b["params_bytes"] + m["largest_tensor"], b


def test_bf16_load_keeps_the_logits_and_refuses_unknown_dtypes(tmp_path: Path) -> None:
    _bloom_release(tmp_path / "src", hidden=64, layers=2, vocab=300, shard_bytes=30_000)
    zhplm.convert(tmp_path / "src", tmp_path / "out", arch="bloom")
    ids = torch.tensor([[1, 5, 9, 200, 17]])
    full, *_ = zhplm.load(tmp_path / "out")
    half, *_ = zhplm.load(tmp_path / "out", dtype="bf16")
    assert {p.dtype for p in half.parameters()} == {torch.bfloat16}
    with torch.inference_mode():
        a = full(ids).logits
        b = half(ids).logits.float()
    assert torch.allclose(a, b, atol=0.05, rtol=0.05)
    assert a.argmax(-1).tolist() == b.argmax(-1).tolist()
    with pytest.raises(zhplm.errors.ConversionError, match="unknown dtype 'int3'"):
        zhplm.load(tmp_path / "out", dtype="int3")
