"""THUDM/GLM's own code as the oracle for GLM (the ``glm`` architecture).

    glm_original.py write    --out DIR [--seed N]
    glm_original.py forward  --ckpt DIR --inputs IN.json --out REF.npz
    glm_original.py tokenize --texts TEXTS.json --out OUT.json [--no-fix-command-token]
    glm_original.py bench    --ckpt DIR --inputs IN.json --out OUT.json [--reps N]

``write --hidden/--layers/--heads`` give other sizes (``bench/bench_generate_glm.py``: a medium model);
``bench`` times the ``generate_samples.py`` loop of ``forward`` (first token, then decode tokens/s, best of N).

The code is read from the git snapshot pinned in SNAPSHOTS.txt, extracted with ``git archive`` into a temporary
folder and imported from there — never copied into the project.

``write``: one process (gloo, 127.0.0.1, world size 1; the original ``mpu.initialize_model_parallel(1)``) builds
the original ``model.modeling_glm.GLMModel`` with ``block_position_encoding=True`` (tiny: :data:`CONFIG`;
the 50048-row embedding of the Chinese releases so the real special ids fit), gives every parameter a seeded
value and saves two model-parallel ranks ``DIR/mp_rank_0{0,1}_model_states.pt`` (DeepSpeed's ``{"module":
state_dict, "mp_world_size": 2, …}``) split as Megatron splits them: ``query_key_value`` per rank as its
``[q_r; k_r; v_r]`` (``ColumnParallelLinear(stride=3)``), ``dense_h_to_4h`` and ``word_embeddings`` along dim 0,
``attention.dense``/``dense_4h_to_h`` weights along dim 1. ``DIR.full.pt`` keeps the unsplit state dict.

``forward``: the original ``GLMModel`` (``max_memory_length`` > 0, so it returns its per-layer memories)
computes ``logits`` for ``input_ids`` with the given 2-D ``position_ids`` and ``sep`` (the original's
``attention_mask`` as a per-row separation). Then for ``prompt`` (ids: ``[CLS] … [MASK] …``) the original
``generate_samples.py`` is driven as its ``generate_samples`` does for ``--block-lm``: ``get_batch`` (2-D positions,
sep = the context length), one pass for the memories, then ``sample_sequence`` for each mask position with
``top_k=1`` (``top_k_logits`` then ``multinomial`` over one candidate: the argmax), ending at ``<|endofpiece|>``
or ``<|endoftext|>``, ``out_seq_length`` = ``max_new_tokens``: ``greedy`` is what it appends after the context.

``tokenize``: ``data_utils.tokenization.ChineseSPTokenizer(add_block_symbols=True, add_task_mask=True,
fix_command_token=…)`` with the real ``chinese_sentencepiece/cog-pretrain.model`` of the snapshot:
``EncodeAsIds`` / ``DecodeIds`` per text, and every command token's id.

Stubs, each for something imported and never needed on one CPU (named in the summary's ``stubs``):
``apex.normalization.fused_layer_norm.FusedLayerNorm`` → ``torch.nn.LayerNorm``; ``deepspeed`` (only
``deepspeed.checkpointing.is_configured() -> False``); ``torch._six.inf`` (removed from torch 2);
``mpu.transformer.get_cuda_rng_tracker`` → a no-op ``fork()`` (dropout is 0 and eval); ``model.prompt`` (the
P-tuning ``PromptSpell``, unused without ``spell_length``) and ``utils.print_rank_0`` → print to stderr;
``generate_samples.py``'s training-stack imports (``arguments``, ``pretrain_glm``, ``utils``, ``configure_data``,
``train_utils``) → empty modules (its ``get_batch`` and ``sample_sequence`` are used; ``generation_utils`` is the
real one); ``nltk`` (imported by ``data_utils/tokenization.py``, used only by the English tokenizers) and
``data_utils.wordpiece``/``tokenization_gpt2`` → empty modules.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

REPO = "THUDM/GLM"
CONFIG = {"num_layers": 2, "hidden_size": 32, "num_attention_heads": 4, "vocab_size": 50048,
          "max_sequence_length": 64}  # fmt: skip
MP = 2
STUBS = [
    *C.megatron_stubs(),
    "model.prompt.PromptSpell -> unused placeholder; utils.print_rank_0 -> stderr",
    "generate_samples.py training-stack imports (arguments, pretrain_glm, utils, configure_data, train_utils)"
    " -> empty modules",
    "nltk, data_utils.wordpiece, data_utils.tokenization_gpt2 -> empty modules (English tokenizers only)",
]
PATHS = ["mpu", "model/modeling_glm.py", "generate_samples.py", "generation_utils.py", "data_utils",
         "chinese_sentencepiece"]  # fmt: skip


def _eprint(*a: Any, **k: Any) -> None:
    print(*a, file=sys.stderr)


def import_original(workdir: Path) -> Any:
    """Install the named stubs, start a gloo world of one, return the original ``modeling_glm`` module."""
    import torch.distributed as dist

    C.import_megatron_mpu(workdir)
    if not dist.is_initialized():
        C.init_model_parallel(0, 1, C.rendezvous())
    C.stub_module("model", __path__=[str(workdir / "model")])
    C.stub_module("model.prompt", PromptSpell=None)
    C.stub_module("utils", print_rank_0=_eprint)
    return C.load_file_module("model.modeling_glm", workdir / "model" / "modeling_glm.py")


def _model(modeling: Any, config: dict[str, int]) -> Any:
    return modeling.GLMModel(
        num_layers=config["num_layers"], vocab_size=config["vocab_size"], hidden_size=config["hidden_size"],
        num_attention_heads=config["num_attention_heads"], embedding_dropout_prob=0.0,
        attention_dropout_prob=0.0, output_dropout_prob=0.0, max_sequence_length=config["max_sequence_length"],
        max_memory_length=config["max_sequence_length"], checkpoint_activations=False, parallel_output=False,
        block_position_encoding=True,
    ).eval()  # fmt: skip


def _split(name: str, t: Any, rank: int) -> Any:
    import torch

    if "query_key_value" in name:
        return torch.cat([torch.chunk(p, MP, dim=0)[rank] for p in torch.chunk(t, 3, dim=0)], dim=0).clone()
    if name.endswith(("attention.dense.weight", "dense_4h_to_h.weight")):
        return torch.chunk(t, MP, dim=1)[rank].clone()
    if "dense_h_to_4h" in name or name == "word_embeddings.weight":
        return torch.chunk(t, MP, dim=0)[rank].clone()
    return t.clone()


def write(workdir: Path, out: Path, seed: int, config: dict[str, int]) -> dict[str, Any]:
    import torch

    model = _model(import_original(workdir), config)
    r = C.rng(seed)
    state = {}
    for name, t in model.state_dict().items():
        value = C.random_value(r, name, t.shape)
        if "embeddings" in name:
            value = value * np.float32(0.5)
        state[name] = torch.from_numpy(value)
    model.load_state_dict(state, strict=True)
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"state": state, "config": config}, out.parent / f"{out.name}.full.pt")
    for rank in range(MP):
        shard = {name: _split(name, t, rank) for name, t in state.items()}
        torch.save({"module": shard, "mp_world_size": MP, "dp_world_size": 1, "iteration": 1000,
                    "global_steps": 1000}, out / f"mp_rank_{rank:02d}_model_states.pt")  # fmt: skip
    C.dump_json(out / "config.json", {"num_attention_heads": config["num_attention_heads"]})
    return {"tensors": len(state), "shards": MP}


def _generate_samples(workdir: Path) -> Any:
    for name in ("arguments", "pretrain_glm", "configure_data", "train_utils"):
        C.stub_module(name)
    sys.modules["arguments"].get_args = None  # type: ignore[attr-defined]
    sys.modules["pretrain_glm"].__dict__.update(
        initialize_distributed=None, set_random_seed=None, get_masks_and_position_ids=None
    )
    sys.modules["utils"].load_checkpoint = None  # type: ignore[attr-defined]
    sys.modules["configure_data"].prepare_tokenizer = None  # type: ignore[attr-defined]
    sys.modules["train_utils"].get_model = None  # type: ignore[attr-defined]
    return C.load_file_module("generate_samples", workdir / "generate_samples.py")


class _Tok:
    """``get_command(name).Id`` for the ids ``sample_sequence``/``generate_samples`` ask for."""

    def __init__(self, ids: dict[str, int]) -> None:
        self.ids = ids

    def get_command(self, name: str) -> Any:
        return types.SimpleNamespace(Id=self.ids[name])


def _load(workdir: Path, ckpt: Path) -> Any:
    import torch

    saved = torch.load(ckpt.parent / f"{ckpt.name}.full.pt", weights_only=True)
    model = _model(import_original(workdir), saved["config"])
    model.load_state_dict(saved["state"], strict=True)
    return model


def _fill_blanks(workdir: Path, model: Any, feeds: dict[str, Any]) -> tuple[Any, list[int], float]:
    """``generate_samples.generate_samples``'s ``--block-lm`` branch for one prompt on CPU; also the seconds
    to the first generated token."""
    import time

    import torch

    gs = _generate_samples(workdir)
    cmd = feeds["commands"]  # names → ids (MASK, sMASK, gMASK, sop, eop, eos)
    args = types.SimpleNamespace(block_lm=True, no_block_position=False, batch_size=1, num_beams=1,
                                 temperature=1.0, top_k=1, top_p=0.0, out_seq_length=feeds["max_new_tokens"],
                                 eod_token=cmd["eos"], task_mask=True)  # fmt: skip
    tokenizer = _Tok({"sop": cmd["sop"], "eop": cmd["eop"]})
    context = torch.tensor(feeds["prompt"])
    t0 = time.perf_counter()
    tokens, attention_mask, position_ids = gs.get_batch(context, "cpu", args)
    mask_ids = [cmd["MASK"], cmd["sMASK"], cmd["gMASK"]]
    positions = sorted(i for t in mask_ids for i in (context == t).nonzero(as_tuple=True)[0].tolist())
    _, *mems = model(tokens, position_ids, attention_mask)
    first = time.perf_counter() - t0
    for position in positions:
        tokens, mems = gs.sample_sequence(model, tokenizer, tokens, position, args, "cpu", mems=mems,
                                          end_tokens=[cmd["eop"], cmd["eos"]])  # fmt: skip
    return tokens[:, context.shape[0] :], positions, first


def forward(workdir: Path, ckpt: Path, inputs: Path, out: Path) -> dict[str, Any]:
    import torch

    model = _load(workdir, ckpt)
    feeds = json.loads(inputs.read_text(encoding="utf-8"))
    ids = torch.tensor(feeds["input_ids"])
    with torch.no_grad():
        logits, *_ = model(ids, torch.tensor(feeds["position_ids"]), torch.tensor(feeds["sep"]))
        greedy, positions, _ = _fill_blanks(workdir, model, feeds)
    C.save_outputs(out, {"logits": logits, "greedy": greedy})
    return {"outputs": ["logits", "greedy"], "mask_positions": positions, "greedy": greedy.tolist()}


def bench(workdir: Path, ckpt: Path, inputs: Path, out: Path, reps: int) -> dict[str, Any]:
    """Best of ``reps``: seconds to the context's pass, and decode tokens/s of ``sample_sequence``."""
    import time

    import torch

    torch.set_num_threads(2)
    model = _load(workdir, ckpt)
    feeds = json.loads(inputs.read_text(encoding="utf-8"))
    best = (0.0, math.inf)
    with torch.no_grad():
        for _ in range(reps):
            t0 = time.perf_counter()
            greedy, _, first = _fill_blanks(workdir, model, feeds)
            total = time.perf_counter() - t0
            best = max(best, ((greedy.shape[1] - 1) / (total - first), -first))
    result = {"decode_tok_s": best[0], "first_s": -best[1], "tokens": greedy[0, 1:].tolist()}
    C.dump_json(out, result)
    return result


