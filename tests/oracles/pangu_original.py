"""The authors' code as the oracle for PanGu-α (the ``pangu_alpha`` architecture).

    pangu_original.py write    --flavor megatron|mindspore --out DIR [--seed N] [--act gelu_tanh|fast_gelu]
    pangu_original.py forward  --ckpt DIR --inputs IN.json --out REF.npz [--max-new-tokens N]
    pangu_original.py tokenize --vocab-dir DIR --texts TEXTS.json --out OUT.json

The model is CodeGeeX's pure-torch ``codegeex/torch/codegeex_model.py`` (THUDM/CodeGeeX, pinned in SNAPSHOTS.txt):
the PanGu-α design (the same authors' lineage — PCL/Huawei — ported to torch: ``num_layers`` ordinary pre-LN
blocks, ``final_layernorm``, ``topQueryLayer`` whose query is ``query(topQueryEmbedding[pos])``, logits against
the word embedding) with the names of the PanGu-α PyTorch (Megatron) port. The tokenizer is PanGu-α's own
``PanGu-α/tokenization_jieba.py`` from huawei-noah/Pretrained-Language-Model (pinned too). Both are extracted
with ``git archive`` into a temporary folder and imported from there — never copied into the project.

``write``: ``CodeGeeXModel`` (tiny: :data:`CONFIG`; the real 40000-token vocabulary so that the real tokenizer
fits) gets seeded values of a visible scale; ``DIR/../DIR.full.pt`` keeps the whole state dict for ``forward``.

* ``--flavor megatron``: the PanGu-Alpha-GPU release layout: two model-parallel ranks
  ``DIR/mp_rank_0{0,1}_model_states.pt`` (DeepSpeed's ``{"module": state_dict, "mp_world_size", …}``), split
  the Megatron way: ``query``/``key``/``value``/``dense_h_to_4h`` (weight and bias) and the vocab-parallel
  ``word_embeddings`` along dim 0, ``attention.dense``/``dense_4h_to_h`` weights along dim 1, the rest
  replicated. (PanGu-α has no original merge tool to run here, unlike CPM's ``change_mp.py``.)
* ``--flavor mindspore``: the MindSpore release layout, written with the ``protobuf`` package from MindSpore's
  own schemas (``checkpoint.proto``: ``Checkpoint{repeated Value value=1}``, ``Value{tag=1, TensorProto
  tensor=2}``, ``TensorProto{dims=1, tensor_type=2, tensor_content=3}``; ``node_strategy.proto``:
  ``ParallelStrategyMap{current_stage=1, parallel_layout_item=3}``, ``ParallelLayoutItem{param_name=1,
  parallel_layouts=2}``, ``ParallelLayouts{dev_matrix=1, tensor_map=2, param_split_shape=3, indices_offset=4,
  field=5, opt_weight_shard_step=6, opt_weight_shard_size=7}``). The MindSpore names (``pangu_alpha.py``:
  ``backbone.blocks.N.attention.dense1`` …; ``Mapping`` weights stored ``[in, out]``) are laid out with
  the tensor maps and parallel-optimizer fields **read from the real release's strategy file**
  (``strategy_load_ckpt/pangu_alpha_2.6B_ckpt_strategy.ckpt``: device matrix [64, 8]) on a device matrix
  [2, 2] (data-parallel 2 × model-parallel 2; shard step 2 where the real one says 8 = its model-parallel
  size), cut as MindSpore's ``parallel/_tensor.py`` describes (device ``r``'s coordinates, row-major; tensor
  dim ``d`` cut along device axis ``-1 - tensor_map[d]``), then each part cut again in row blocks among the
  devices ``step`` apart (the parallel optimizer). Files: ``DIR/filerted_R.ckpt`` (R = 0..3, the release's
  name), ``DIR/strategy_load_ckpt/pangu_alpha_tiny_strategy.ckpt``, ``DIR/{word,position,top_query}_embedding.npy``
  (the release keeps those tables out of the slices).

Both flavors write ``DIR/config.json`` (``num_heads``, ``num_layers`` counting the top layer, as
``pangu_alpha_config.py``; ``activation_function``) — the release has none; the head count is in no tensor.

``forward``: the original ``CodeGeeXModel`` loads ``DIR.full.pt`` (strict) and computes ``logits`` for
``input_ids`` (rows of equal length) with a causal mask (``True`` above the diagonal, as its generation code
builds it) and ``position_ids = arange``; then greedy decoding of ``max_new_tokens`` after row 0, recomputing
the whole sequence each step (``argmax`` of the last position): ``greedy`` [1, n].

``tokenize``: the original ``JIEBATokenizer(vocab.vocab, vocab.model)``: ``tokenize`` then ``decode``.

Stubs (named in the summary's ``stubs``), each for a GPU-only choice of the original on one CPU in float32:
``model.float()`` after building (the original casts the position and top-query tables to half);
``attention_softmax_in_fp32 = False`` on every attention (it would cast the probabilities back to half);
the output projection ``F.linear(h, word_embeddings.weight)`` is done here in float32 (the original casts the
table to half); with ``--act gelu_tanh`` every MLP's ``activation_func`` is the tanh GELU (MindSpore
``nn.GELU``, PanGu-α's), with ``fast_gelu`` the original's own (CodeGeeX's MindSpore ``FastGelu``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

REPO = "THUDM/CodeGeeX"
MODEL_FILE = "codegeex/torch/codegeex_model.py"
PANGU_REPO = "huawei-noah/Pretrained-Language-Model"
PANGU_DIR = "PanGu-\u03b1"
REAL_STRATEGY = f"{PANGU_DIR}/strategy_load_ckpt/pangu_alpha_2.6B_ckpt_strategy.ckpt"
PANGU_FILES = [REAL_STRATEGY, f"{PANGU_DIR}/tokenization_jieba.py"]
CONFIG = {"hidden_size": 32, "num_layers": 2, "num_attention_heads": 4, "padded_vocab_size": 40000,
          "max_position_embeddings": 64}  # fmt: skip
DEV_MATRIX = [2, 2]  # data-parallel × model-parallel
MP = DEV_MATRIX[-1]
STUBS = [
    "model.float() (the original casts position/top-query tables to half)",
    "attention_softmax_in_fp32=False (the original casts softmax output to half)",
    "logits = F.linear(h, word_embeddings.weight) in float32 (the original casts the table to half)",
]


def _codegeex(workdir: Path) -> Any:
    """``codegeex_model.py`` alone (it imports only torch; the package ``__init__`` pulls the tokenizer stack)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("codegeex_model", workdir / MODEL_FILE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _model(workdir: Path, act: str) -> Any:
    import torch

    mod = _codegeex(workdir)
    model = mod.CodeGeeXModel(**CONFIG).float().eval()
    for m in model.modules():
        if hasattr(m, "attention_softmax_in_fp32"):
            m.attention_softmax_in_fp32 = False
        if act == "gelu_tanh" and hasattr(m, "activation_func"):
            m.activation_func = lambda x: torch.nn.functional.gelu(x, approximate="tanh")
    return model


# ------------------------------------------------------------------ megatron flavor


def _megatron_dim(name: str) -> int | None:
    if name.endswith(("attention.dense.weight", "dense_4h_to_h.weight")):
        return 1
    if any(f".{n}." in name for n in ("query", "key", "value", "dense_h_to_4h")) or "word_embeddings" in name:
        return 0
    return None


def _write_megatron(state: dict[str, Any], out: Path) -> None:
    import torch

    out.mkdir(parents=True, exist_ok=True)
    for rank in range(MP):
        shard = {}
        for name, t in state.items():
            dim = _megatron_dim(name)
            shard[name] = t.clone() if dim is None else torch.chunk(t, MP, dim=dim)[rank].clone()
        torch.save(
            {
                "module": shard,
                "mp_world_size": MP,
                "dp_world_size": 1,
                "iteration": 1000,
                "global_steps": 1000,
            },
            out / f"mp_rank_{rank:02d}_model_states.pt",
        )


# ------------------------------------------------------------------ mindspore flavor


def _protos() -> dict[str, Any]:
    """MindSpore's checkpoint.proto and node_strategy.proto (proto2), built as descriptors."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    R, Q, OPT = F.LABEL_REPEATED, F.LABEL_REQUIRED, F.LABEL_OPTIONAL
    pool = descriptor_pool.DescriptorPool()

    def add(package: str, messages: list[tuple[str, list[tuple[str, int, int, int, str]]]]) -> None:
        fd = descriptor_pb2.FileDescriptorProto(name=f"{package}.proto", package=package, syntax="proto2")
        for mname, fields in messages:
            m = fd.message_type.add(name=mname)
            for fname, number, ftype, label, tname in fields:
                f = m.field.add(name=fname, number=number, type=ftype, label=label)
                if tname:
                    f.type_name = f".{package}.{tname}"
        pool.Add(fd)

    add("mindspore.irpb", [
        ("TensorProto", [("dims", 1, F.TYPE_INT64, R, ""), ("tensor_type", 2, F.TYPE_STRING, Q, ""),
                         ("tensor_content", 3, F.TYPE_BYTES, Q, "")]),
        ("Value", [("tag", 1, F.TYPE_STRING, Q, ""), ("tensor", 2, F.TYPE_MESSAGE, OPT, "TensorProto")]),
        ("Checkpoint", [("value", 1, F.TYPE_MESSAGE, R, "Value")]),
    ])  # fmt: skip
    dims = [("dim", 1, F.TYPE_UINT32, R, "")]
    add("mindspore.straspb", [
        ("DevMatrix", dims),
        ("TensorMap", [("dim", 1, F.TYPE_INT32, R, "")]),
        ("ParamSplitShape", [("dim", 1, F.TYPE_INT64, R, "")]),
        ("IndicesOffset", [("dim", 1, F.TYPE_INT64, R, "")]),
        ("ParallelLayouts", [("dev_matrix", 1, F.TYPE_MESSAGE, R, "DevMatrix"),
                             ("tensor_map", 2, F.TYPE_MESSAGE, R, "TensorMap"),
                             ("param_split_shape", 3, F.TYPE_MESSAGE, R, "ParamSplitShape"),
                             ("indices_offset", 4, F.TYPE_MESSAGE, R, "IndicesOffset"),
                             ("field", 5, F.TYPE_INT32, Q, ""), ("opt_weight_shard_step", 6, F.TYPE_INT32, Q, ""),
                             ("opt_weight_shard_size", 7, F.TYPE_INT32, Q, "")]),
        ("ParallelLayoutItem", [("param_name", 1, F.TYPE_STRING, Q, ""),
                                ("parallel_layouts", 2, F.TYPE_MESSAGE, Q, "ParallelLayouts")]),
        ("ParallelStrategyMap", [("current_stage", 1, F.TYPE_UINT32, Q, ""),
                                 ("parallel_layout_item", 3, F.TYPE_MESSAGE, R, "ParallelLayoutItem")]),
    ])  # fmt: skip
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(name))
        for name in ("mindspore.irpb.Checkpoint", "mindspore.straspb.ParallelStrategyMap")
    }


def _ms_state(state: dict[str, Any]) -> dict[str, np.ndarray]:
    """The CodeGeeX state dict under the MindSpore release's names and layouts (``pangu_alpha.py``)."""
    out: dict[str, np.ndarray] = {}

    def block(src: str, dst: str) -> None:
        for ln, ms in (("input_layernorm", "layernorm1"), ("post_attention_layernorm", "layernorm2")):
            out[f"{dst}.{ms}.gamma"] = state[f"{src}.{ln}.weight"].numpy()
            out[f"{dst}.{ms}.beta"] = state[f"{src}.{ln}.bias"].numpy()
        for ours, ms in (("query", "dense1"), ("key", "dense2"), ("value", "dense3")):  # nn.Dense [out, in]
            for leaf in ("weight", "bias"):
                out[f"{dst}.attention.{ms}.{leaf}"] = state[f"{src}.attention.{ours}.{leaf}"].numpy()
        for ours, ms in (("attention.dense", "attention.projection"), ("mlp.dense_h_to_4h", "output.mapping"),
                         ("mlp.dense_4h_to_h", "output.projection")):  # fmt: skip
            out[f"{dst}.{ms}.weight"] = np.ascontiguousarray(
                state[f"{src}.{ours}.weight"].numpy().T
            )  # [in, out]
            out[f"{dst}.{ms}.bias"] = state[f"{src}.{ours}.bias"].numpy()

    t = "language_model.transformer"
    for i in range(CONFIG["num_layers"]):
        block(f"{t}.layers.{i}", f"backbone.blocks.{i}")
    block(f"{t}.topQueryLayer", "backbone.top_query_layer")
    out["backbone.layernorm.gamma"] = state[f"{t}.final_layernorm.weight"].numpy()
    out["backbone.layernorm.beta"] = state[f"{t}.final_layernorm.bias"].numpy()
    return out


def _real_layouts(workdir: Path, protos: dict[str, Any]) -> dict[str, Any]:
    data = (workdir / REAL_STRATEGY).read_bytes()
    m = protos["mindspore.straspb.ParallelStrategyMap"]()
    m.ParseFromString(data)
    return {item.param_name: item.parallel_layouts for item in m.parallel_layout_item}


def _coords(rank: int, dev: list[int]) -> list[int]:
    out = []
    for size in reversed(dev):
        out.append(rank % size)
        rank //= size
    return out[::-1]


def _write_mindspore(state: dict[str, Any], out: Path, workdir: Path) -> dict[str, Any]:
    protos = _protos()
    real = _real_layouts(workdir, protos)
    ms = _ms_state(state)
    devices = math.prod(DEV_MATRIX)
    strategy = protos["mindspore.straspb.ParallelStrategyMap"](current_stage=0)
    per_device: list[dict[str, np.ndarray]] = [{} for _ in range(devices)]
    used_real: dict[str, list[Any]] = {}
    for name, full in ms.items():
        real_name = name.replace("backbone.blocks.1.", "backbone.blocks.0.")  # every block is laid out alike
        lay = real[real_name]
        tmap = list(lay.tensor_map[0].dim)
        step = MP if lay.opt_weight_shard_step > 0 else 0  # the real step is its model-parallel size (8)
        used_real[name] = [
            list(lay.dev_matrix[0].dim),
            tmap,
            lay.opt_weight_shard_step,
            lay.opt_weight_shard_size,
        ]
        item = strategy.parallel_layout_item.add(param_name=name)
        pl = item.parallel_layouts
        pl.dev_matrix.add().dim.extend(DEV_MATRIX)
        pl.tensor_map.add().dim.extend(tmap)
        pl.param_split_shape.add()
        pl.indices_offset.add()
        pl.field = 0
        pl.opt_weight_shard_step = step
        pl.opt_weight_shard_size = lay.opt_weight_shard_size if step else 0
        n = len(DEV_MATRIX)
        cuts = [1 if m == -1 else DEV_MATRIX[n - 1 - m] for m in tmap]
        for r in range(devices):
            c = _coords(r, DEV_MATRIX)
            idx = [0 if m == -1 else c[n - 1 - m] for m in tmap]
            part = full
            for d, (i, k) in enumerate(zip(idx, cuts, strict=True)):
                part = np.split(part, k, axis=d)[i]
            if step:
                group = [g for g in range(devices) if (g - r) % step == 0]
                part = np.split(part, len(group), axis=0)[group.index(r)]
            per_device[r][name] = np.ascontiguousarray(part)
    out.mkdir(parents=True, exist_ok=True)
    (out / "strategy_load_ckpt").mkdir(exist_ok=True)
    (out / "strategy_load_ckpt" / "pangu_alpha_tiny_strategy.ckpt").write_bytes(strategy.SerializeToString())
    for r, tensors in enumerate(per_device):
        ck = protos["mindspore.irpb.Checkpoint"]()
        for name, arr in tensors.items():
            v = ck.value.add(tag=name)
            v.tensor.dims.extend(arr.shape)
            v.tensor.tensor_type = "Float32"
            v.tensor.tensor_content = arr.astype(np.float32).tobytes()
        (out / f"filerted_{r}.ckpt").write_bytes(ck.SerializeToString())
    lm = "language_model"
    np.save(out / "word_embedding.npy", state[f"{lm}.embedding.word_embeddings.weight"].numpy())
    np.save(out / "position_embedding.npy", state[f"{lm}.embedding.position_embeddings.weight"].numpy())
    np.save(
        out / "top_query_embedding.npy", state[f"{lm}.topQueryEmbedding.top_query_embeddings.weight"].numpy()
    )
    sample = "backbone.blocks.0.output.mapping.weight"
    return {"devices": devices, "real_layout_of": {sample: used_real[sample]}}


def write(workdir: Path, out: Path, seed: int, flavor: str, act: str) -> dict[str, Any]:
    import torch

    model = _model(workdir, act)
    r = C.rng(seed)
    state = {}
    for name, t in model.state_dict().items():
        state[name] = torch.from_numpy(C.random_value(r, name, t.shape))
    model.load_state_dict(state, strict=True)
    full = out.parent / f"{out.name}.full.pt"
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"state": state, "act": act}, full)
    summary: dict[str, Any] = {"tensors": len(state), "full": str(full)}
    if flavor == "megatron":
        _write_megatron(state, out)
    else:
        summary.update(_write_mindspore(state, out, workdir))
    cfg = {"num_heads": CONFIG["num_attention_heads"], "num_layers": CONFIG["num_layers"] + 1,
           "activation_function": "gelu_new" if act == "gelu_tanh" else "quick_gelu"}  # fmt: skip
    (out / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    return summary


def _logits(model: Any, ids: Any) -> Any:
    import torch

    n = ids.shape[1]
    pos = torch.arange(n)[None].expand_as(ids)
    mask = torch.triu(torch.ones(1, 1, n, n, dtype=torch.bool), diagonal=1)
    h = model.language_model(ids, pos, mask)
    return torch.nn.functional.linear(h, model.language_model.embedding.word_embeddings.weight)


def forward(workdir: Path, ckpt: Path, inputs: Path, out: Path, max_new_tokens: int) -> dict[str, Any]:
    import torch

    saved = torch.load(ckpt.parent / f"{ckpt.name}.full.pt", weights_only=True)
    model = _model(workdir, saved["act"])
    model.load_state_dict(saved["state"], strict=True)
    data = json.loads(inputs.read_text(encoding="utf-8"))
    ids = torch.tensor(data["input_ids"])
    with torch.no_grad():
        logits = _logits(model, ids)
        seq = ids[:1]
        for _ in range(max_new_tokens):
            nxt = _logits(model, seq)[:, -1].argmax(-1, keepdim=True)
            seq = torch.cat([seq, nxt], dim=1)
    C.save_outputs(out, {"logits": logits, "greedy": seq[:, ids.shape[1] :]})
    return {"outputs": ["logits", "greedy"], "act": saved["act"]}


def tokenize(workdir: Path, vocab_dir: Path, texts: Path, out: Path) -> dict[str, Any]:
    sys.path.insert(0, str(workdir / PANGU_DIR))
    import jieba
    import tokenization_jieba

    tok = tokenization_jieba.JIEBATokenizer(str(vocab_dir / "vocab.vocab"), str(vocab_dir / "vocab.model"))
    rows = []
    with C.stdout_to_stderr():
        for text in json.loads(texts.read_text(encoding="utf-8")):
            ids = [int(i) for i in tok.convert_tokens_to_ids(tok.tokenize(text))]
            rows.append({"text": text, "ids": ids, "decoded": tok.decode(ids)})
    C.dump_json(out, {"rows": rows, "eod": tok.eod_id, "eot": tok.eot_id, "pad": tok.pad_id})
    return {"texts": len(rows), "jieba": jieba.__version__}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--out", type=Path, required=True)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--flavor", choices=["megatron", "mindspore"], default="megatron")
    w.add_argument("--act", choices=["gelu_tanh", "fast_gelu"], default="gelu_tanh")
    w.add_argument("--arch", default="pangu_alpha", choices=["pangu_alpha"])
    f = sub.add_parser("forward")
    f.add_argument("--ckpt", type=Path, required=True)
    f.add_argument("--inputs", type=Path, required=True)
    f.add_argument("--out", type=Path, required=True)
    f.add_argument("--max-new-tokens", type=int, default=12)
    f.add_argument("--arch", default="pangu_alpha", choices=["pangu_alpha"])
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
        pangu_commit = C.write_original(PANGU_REPO, PANGU_FILES, workdir)
        os.chdir(workdir)
        if args.cmd == "tokenize":
            summary = tokenize(workdir, args.vocab_dir, args.texts, args.out)
            summary["impl"] = f"PanGu-α tokenization_jieba.py {pangu_commit[:10]}"
        else:
            commit = C.extract_original(REPO, [MODEL_FILE], workdir)
            if args.cmd == "write":
                summary = write(workdir, args.out, args.seed, args.flavor, args.act)
            else:
                summary = forward(workdir, args.ckpt, args.inputs, args.out, args.max_new_tokens)
            summary.update({"impl": f"CodeGeeX codegeex_model.py {commit[:10]}", "stubs": STUBS})
        summary["cmd"] = args.cmd
        C.report(summary)


if __name__ == "__main__":
    main()
