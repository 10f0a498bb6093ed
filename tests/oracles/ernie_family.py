"""Oracle for ERNIE checkpoints published as Paddle dygraph ``.pdparams`` (see tests/oracles/README.md).

    write   --arch ernie [--config CFG.json] --out DIR [--seed N]
    forward --arch ernie --ckpt DIR --inputs IN.json --out REF.npz

``write`` saves a random PaddleNLP ``ErnieModel`` state dict with ``paddle.save`` (a pickle of
``{name: numpy array}``, Linear weights ``[in, out]``) plus PaddleNLP's ``config.json`` and ``vocab.txt``.
``forward`` runs Paddle's own layers (``paddle.nn.Embedding``/``LayerNorm``/``TransformerEncoderLayer``, which
is what PaddleNLP's ``ErnieModel`` is made of) on the file, loaded with ``paddle.load`` + ``set_state_dict``.
PaddleNLP itself (2.8.1) could not be imported here (see README), so the ~30 lines that put Paddle's layers
together under PaddleNLP's names are ours; every attention / FFN / LayerNorm computation and the
``[in, out]`` weight convention are Paddle's.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

ERNIE3_CONFIG = {  # PaddleNLP ernie-3.0-* config.json keys, tiny sizes
    "architectures": ["ErnieModel"],
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 32,
    "initializer_range": 0.02,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
    "model_type": "ernie",
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "pad_token_id": 0,
    "task_type_vocab_size": 3,
    "type_vocab_size": 4,
    "use_task_id": True,
    "vocab_size": 120,
}
ARCHS = ("ernie",)


def ernie3_shapes(cfg: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """PaddleNLP ``ErnieModel`` parameter names under the ``ernie.`` prefix of the released ``*.pdparams``."""
    h, i = cfg["hidden_size"], cfg["intermediate_size"]
    s: dict[str, tuple[int, ...]] = {
        "ernie.embeddings.word_embeddings.weight": (cfg["vocab_size"], h),
        "ernie.embeddings.position_embeddings.weight": (cfg["max_position_embeddings"], h),
        "ernie.embeddings.token_type_embeddings.weight": (cfg["type_vocab_size"], h),
    }
    if cfg.get("use_task_id"):
        s["ernie.embeddings.task_type_embeddings.weight"] = (cfg["task_type_vocab_size"], h)
    s["ernie.embeddings.layer_norm.weight"] = (h,)
    s["ernie.embeddings.layer_norm.bias"] = (h,)
    for n in range(cfg["num_hidden_layers"]):
        p = f"ernie.encoder.layers.{n}"
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            s[f"{p}.self_attn.{proj}.weight"] = (h, h)  # paddle Linear: [in, out]
            s[f"{p}.self_attn.{proj}.bias"] = (h,)
        s[f"{p}.linear1.weight"] = (h, i)
        s[f"{p}.linear1.bias"] = (i,)
        s[f"{p}.linear2.weight"] = (i, h)
        s[f"{p}.linear2.bias"] = (h,)
        for norm in ("norm1", "norm2"):
            s[f"{p}.{norm}.weight"] = (h,)
            s[f"{p}.{norm}.bias"] = (h,)
    s["ernie.pooler.dense.weight"] = (h, h)
    s["ernie.pooler.dense.bias"] = (h,)
    return s


def write(arch: str, cfg_path: Path | None, out: Path, seed: int, flavor: str | None) -> dict[str, Any]:
    import paddle

    cfg = C.load_config(cfg_path, ERNIE3_CONFIG)
    r = C.rng(seed)
    # ``.weight`` of a LayerNorm is its gamma: give it the gamma treatment
    state = {}
    for name, shape in ernie3_shapes(cfg).items():
        kind = name.replace("norm1.weight", "gamma").replace("norm2.weight", "gamma")
        kind = kind.replace("layer_norm.weight", "gamma")
        state[name] = paddle.to_tensor(C.random_value(r, kind, shape))
    out.mkdir(parents=True, exist_ok=True)
    paddle.save(state, str(out / "model_state.pdparams"))
    C.dump_json(out / "config.json", cfg)
    C.write_vocab(out / "vocab.txt", cfg["vocab_size"])
    return {"arch": arch, "tensors": len(state), "paddle": paddle.__version__}


def _build(cfg: dict[str, Any], eps: float) -> Any:
    from paddle import nn

    h = cfg["hidden_size"]

    class Embeddings(nn.Layer):  # PaddleNLP ErnieEmbeddings' sub-layer names
        def __init__(self) -> None:
            super().__init__()
            self.word_embeddings = nn.Embedding(cfg["vocab_size"], h)
            self.position_embeddings = nn.Embedding(cfg["max_position_embeddings"], h)
            self.token_type_embeddings = nn.Embedding(cfg["type_vocab_size"], h)
            if cfg.get("use_task_id"):
                self.task_type_embeddings = nn.Embedding(cfg["task_type_vocab_size"], h)
            self.layer_norm = nn.LayerNorm(h, epsilon=eps)

    class Pooler(nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.dense = nn.Linear(h, h)

    class Ernie(nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.embeddings = Embeddings()
            layer = nn.TransformerEncoderLayer(
                h,
                cfg["num_attention_heads"],
                cfg["intermediate_size"],
                dropout=0.0,
                activation=cfg["hidden_act"],
                attn_dropout=0.0,
                act_dropout=0.0,
                normalize_before=False,
            )
            self.encoder = nn.TransformerEncoder(layer, cfg["num_hidden_layers"])
            for sub in self.encoder.sublayers():  # what PaddleNLP's _init_weights does to every LayerNorm
                if isinstance(sub, nn.LayerNorm):
                    sub._epsilon = eps
            self.pooler = Pooler()

    class Wrapper(nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.ernie = Ernie()

    return Wrapper()


def forward(arch: str, d: Path, inp: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, Any]]:
    import paddle

    cfg = C.load_config(d / "config.json", {})
    # PaddleNLP's ErniePretrainedModel._init_weights sets every LayerNorm epsilon to 1e-12 for ERNIE 1.0/3.0
    eps = float(cfg.get("layer_norm_eps", 1e-12))
    paddle.seed(0)
    model = _build(cfg, eps)
    model.eval()
    state = paddle.load(str(d / "model_state.pdparams"))
    own = set(model.state_dict())
    missing, unexpected = sorted(own - set(state)), sorted(set(state) - own)
    if missing or unexpected:
        raise SystemExit(f"ERNIE state dict mismatch:\n  missing: {missing}\n  unexpected: {unexpected}")
    for k, v in model.state_dict().items():
        if tuple(v.shape) != tuple(state[k].shape):
            raise SystemExit(f"{k}: file {tuple(state[k].shape)} vs layer {tuple(v.shape)}")
    model.set_state_dict(state)
    for k, v in model.state_dict().items():  # really set (not silently skipped)
        if not np.array_equal(np.asarray(v.numpy()), np.asarray(state[k])):
            raise SystemExit(f"{k} was not loaded")

    e = model.ernie
    ids = paddle.to_tensor(inp["input_ids"])
    tt = paddle.to_tensor(inp["token_type_ids"])
    mask = paddle.to_tensor(inp["attention_mask"].astype("float32"))
    with paddle.no_grad():
        pos = paddle.arange(ids.shape[1], dtype="int64").unsqueeze(0).expand_as(ids)
        x = e.embeddings.word_embeddings(ids) + e.embeddings.position_embeddings(pos)
        x = x + e.embeddings.token_type_embeddings(tt)
        if cfg.get("use_task_id"):  # PaddleNLP: task_type_ids default to config task_id (0)
            task = paddle.full_like(ids, int(cfg.get("task_id", 0)))
            x = x + e.embeddings.task_type_embeddings(task)
        x = e.embeddings.layer_norm(x)
        # PaddleNLP ErnieModel: additive mask (1 - mask) * -1e4, shape [B, 1, 1, T]
        add = ((1.0 - mask) * -1e4).unsqueeze([1, 2])
        hidden = [x]
        for layer in e.encoder.layers:
            x = layer(x, add)
            hidden.append(x)
        pooled = paddle.tanh(e.pooler.dense(x[:, 0]))
    res = {
        "last_hidden_state": x.numpy(),
        "hidden_states": np.stack([h.numpy() for h in hidden]),
        "pooler_output": pooled.numpy(),
    }
    return res, {
        "loaded_variables": len(state),
        "unset_parameters": [],
        "layer_norm_eps": eps,
        "reference": f"paddle {paddle.__version__} nn layers",
    }


def _hf_name(name: str) -> str:
    """PaddleNLP ERNIE name → transformers ``ErnieModel`` name (the nghuyong/ernie-3.0-* conversion)."""
    n = name[len("ernie.") :]
    for a, b in (
        ("embeddings.layer_norm.", "embeddings.LayerNorm."),
        ("encoder.layers.", "encoder.layer."),
        ("self_attn.q_proj.", "attention.self.query."),
        ("self_attn.k_proj.", "attention.self.key."),
        ("self_attn.v_proj.", "attention.self.value."),
        ("self_attn.out_proj.", "attention.output.dense."),
        ("norm1.", "attention.output.LayerNorm."),
        ("linear1.", "intermediate.dense."),
        ("linear2.", "output.dense."),
        ("norm2.", "output.LayerNorm."),
    ):
        n = n.replace(a, b)
    return n


def forward_hf4(d: Path, inp: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Second opinion for the self-test only: transformers 4.46.3 ``ErnieModel`` fed through the mapping above
    (ours, so not a reference for the converter by itself; it checks the Paddle-layer reference)."""
    import pickle

    import torch
    from transformers import ErnieConfig, ErnieModel

    cfg = C.load_config(d / "config.json", {})
    config = ErnieConfig.from_dict({**cfg, "layer_norm_eps": float(cfg.get("layer_norm_eps", 1e-12))})
    model = ErnieModel(config, add_pooling_layer=True).eval()
    with open(d / "model_state.pdparams", "rb") as f:
        raw = pickle.load(f)  # our own fixture file
    sd = {}
    for k, v in raw.items():
        if not k.startswith("ernie."):
            continue
        t = torch.from_numpy(np.asarray(v, dtype=np.float32))
        is_linear = k.endswith(".weight") and t.ndim == 2 and "embeddings" not in k
        sd[_hf_name(k)] = t.T.contiguous() if is_linear else t
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids")]
    if missing or unexpected:
        raise SystemExit(f"hf4 mapping incomplete: missing {missing}, unexpected {unexpected}")
    t = {k: torch.from_numpy(v) for k, v in inp.items()}
    with torch.no_grad():
        out = model(**t, output_hidden_states=True)
    hs = torch.stack(out.hidden_states)
    return {"last_hidden_state": hs[-1], "hidden_states": hs, "pooler_output": out.pooler_output}, {
        "loaded_variables": len(sd),
        "unset_parameters": [],
    }


def run(argv: list[str]) -> None:
    args = C.base_parser(ARCHS).parse_args(argv)
    if args.cmd == "write":
        C.report(write(args.arch, args.config, args.out, args.seed, args.flavor))
    else:
        inputs = C.read_inputs(args.inputs)
        impl = args.impl or "paddle"
        if impl == "paddle":
            res, summary = forward(args.arch, args.ckpt, inputs)
        elif impl == "hf4":
            res, summary = forward_hf4(args.ckpt, inputs)
        else:
            raise SystemExit(f"unknown --impl {impl} (paddle|hf4)")
        C.save_outputs(args.out, res)
        summary.update({"arch": args.arch, "ckpt": str(args.ckpt), "outputs": sorted(res), "impl": impl})
        C.report(summary)


if __name__ == "__main__":
    C.main_with_batch(run)