def tokenize(workdir: Path, texts: Path, out: Path, fix: bool) -> dict[str, Any]:
    C.stub_module("nltk", tokenize=None)
    C.stub_module("utils", print_rank_0=_eprint)
    C.stub_module("data_utils", __path__=[str(workdir / "data_utils")])
    C.stub_module("data_utils.wordpiece", BertTokenizer=None, PRETRAINED_VOCAB_ARCHIVE_MAP={})
    C.stub_module("data_utils.tokenization_gpt2", GPT2Tokenizer=None)
    sys.path.insert(0, str(workdir))
    spec = importlib.util.spec_from_file_location(
        "data_utils.tokenization", workdir / "data_utils" / "tokenization.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["data_utils.tokenization"] = mod
    spec.loader.exec_module(mod)
    tok = mod.ChineseSPTokenizer(add_block_symbols=True, add_task_mask=True, fix_command_token=fix)
    rows = []
    for text in json.loads(texts.read_text(encoding="utf-8")):
        ids = [int(i) for i in tok.EncodeAsIds(text).tokenization]
        rows.append({"text": text, "ids": ids, "decoded": tok.DecodeIds(ids)})
    commands = {t.name: t.Id for t in tok._command_tokens}
    C.dump_json(out, {"rows": rows, "commands": commands, "num_tokens": tok.num_tokens})
    return {"texts": len(rows), "commands": commands}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--out", type=Path, required=True)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--hidden", type=int, default=CONFIG["hidden_size"])
    w.add_argument("--layers", type=int, default=CONFIG["num_layers"])
    w.add_argument("--heads", type=int, default=CONFIG["num_attention_heads"])
    w.add_argument("--positions", type=int, default=CONFIG["max_sequence_length"])
    f = sub.add_parser("forward")
    f.add_argument("--ckpt", type=Path, required=True)
    f.add_argument("--inputs", type=Path, required=True)
    f.add_argument("--out", type=Path, required=True)
    t = sub.add_parser("tokenize")
    t.add_argument("--texts", type=Path, required=True)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--no-fix-command-token", action="store_true")
    b = sub.add_parser("bench")
    b.add_argument("--ckpt", type=Path, required=True)
    b.add_argument("--inputs", type=Path, required=True)
    b.add_argument("--out", type=Path, required=True)
    b.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    for k in ("out", "ckpt", "inputs", "texts"):
        if getattr(args, k, None) is not None:
            setattr(args, k, getattr(args, k).resolve())
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        commit = C.extract_original(REPO, PATHS, workdir)
        os.chdir(workdir)
        with C.stdout_to_stderr():
            if args.cmd == "write":
                sizes = {**CONFIG, "hidden_size": args.hidden, "num_layers": args.layers,
                         "num_attention_heads": args.heads, "max_sequence_length": args.positions}  # fmt: skip
                summary = write(workdir, args.out, args.seed, sizes)
            elif args.cmd == "forward":
                summary = forward(workdir, args.ckpt, args.inputs, args.out)
            elif args.cmd == "bench":
                summary = bench(workdir, args.ckpt, args.inputs, args.out, args.reps)
            else:
                summary = tokenize(workdir, args.texts, args.out, not args.no_fix_command_token)
        summary.update({"impl": f"THUDM/GLM {commit[:10]}", "cmd": args.cmd, "stubs": STUBS})
        C.report(summary)


if __name__ == "__main__":
    main()
