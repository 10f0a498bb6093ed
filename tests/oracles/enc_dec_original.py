"""The authors' own code as the oracle for the CPM-2 lineage: EVA (thu-coai/EVA, ``src/model/eva_modeling.py`` +
``src/mpu/transformer.py``) and CPM-2 (TsinghuaAI/CPM-2-Pretrain, ``src/model/enc_dec_modeling.py`` +
``src/mpu/transformer_enc_dec.py``), their tokenizers (``src/tokenization_eva.py``,
``src/tokenization_enc_dec.py``) and EVA's ``change_mp.py`` and ``generation_utils.generate_no_beam``.

    enc_dec_original.py write    --arch eva|cpm2 --out DIR [--seed N] [--attn-scale (eva: 2.0)]
                                 [--inputs IN.json --ref REF.npz (cpm2)]
    enc_dec_original.py forward  --arch eva|cpm2 --ckpt DIR --inputs IN.json --out REF.npz
    enc_dec_original.py tokenize --arch eva|cpm2 --vocab VOCAB.txt --texts TEXTS.json --out OUT.json
    enc_dec_original.py dialogue --arch eva --ckpt DIR --turns TURNS.json --out OUT.json [--max-new-tokens N]

The code is read from the git snapshots pinned in tests/oracles/SNAPSHOTS.txt, extracted with ``git archive``
into a temporary folder and imported from there — never copied into the project.

``write --arch eva``: one process (gloo on 127.0.0.1, world size 1) builds the original ``EVAModel`` from a
tiny ``eva1.0_model_config.json`` (:data:`CONFIGS`), fills every parameter with a seeded value (the head's rows of control tokens — sentinels, specials but
``<sep>``, ``▂``/``▃`` — zero, so that greedy replies are words) and saves what
DeepSpeed saved (``{"module": state_dict, "mp_world_size": 1, …}``) as ``DIR/mp1/1000/mp_rank_00_model_states.pt``
+ ``latest_checkpointed_iteration.txt``: the release's layout. The original ``change_mp.py DIR/mp1 DIR/mp2 2``
then re-splits it into the two-rank variant ``DIR/mp2``. ``vocab.txt`` (the release vocabulary's first 69
lines, then the 187 sentinels ``<s_i>`` the original tokenizer requires: 256 lines) and the config json go
into both. ``--attn-scale``: EVA 2.0 — the same model code (HEAD's ``ParallelAttention`` reads
``attn_scale``) with ``attn_scale: true``, the config saved as ``eva2.0_model_config.json``.
``write --arch cpm2``: two processes (world size 2) call ``mpu.initialize_model_parallel(2)`` and build the
original ``EncDecModel`` (tiny ``cpm2_config.json``), so each rank's shard has the original split layout
(column-parallel fused ``project`` per rank, vocab-parallel embeddings and head, row-parallel ``dense``/``wo``,
a per-rank ``relative_attention_bias`` of its own heads); partitioned parameters get seeds per rank, replicated
ones a shared seed. ``DIR/1000/mp_rank_0{0,1}_model_states.pt`` + ``latest_checkpointed_iteration.txt``. With
``--inputs``/``--ref`` the same two ranks then run ``forward`` (below) on the shards they saved.

``forward --arch eva`` (``DIR`` = the mp1 folder): world size 1, the original model (``parallel_output=False``)
loads the shard (strict) and computes ``enc_hidden`` and ``logits`` for ``enc_input_ids``/``dec_input_ids``
with the masks of ``eva_interactive.get_attn_masks`` (padding by ``<pad>``); then ``greedy``: the original
``generation_utils.generate_no_beam`` on row 0 with ``top_k=1`` (its multinomial over one surviving token is
the argmax), no repetition penalty, no n-gram ban, ``min_generation_length=0``, no antonym rules — its own
incremental decoding with ``past_key_values``, ``<s_0>`` start, ``<sep>`` end, id 0 banned.
``forward --arch cpm2`` (``DIR`` with two shards): two processes load their own shard (strict) and compute
``enc_hidden`` and the gathered ``logits`` (``parallel_output=False``) with all-ones encoder/cross masks and a
lower-triangular decoder mask; ``greedy``: ``max_new_tokens`` steps of the full model, each appending the
argmax of the last position's gathered logits, from ``<s_0>``.

``dialogue``: the original interactive loop ``eva_interactive.generate_samples`` with ``input()`` fed the user
turns (greedy as above, ``batch_size`` 1): its replies (``Sys >>> …`` lines) and the encoder contexts it built
(history of turn ids + ``<sep>``, the newest that fit 128 tokens, then ``<s_0>``).

``tokenize``: the original ``EVATokenizer`` / ``EncDecTokenizer`` (Python jieba) ``encode`` and ``decode``;
``--arch cpm2_encn``: CPM-2-Finetune's ``tokenization_enc_dec_encn.EncDecTokenizer`` (the zh-en vocabulary's).

Stubs (named in each summary's ``stubs``): ``apex.normalization.fused_layer_norm.FusedLayerNorm`` →
``torch.nn.LayerNorm`` (imported by CPM-2's ``mpu``, unused by the T5 blocks, which have their own RMS norm);
``deepspeed`` (only ``checkpointing.is_configured() -> False`` is
called); ``torch._six`` (removed from torch 2; ``mpu/grads.py`` imports ``inf`` from it);
``mpu.transformer[_enc_dec].get_cuda_rng_tracker`` → a tracker whose ``fork()`` does nothing (dropout is 0,
eval mode); ``eva_interactive.py``'s training-stack imports (``arguments``, ``utils``, ``fp16``) → empty
modules (only ``get_attn_masks``/``get_inference_batch`` are used); ``torch.load(weights_only=False)`` inside
``change_mp.py`` (torch 1.x's default); ``torch.distributed.barrier``-free gloo groups.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import runpy
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

# cpm2_encn: only the zh-en tokenizer (CPM-2-Finetune's tokenization_enc_dec_encn.py, vocabulary bpe_cn_en)
REPOS = {"eva": "thu-coai/EVA", "cpm2": "TsinghuaAI/CPM-2-Pretrain", "cpm2_encn": "TsinghuaAI/CPM-2-Finetune"}
VOCABS = {"eva": "bpe_dialog_new/vocab.txt", "cpm2": "bpe_cn/vocab.txt"}
SENTINELS = {"eva": 187, "cpm2": 190}  # the tokenizers' max_sentinels: each looks all of them up
VOCAB_SIZE = 256
CONFIGS: dict[str, dict[str, Any]] = {
    "eva": {  # eva1.0_model_config.json's keys, tiny
        "d_model": 32, "d_ff": 48, "d_kv": 8, "num_heads": 4, "num_layers": 2, "num_decoder_layers": 2,
        "dropout_rate": 0.0, "feed_forward_proj": "relu", "init_method_std": 0.02, "initializer_factor": 1.0,
        "layer_norm_epsilon": 1e-06, "max_position_embeddings": 512, "use_cache": True,
        "use_scaled_init_for_output_weights": True, "do_dim_trick": False, "attn_scale": False,
    },
    "cpm2": {  # cpm2_config.json's keys, tiny
        "d_model": 32, "d_ff": 48, "d_kv": 8, "num_heads": 4, "num_layers": 2, "num_decoder_layers": 2,
        "dropout_rate": 0.0, "feed_forward_proj": "relu", "init_method_std": 0.02, "initializer_factor": 1.0,
        "layer_norm_epsilon": 1e-06, "max_position_embeddings": 512, "use_cache": True,
        "use_scaled_init_for_output_weights": True, "do_dim_trick": False,
    },
}  # fmt: skip
CONFIG_NAMES = {"eva": "eva1.0_model_config.json", "cpm2": "cpm2_config.json"}
# ``write --arch eva --attn-scale``: EVA 2.0 — the same keys with ``attn_scale: true``, under the name the
# repository ships EVA 2.0's config with (src/configs/model/eva2.0_model_config.json)
EVA2_CONFIG_NAME = "eva2.0_model_config.json"


def _eva_config(ckpt: Path) -> Path:
    """The EVA config ``write`` put into ``ckpt``: 1.0's or 2.0's."""
    two = ckpt / EVA2_CONFIG_NAME
    return two if two.is_file() else ckpt / CONFIG_NAMES["eva"]


ITERATION = 1000
STUBS = [
    "apex FusedLayerNorm -> torch.nn.LayerNorm (CPM-2's mpu imports it; the T5 blocks use their own LayerNorm)",
    "deepspeed.checkpointing.is_configured() -> False; deepspeed.runtime...set_num_layers -> None (never called)",
    "torch._six.inf",
    "mpu get_cuda_rng_tracker().fork() -> no-op",
    "eva_interactive.py training-stack imports (arguments, utils, fp16) -> empty modules",
    "torch.load(weights_only=False) in change_mp.py",
]
PATHS = {
    "eva": ["src/mpu", "src/model", "src/change_mp.py", "src/eva_interactive.py", "src/generation_utils.py",
            "src/tokenization_eva.py", "bpe_dialog_new/vocab.txt"],
    "cpm2": ["src/mpu", "src/model", "src/tokenization_enc_dec.py", "bpe_cn/vocab.txt"],
    "cpm2_encn": ["tokenization_enc_dec_encn.py"],
}  # fmt: skip


def import_original(src: Path, arch: str) -> Any:
    """Install the named stubs, import the original ``mpu`` and ``model`` from ``src``; return ``model``."""
    # CPM-2's transformer_enc_dec.py imports set_num_layers (activation checkpointing; never called here)
    C.stub_module("deepspeed.runtime", __path__=[])
    C.stub_module("deepspeed.runtime.activation_checkpointing", __path__=[])
    C.stub_module("deepspeed.runtime.activation_checkpointing.checkpointing", set_num_layers=None)
    C.import_megatron_mpu(src, "mpu.transformer" if arch == "eva" else "mpu.transformer_enc_dec")
    import model

    return model


def _build(model: Any, arch: str, config_file: Path, parallel_output: bool) -> Any:
    if arch == "eva":
        cfg = model.EVAConfig.from_json_file(str(config_file))
        cfg.vocab_size = VOCAB_SIZE
        return model.EVAModel(cfg, parallel_output=parallel_output)
    cfg = model.EncDecConfig.from_json_file(str(config_file))
    cfg.vocab_size = VOCAB_SIZE
    return model.EncDecModel(cfg, parallel_output=parallel_output)


def _tiny_vocab(src: Path, arch: str) -> list[str]:
    lines = [
        line.rstrip("\n") for line in (src.parent / VOCABS[arch]).read_text(encoding="utf-8").split("\n")
    ]
    head = [t for t in lines if not t.startswith("<s_")][: VOCAB_SIZE - SENTINELS[arch]]
    return head + [f"<s_{i}>" for i in range(SENTINELS[arch])]


def _write_files(folder: Path, src: Path, arch: str, attn_scale: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if attn_scale:
        C.dump_json(folder / EVA2_CONFIG_NAME, {**CONFIGS[arch], "attn_scale": True})
    else:
        C.dump_json(folder / CONFIG_NAMES[arch], CONFIGS[arch])
    (folder / "vocab.txt").write_text("\n".join(_tiny_vocab(src, arch)) + "\n", encoding="utf-8")


def write_eva(src: Path, out: Path, seed: int, attn_scale: bool = False) -> dict[str, Any]:
    import torch

    model = import_original(src, "eva")
    for sub in ("mp1", "mp2"):
        _write_files(out / sub, src, "eva", attn_scale)
    C.init_model_parallel(0, 1, C.rendezvous())
    torch.manual_seed(seed)
    net = _build(model, "eva", _eva_config(out / "mp1"), parallel_output=False)
    C.fill_megatron(net, seed, 0, own_also=("relative_attention_bias",))
    # like a trained model, the head never prefers control tokens: their rows are zero (a zero logit loses to
    # the largest of the word logits), so the dialogue's replies are words whose text reads back to the same ids
    vocab = _tiny_vocab(src, "eva")
    control = [
        i
        for i, t in enumerate(vocab)
        if t != "<sep>" and (t.startswith("<") or t in ("", "\u2582", "\u2583"))
    ]
    with torch.no_grad():
        net.lm_head.weight[control] = 0.0
    C.save_megatron_rank(out / "mp1", 0, C.megatron_state(net, 1, ITERATION), ITERATION)
    load = torch.load
    torch.load = lambda *a, **k: load(*a, **{**k, "weights_only": False})  # type: ignore[assignment]
    argv = sys.argv
    sys.argv = ["change_mp.py", str(out / "mp1"), str(out / "mp2"), "2"]
    try:
        with C.stdout_to_stderr():
            runpy.run_path(str(src / "change_mp.py"), run_name="__main__")
    finally:
        sys.argv = argv
        torch.load = load  # type: ignore[assignment]
    assert net.encoder.blocks[0].self_attn.self_attn.attn_scale is attn_scale  # the original read the flag
    return {
        "arch": "eva",
        "variants": {"mp1": 1, "mp2": 2},
        "split_by": "change_mp.py",
        "attn_scale": attn_scale,
    }


def _write_cpm2_rank(
    rank: int, src: str, out: str, seed: int, port: str, feeds: dict[str, Any] | None, ref: str | None
) -> None:
    import torch

    os.chdir(src)
    model = import_original(Path(src), "cpm2")
    C.init_model_parallel(rank, 2, port)
    torch.manual_seed(seed)
    net = _build(model, "cpm2", Path(out) / CONFIG_NAMES["cpm2"], parallel_output=False)
    C.fill_megatron(net, seed, rank, own_also=("relative_attention_bias",))
    C.save_megatron_rank(Path(out), rank, C.megatron_state(net, 2, ITERATION), ITERATION)
    if (
        feeds is not None and ref is not None
    ):  # forward in the same ranks: a fresh model loads the saved shard
        _cpm2_compute(rank, model, out, feeds, ref)


def write_cpm2(
    src: Path, out: Path, seed: int, feeds: dict[str, Any] | None, ref: Path | None
) -> dict[str, Any]:

    _write_files(out, src, "cpm2")
    args = (str(src), str(out), seed, C.rendezvous(), feeds, str(ref) if ref else None)
    C.spawn_ranks(_write_cpm2_rank, args, 2)
    return {"arch": "cpm2", "shards": 2, "forward": ref is not None}


def _eva_interactive() -> Any:
    """``eva_interactive.py`` for its mask functions; its training-stack imports are empty modules."""
    C.stub_module("arguments", get_args=None)
    C.stub_module(
        "utils", load_checkpoint=None, print_rank_0=print, initialize_distributed=None, set_random_seed=None
    )
    C.stub_module("fp16", FP16_Module=None)
    import eva_interactive

    return eva_interactive


def forward_eva(src: Path, ckpt: Path, feeds: dict[str, Any], out: Path) -> dict[str, Any]:
    import torch

    model = import_original(src, "eva")
    C.init_model_parallel(0, 1, C.rendezvous())
    net = _build(model, "eva", _eva_config(ckpt), parallel_output=False).eval()
    sd = torch.load(
        ckpt / str(ITERATION) / "mp_rank_00_model_states.pt", map_location="cpu", weights_only=False
    )
    net.load_state_dict(sd["module"], strict=True)
    ei = _eva_interactive()
    import generation_utils
    from tokenization_eva import EVATokenizer

    tok = EVATokenizer(str(ckpt / "vocab.txt"))
    args = types.SimpleNamespace(fp16=False)
    enc = torch.tensor(feeds["enc_input_ids"])
    dec = torch.tensor(feeds["dec_input_ids"])
    masks = ei.get_attn_masks(args, tok, enc, dec)
    with torch.no_grad():
        res = net(enc_input_ids=enc, dec_input_ids=dec, **masks)
        row = enc[:1][:, : int((enc[0] != tok.pad_id).sum())]
        batch = ei.get_inference_batch(row, "cpu", 1, tok, args)
        gen_args = types.SimpleNamespace(
            max_generation_length=int(feeds["max_new_tokens"]), temperature=1.0, no_repeat_ngram_size=0,
            min_generation_length=0, repetition_penalty=1.0, top_k=1, top_p=0.0, rule_path=None,
        )  # fmt: skip
        with C.stdout_to_stderr():
            _, ids = generation_utils.generate_no_beam(batch, row, net, tok, gen_args, "cpu")
    C.save_outputs(
        out,
        {
            "enc_hidden": res["enc_last_hidden_state"].numpy(),
            "logits": res["lm_logits"].numpy(),
            "greedy": np.asarray([ids[0]], dtype=np.int64),
        },
    )
    return {"outputs": ["enc_hidden", "logits", "greedy"], "loaded_variables": len(sd["module"]),
            "greedy_by": "generation_utils.generate_no_beam(top_k=1)"}  # fmt: skip


def dialogue_eva(src: Path, ckpt: Path, turns: list[str], out: Path, max_new_tokens: int) -> dict[str, Any]:
    """The original interactive loop, ``eva_interactive.generate_samples``, fed ``turns`` through ``input()``:
    its own context layout, truncation and history (the reply's ids + ``<sep>``); greedy as in ``forward``."""
    import builtins
    import io

    import torch

    model = import_original(src, "eva")
    C.init_model_parallel(0, 1, C.rendezvous())
    net = _build(model, "eva", _eva_config(ckpt), parallel_output=False).eval()
    sd = torch.load(
        ckpt / str(ITERATION) / "mp_rank_00_model_states.pt", map_location="cpu", weights_only=False
    )
    net.load_state_dict(sd["module"], strict=True)
    ei = _eva_interactive()
    from tokenization_eva import EVATokenizer

    tok = EVATokenizer(str(ckpt / "vocab.txt"))
    contexts: list[list[int]] = []
    inner = ei.get_inference_batch

    def recording(context_tokens: Any, *a: Any, **k: Any) -> Any:
        contexts.append([int(i) for i in context_tokens[0]])
        return inner(context_tokens, *a, **k)

    ei.get_inference_batch = recording
    feed = iter(turns)

    def fake_input(prompt: str = "") -> str:
        try:
            return next(feed)
        except StopIteration:
            raise EOFError from None

    args = types.SimpleNamespace(
        fp16=False, batch_size=1, num_beams=1, max_generation_length=max_new_tokens, temperature=1.0,
        no_repeat_ngram_size=0, min_generation_length=0, repetition_penalty=1.0, top_k=1, top_p=0.0,
        rule_path=None, seed=0,
    )  # fmt: skip
    printed = io.StringIO()
    real_input, builtins.input = builtins.input, fake_input
    try:
        with contextlib.redirect_stdout(printed), contextlib.suppress(EOFError):
            ei.generate_samples(net, tok, args, "cpu")
    finally:
        builtins.input = real_input
    replies = [
        line.removeprefix("Sys >>> ")
        for line in printed.getvalue().split("\n")
        if line.startswith("Sys >>> ")
    ]
    C.dump_json(out, {"replies": replies, "contexts": contexts})
    return {"turns": len(turns), "replies": len(replies), "by": "eva_interactive.generate_samples"}


def _forward_cpm2_rank(rank: int, src: str, ckpt: str, feeds: dict[str, Any], out: str, port: str) -> None:
    os.chdir(src)
    model = import_original(Path(src), "cpm2")
    C.init_model_parallel(rank, 2, port)
    _cpm2_compute(rank, model, ckpt, feeds, out)


def _cpm2_compute(rank: int, model: Any, ckpt: str, feeds: dict[str, Any], out: str) -> None:
    import torch

    net = _build(model, "cpm2", Path(ckpt) / CONFIG_NAMES["cpm2"], parallel_output=False).eval()
    C.load_megatron_rank(net, Path(ckpt), rank, ITERATION)

    def run(enc: Any, dec: Any) -> dict[str, Any]:
        b, s, t = enc.shape[0], enc.shape[1], dec.shape[1]
        return net(  # type: ignore[no-any-return]
            enc_input_ids=enc,
            enc_attention_mask=torch.ones(b, 1, s, s),
            dec_input_ids=dec,
            dec_attention_mask=torch.tril(torch.ones(b, 1, t, t)),
            cross_attention_mask=torch.ones(b, 1, t, s),
        )

    enc = torch.tensor(feeds["enc_input_ids"])
    dec = torch.tensor(feeds["dec_input_ids"])
    with torch.no_grad():
        res = run(enc, dec)
        seq = torch.tensor([[int(feeds["decoder_start"])]])
        for _ in range(int(feeds["max_new_tokens"])):
            step = run(enc[:1], seq)["lm_logits"][:, -1, :]
            seq = torch.cat([seq, step.argmax(-1, keepdim=True)], dim=1)
    if rank == 0:
        C.save_outputs(
            Path(out),
            {
                "enc_hidden": res["encoder_last_hidden_state"].numpy(),
                "logits": res["lm_logits"].numpy(),
                "greedy": seq[:, 1:].numpy().astype(np.int64),
            },
        )


def forward_cpm2(src: Path, ckpt: Path, feeds: dict[str, Any], out: Path) -> dict[str, Any]:

    C.spawn_ranks(_forward_cpm2_rank, (str(src), str(ckpt), feeds, str(out), C.rendezvous()), 2)
    return {
        "outputs": ["enc_hidden", "logits", "greedy"],
        "shards": 2,
        "greedy_by": "argmax loop, full forward",
    }


def tokenize(src: Path, arch: str, vocab: Path, texts: Path, out: Path) -> dict[str, Any]:
    sys.path.insert(0, str(src))
    if arch == "eva":
        from tokenization_eva import EVATokenizer as Tok
    elif arch == "cpm2":
        from tokenization_enc_dec import EncDecTokenizer as Tok
    else:
        from tokenization_enc_dec_encn import EncDecTokenizer as Tok
    tok = Tok(str(vocab))
    rows = []
    with C.stdout_to_stderr():  # EncDecTokenizer.tokenize prints its tokens
        for text in json.loads(texts.read_text(encoding="utf-8")):
            ids = [int(i) for i in tok.encode(text)]
            rows.append({"text": text, "ids": ids, "decoded": tok.decode(ids) if ids else ""})
    C.dump_json(out, {"rows": rows})
    import jieba

    return {"texts": len(rows), "jieba": jieba.__version__}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("write", "forward", "tokenize", "dialogue"):
        s = sub.add_parser(name)
        s.add_argument("--arch", required=True, choices=sorted(REPOS))
        s.add_argument("--out", type=Path, required=True)
        if name == "write":
            s.add_argument("--seed", type=int, default=0)
            s.add_argument(
                "--attn-scale", action="store_true", help="eva: EVA 2.0's config (attn_scale: true)"
            )
            # cpm2: also compute the forward outputs in the same two ranks (one start of the ranks, not two)
            s.add_argument("--inputs", type=Path)
            s.add_argument("--ref", type=Path)
        if name == "forward":
            s.add_argument("--ckpt", type=Path, required=True)
            s.add_argument("--inputs", type=Path, required=True)
        if name == "dialogue":
            s.add_argument("--ckpt", type=Path, required=True)
            s.add_argument("--turns", type=Path, required=True)
            s.add_argument("--max-new-tokens", type=int, default=12)
        if name == "tokenize":
            s.add_argument("--vocab", type=Path, required=True)
            s.add_argument("--texts", type=Path, required=True)
    args = p.parse_args()
    for k in ("out", "ckpt", "inputs", "vocab", "texts", "turns", "ref"):
        if getattr(args, k, None) is not None:
            setattr(args, k, getattr(args, k).resolve())
    with tempfile.TemporaryDirectory() as tmp:
        commit = C.extract_original(REPOS[args.arch], PATHS[args.arch], Path(tmp))
        src = Path(tmp) / "src" if args.arch != "cpm2_encn" else Path(tmp)
        os.chdir(src)
        if args.cmd == "tokenize":
            summary = tokenize(src, args.arch, args.vocab, args.texts, args.out)
        elif args.cmd == "dialogue":
            turns = json.loads(args.turns.read_text(encoding="utf-8"))
            summary = dialogue_eva(src, args.ckpt, turns, args.out, args.max_new_tokens)
        elif args.cmd == "write":
            if args.arch == "eva":
                summary = write_eva(src, args.out, args.seed, args.attn_scale)
            else:
                feeds = json.loads(args.inputs.read_text()) if args.inputs else None
                summary = write_cpm2(src, args.out, args.seed, feeds, args.ref)
        else:
            feeds = json.loads(args.inputs.read_text())
            summary = (forward_eva if args.arch == "eva" else forward_cpm2)(src, args.ckpt, feeds, args.out)
        summary.update({"impl": f"{REPOS[args.arch]} {commit[:10]}", "cmd": args.cmd, "stubs": STUBS})
        C.report(summary)


if __name__ == "__main__":
    main()
