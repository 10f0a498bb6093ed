"""Helpers shared by the oracle scripts (run only in ``.venv-ref``, never imported by zhplm or its tests).

Oracles write tiny random checkpoints in an ORIGINAL format with the original framework (TensorFlow writes
the TF1 bundles, torch writes the pickles), then compute reference outputs from those files with an
implementation we did not write (transformers 4.46.3, pytorch-pretrained-bert, …). The helpers here are the
plumbing: seeded random values, tiny vocabularies, the TF1 writer, and the check that a reference loader
really consumed every checkpoint variable and set every parameter (the transformers 4.x TF loaders skip
unknown names silently, so a wrong name would otherwise go unnoticed and the "reference" would be random).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import hashlib
import json
import math
import os
import subprocess
import sys
import types
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# A few hundred common Chinese characters; the tiny vocabularies take the first N they need.
CHARS = (
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后"
    "小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长"
    "知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最"
    "间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市"
    "眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计"
)
WORDS = ["中国", "我们", "北京", "时候", "自己", "一个", "没有", "什么", "知道", "现在", "可以", "学生"]


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def random_value(r: np.random.Generator, name: str, shape: Iterable[int]) -> np.ndarray:
    """A float32 value of a scale that keeps a tiny model's activations O(1) and every weight visible.

    LayerNorm gammas sit around 1, biases and betas around 0 with a visible spread, matrices are scaled
    by 1/sqrt(fan_in) so attention does not saturate (a saturated softmax would hide mapping errors).
    """
    shape = tuple(int(s) for s in shape)
    leaf = name.rsplit("/", 1)[-1].rsplit(".", 1)[-1]
    if leaf in ("gamma", "weight_ln") or leaf.endswith("gamma"):
        v = 1.0 + 0.1 * r.standard_normal(shape)
    elif leaf in ("beta", "bias", "output_bias") or "bias" in leaf:
        v = 0.1 * r.standard_normal(shape)
    elif len(shape) >= 2 and "embed" not in name and "lookup" not in name:
        v = r.standard_normal(shape) / np.sqrt(shape[0])
    else:
        v = 0.5 * r.standard_normal(shape)
    return v.astype(np.float32)


def tiny_vocab(size: int, words: bool = False) -> list[str]:
    """``size`` tokens: the BERT specials, (optionally) some jieba words, Chinese chars, then ##-pieces."""
    toks = list(SPECIAL_TOKENS)
    if words:
        toks += WORDS
    toks += [c for c in CHARS if c not in toks]
    i = 0
    while len(toks) < size:
        toks.append(f"##{CHARS[i % len(CHARS)]}{i // len(CHARS) or ''}")
        i += 1
    return toks[:size]


def write_vocab(path: Path, size: int, words: bool = False) -> None:
    path.write_text("".join(t + "\n" for t in tiny_vocab(size, words)), encoding="utf-8")


def save_tf1_checkpoint(directory: Path, prefix_name: str, arrays: dict[str, np.ndarray]) -> Path:
    """Write a TF1 name-based checkpoint (``.index`` + ``.data-00000-of-00001`` + ``checkpoint``) with TF.

    ``tf.raw_ops.SaveV2`` keeps the exact variable names (``tf.train.Checkpoint`` would write object-graph
    names instead), which is what TF1 ``tf.train.Saver`` produced for the original releases.
    """
    import tensorflow as tf

    directory.mkdir(parents=True, exist_ok=True)
    prefix = directory / prefix_name
    names = sorted(arrays)
    tf.raw_ops.SaveV2(
        prefix=str(prefix),
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(arrays[n]) for n in names],
    )
    (directory / "checkpoint").write_text(
        f'model_checkpoint_path: "{prefix_name}"\nall_model_checkpoint_paths: "{prefix_name}"\n'
    )
    return prefix


def read_tf1_checkpoint(prefix: Path | str) -> dict[str, np.ndarray]:
    """Every variable of a TF1 checkpoint, read by TensorFlow's own reader."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(prefix))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def find_tf1_prefix(directory: Path) -> Path:
    """The checkpoint prefix named by the ``checkpoint`` file (or the only ``*.index``)."""
    ck = directory / "checkpoint"
    if ck.exists():
        for line in ck.read_text().splitlines():
            if line.startswith("model_checkpoint_path:"):
                return directory / line.split(":", 1)[1].strip().strip('"')
    idx = sorted(directory.glob("*.index"))
    if len(idx) != 1:
        raise SystemExit(f"cannot find one checkpoint prefix in {directory}: {idx}")
    return idx[0].with_suffix("")


def optimizer_slots(r: np.random.Generator, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``adam_m``/``adam_v`` slots for every weight plus ``global_step``, as Google's BERT optimizer saved them."""
    out: dict[str, np.ndarray] = {}
    for name, a in arrays.items():
        out[f"{name}/adam_m"] = (0.01 * r.standard_normal(a.shape)).astype(np.float32)
        out[f"{name}/adam_v"] = np.abs(0.01 * r.standard_normal(a.shape)).astype(np.float32)
    out["global_step"] = np.array(1000, dtype=np.int64)
    return out


