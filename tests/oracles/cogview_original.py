"""THUDM's CogView code as the oracle for ``cogview``: its Megatron ``GPT2Model`` (``mpu/sparse_transformer.py``,
dense attention, sandwich PB-relax LayerNorm) writes the shard and computes logits and greedy tokens on CPU.

    cogview_original.py write    --out DIR [--seed N] [--mp N] [--vocab N --hidden N --heads N --layers N --positions N]
    cogview_original.py forward  --ckpt DIR --inputs IN.json --out REF.npz
    cogview_original.py vqvae    --out DIR [--seed N] [--res-blocks N] [--n-embed N] [--channel N] [--embed-dim N]
    cogview_original.py tokenize --inputs TEXTS.json --out IDS.json
    cogview_original.py sample   --ckpt DIR --vqvae VQVAE.pt --inputs IN.json --out REF.npz
    cogview_original.py img2code --vqvae VQVAE.pt --inputs IMAGES.json --out CODES.json
    cogview_original.py caption  --ckpt DIR --vqvae VQVAE.pt --inputs IN.json --out REF.npz
    cogview_original.py select   --ckpt DIR --vqvae VQVAE.pt --inputs IN.json --out REF.npz

The code is read from the git snapshot of https://github.com/THUDM/CogView pinned in
tests/oracles/SNAPSHOTS.txt, extracted with ``git archive`` into a temporary folder and imported from there.

``write``: ``--mp N`` processes (gloo on 127.0.0.1) call the original ``mpu.initialize_model_parallel(N)`` and
build the original ``model.gpt2_modeling.GPT2Model`` (tiny sizes: :data:`CONFIG`); every parameter gets a
seeded value of a visible scale (a rank's own slice from a seed per rank); each rank's state dict is saved as
DeepSpeed saved the release (``{"module": state_dict, …}`` in ``DIR/1000/mp_rank_0R_model_states.pt``), with
``DIR/config.json`` (the head count, which the weights do not tell).

``forward``: one process per shard; the original model loads its shard (strict) and computes (1) ``logits`` of
``segment1`` (``attention_mask=0``: the original's ``build_mask_matrix``, causal), with its ``mems`` (every
layer's input), (2) ``logits2`` of ``segment2`` at the next positions reading those mems (the path the
original's sampling takes), (3) ``greedy``: ``max_new_tokens`` argmax steps after ``prompt``, each a full
forward of the sequence so far (no mems), so the cache of ours is checked against the cache-free original.

``tokenize``: the original ``data_utils/unified_tokenizer.py`` ``UnifiedTokenizer`` (its text part: the
snapshot's ``pretrained/chinese_sentencepiece/cog-pretrain.model``; the image part a ``FakeTokenizer`` of the
release's 8192 codes, as the original builds it when only the code count is known) gives ``EncodeAsIds`` of
every text, ``parse_query`` of every query and its command-token table.

``sample``: the original text-to-image loop, ``generation/sampling.py`` ``filling_sequence`` (``is_sparse=0``,
``nb = min(num, 12)`` as ``generate_images_once`` marks ``num`` images, ``num // 12`` calls; ``codes_all`` holds
every row), over the original model loading the shard, after
``torch.manual_seed(seed)`` (``warmup`` untimed runs first; ``threads`` sets torch's threads; the seeded run's
seconds are saved); the sizes come from the shard and its ``config.json``; the prompt is ``parse_query`` of ``generate_samples.py``'s
``'[ROI1] {} [BASE] [BOI1] [MASK]*N'``; the sampled codes go through the original ``DecodeIds`` →
``VQVAETokenizer.DecodeIds`` → ``vqvae.api.code2img`` of the tiny VQ-VAE written by ``vqvae``. ``sampling.py``
imports ``get_masks_and_position_ids`` from ``pretrain_gpt2`` (whose own imports need apex, DeepSpeed and the
data pipeline): that one function is compiled from the snapshot's ``pretrain_gpt2.py`` source alone.
``VQVAETokenizer``'s ``__init__`` builds the release-size model from a path, so the tiny model is set on an
instance made without it (its ``DecodeIds`` is the original's).

``img2code``: the original ``VQVAETokenizer.read_img`` (torchvision's ``Resize``/``CenterCrop``/``ToTensor``/
``Normalize`` from ``_torchvision_stub``) and ``EncodeAsIds`` (``api.img2code``) of image files, as ``parse_query``
reads ``[Image]path``; an image the original cannot read is reported with its exception. ``caption``: the
``image2text`` path of ``generate_samples.py`` (query, beam marks for ``num`` rows, ``filling_sequence``, seeded).
``select``: the ``post-selection`` path (``get_context``'s per-image queries, ``inverse_prompt_score`` in
batches of 12).

Stubs, each for something imported and never needed on one CPU (named in the summary's ``stubs``):
``deepspeed`` (only ``deepspeed.checkpointing.is_configured() -> False`` is called); ``torch._six`` (removed
from torch 2; ``mpu/grads.py`` imports ``inf`` from it); ``apex.normalization.fused_layer_norm.FusedLayerNorm``
→ ``torch.nn.LayerNorm`` (the same computation without CUDA; the PB-relax division is the original's own
subclass); ``mpu.sparse_transformer.get_cuda_rng_tracker`` → a tracker whose ``fork()`` does nothing (dropout
is 0 and eval here).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

REPO = "THUDM/CogView"
CONFIG = {
    "num_layers": 2,
    "hidden_size": 32,
    "num_attention_heads": 4,
    "vocab_size": 256,
    "max_position_embeddings": 48,
}
ITERATION = 1000
STUBS = [
    *C.megatron_stubs(),
]
PATHS = [
    "mpu",
    "model/gpt2_modeling.py",
    "vqvae",
    "data_utils",
    "generation/sampling.py",
    "pretrain_gpt2.py",
    "pretrained/chinese_sentencepiece",
]
IMAGE_TOKENS = 8192  # the release VQ-VAE's codebook


def import_original(workdir: Path) -> None:
    C.import_megatron_mpu(workdir, "mpu.sparse_transformer")


def _gpt2_model(config: dict[str, Any]) -> Any:
    return C.megatron_gpt2(
        config,
        max_sequence_length=config["max_position_embeddings"],
        max_memory_length=config["max_position_embeddings"],
        parallel_output=False,
    )


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
    sd = {"module": model.state_dict(), "iteration": ITERATION, "mp_world_size": world, "dp_world_size": 1}
    sd.update(random_rng_state=random.getstate(), torch_rng_state=torch.get_rng_state())
    C.save_megatron_rank(Path(out), rank, sd, ITERATION)


def write(
    workdir: Path, out: Path, seed: int, world: int, sizes: dict[str, int | None] | None = None
) -> dict[str, Any]:
    """``sizes``: other sizes than :data:`CONFIG`'s (the text-to-image test needs the release's vocabulary:
    image codes + text pieces + command tokens, padded as ``prepare_tokenizer`` pads; the bench a wider model)."""

    config = {**CONFIG, **{k: v for k, v in (sizes or {}).items() if v}}
    out.mkdir(parents=True, exist_ok=True)
    C.dump_json(out / "config.json", {"num_attention_heads": config["num_attention_heads"]})
    args = (str(workdir), str(out), seed, world, C.rendezvous(), config)
    C.spawn_ranks(_write_rank, args, world)
    return {"arch": "cogview", "shards": world, "vocab_size": config["vocab_size"]}


def _forward_rank(rank: int, workdir: str, ckpt_: str, inputs: str, out: str, world: int, port: str) -> None:
    import torch

    os.chdir(workdir)
    import_original(Path(workdir))
    ckpt = Path(ckpt_)
    feeds = json.loads(Path(inputs).read_text())
    C.init_model_parallel(rank, world, port)
    model = _gpt2_model(CONFIG).eval()
    sd = C.load_megatron_rank(model, ckpt, rank, ITERATION)
    seg1, seg2 = torch.tensor(feeds["segment1"]), torch.tensor(feeds["segment2"])

    def positions(start: int, ids: torch.Tensor) -> torch.Tensor:
        return torch.arange(start, start + ids.shape[1]).expand_as(ids)

    with torch.no_grad():
        logits1, *mems = model(seg1, positions(0, seg1), 0, None, None, 0)
        m = mems[0].shape[1]
        logits2, *_ = model(seg2, positions(m, seg2), 0, None, None, 0, *mems)
        seq = torch.tensor(feeds["prompt"])
        for _ in range(int(feeds["max_new_tokens"])):
            logits, *_ = model(seq, positions(0, seq), 0, None, None, 0)
            seq = torch.cat([seq, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    if rank:
        return
    np.savez(
        out,
        logits=logits1.numpy().astype(np.float32),
        logits2=logits2.numpy().astype(np.float32),
        greedy=seq[:, len(feeds["prompt"][0]) :].numpy().astype(np.int64),
    )
    C.dump_json(Path(out + ".json"), {"memory_length": m, "loaded": len(sd["module"])})


def forward(workdir: Path, ckpt: Path, inputs: Path, out: Path) -> dict[str, Any]:
    """Every rank of the checkpoint runs the original model (gloo, one process per rank); rank 0 saves."""
    world, info = C.run_megatron_ranks(_forward_rank, workdir, ckpt, inputs, out, ITERATION)
    return {"outputs": ["logits", "logits2", "greedy"], "ranks": world, **info}


VQVAE_SIZES = {"channel": 16, "embed_dim": 8, "n_embed": 64, "n_res_channel": 4}


def vqvae(
    workdir: Path, out: Path, seed: int, res_blocks: int, n_embed: int | None = None, **wider: int | None
) -> dict[str, Any]:
    """The original ``vqvae.vqvae_zc.VQVAE`` (stride 6, simple: the release's ``api.new_model()`` at tiny
    sizes) with seeded weights (N(0, 0.3); the encoder's convolutions He-scaled, so that its outputs land among
    the codes instead of far outside them, where a few codes would win every position) saved as
    ``module.``-prefixed ``vqvae.pt`` (``VQVAETokenizer`` strips it), and
    ``api.code2img`` of a seeded 2×4×4 code grid (plus the grid) in ``out/ref.npz``."""
    import torch

    sys.path.insert(0, str(workdir))
    from vqvae import api
    from vqvae.vqvae_zc import VQVAE

    sizes = {
        **VQVAE_SIZES,
        **({"n_embed": n_embed} if n_embed else {}),
        **{k: v for k, v in wider.items() if v},
    }
    model = VQVAE(n_res_block=res_blocks, stride=6, **sizes).eval()
    r = C.rng(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            value = r.normal(0.0, 0.3, tuple(t.shape)).astype(np.float32)
            if (
                name.startswith("enc_b.") and t.dim() == 4
            ):  # He scale: encoder outputs near the codebook's scale
                value *= np.float32(math.sqrt(2.0 / (t.shape[1] * t.shape[2] * t.shape[3])) / 0.3)
            t.copy_(torch.from_numpy(value))
    out.mkdir(parents=True, exist_ok=True)
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, out / "vqvae.pt")
    codes = torch.from_numpy(r.integers(0, sizes["n_embed"], (2, 4, 4)))
    images = api.code2img(model, codes)  # [b, h, w]: its [b, h*w] branch takes the root of all b*h*w codes
    np.savez(out / "ref.npz", codes=codes.numpy(), images=images.numpy().astype(np.float32))
    return {"arch": "cogview vqvae", "res_blocks": res_blocks, "image": list(images.shape)}


def _unified_tokenizer(workdir: Path) -> Any:
    """The original ``UnifiedTokenizer`` (8192 image codes, the snapshot's sentencepiece), as ``get_tokenizer``'s."""
    import _torchvision_stub

    _torchvision_stub.install()  # vqvae_tokenizer imports torchvision.transforms (used only to read images)
    sys.path.insert(0, str(workdir))
    package = C.stub_module(
        "data_utils", __path__=[str(workdir / "data_utils")]
    )  # not its __init__: the data pipeline
    from data_utils import unified_tokenizer as U

    tokenizer = U.UnifiedTokenizer(None, "cpu", img_tokenizer_num_tokens=IMAGE_TOKENS)
    U.get_tokenizer.tokenizer = tokenizer
    package.get_tokenizer = U.get_tokenizer
    return tokenizer


def tokenize(workdir: Path, inputs: Path, out: Path) -> dict[str, Any]:
    feeds = json.loads(inputs.read_text(encoding="utf-8"))
    tok = _unified_tokenizer(workdir)
    result = {
        "texts": [tok.EncodeAsIds(t) for t in feeds["texts"]],
        "queries": [tok.parse_query(q) for q in feeds["queries"]],
        "commands": tok.command_tokens,
        "num_tokens": tok.num_tokens,
        "decoded": [tok.DecodeIds(ids)[0] for ids in feeds.get("decode", [])],
    }
    out.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    return {"texts": len(result["texts"]), "queries": len(result["queries"]), "num_tokens": tok.num_tokens}


def _pretrain_gpt2_masks(workdir: Path) -> types.ModuleType:
    """A ``pretrain_gpt2`` module holding only the snapshot's ``get_masks_and_position_ids`` (compiled from its
    source: importing the whole file needs apex, DeepSpeed and the training data pipeline)."""
    import ast

    import torch

    tree = ast.parse((workdir / "pretrain_gpt2.py").read_text(encoding="utf-8"))
    fn = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "get_masks_and_position_ids"]
    mod = C.stub_module("pretrain_gpt2", torch=torch, get_tokenizer=sys.modules["data_utils"].get_tokenizer)
    exec(compile(ast.Module(body=fn, type_ignores=[]), "pretrain_gpt2.py", "exec"), mod.__dict__)
    return mod


def _image_tokenizer(workdir: Path, tok: Any, vqvae_path: Path, n_embed_release: bool = True) -> None:
    """The original ``VQVAETokenizer`` over the tiny VQ-VAE (its ``__init__`` builds the release-size model from a
    path, so the tiny model is set on an instance made without it; ``read_img``/``EncodeAsIds``/``DecodeIds`` are
    the original's)."""
    import torch
    from data_utils import vqvae_tokenizer as V
    from vqvae.vqvae_zc import VQVAE

    state = torch.load(vqvae_path, weights_only=True)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    n_embed = int(state["quantize_t.embed"].shape[1])
    if n_embed_release:
        assert n_embed == IMAGE_TOKENS, n_embed
    res = {k.split(".")[2] for k in state if k.startswith("dec.blocks.") and ".conv." in k}
    sizes = {
        "n_embed": n_embed,
        "embed_dim": int(state["quantize_t.embed"].shape[0]),
        "channel": int(state["dec.blocks.0.weight"].shape[1]),
        "n_res_channel": int(state["dec.blocks.1.conv.1.weight"].shape[0])
        if res
        else VQVAE_SIZES["n_res_channel"],
    }
    vq = VQVAE(n_res_block=len(res), stride=6, **sizes).eval()
    vq.load_state_dict(state)
    img = V.VQVAETokenizer.__new__(V.VQVAETokenizer)
    img.model, img.device, img.image_tokens, img.num_tokens = vq, "cpu", n_embed, n_embed
    tok.img_tokenizer = img


def _sampling(workdir: Path) -> Any:
    _pretrain_gpt2_masks(workdir)
    return C.load_file_module("sampling", workdir / "generation" / "sampling.py")


def _load_model(ckpt: Path) -> Any:
    """The original GPT2Model at the shard's sizes (one rank), strict load."""
    import torch

    with C.stdout_to_stderr():
        C.init_model_parallel(0, 1, C.rendezvous())
    sd = torch.load(ckpt / str(ITERATION) / "mp_rank_00_model_states.pt", weights_only=False)["module"]
    vocab, hidden = sd["word_embeddings.weight"].shape
    sizes = {
        "vocab_size": int(vocab),
        "hidden_size": int(hidden),
        "max_position_embeddings": int(sd["transformer.position_embeddings.weight"].shape[0]),
        "num_layers": len({k.split(".")[2] for k in sd if k.startswith("transformer.layers.")}),
        "num_attention_heads": int(json.loads((ckpt / "config.json").read_text())["num_attention_heads"]),
    }
    model = _gpt2_model({**CONFIG, **sizes}).eval()
    model.load_state_dict(sd, strict=True)
    return model


def _original(workdir: Path, ckpt: Path, vqvae_path: Path) -> tuple[Any, Any, Any]:
    """The original unified tokenizer (with the tiny VQ-VAE), ``generation/sampling.py`` and the GPT."""
    import_original(workdir)
    tok = _unified_tokenizer(workdir)
    sampling = _sampling(workdir)
    _image_tokenizer(workdir, tok, vqvae_path)
    return tok, sampling, _load_model(ckpt)


def img2code(workdir: Path, vqvae_path: Path, inputs: Path, out: Path) -> dict[str, Any]:
    """``VQVAETokenizer.read_img(path)`` → ``EncodeAsIds`` (``api.img2code``) of each image, as ``parse_query``'s
    ``[Image]path`` does; an image the original cannot read gets its exception's text instead (``warmup`` untimed
    passes first; the loop's seconds in the summary)."""
    import torch

    feeds = json.loads(inputs.read_text(encoding="utf-8"))
    import_original(workdir)
    tok = _unified_tokenizer(workdir)
    _image_tokenizer(workdir, tok, vqvae_path, n_embed_release=False)
    if feeds.get("threads"):
        torch.set_num_threads(int(feeds["threads"]))
    for _ in range(int(feeds.get("warmup", 0))):  # untimed passes (the bench)
        tok.img_tokenizer.EncodeAsIds(tok.img_tokenizer.read_img(feeds["images"][0]))
    result: list[dict[str, Any]] = []
    start = time.perf_counter()
    for path in feeds["images"]:
        try:
            pixels = tok.img_tokenizer.read_img(path, img_size=int(feeds.get("size", 256)))
            codes = tok.img_tokenizer.EncodeAsIds(pixels)
            result.append({"codes": codes[0].tolist(), "pixels_sum": float(pixels.double().sum())})
        except Exception as exc:  # the original's own failure, reported as such
            result.append({"error": f"{type(exc).__name__}: {exc}"})
    seconds = time.perf_counter() - start
    out.write_text(json.dumps(result), encoding="utf-8")
    return {"images": len(result), "errors": sum("error" in r for r in result), "seconds": seconds}


def _seeded_draw(
    sampling: Any, model: Any, seq: Any, feeds: dict[str, Any], num: int, mbz: int
) -> tuple[Any, float]:
    """``generate_images_once``'s draw: ``add_interlacing_beam_marks(seq, nb=min(num, mbz))`` (with its own
    assertion on ``num``), ``feeds["warmup"]`` untimed ``filling_sequence`` runs (the benches), then
    ``torch.manual_seed(feeds["seed"])`` and one ``filling_sequence`` per ``mbz``; the rows and their seconds."""
    import torch

    assert num < mbz or num % mbz == 0
    sampling.add_interlacing_beam_marks(seq, nb=min(num, mbz))
    args = types.SimpleNamespace(
        temperature=float(feeds["temperature"]), top_k=int(feeds["top_k"]), top_p=0.0, is_sparse=0
    )
    with torch.no_grad():
        for _ in range(int(feeds.get("warmup", 0))):
            sampling.filling_sequence(model, seq.clone(), args)
        torch.manual_seed(int(feeds["seed"]))
        start = time.perf_counter()
        rows = torch.cat(
            [sampling.filling_sequence(model, seq.clone(), args) for _ in range(max(num // mbz, 1))]
        )
        return rows, time.perf_counter() - start


def caption(workdir: Path, ckpt: Path, vqvae_path: Path, inputs: Path, out: Path) -> dict[str, Any]:
    """``generate_images_once`` for ``image2text``: the query ``'[BASE] [BOI1] [Image]{} [EOI1] [ROI1] [MASK]*20'``
    parsed by ``parse_query``, ``add_interlacing_beam_marks(seq, nb=min(num, mbz))``, ``filling_sequence`` once
    per ``mbz`` (12), after ``torch.manual_seed(seed)``; the rows' 20 tokens and ``DecodeIds``' text (``warmup``
    untimed runs first, ``threads``; the seeded run's seconds are saved)."""
    import torch

    feeds = json.loads(inputs.read_text(encoding="utf-8"))
    if feeds.get("threads"):
        torch.set_num_threads(int(feeds["threads"]))
    tok, sampling, model = _original(workdir, ckpt, vqvae_path)
    num, mbz = int(feeds.get("num", 1)), 12
    query = "[BASE] [BOI1] [Image]{} [EOI1] [ROI1] [MASK]*{}".format(
        feeds["image"], int(feeds.get("tokens", 20))
    )
    seq = torch.tensor(tok.parse_query(query, img_size=256))
    prompt = int((seq >= 0).sum())
    rows, seconds = _seeded_draw(sampling, model, seq, feeds, num, mbz)
    texts = ["".join(tok.DecodeIds(r.tolist())[0]) for r in rows[:, prompt:]]
    np.savez(
        out,
        prompt=rows[0, :prompt].numpy().astype(np.int64),
        tokens=rows[:, prompt:].numpy().astype(np.int64),
        seconds=np.float64(seconds),
    )
    Path(str(out) + ".json").write_text(json.dumps({"texts": texts}, ensure_ascii=False), encoding="utf-8")
    return {"prompt": prompt, "rows": int(rows.shape[0])}


def select(workdir: Path, ckpt: Path, vqvae_path: Path, inputs: Path, out: Path) -> dict[str, Any]:
    """``post_selection``: for a line ``text\\timage1\\timage2…``, ``get_context`` parses
    ``'[BASE] [BOI1] [Image]{} [EOI1] [ROI1] {}'.format(image, text)`` per image (``_parse_and_to_tensor`` without
    its ``torch.cuda.LongTensor``), stacks them, and ``inverse_prompt_score`` scores them ``mbz`` (12) at a time."""
    import torch

    feeds = json.loads(inputs.read_text(encoding="utf-8"))
    tok, sampling, model = _original(workdir, ckpt, vqvae_path)
    template = "[BASE] [BOI1] [Image]{} [EOI1] [ROI1] {}"
    seq = torch.stack(
        [
            torch.tensor(tok.parse_query(template.format(*"\t".join([p, feeds["text"]]).split("\t"))))
            for p in feeds["images"]
        ]
    )
    num, mbz = seq.shape[0], 12
    assert num < mbz or num % mbz == 0
    args = types.SimpleNamespace(is_sparse=0)
    with torch.no_grad():
        scores = torch.cat(
            [
                sampling.inverse_prompt_score(model, seq[t * mbz : (t + 1) * mbz], args)
                for t in range(max(num // mbz, 1))
            ]
        )
    np.savez(out, scores=scores.numpy().astype(np.float64), ids=seq.numpy().astype(np.int64))
    return {"images": num}


def sample(workdir: Path, ckpt: Path, vqvae_path: Path, inputs: Path, out: Path) -> dict[str, Any]:
    import torch

    feeds = json.loads(inputs.read_text(encoding="utf-8"))
    if feeds.get("threads"):
        torch.set_num_threads(int(feeds["threads"]))
    tok, sampling, model = _original(workdir, ckpt, vqvae_path)
    grid = int(feeds["grid"])
    query = "[ROI1] {} [BASE] [BOI1] [MASK]*{}".format(feeds["text"], grid * grid)
    seq = torch.tensor(tok.parse_query(query))
    rows, seconds = _seeded_draw(sampling, model, seq, feeds, int(feeds.get("num", 1)), 12)
    tokens = rows[0]
    with torch.no_grad():
        _, images = tok.DecodeIds(tokens.tolist())
    prompt = int((seq >= 0).sum())
    np.savez(
        out,
        prompt=tokens[:prompt].numpy().astype(np.int64),
        codes=tokens[prompt:].numpy().astype(np.int64),
        codes_all=rows[:, prompt:].numpy().astype(np.int64),
        image=images[-1].numpy().astype(np.float32),
        seconds=np.float64(seconds),
    )
    return {"prompt": prompt, "codes": int(tokens.numel() - prompt), "images": len(images)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--out", type=Path, required=True)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--mp", type=int, default=1, help="model-parallel ranks (one shard each)")
    w.add_argument("--vocab", type=int, default=None, help="vocabulary size (default: CONFIG's)")
    for size in ("hidden", "heads", "layers", "positions"):
        w.add_argument(f"--{size}", type=int, default=None, help=f"{size} (default: CONFIG's)")
    f = sub.add_parser("forward")
    f.add_argument("--ckpt", type=Path, required=True)
    f.add_argument("--inputs", type=Path, required=True)
    f.add_argument("--out", type=Path, required=True)
    v = sub.add_parser("vqvae")
    v.add_argument("--out", type=Path, required=True)
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--res-blocks", type=int, default=0)
    v.add_argument("--n-embed", type=int, default=None, help="codebook size (default: VQVAE_SIZES')")
    v.add_argument(
        "--channel", type=int, default=None, help="conv width (default: VQVAE_SIZES'; release 512)"
    )
    v.add_argument(
        "--embed-dim", type=int, default=None, help="code width (default: VQVAE_SIZES'; release 256)"
    )
    t = sub.add_parser("tokenize")
    t.add_argument("--inputs", type=Path, required=True)
    t.add_argument("--out", type=Path, required=True)
    for name in ("sample", "caption", "select", "img2code"):
        s = sub.add_parser(name)
        if name != "img2code":
            s.add_argument("--ckpt", type=Path, required=True)
        s.add_argument("--vqvae", type=Path, required=True)
        s.add_argument("--inputs", type=Path, required=True)
        s.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    for k in ("out", "ckpt", "inputs", "vqvae"):
        if getattr(args, k, None) is not None:
            setattr(args, k, getattr(args, k).resolve())
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        commit = C.extract_original(REPO, PATHS, workdir)
        os.chdir(workdir)
        if args.cmd == "vqvae":
            summary = vqvae(
                workdir, args.out, args.seed, args.res_blocks, args.n_embed,
                channel=args.channel, embed_dim=args.embed_dim,
            )  # fmt: skip
        elif args.cmd == "write":
            sizes = {"vocab_size": args.vocab, "hidden_size": args.hidden, "num_attention_heads": args.heads,
                     "num_layers": args.layers, "max_position_embeddings": args.positions}  # fmt: skip
            summary = write(workdir, args.out, args.seed, args.mp, sizes)
        elif args.cmd == "tokenize":
            summary = tokenize(workdir, args.inputs, args.out)
        elif args.cmd in ("sample", "caption", "select"):
            run = {"sample": sample, "caption": caption, "select": select}[args.cmd]
            summary = run(workdir, args.ckpt, args.vqvae, args.inputs, args.out)
        elif args.cmd == "img2code":
            summary = img2code(workdir, args.vqvae, args.inputs, args.out)
        else:
            summary = forward(workdir, args.ckpt, args.inputs, args.out)
        summary.update({"impl": f"CogView {commit[:10]}", "cmd": args.cmd, "stubs": STUBS})
        C.report(summary)


if __name__ == "__main__":
    main()
