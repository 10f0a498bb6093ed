"""CPM-Generate's own code as the oracle for CPM-1 (the ``cpm1`` architecture): its Megatron model-parallel
model writes the shards, its ``change_mp.py`` merges them, its model computes logits and greedy tokens, and
its ``GPT2Tokenizer`` (jieba + sentencepiece) tokenizes.

    cpm_original.py write    --out DIR [--seed N]
    cpm_original.py forward  --ckpt DIR --inputs IN.json --out REF.npz
    cpm_original.py tokenize --vocab-dir BPE_DIR --texts TEXTS.json --out OUT.json

The code is read from the git snapshot of https://github.com/TsinghuaAI/CPM-Generate pinned in
tests/oracles/SNAPSHOTS.txt (``$ZHPLM_ORIGINALS/TsinghuaAI+CPM-Generate/repo``, default ``/work/.mirror``),
extracted with ``git archive`` into a temporary folder and imported from there — never copied into the project.

``write``: two processes (``torch.distributed`` on gloo, 127.0.0.1, world size 2) call the original
``mpu.initialize_model_parallel(2)`` and build the original ``model.gpt2_modeling.GPT2Model`` (tiny sizes:
:data:`CONFIG`), so every shard has the original names and the original split layout (the fused QKV as the
original ``_initialize_affine_weight(stride=3)`` deals it out per rank, vocab-parallel embedding, column- and
row-parallel linears). Every parameter then gets a seeded value of a visible scale: a partitioned one
(``param.model_parallel``) from a seed per rank, a replicated one from a seed shared by both ranks. Each rank
saves what DeepSpeed saved for the release (``{"module": state_dict, "iteration", "mp_world_size",
"dp_world_size", "global_steps", "skipped_steps", "np_rng_state", "torch_rng_state", "random_rng_state"}``)
as ``DIR/1000/mp_rank_0R_model_states.pt`` and rank 0 writes ``DIR/latest_checkpointed_iteration.txt``: the
layout of the real release (``80000/mp_rank_0{0,1}_model_states.pt``). ``DIR/cpm_config.json`` keeps the
model's arguments (``scripts/generate_text.sh``'s names).

``forward``: (1) the original ``change_mp.py DIR 1`` merges the shards into one (mp = 1) checkpoint (a copy of
DIR in a temporary folder, since it writes ``DIR_MP1`` beside it); (2) one process (gloo, world size 1)
builds the original ``GPT2Model`` with ``parallel_output=False``, loads the merged ``module`` state dict
(strict) and computes ``logits`` for ``input_ids`` (all rows the same length: the original has no padding
mask) with the original ``get_masks_and_position_ids`` from ``generate_samples.py``; (3) greedy decoding
of ``max_new_tokens`` after row 0 with the original incremental loop of ``generate_samples.py``
(``past_key_values``, ``use_cache=True``, ``top_k_logits(top_k=1)`` then ``softmax`` + ``multinomial``, which
with top-k 1 is the argmax): ``greedy`` [1, n]; (4) the same inputs through the two-rank model on the
unmerged shards (``parallel_output=False``: the logits gathered across ranks): ``logits_mp2``.

``tokenize``: the original ``data_utils/tokenization_gpt2.GPT2Tokenizer(vocab.json, chinese_vocab.model)``
with Python jieba; writes ``[{"text", "ids", "decoded"}]``.

Stubs, each for something imported and never needed on one CPU (named in the summary's ``stubs``):
``apex.normalization.fused_layer_norm.FusedLayerNorm`` → ``torch.nn.LayerNorm`` (same math, eps passed);
``deepspeed`` (only ``deepspeed.checkpointing.is_configured() -> False`` is called); ``torch._six`` (removed
from torch 2; ``mpu/grads.py`` imports ``inf`` from it); ``mpu.transformer.get_cuda_rng_tracker`` → a tracker
whose ``fork()`` does nothing (the original forks the CUDA RNG around attention dropout, which is 0 and
eval here); ``torch.load`` inside ``change_mp.py`` with ``weights_only=False`` (torch 1.x's default, which it
was written for); ``generate_samples.py``'s imports of the training stack (``arguments``, ``utils``,
``configure_data``, ``fp16``, ``model``, ``data_utils.tokenization_gpt2``) → empty modules (only its two pure
functions are used) and its tabs expanded to 8 columns (the file mixes tabs and spaces, which Python 3 refuses;
8 is how Python 2 read them); ``data_utils`` → an empty package with ``file_utils.cached_path`` for the tokenizer.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

REPO = "TsinghuaAI/CPM-Generate"
CONFIG = {  # scripts/generate_text.sh's arguments, tiny
    "num_layers": 2,
    "hidden_size": 32,
    "num_attention_heads": 4,
    "vocab_size": 96,
    "max_position_embeddings": 64,
}
ITERATION = 1000
STUBS = [
    *C.megatron_stubs(),
    "torch.load(weights_only=False) in change_mp.py",
    "generate_samples.py training-stack imports -> empty modules",
    "generate_samples.py tabs expanded to 8 columns (Python 2's reading)",
]
PATHS = [
    "mpu",
    "model/gpt2_modeling.py",
    "change_mp.py",
    "generate_samples.py",
    "data_utils/tokenization_gpt2.py",
]


def import_original(workdir: Path) -> None:
    """Install the named stubs and import the original ``mpu`` from ``workdir`` (the extracted snapshot)."""
    C.import_megatron_mpu(workdir)


def _gpt2_model(config: dict[str, Any], parallel_output: bool) -> Any:
    return C.megatron_gpt2(
        config, max_sequence_length=config["max_position_embeddings"], parallel_output=parallel_output
    )


def _generate_samples() -> Any:
    """``generate_samples.py`` imported for its pure functions; its training-stack imports are empty modules."""
    for name in ("arguments", "utils", "configure_data", "fp16", "model"):
        C.stub_module(name)
    sys.modules["arguments"].get_args = None  # type: ignore[attr-defined]
    sys.modules["utils"].__dict__.update(Timers=None, load_checkpoint_model=None, print_rank_0=print)
    sys.modules["configure_data"].configure_data = None  # type: ignore[attr-defined]
    sys.modules["fp16"].FP16_Module = None  # type: ignore[attr-defined]
    sys.modules["model"].__dict__.update(GPT2Model=None, DistributedDataParallel=None)
    C.stub_module("data_utils")
    C.stub_module("data_utils.tokenization_gpt2", GPT2Tokenizer=None)
    return C.load_file_module("generate_samples", Path("generate_samples.py"), expand_tabs=True)


def _write_rank(rank: int, workdir: str, out: str, seed: int, port: str) -> None:
    import torch

    os.chdir(workdir)
    import_original(Path(workdir))
    C.init_model_parallel(rank, 2, port)
    config = json.loads((Path(out) / "cpm_config.json").read_text())
    torch.manual_seed(seed)  # both ranks build the same master weights, then keep their slices
    model = _gpt2_model(config, parallel_output=False)
    C.fill_megatron(model, seed, rank, scale=lambda name: 0.2 if "embeddings" in name else 1.0)
    C.save_megatron_rank(Path(out), rank, C.megatron_state(model, 2, ITERATION), ITERATION)


def write(workdir: Path, out: Path, seed: int) -> dict[str, Any]:

    out.mkdir(parents=True, exist_ok=True)
    C.dump_json(out / "cpm_config.json", CONFIG)
    C.spawn_ranks(_write_rank, (str(workdir), str(out), seed, C.rendezvous()), 2)
    return {"arch": "cpm1", "shards": 2}


def _forward_mp2_rank(rank: int, workdir: str, ckpt: str, ids: list[list[int]], out: str, port: str) -> None:
    import torch

    os.chdir(workdir)
    import_original(Path(workdir))
    C.init_model_parallel(rank, 2, port)
    config = json.loads((Path(ckpt) / "cpm_config.json").read_text())
    model = _gpt2_model(config, parallel_output=False).eval()
    C.load_megatron_rank(model, Path(ckpt), rank, ITERATION)
    gs = _generate_samples()
    tokens = torch.tensor(ids)
    mask, _, pos = gs.get_masks_and_position_ids(tokens, -1, False, False)
    with torch.no_grad():
        logits, _ = model(tokens, pos, mask)
    if rank == 0:
        np.save(out, logits.numpy())


def _merge(workdir: Path, ckpt: Path, tmp: Path) -> Path:
    """The original change_mp.py, run on a copy of the checkpoint: returns the merged mp=1 file."""
    import runpy

    import torch

    copy = tmp / "ckpt"
    shutil.copytree(ckpt, copy)
    load = torch.load
    torch.load = lambda *a, **k: load(*a, **{**k, "weights_only": False})  # type: ignore[assignment]
    argv = sys.argv
    sys.argv = ["change_mp.py", str(copy), "1"]
    try:
        with C.stdout_to_stderr():
            runpy.run_path(str(workdir / "change_mp.py"), run_name="__main__")
    finally:
        sys.argv = argv
        torch.load = load  # type: ignore[assignment]
    return tmp / "ckpt_MP1" / str(ITERATION) / "mp_rank_00_model_states.pt"


def forward(workdir: Path, ckpt: Path, inputs: Path, out: Path, max_new_tokens: int) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F

    feeds = json.loads(inputs.read_text())
    ids = [list(map(int, row)) for row in feeds["input_ids"]]
    max_new_tokens = int(feeds.get("max_new_tokens", max_new_tokens))
    config = json.loads((ckpt / "cpm_config.json").read_text())
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        merged = _merge(workdir, ckpt, tmp)
        mp2 = tmp / "mp2.npy"
        C.spawn_ranks(_forward_mp2_rank, (str(workdir), str(ckpt), ids, str(mp2), C.rendezvous()), 2)
        logits_mp2 = np.load(mp2)
        sd = torch.load(merged, map_location="cpu", weights_only=False)
    C.init_model_parallel(0, 1, C.rendezvous())
    model = _gpt2_model(config, parallel_output=False).eval()
    model.load_state_dict(sd["module"], strict=True)
    gs = _generate_samples()
    tokens = torch.tensor(ids)
    mask, _, pos = gs.get_masks_and_position_ids(tokens, -1, False, False)
    with torch.no_grad():
        logits, _ = model(tokens, pos, mask)
        # generate_samples.generate_samples' loop for one prompt (row 0), on CPU, top_k = 1
        context_length = len(ids[0])
        seq_length = context_length + max_new_tokens + 1
        row = torch.tensor([ids[0] + [0] * (seq_length - context_length)])
        attention_mask, _, position_ids = gs.get_masks_and_position_ids(row, -1, False, False)
        past_key_values = None
        for counter in range(max_new_tokens):
            if counter == 0:
                step, past_key_values = model(
                    row[:, :context_length],
                    position_ids[:, :context_length],
                    attention_mask[:, :, :context_length, :context_length],
                    past_key_values=past_key_values,
                    use_cache=True,
                )
                step = step[:, context_length - 1, :]
            else:
                step, past_key_values = model(
                    row[:, context_length - 1 : context_length],
                    position_ids[:, context_length - 1 : context_length],
                    attention_mask[:, :, context_length - 1, :context_length],
                    past_key_values=past_key_values,
                    use_cache=True,
                )
                step = step[:, 0, :]
            past_key_values = [x for x in past_key_values]
            step = gs.top_k_logits(step, top_k=1, top_p=0.0)
            prev = torch.multinomial(F.softmax(step, dim=-1), num_samples=1)
            row[0, context_length] = prev[0]
            context_length += 1
    greedy = row[:, len(ids[0]) : len(ids[0]) + max_new_tokens]
    np.savez(
        out,
        logits=logits.numpy().astype(np.float32),
        logits_mp2=logits_mp2.astype(np.float32),
        greedy=greedy.numpy().astype(np.int64),
    )
    return {
        "outputs": ["logits", "logits_mp2", "greedy"],
        "loaded_variables": len(sd["module"]),
        "merged_by": "change_mp.py",
        "mp2_vs_merged_max_abs_diff": float(np.abs(logits_mp2 - logits.numpy()).max()),
    }


def tokenize(workdir: Path, vocab_dir: Path, texts: Path, out: Path) -> dict[str, Any]:
    C.stub_module("data_utils", __path__=[])
    C.stub_module("data_utils.file_utils", cached_path=None)
    mod = C.load_file_module("data_utils.tokenization_gpt2", workdir / "data_utils" / "tokenization_gpt2.py")
    tok = mod.GPT2Tokenizer(str(vocab_dir / "vocab.json"), str(vocab_dir / "chinese_vocab.model"))
    rows = []
    with C.stdout_to_stderr():
        for text in json.loads(texts.read_text(encoding="utf-8")):
            ids = [int(i) for i in tok.encode(text)]
            rows.append({"text": text, "ids": ids, "decoded": tok.decode(ids)})
    C.dump_json(out, {"rows": rows})
    import jieba

    return {"texts": len(rows), "jieba": jieba.__version__}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--out", type=Path, required=True)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--arch", default="cpm1", choices=["cpm1"])
    f = sub.add_parser("forward")
    f.add_argument("--ckpt", type=Path, required=True)
    f.add_argument("--inputs", type=Path, required=True)
    f.add_argument("--out", type=Path, required=True)
    f.add_argument("--arch", default="cpm1", choices=["cpm1"])
    f.add_argument("--max-new-tokens", type=int, default=12)
    t = sub.add_parser("tokenize")
    t.add_argument("--vocab-dir", type=Path, required=True)
    t.add_argument("--texts", type=Path, required=True)
    t.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    for k in ("out", "ckpt", "inputs", "vocab_dir", "texts"):
        if getattr(args, k, None) is not None:
            setattr(args, k, getattr(args, k).resolve())
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        commit = C.extract_original(REPO, PATHS, workdir)
        os.chdir(workdir)
        if args.cmd == "tokenize":
            summary = tokenize(workdir, args.vocab_dir, args.texts, args.out)
        else:
            import_original(workdir)
            if args.cmd == "write":
                summary = write(workdir, args.out, args.seed)
            else:
                summary = forward(workdir, args.ckpt, args.inputs, args.out, args.max_new_tokens)
        summary.update({"impl": f"CPM-Generate {commit[:10]}", "cmd": args.cmd, "stubs": STUBS})
        C.report(summary)


if __name__ == "__main__":
    main()