def read_inputs(path: Path) -> dict[str, np.ndarray]:
    data = json.loads(Path(path).read_text())
    ids = np.asarray(data["input_ids"], dtype=np.int64)
    out = {"input_ids": ids}
    out["token_type_ids"] = np.asarray(data.get("token_type_ids", np.zeros_like(ids)), dtype=np.int64)
    out["attention_mask"] = np.asarray(data.get("attention_mask", np.ones_like(ids)), dtype=np.int64)
    return out


def save_outputs(path: Path, outputs: dict[str, Any]) -> None:
    arrays = {}
    for k, v in outputs.items():
        if hasattr(v, "detach"):
            v = v.detach().cpu().numpy()
        arrays[k] = np.asarray(v, dtype=np.float32)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Some transformers 4.x loaders ``print`` every name; keep our stdout for the one JSON summary."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def _fingerprints(a: np.ndarray) -> set[str]:
    a = np.asarray(a, dtype=np.float32)
    views = [a]
    if a.ndim >= 2:
        views.append(a.T)
        views.extend(a[i] for i in range(a.shape[0]))
    return {hashlib.sha1(np.ascontiguousarray(v).tobytes()).hexdigest() + str(v.shape) for v in views}


def checked_load(
    models: list[Any],
    load: Callable[[], Any],
    ckpt: dict[str, np.ndarray],
    *,
    ignore: Callable[[str], bool],
    may_stay: Iterable[str] = (),
) -> dict[str, Any]:
    """Run a reference loader and prove that it used the checkpoint fully.

    * every parameter of ``models`` changed (unless its name starts with one of ``may_stay``: parts the
      checkpoint legitimately lacks; the outputs that need them are not reported);
    * every checkpoint variable not ``ignore``d equals some loaded parameter (as is, transposed, or as one
      row of a stacked per-layer array).
    Returns a summary for the script's stdout.
    """
    import torch

    before = [{n: p.detach().clone() for n, p in m.named_parameters()} for m in models]
    with stdout_to_stderr(), torch.no_grad():
        load()
    unchanged: list[str] = []
    prints: set[str] = set()
    for m, b in zip(models, before, strict=True):
        for n, p in m.named_parameters():
            if torch.equal(p.detach(), b[n]):
                unchanged.append(n)
            else:
                prints.add(
                    hashlib.sha1(np.ascontiguousarray(p.detach().float().numpy()).tobytes()).hexdigest()
                    + str(tuple(p.shape))
                )
    bad_unchanged = [n for n in unchanged if not any(n.startswith(s) for s in may_stay)]
    unused = [k for k, v in ckpt.items() if not ignore(k) and not (_fingerprints(v) & prints)]
    if bad_unchanged or unused:
        raise SystemExit(
            "reference loader did not use the checkpoint fully:\n"
            f"  parameters left at their random init: {bad_unchanged}\n"
            f"  checkpoint variables not found in the model: {unused}"
        )
    return {
        "loaded_variables": sum(1 for k in ckpt if not ignore(k)),
        "ignored_variables": len([k for k in ckpt if ignore(k)]),
        "unset_parameters": sorted(unchanged),
    }


