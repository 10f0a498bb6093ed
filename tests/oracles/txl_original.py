"""THUDM's Chinese-Transformer-XL code as the oracle for ``transfo_xl_megatron``: its Megatron ``GPT2Model``
(``relative_encoding=True``, the Transformer-XL attention of ``mpu/transformer.py``) writes the shard, computes
logits over two segments (the second reading the first one's memory) and greedy tokens with the original
``generate_samples.sample_sequence``; its ``ChineseSPTokenizer`` (``cog-pretrain.model``) tokenizes.

    txl_original.py write    --out DIR [--seed N]
    txl_original.py forward  --ckpt DIR --inputs IN.json --out REF.npz
    txl_original.py tokenize --texts TEXTS.json --out OUT.json
    txl_original.py bench    --ckpt DIR --inputs IN.json --out OUT.json [--reps N] [--hidden --heads --layers --mem]

The code is read from the git snapshot of https://github.com/THUDM/Chinese-Transformer-XL pinned in
tests/oracles/SNAPSHOTS.txt, extracted with ``git archive`` into a temporary folder and imported from there.

``write``: ``--mp N`` processes (``torch.distributed`` on gloo, 127.0.0.1, world size N, default 1) call the
original ``mpu.initialize_model_parallel(N)`` and build the original ``model.gpt2_modeling.GPT2Model`` (tiny
sizes: :data:`CONFIG`), so each shard has the original names and split layout; every parameter gets a seeded
value of a visible scale (a rank's own slice from a seed per rank; ``r_w_bias``/``r_r_bias`` too, which the
original starts at zero); each rank's state dict is saved as DeepSpeed saved the release (``{"module":
state_dict, …}`` in ``DIR/1000/mp_rank_0R_model_states.pt`` +
``latest_checkpointed_iteration.txt``), with ``DIR/config.json`` (head count, ``mem_length``).

``forward``: one process per shard (gloo, world size = the shard count; ``parallel_output=False`` gathers the
logits); the original model loads its shard (strict) and computes (1) ``logits`` of ``segment1`` (the
causal mask of ``generate_samples.get_masks_and_position_ids(transformer_xl=True)``, no memory) and its
memory, (2) ``logits2`` of ``segment2`` reading that memory (mask: all of the memory, causal within the
segment — the mask Transformer-XL trains with), (3) ``greedy``: ``generate_samples.sample_sequence`` after
``prompt`` with ``top_k=1`` (its multinomial over the one remaining token is the argmax), ``mem_length`` from
the config, so the memory fills and is cut while it runs.

Stubs, each for something imported and never needed on one CPU (named in the summary's ``stubs``):
``deepspeed`` (only ``deepspeed.checkpointing.is_configured() -> False`` is called); ``torch._six`` (removed
from torch 2; ``mpu/grads.py`` imports ``inf`` from it); ``mpu.transformer.get_cuda_rng_tracker`` → a tracker
whose ``fork()`` does nothing (dropout is 0 and eval here); ``generate_samples.py``'s imports of the training
stack (``nltk``, ``arguments``, ``utils``, ``data_utils``, ``configure_data``, ``fp16``, ``model``) → empty
modules (only ``get_masks_and_position_ids``, ``get_batch``, ``top_k_logits`` and ``sample_sequence`` run);
``data_utils`` → an empty package for ``data_utils/sp_tokenizer.py`` and ``tokenization.py``'s own imports.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

REPO = "THUDM/Chinese-Transformer-XL"
CONFIG = {"num_layers": 2, "hidden_size": 32, "num_attention_heads": 4, "vocab_size": 50048, "mem_length": 6}
ITERATION = 1000
STUBS = [
    *C.megatron_stubs(apex=False),
    "generate_samples.py training-stack imports -> empty modules",
    "data_utils -> empty package (tokenizer files loaded alone)",
]
PATHS = ["mpu", "model/gpt2_modeling.py", "generate_samples.py", "data_utils", "chinese_sentencepiece"]


def import_original(workdir: Path) -> None:
    C.import_megatron_mpu(workdir, apex=False)


def _gpt2_model(config: dict[str, Any]) -> Any:
    return C.megatron_gpt2(
        config,
        max_sequence_length=64,
        max_memory_length=config["mem_length"],
        parallel_output=False,
        relative_encoding=True,
    )


def _generate_samples() -> Any:
    for name in ("nltk", "arguments", "utils", "data_utils", "configure_data", "fp16", "model"):
        C.stub_module(name)
    sys.modules["arguments"].get_args = None  # type: ignore[attr-defined]
    sys.modules["utils"].__dict__.update(
        Timers=None,
        set_random_seed=None,
        load_checkpoint=None,
        get_checkpoint_iteration=None,
        print_rank_0=print,
    )
    sys.modules["data_utils"].make_tokenizer = None  # type: ignore[attr-defined]
    sys.modules["configure_data"].configure_data = None  # type: ignore[attr-defined]
    sys.modules["fp16"].FP16_Module = None  # type: ignore[attr-defined]
    sys.modules["model"].GPT2Model = None  # type: ignore[attr-defined]
    return C.load_file_module("generate_samples", Path("generate_samples.py"), expand_tabs=True)


def _write_rank(
    rank: int, workdir: str, out: str, seed: int, world: int, port: str, config: dict[str, Any]
) -> None:
    import torch

    os.chdir(workdir)
    import_original(Path(workdir))
    C.init_model_parallel(rank, world, port)
    torch.manual_seed(seed)
    model = _gpt2_model(config)
    C.fill_megatron(model, seed, rank)
    C.save_megatron_rank(Path(out), rank, C.megatron_state(model, world, ITERATION), ITERATION)


def write(workdir: Path, out: Path, seed: int, world: int) -> dict[str, Any]:

    out.mkdir(parents=True, exist_ok=True)
    C.dump_json(out / "config.json", {k: CONFIG[k] for k in ("num_attention_heads", "mem_length")})
    args = (str(workdir), str(out), seed, world, C.rendezvous(), dict(CONFIG))
    C.spawn_ranks(_write_rank, args, world)
    return {"arch": "transfo_xl_megatron", "shards": world}


def _forward_rank(rank: int, workdir: str, ckpt_: str, inputs: str, out: str, world: int, port: str) -> None:
    import torch

    os.chdir(workdir)
    import_original(Path(workdir))
    ckpt = Path(ckpt_)
    feeds = json.loads(Path(inputs).read_text())
    C.init_model_parallel(rank, world, port)
    model = _gpt2_model(CONFIG).eval()
    sd = C.load_megatron_rank(model, ckpt, rank, ITERATION)
    gs = _generate_samples()
    mem = CONFIG["mem_length"]
    seg1, seg2 = torch.tensor(feeds["segment1"]), torch.tensor(feeds["segment2"])
    with torch.no_grad():
        mask1, _, pos1 = gs.get_masks_and_position_ids(
            seg1, -1, False, False, transformer_xl=True, mem_length=mem
        )
        logits1, *mems = model(seg1, pos1, mask1)
        m, q = mems[0].shape[1], seg2.shape[1]
        mask2 = torch.tril(torch.ones(1, 1, q, m + q), m)
        logits2, *_ = model(seg2, pos1[:, :q], mask2, *mems)
        prompt = torch.tensor(feeds["prompt"])
        new = int(feeds["max_new_tokens"])
        args = types.SimpleNamespace(
            batch_size=1,
            eod_token=-1,
            transformer_xl=True,
            mem_length=mem,
            out_seq_length=prompt.shape[1] + new,
            temperature=1.0,
            top_k=1,
            top_p=0.0,
        )
        tokenizer = types.SimpleNamespace(DecodeIds=lambda ids: "")
        tokens, _ = gs.sample_sequence(model, tokenizer, prompt, prompt.shape[1], args, torch.device("cpu"))
    if rank:
        return
    np.savez(
        out,
        logits=logits1.numpy().astype(np.float32),
        logits2=logits2.numpy().astype(np.float32),
        greedy=tokens[prompt.shape[1] :].numpy().astype(np.int64),
    )
    C.dump_json(Path(out + ".json"), {"memory_length": m, "loaded": len(sd["module"])})


def forward(workdir: Path, ckpt: Path, inputs: Path, out: Path) -> dict[str, Any]:
    """Every rank of the checkpoint runs the original model (gloo, one process per rank); rank 0 saves."""
    world, info = C.run_megatron_ranks(_forward_rank, workdir, ckpt, inputs, out, ITERATION)
    return {"outputs": ["logits", "logits2", "greedy"], "ranks": world, **info}


def bench(workdir: Path, ckpt: Path, inputs: Path, out: Path, reps: int) -> dict[str, Any]:
    """One shard in this process: ``sample_sequence`` (top-k 1) after ``prompt``, a warm-up and ``reps`` timed
    runs; forward hooks on the model give the first token's time (the prompt's pass) and the step count."""
    import time

    import torch

    torch.set_num_threads(2)
    import_original(workdir)
    C.init_model_parallel(0, 1, C.rendezvous())
    model = _gpt2_model(CONFIG).eval()
    sd = torch.load(ckpt / str(ITERATION) / "mp_rank_00_model_states.pt", weights_only=False)
    model.load_state_dict(sd["module"], strict=True)
    gs = _generate_samples()
    feeds = json.loads(inputs.read_text(encoding="utf-8"))
    prompt, new = torch.tensor(feeds["prompt"]), int(feeds["max_new_tokens"])
    args = types.SimpleNamespace(batch_size=1, eod_token=-1, transformer_xl=True, mem_length=CONFIG["mem_length"],
                                 out_seq_length=prompt.shape[1] + new, temperature=1.0, top_k=1, top_p=0.0)  # fmt: skip
    tokenizer = types.SimpleNamespace(DecodeIds=lambda ids: "")
    calls: list[float] = []
    model.register_forward_hook(lambda *_: calls.append(time.perf_counter()))
    runs = []
    with torch.no_grad():
        gs.sample_sequence(model, tokenizer, prompt, prompt.shape[1], args, torch.device("cpu"))  # warm-up
        for _ in range(reps):
            calls.clear()
            t0 = time.perf_counter()
            tokens, _ = gs.sample_sequence(
                model, tokenizer, prompt, prompt.shape[1], args, torch.device("cpu")
            )
            t1 = time.perf_counter()
            assert len(calls) == new, (len(calls), new)
            runs.append({"first_s": calls[0] - t0, "decode_tok_s": (new - 1) / (t1 - calls[0])})
    result = {"runs": runs, "tokens": tokens[prompt.shape[1] :].tolist()}
    C.dump_json(out, result)
    return {"reps": reps}


def tokenize(workdir: Path, texts: Path, out: Path) -> dict[str, Any]:
    C.stub_module("data_utils", __path__=[str(workdir / "data_utils")])
    sp = C.load_file_module("data_utils.sp_tokenizer", workdir / "data_utils" / "sp_tokenizer.py")
    tok = sp.from_pretrained()  # PRETRAINED_MODEL_FILE, relative to the extracted repository
    rows = []
    for text in json.loads(texts.read_text(encoding="utf-8")):
        ids = [int(i) for i in tok.encode(text)]
        rows.append({"text": text, "ids": ids, "decoded": tok.decode(ids)})
    C.dump_json(out, {"rows": rows})
    return {"texts": len(rows)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--out", type=Path, required=True)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--mp", type=int, default=1, help="model-parallel ranks (one shard each)")
    f = sub.add_parser("forward")
    f.add_argument("--ckpt", type=Path, required=True)
    f.add_argument("--inputs", type=Path, required=True)
    f.add_argument("--out", type=Path, required=True)
    b = sub.add_parser("bench")
    b.add_argument("--ckpt", type=Path, required=True)
    b.add_argument("--inputs", type=Path, required=True)
    b.add_argument("--out", type=Path, required=True)
    b.add_argument("--reps", type=int, default=1)
    for sp in (w, b):  # other sizes than the tests' tiny CONFIG (the bench's medium model)
        sp.add_argument("--hidden", type=int, default=CONFIG["hidden_size"])
        sp.add_argument("--heads", type=int, default=CONFIG["num_attention_heads"])
        sp.add_argument("--layers", type=int, default=CONFIG["num_layers"])
        sp.add_argument("--mem", type=int, default=CONFIG["mem_length"])
    t = sub.add_parser("tokenize")
    t.add_argument("--texts", type=Path, required=True)
    t.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    if args.cmd in ("write", "bench"):
        CONFIG.update(hidden_size=args.hidden, num_attention_heads=args.heads, num_layers=args.layers,
                      mem_length=args.mem)  # fmt: skip
    for k in ("out", "ckpt", "inputs", "texts"):
        if getattr(args, k, None) is not None:
            setattr(args, k, getattr(args, k).resolve())
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        commit = C.extract_original(REPO, PATHS, workdir)
        os.chdir(workdir)
        if args.cmd == "tokenize":
            summary = tokenize(workdir, args.texts, args.out)
        else:
            if args.cmd == "write":
                summary = write(workdir, args.out, args.seed, args.mp)
            elif args.cmd == "bench":
                summary = bench(workdir, args.ckpt, args.inputs, args.out, args.reps)
            else:
                summary = forward(workdir, args.ckpt, args.inputs, args.out)
        summary.update({"impl": f"Chinese-Transformer-XL {commit[:10]}", "cmd": args.cmd, "stubs": STUBS})
        C.report(summary)


if __name__ == "__main__":
    main()