def base_parser(archs: Iterable[str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write", help="write a tiny random checkpoint in the original layout")
    w.add_argument("--arch", required=True, choices=sorted(archs))
    w.add_argument("--config", type=Path, help="original-framework config json (default: a tiny one)")
    w.add_argument("--out", type=Path, required=True)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--flavor", default=None, help="layout variant of the arch (see README)")
    f = sub.add_parser("forward", help="reference outputs from a checkpoint directory")
    f.add_argument("--arch", required=True, choices=sorted(archs))
    f.add_argument("--ckpt", type=Path, required=True)
    f.add_argument("--inputs", type=Path, required=True)
    f.add_argument("--out", type=Path, required=True)
    f.add_argument("--flavor", default=None, help="accepted for symmetry with write; the files tell")
    f.add_argument(
        "--impl", default=None, help="which reference implementation (see README; default per arch)"
    )
    return p


def load_config(path: Path | None, default: dict[str, Any]) -> dict[str, Any]:
    if path is None:
        return json.loads(json.dumps(default))
    return dict(json.loads(Path(path).read_text()))


def dump_json(path: Path, obj: dict[str, Any]) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def report(summary: dict[str, Any]) -> None:
    print(json.dumps(summary, ensure_ascii=False, sort_keys=True))


def main_with_batch(run: Callable[[list[str]], None]) -> None:
    """``script.py ARGS…`` runs one command; ``script.py batch JOBS.json`` runs a JSON list of argument lists
    in one process (TensorFlow and torch import once: the self-check test stays fast)."""
    argv = sys.argv[1:]
    if argv[:1] == ["batch"]:
        if len(argv) != 2:
            raise SystemExit("usage: batch JOBS.json")
        for job in json.loads(Path(argv[1]).read_text()):
            run([str(a) for a in job])
    else:
        run(argv)


# --------------------------------------------------------------------------------------------------------
# original code read from git snapshots (tests/oracles/SNAPSHOTS.txt)


def pinned_snapshot(repo: str) -> tuple[Path, str]:
    """The git dir and pinned commit of an original repository listed in SNAPSHOTS.txt
    (``$ZHPLM_ORIGINALS/OWNER+NAME/repo``, default ``/work/.mirror``); exit 3 with the fetch command if absent."""
    pins = dict(
        line.split()
        for line in Path(__file__).with_name("SNAPSHOTS.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    if repo not in pins:
        raise SystemExit(f"{repo} is not listed in SNAPSHOTS.txt")
    root = Path(os.environ.get("ZHPLM_ORIGINALS") or "/work/.mirror") / repo.replace("/", "+")
    git_dir = root / "repo" if (root / "repo").exists() else root
    has = subprocess.run(
        ["git", "--git-dir", str(git_dir), "cat-file", "-e", pins[repo]], capture_output=True
    )
    if has.returncode != 0:
        print(
            f'no snapshot of {repo} with {pins[repo]} at {git_dir}: git clone --bare https://github.com/{repo} "{root}/repo"',
            file=sys.stderr,
        )
        raise SystemExit(3)
    return git_dir, pins[repo]


def extract_original(repo: str, paths: Iterable[str], dest: Path) -> str:
    """``git archive`` the pinned commit's ``paths`` into ``dest`` (a temporary folder); return the commit."""
    git_dir, commit = pinned_snapshot(repo)
    tar = subprocess.run(
        ["git", "--git-dir", str(git_dir), "archive", commit, *paths], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=tar.stdout, check=True)
    return commit


def write_original(repo: str, paths: Iterable[str], dest: Path, *, flatten: bool = False) -> str:
    """Write the pinned commit's ``paths`` into ``dest`` (under their own names when ``flatten``);
    return the commit."""
    git_dir, commit = pinned_snapshot(repo)
    for path in paths:
        data = subprocess.run(
            ["git", "--git-dir", str(git_dir), "show", f"{commit}:{path}"], capture_output=True, check=True
        ).stdout
        target = dest / (Path(path).name if flatten else path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return commit


def show_original(repo: str, path: str) -> tuple[str, str]:
    """The text of ``path`` at the pinned commit, and the commit."""
    git_dir, commit = pinned_snapshot(repo)
    show = subprocess.run(
        ["git", "--git-dir", str(git_dir), "show", f"{commit}:{path}"], capture_output=True, check=True
    )
    return show.stdout.decode("utf-8"), commit


def original_args(doc: str, arch: str) -> argparse.Namespace:
    """``write --out DIR [--seed N]`` / ``forward --ckpt DIR --inputs IN.json --out REF.npz`` of the
    original-code oracles; paths made absolute (some originals need their own working directory)."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--out", type=Path, required=True)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--arch", default=arch, choices=[arch])
    f = sub.add_parser("forward")
    f.add_argument("--ckpt", type=Path, required=True)
    f.add_argument("--inputs", type=Path, required=True)
    f.add_argument("--out", type=Path, required=True)
    f.add_argument("--arch", default=arch, choices=[arch])
    args = p.parse_args()
    for k in ("out", "ckpt", "inputs"):
        if getattr(args, k, None) is not None:
            setattr(args, k, getattr(args, k).resolve())
    return args


def rendezvous() -> str:
    """A ``torch.distributed`` init method for the ranks of one oracle run: a file no other run shares (a
    free TCP port picked here could be taken by another process before the ranks bind it)."""
    import tempfile

    return "file://" + os.path.join(tempfile.mkdtemp(prefix="zhplm-gloo-"), "rendezvous")


def init_model_parallel(rank: int, world: int, init_method: str) -> None:
    """One rank of a THUDM/Megatron oracle: the gloo process group, then the original ``mpu``'s own
    model-parallel groups (``mpu`` must already be importable from the snapshot's checkout); their
    prints go to stderr."""
    import torch.distributed as dist

    with stdout_to_stderr():
        dist.init_process_group("gloo", init_method=init_method, world_size=world, rank=rank)
        if world == 1:  # a spawned rank's group ends in _rank_with_teardown; this process's before exit
            atexit.register(lambda: dist.is_initialized() and dist.destroy_process_group())
        import mpu

        mpu.initialize_model_parallel(world)


# --------------------------------------------------------------------------------------------------------
# running the originals' code on one CPU: stand-ins for what they import and never need here


def stub_module(name: str, **attrs: Any) -> types.ModuleType:
    """An empty module ``name`` holding ``attrs``, put in ``sys.modules`` so that the original's
    ``import name`` finds it."""
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    sys.modules[name] = mod
    return mod


class _NoFork:
    """Megatron's CUDA RNG tracker without CUDA: ``fork()`` does nothing (dropout is 0 and eval here)."""

    @contextlib.contextmanager
    def fork(self, name: str = "") -> Iterator[None]:
        yield


def megatron_stubs(*, apex: bool = True) -> list[str]:
    """The stand-ins :func:`import_megatron_mpu` installs, as an oracle's summary names them."""
    named = ["apex FusedLayerNorm -> torch.nn.LayerNorm"] if apex else []
    return [*named, "deepspeed.checkpointing.is_configured() -> False", "torch._six.inf",
            "mpu get_cuda_rng_tracker().fork() -> no-op"]  # fmt: skip


def import_megatron_mpu(workdir: Path, transformer: str = "mpu.transformer", *, apex: bool = True) -> Any:
    """Import the original ``mpu`` of a THUDM/Megatron checkout ``workdir`` on one CPU and return it.

    First the stand-ins :func:`megatron_stubs` names: ``deepspeed`` (only
    ``deepspeed.checkpointing.is_configured()`` is called), ``torch._six`` (gone from torch 2; ``mpu/grads.py``
    imports ``inf`` from it) and, with ``apex``, ``apex.normalization.fused_layer_norm.FusedLayerNorm`` →
    ``torch.nn.LayerNorm`` (the same maths, eps passed); then the ``transformer`` module's
    ``get_cuda_rng_tracker`` becomes one whose ``fork()`` does nothing."""
    import importlib

    import torch

    if apex:
        stub_module("apex", __path__=[])
        stub_module("apex.normalization", __path__=[])
        stub_module("apex.normalization.fused_layer_norm", FusedLayerNorm=torch.nn.LayerNorm)
    stub_module("deepspeed", checkpointing=types.SimpleNamespace(is_configured=lambda: False), __path__=[])
    if "torch._six" not in sys.modules:
        stub_module("torch._six", inf=math.inf)
    sys.path.insert(0, str(workdir))
    mpu = importlib.import_module("mpu")
    importlib.import_module(transformer).get_cuda_rng_tracker = lambda: _NoFork()
    return mpu


def fill_megatron(
    model: Any,
    seed: int,
    rank: int,
    *,
    own_also: tuple[str, ...] = (),
    scale: Callable[[str], float] | None = None,
) -> None:
    """Every parameter of a Megatron model from :func:`random_value`, seeded by its name: a rank's own slice
    of a model-parallel parameter (``model_parallel``, or a name containing one of ``own_also``) with a seed
    of its rank, the replicated ones alike on every rank; LayerNorm weights as gammas; ``scale(name)``
    multiplies a value (tiny embeddings keep a deep stack's logits O(1))."""
    import torch

    with torch.no_grad():
        for name, p in model.named_parameters():
            own = bool(getattr(p, "model_parallel", False)) or any(s in name for s in own_also)
            r = rng(seed * 1000 + (rank + 1 if own else 0) * 100 + sum(map(ord, name)) % 97)
            leaf = name.replace("layer_norm.weight", "gamma").replace("layernorm.weight", "gamma")
            value = random_value(r, leaf, tuple(p.shape))
            if scale is not None:
                value = value * np.float32(scale(name))
            p.copy_(torch.from_numpy(value))


def megatron_state(model: Any, world: int, iteration: int) -> dict[str, Any]:
    """A DeepSpeed/Megatron rank's ``mp_rank_XX_model_states.pt`` content, as the releases saved it."""
    import random

    import torch

    return {
        "module": model.state_dict(),
        "iteration": iteration,
        "mp_world_size": world,
        "dp_world_size": 1,
        "global_steps": iteration,
        "skipped_steps": 0,
        "random_rng_state": random.getstate(),
        "np_rng_state": np.random.get_state(),
        "torch_rng_state": torch.get_rng_state(),
    }


def save_megatron_rank(folder: Path, rank: int, state: dict[str, Any], iteration: int) -> None:
    """``folder/<iteration>/mp_rank_XX_model_states.pt``; rank 0 also writes ``latest_checkpointed_iteration.txt``."""
    import torch

    (Path(folder) / str(iteration)).mkdir(parents=True, exist_ok=True)
    torch.save(state, Path(folder) / str(iteration) / f"mp_rank_{rank:02d}_model_states.pt")
    if rank == 0:
        (Path(folder) / "latest_checkpointed_iteration.txt").write_text(str(iteration))


def load_megatron_rank(model: Any, folder: Path, rank: int, iteration: int) -> dict[str, Any]:
    """Load a rank's ``folder/<iteration>/mp_rank_XX_model_states.pt`` into ``model`` (strictly); its content."""
    import torch

    state: dict[str, Any] = torch.load(
        Path(folder) / str(iteration) / f"mp_rank_{rank:02d}_model_states.pt", weights_only=False
    )
    model.load_state_dict(state["module"], strict=True)
    return state


def run_megatron_ranks(
    forward_rank: Callable[..., None], workdir: Path, ckpt: Path, inputs: Path, out: Path, iteration: int
) -> tuple[int, dict[str, Any]]:
    """Every rank of the checkpoint ``ckpt`` runs ``forward_rank(rank, workdir, ckpt, inputs, out, world,
    init_method)`` (gloo, one process per rank; rank 0 writes ``out`` and ``out.json``); the world size and
    that JSON."""
    world = len(list((Path(ckpt) / str(iteration)).glob("mp_rank_*_model_states.pt")))
    spawn_ranks(forward_rank, (str(workdir), str(ckpt), str(inputs), str(out), world, rendezvous()), world)
    return world, json.loads(Path(str(out) + ".json").read_text())


def spawn_ranks(rank_fn: Callable[..., None], args: tuple[Any, ...], world: int) -> None:
    """``rank_fn(rank, *args)`` in ``world`` spawned processes, each ending its gloo group in order.

    Every multi-rank oracle goes through here: a rank that leaves its process with the gloo group alive dies
    in a C++ destructor at interpreter exit now and then ("terminate called without an active exception",
    SIGABRT) -- 10 of 60 bare 2-rank spawns on this machine, 0 of 60 with the teardown below."""
    import torch.multiprocessing as mp

    mp.spawn(_rank_with_teardown, args=(rank_fn, *args), nprocs=world, join=True)


def _rank_with_teardown(rank: int, rank_fn: Callable[..., None], *args: Any) -> None:
    """``rank_fn`` then, after success, a barrier (no rank tears down while another still talks to it), the
    group's end, and an exit that runs no further C++ destructors; a failure propagates to ``mp.spawn``."""
    import torch.distributed as dist

    rank_fn(rank, *args)
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def load_file_module(name: str, path: Path, *, expand_tabs: bool = False) -> types.ModuleType:
    """The original file ``path`` run as module ``name`` (a dotted name sets its package for relative imports);
    not put in ``sys.modules``.

    ``expand_tabs``: the file mixes tabs and spaces, which Python 3 refuses; Python 2 read a tab as "to the
    next multiple of 8", so the tabs are expanded to 8 columns first."""
    if expand_tabs:
        mod = types.ModuleType(name)
        mod.__file__ = str(Path(path).resolve())
        source = Path(path).read_text(encoding="utf-8").expandtabs(8)
        exec(compile(source, mod.__file__, "exec"), mod.__dict__)
        return mod
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def megatron_gpt2(config: dict[str, Any], **kwargs: Any) -> Any:
    """The original ``model/gpt2_modeling.py`` ``GPT2Model`` (run from the checkout) of ``config``'s sizes,
    without dropout or activation checkpointing; ``kwargs`` are the checkout's further arguments."""
    mod = load_file_module("gpt2_modeling", Path("model") / "gpt2_modeling.py")
    return mod.GPT2Model(
        num_layers=config["num_layers"],
        vocab_size=config["vocab_size"],
        hidden_size=config["hidden_size"],
        num_attention_heads=config["num_attention_heads"],
        embedding_dropout_prob=0.0,
        attention_dropout_prob=0.0,
        output_dropout_prob=0.0,
        checkpoint_activations=False,
        **kwargs,
    )
