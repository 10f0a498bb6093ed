"""Oracle for ERNIE checkpoints: Paddle dygraph ``.pdparams`` and Paddle static persistables (see README).

    write   --arch ernie|ernie1|ernie_gram|paddle_static [--flavor skep|ernie1] [--config CFG.json] --out DIR
    forward --arch ARCH --ckpt DIR --inputs IN.json --out REF.npz [--impl paddlenlp|paddlenlp_repo_eps|ernie_gen|paddle|hf4]
    configs --out FILE.json        # PaddleNLP's own ERNIE 3.0 configs and the LayerNorm eps its ErnieModel uses

``write`` saves random weights with Paddle's own savers: ``paddle.save`` (a pickle of ``{name: array}``) for
the dygraph files, ``paddle.distributed.io.save_persistables`` (``fluid.io.save_persistables``: one LoDTensor
file per variable) for the static folders. The ERNIE-repository names (``word_emb``, ``encoder_stack.block.N…``
and the static ``encoder_layer_N_multi_head_att_query_fc.w_0`` …) are not typed here: they are the structured
names and the ``ParamAttr`` names of PaddleNLP's ``ernie_gen`` ``ErnieForGeneration(cfg, name="")``, the port
of the ERNIE repository's ``modeling_ernie.py`` (built in static mode for the static folders).

``forward --impl paddlenlp`` (default) runs PaddleNLP 2.8.1's own model classes — ``ErnieModel`` /
``ErnieForMaskedLM`` (ERNIE 1.0, 3.0), ``ErnieGramModel``, ``SkepModel`` — with the LayerNorm epsilon their
``_init_weights`` sets (read back from the built layers and reported). The ERNIE-repository names are mapped
to PaddleNLP's with PaddleNLP's own ``ernie_gram/matching_param_name.py`` (embeddings, encoder, pooler, MLM);
static names go through ``ernie_gen``'s ``ParamAttr`` names first. One pairing is written here because
``ernie_gen`` leaves the pooler out: ``pooled_fc.{w_0,b_0}`` ↔ ``pooler.{weight,bias}`` (the ERNIE
repository's ``ErnieModel.pooler = _build_linear(…, append_name(name, 'pooled_fc'))``).
``--impl paddlenlp_repo_eps`` runs the same classes with the LayerNorm eps of the ERNIE repository's model
(ERNIE 1.0: 1e-5, where PaddleNLP's ``ErnieModel`` sets 1e-12). ``--impl ernie_gen`` runs ``ErnieForGeneration`` itself (the ERNIE repository's architecture, Paddle's default
LayerNorm eps 1e-5; encoder outputs only). ``--impl paddle`` (ERNIE 3.0 only) is the older Paddle-layer
assembly, ``--impl hf4`` transformers 4.46.3 ``ErnieModel`` (self-test cross-checks).

PaddleNLP 2.8.1 is installed with ``--no-deps`` (requirements-ernie-nodeps.txt) and imported by
``_paddlenlp()`` with these stubs, each for something imported and never called:
* the package ``__init__`` of ``paddlenlp``, ``paddlenlp.transformers`` and ``paddlenlp.data`` is not run
  (bare package modules over the real folders): they import the whole library (datasets, taskflow, server,
  every model) whose unpinned dependencies no longer import here; the ERNIE modules need only
  ``PretrainedModel``/``register_base_model`` (set from ``model_utils``), ``paddlenlp.data.vocab`` and, for
  ``ernie_gen``, the four ``*PretrainedModel`` classes it lists as warm-start configs (imported from their
  own modules);
* ``aistudio_sdk`` / ``aistudio_sdk.hub``: imported at the top of ``model_utils`` / ``tokenizer_utils_base``
  / ``aistudio_utils`` for AI Studio hub up/downloads; here every stub function raises if called.
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
ARCHS = ("ernie", "ernie1", "ernie_gram", "paddle_static")


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


# ----------------------------------------------------------------------------- PaddleNLP 2.8.1 itself

# The ERNIE repository's config json keys (ernie_config.json / ernie_1.0_large_ch.config.json), tiny sizes; no
# intermediate_size: the repository uses 4 × hidden.
ERNIE_REPO_CONFIGS: dict[str, dict[str, Any]] = {
    "ernie1": {  # ERNIE 1.0 dygraph release (model-ernie1.0.1.tar.gz)
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "relu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": 32,
        "initializer_range": 0.02,
        "max_position_embeddings": 64,
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "sent_type_vocab_size": 2,
        "vocab_size": 120,
    },
    "ernie_gram": {  # model-ernie-gram-zh.1.tar.gz
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": 32,
        "initializer_range": 0.02,
        "max_position_embeddings": 64,
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "type_vocab_size": 2,
        "vocab_size": 120,
    },
    "skep": {  # Senta's SKEP ernie_1.0_large_ch.config.json
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "relu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": 32,
        "initializer_range": 0.02,
        "max_position_embeddings": 64,
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "type_vocab_size": 4,
        "vocab_size": 120,
    },
}
ERNIE3_NAMES = (
    "ernie-3.0-base-zh",
    "ernie-3.0-medium-zh",
    "ernie-3.0-mini-zh",
    "ernie-3.0-micro-zh",
    "ernie-3.0-nano-zh",
)
STATIC_FLAVORS = ("skep", "ernie1")


def _paddlenlp() -> Any:
    """Import PaddleNLP 2.8.1's ERNIE / ERNIE-Gram / SKEP / ERNIE-GEN modules with the stubs named in the
    module docstring (and nothing else)."""
    import importlib
    import importlib.util
    import types

    if "paddlenlp.transformers.ernie_gen.modeling" in sys.modules:
        return types.SimpleNamespace(**{k: sys.modules[v] for k, v in _PNLP_MODULES.items()})

    def never(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("aistudio_sdk stub called: the oracle must never reach AI Studio")

    for name in ("aistudio_sdk", "aistudio_sdk.hub"):
        stub = types.ModuleType(name)
        stub.__path__ = []  # type: ignore[attr-defined]
        for attr in ("download", "create_repo", "upload"):
            setattr(stub, attr, never)
        sys.modules[name] = stub
    sys.modules["aistudio_sdk"].hub = sys.modules["aistudio_sdk.hub"]  # type: ignore[attr-defined]
    spec = importlib.util.find_spec("paddlenlp")
    if spec is None or spec.origin is None:
        raise SystemExit(
            "paddlenlp is not installed in .venv-ref: see tests/oracles/requirements-ernie-nodeps.txt"
        )
    root = Path(spec.origin).parent

    def bare(name: str, folder: Path) -> Any:
        mod = types.ModuleType(name)
        mod.__path__ = [str(folder)]  # type: ignore[attr-defined]
        mod.__file__ = str(folder / "__init__.py")
        sys.modules[name] = mod
        return mod

    bare("paddlenlp", root).__version__ = "2.8.1.post"
    transformers = bare("paddlenlp.transformers", root / "transformers")
    bare("paddlenlp.data", root / "data")
    with C.stdout_to_stderr():
        mu = importlib.import_module("paddlenlp.transformers.model_utils")
        transformers.PretrainedModel = mu.PretrainedModel
        transformers.register_base_model = mu.register_base_model
        for family, cls in (
            ("bert", "Bert"),
            ("electra", "Electra"),
            ("roberta", "Roberta"),
            ("ernie", "Ernie"),
        ):
            mod = importlib.import_module(f"paddlenlp.transformers.{family}.modeling")
            setattr(transformers, f"{cls}PretrainedModel", getattr(mod, f"{cls}PretrainedModel"))
        for v in _PNLP_MODULES.values():
            importlib.import_module(v)
    sys.modules["paddlenlp.utils.log"].logger.set_level("WARNING")
    return types.SimpleNamespace(**{k: sys.modules[v] for k, v in _PNLP_MODULES.items()})


_PNLP_MODULES = {
    "ernie": "paddlenlp.transformers.ernie.modeling",
    "ernie_cfg": "paddlenlp.transformers.ernie.configuration",
    "gram": "paddlenlp.transformers.ernie_gram.modeling",
    "gram_cfg": "paddlenlp.transformers.ernie_gram.configuration",
    "matching": "paddlenlp.transformers.ernie_gram.matching_param_name",
    "skep": "paddlenlp.transformers.skep.modeling",
    "skep_cfg": "paddlenlp.transformers.skep.configuration",
    "gen": "paddlenlp.transformers.ernie_gen.modeling",
}


def _ernie_repo_model(p: Any, cfg: dict[str, Any]) -> Any:
    """PaddleNLP's port of the ERNIE repository's dygraph model: structured names = the dygraph release's,
    ``ParamAttr`` names = the static release's. A fresh name scope each time: dygraph Paddle refuses a
    ``ParamAttr`` name twice in one process (batch mode builds several)."""
    import paddle

    with C.stdout_to_stderr(), paddle.utils.unique_name.guard():
        return p.gen.ErnieForGeneration(dict(cfg), name="")


def _repo_names(p: Any, cfg: dict[str, Any], flavor: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    """ERNIE-repository dygraph name → (static name, shape) of a release of ``flavor``."""
    model = _ernie_repo_model(p, cfg)
    out = {k: (v.name, tuple(v.shape)) for k, v in model.state_dict().items()}
    if flavor in ("ernie_gram", "skep"):  # these releases carry no MLM head (PaddleNLP converts none)
        out = {k: v for k, v in out.items() if not k.startswith("mlm")}
    h = cfg["hidden_size"]
    out["pooler.weight"] = ("pooled_fc.w_0", (h, h))
    out["pooler.bias"] = ("pooled_fc.b_0", (h,))
    return out


def _random_state(names: dict[str, tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
    r = C.rng(seed)
    state = {}
    for name in sorted(names):
        leaf = name
        if (
            name.endswith("_layer_norm_scale")
            or name.startswith(("ln.", "mlm_ln."))
            or ".ln1." in name
            or ".ln2." in name
        ):
            leaf = name if name.endswith("bias") else "gamma"  # LayerNorm scales around 1
        elif name.endswith(("_layer_norm_bias", ".b_0", "mlm_bias")):
            leaf = "bias"
        state[name] = C.random_value(r, leaf, names[name])
    return state


def write_repo(arch: str, cfg_path: Path | None, out: Path, seed: int, flavor: str | None) -> dict[str, Any]:
    """ERNIE-repository releases: the dygraph ``saved_weights.pdparams`` (ERNIE 1.0, ERNIE-Gram) or a static
    ``params/`` folder (SKEP, old ERNIE 1.0)."""
    import paddle

    p = _paddlenlp()
    kind = (flavor or "skep") if arch == "paddle_static" else arch
    cfg = C.load_config(cfg_path, ERNIE_REPO_CONFIGS[kind])
    names = _repo_names(p, cfg, kind)
    out.mkdir(parents=True, exist_ok=True)
    vocab = C.tiny_vocab(cfg["vocab_size"])
    if arch != "paddle_static":
        state = _random_state({k: s for k, (_, s) in names.items()}, seed)
        paddle.save({k: paddle.to_tensor(v) for k, v in state.items()}, str(out / "saved_weights.pdparams"))
        C.dump_json(out / "ernie_config.json", cfg)
        vocab_file = out / "vocab.txt"
    else:
        state = _random_state({n: s for n, s in names.values()}, seed)
        paddle.enable_static()
        main, startup = paddle.static.Program(), paddle.static.Program()
        with paddle.static.program_guard(main, startup):
            static = _ernie_repo_model(p, cfg)
            h = cfg["hidden_size"]
            paddle.static.create_parameter([h, h], "float32", name="pooled_fc.w_0")
            paddle.static.create_parameter([h], "float32", name="pooled_fc.b_0", is_bias=True)
        del static
        place = paddle.CPUPlace()
        exe = paddle.static.Executor(place)
        exe.run(startup)
        scope = paddle.static.global_scope()
        params = {v.name for v in main.all_parameters()}
        if kind != "ernie1":
            params = {n for n in params if not n.startswith("mask_lm")}
            for v in list(main.all_parameters()):
                if v.name.startswith("mask_lm"):
                    v.persistable = False
        if params != set(state):
            raise SystemExit(f"static program parameters {sorted(params ^ set(state))} differ from the names")
        for name, value in state.items():
            scope.find_var(name).get_tensor().set(value, place)
        paddle.distributed.io.save_persistables(exe, str(out / "params"), main)
        paddle.disable_static()
        C.dump_json(out / "ernie_1.0_large_ch.config.json", cfg)
        vocab_file = out / "ernie_1.0_large_ch.vocab.txt"
    # the ERNIE repository's vocab lines are "token\tid"
    vocab_file.write_text("".join(f"{t}\t{i}\n" for i, t in enumerate(vocab)), encoding="utf-8")
    return {"arch": arch, "flavor": kind, "tensors": len(state), "paddle": paddle.__version__}


def _read_repo(d: Path) -> tuple[dict[str, np.ndarray], dict[str, Any], bool]:
    """The fixture's tensors (dygraph pickle via ``paddle.load``, or the static folder via Paddle's own
    ``load_vars``), its ERNIE-repository config, and whether it is static."""
    import paddle

    static = (d / "params").is_dir()
    cfg_file = d / ("ernie_1.0_large_ch.config.json" if static else "ernie_config.json")
    cfg = C.load_config(cfg_file, {})
    if not static:
        loaded = paddle.load(str(d / "saved_weights.pdparams"))
        return {k: np.asarray(v) for k, v in loaded.items()}, cfg, False
    paddle.enable_static()
    try:
        main = paddle.static.Program()
        block = main.global_block()
        files = sorted(f.name for f in (d / "params").iterdir())
        for name in files:  # shapes come from the loaded tensors; declare each file as a persistable var
            block.create_var(name=name, persistable=True)
        exe = paddle.static.Executor(paddle.CPUPlace())
        paddle.static.load_vars(exe, str(d / "params"), main, vars=[block.var(n) for n in files])
        scope = paddle.static.global_scope()
        state = {n: np.array(scope.find_var(n).get_tensor()) for n in files}
    finally:
        paddle.disable_static()
    return state, cfg, True


def _pnlp_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """ERNIE-repository config keys → PaddleNLP ``*Config`` keys (4 × hidden when intermediate is absent)."""
    out = {
        k: cfg[k]
        for k in (
            "hidden_act",
            "hidden_size",
            "max_position_embeddings",
            "num_attention_heads",
            "num_hidden_layers",
            "vocab_size",
            "initializer_range",
        )
    }
    out["type_vocab_size"] = cfg.get("sent_type_vocab_size") or cfg["type_vocab_size"]
    out["intermediate_size"] = cfg.get("intermediate_size", 4 * cfg["hidden_size"])
    out["hidden_dropout_prob"] = out["attention_probs_dropout_prob"] = 0.0
    out["pad_token_id"] = 0
    return out


def _to_pnlp_names(p: Any, cfg: dict[str, Any], names: list[str], static: bool) -> dict[str, str]:
    """Fixture name → PaddleNLP base-model name (no ``ernie.`` prefix) via PaddleNLP's own mappings."""
    m = p.matching
    table: dict[str, str] = {}
    m.match_embedding_param(table)
    m.match_encoder_param(table, layer_num=cfg["num_hidden_layers"])
    m.match_pooler_parameter(table)
    mlm_static_to_pnlp = {v: k for k, v in m.match_mlm_parameter({}).items()}
    structured_to_static = {k: v.name for k, v in _ernie_repo_model(p, cfg).state_dict().items()}
    structured_to_static.update({"pooler.weight": "pooled_fc.w_0", "pooler.bias": "pooled_fc.b_0"})  # see doc
    static_to_structured = {v: k for k, v in structured_to_static.items()}
    out = {}
    for name in names:
        structured = static_to_structured.get(name, "?") if static else name
        if structured in table:
            out[name] = table[structured]
        elif structured_to_static.get(structured) in mlm_static_to_pnlp:
            out[name] = mlm_static_to_pnlp[structured_to_static[structured]]
        else:
            raise SystemExit(f"{name}: no PaddleNLP name for it (unknown to matching_param_name / ernie_gen)")
    return out


def _eps_of(model: Any) -> float:
    from paddle import nn

    eps = {float(sub._epsilon) for sub in model.sublayers() if isinstance(sub, nn.LayerNorm)}
    if len(eps) != 1:
        raise SystemExit(f"the model's LayerNorms use several epsilons: {eps}")
    return eps.pop()


def _set_checked(model: Any, state: dict[str, np.ndarray], may_stay: tuple[str, ...] = ()) -> None:
    """``set_state_dict`` + proof: every parameter of the model was set from the file (except ``may_stay``),
    every tensor of the file reached a parameter."""
    own = model.state_dict()
    unknown = sorted(set(state) - set(own))
    unset = sorted(k for k in own if k not in state and not k.startswith(may_stay))
    if unknown or unset:
        raise SystemExit(
            f"PaddleNLP state dict mismatch:\n  not in the model: {unknown}\n  not in the file: {unset}"
        )
    for k, v in state.items():
        if tuple(own[k].shape) != v.shape:
            raise SystemExit(f"{k}: file {v.shape} vs model {tuple(own[k].shape)}")
    model.set_state_dict({k: v for k, v in state.items()})
    for k, v in model.state_dict().items():
        if k in state and not np.array_equal(np.asarray(v.numpy()), state[k]):
            raise SystemExit(f"{k} was not loaded")


def _inputs(inp: dict[str, np.ndarray]) -> dict[str, Any]:
    import paddle

    return {
        "input_ids": paddle.to_tensor(inp["input_ids"]),
        "token_type_ids": paddle.to_tensor(inp["token_type_ids"]),
        "attention_mask": paddle.to_tensor(inp["attention_mask"].astype("float32")),
    }


def _base_outputs(out: Any) -> dict[str, np.ndarray]:
    hs = np.stack([h.numpy() for h in out.hidden_states])
    return {
        "last_hidden_state": out.last_hidden_state.numpy(),
        "hidden_states": hs,
        "pooler_output": out.pooler_output.numpy(),
    }


def forward_paddlenlp(
    arch: str, d: Path, inp: dict[str, np.ndarray], repo_eps: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """PaddleNLP's own class on the fixture. ``repo_eps`` (``--impl paddlenlp_repo_eps``): its LayerNorms get
    the epsilon of the ERNIE repository's model (read from ernie_gen's built layers, not typed here) instead
    of the one PaddleNLP's ``_init_weights`` set — for ERNIE 1.0, where the two differ (1e-5 vs 1e-12)."""
    import paddle
    from paddle import nn

    p = _paddlenlp()
    paddle.seed(0)
    with C.stdout_to_stderr():
        if arch == "ernie":  # ERNIE 3.0: PaddleNLP's file and names already
            cfg = C.load_config(d / "config.json", {})
            model = p.ernie.ErnieModel(p.ernie_cfg.ErnieConfig(**cfg))
            raw = paddle.load(str(d / "model_state.pdparams"))
            state = {k[len("ernie.") :]: np.asarray(v) for k, v in raw.items() if k.startswith("ernie.")}
            heads = None
            cls_name = "ErnieModel"
        else:
            raw_state, cfg, static = _read_repo(d)
            names = _to_pnlp_names(p, cfg, sorted(raw_state), static)
            state = {names[k]: v for k, v in raw_state.items()}
            pcfg = _pnlp_config(cfg)
            has_mlm = any(k.startswith("cls.") for k in state)
            if arch == "ernie_gram":
                model = p.gram.ErnieGramModel(
                    p.gram_cfg.ErnieGramConfig(**pcfg, embedding_size=pcfg["hidden_size"])
                )
                cls_name = "ErnieGramModel"
            elif arch == "paddle_static" and not has_mlm:  # SKEP
                model = p.skep.SkepModel(p.skep_cfg.SkepConfig(**pcfg))
                cls_name = "SkepModel"
            elif has_mlm:  # ERNIE 1.0 with its MLM head
                model = p.ernie.ErnieForMaskedLM(p.ernie_cfg.ErnieConfig(**pcfg))
                state = {k if k.startswith("cls.") else f"ernie.{k}": v for k, v in state.items()}
                cls_name = "ErnieForMaskedLM"
            else:
                model = p.ernie.ErnieModel(p.ernie_cfg.ErnieConfig(**pcfg))
                cls_name = "ErnieModel"
            heads = has_mlm
        model.eval()
        if repo_eps:
            if arch == "ernie":
                raise SystemExit("--impl paddlenlp_repo_eps: ERNIE 3.0 is not an ERNIE-repository model")
            eps = _eps_of(_ernie_repo_model(p, cfg))
            for sub in model.sublayers():
                if isinstance(sub, nn.LayerNorm):
                    sub._epsilon = eps
            cls_name += " (LayerNorm eps of the ERNIE repository's model)"
        # decoder.weight is tied to the word embedding, decoder.bias is the very Parameter called decoder_bias
        _set_checked(model, state, may_stay=("cls.predictions.decoder.",))
        if heads:
            tied = model.state_dict()
            for a, b in (("decoder.weight", None), ("decoder.bias", "decoder_bias")):
                want = (
                    state[f"cls.predictions.{b}"] if b else state["ernie.embeddings.word_embeddings.weight"]
                )
                if not np.array_equal(tied[f"cls.predictions.{a}"].numpy(), want):
                    raise SystemExit(f"cls.predictions.{a} is not tied as PaddleNLP says")
        base = model.ernie if cls_name.startswith("ErnieForMaskedLM") else model
        with paddle.no_grad():
            out = base(**_inputs(inp), output_hidden_states=True, return_dict=True)
            res = _base_outputs(out)
            if heads:
                res["mlm_logits"] = model.cls(out.last_hidden_state).numpy()
    return res, {
        "loaded_variables": len(state),
        "unset_parameters": [],
        "layer_norm_eps": _eps_of(model),
        "reference": f"paddlenlp 2.8.1 {cls_name} on paddle {paddle.__version__}",
    }


def forward_ernie_gen(
    arch: str, d: Path, inp: dict[str, np.ndarray]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ERNIE repository's model (PaddleNLP's ernie_gen port) on the fixture, by its own names."""
    import paddle

    if arch == "ernie":
        raise SystemExit("--impl ernie_gen: ERNIE 3.0 is not an ERNIE-repository model")
    p = _paddlenlp()
    state, cfg, static = _read_repo(d)
    model = _ernie_repo_model(p, {**cfg, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0})
    model.eval()
    own = model.state_dict()
    by_static = {v.name: k for k, v in own.items()}
    mine = {
        (by_static[k] if static else k): v
        for k, v in state.items()
        if (by_static if static else own).get(k) is not None
    }
    _set_checked(model, mine, may_stay=("mlm",))  # the MLM head is not run here
    with paddle.no_grad():
        t = _inputs(inp)
        enc, info = p.gen.ErnieModel.forward(
            model, t["input_ids"], t["token_type_ids"], input_mask=t["attention_mask"]
        )
    return {
        "last_hidden_state": enc.numpy(),
        "hidden_states": np.stack([h.numpy() for h in info["hiddens"]]),
    }, {
        "loaded_variables": len(mine),
        "unset_parameters": [],
        "layer_norm_eps": _eps_of(model),
        "reference": f"paddlenlp 2.8.1 ernie_gen ErnieForGeneration on paddle {paddle.__version__}",
    }


def ernie3_paddlenlp_configs(out: Path) -> None:
    """PaddleNLP's pretrained config of each ERNIE 3.0 model, completed with ``ErnieConfig``'s defaults, and
    the LayerNorm eps an ``ErnieModel`` built from it really uses (built with 1 layer and a 16-token vocab:
    ``_init_weights`` sets the eps whatever the sizes)."""
    p = _paddlenlp()
    result = {}
    with C.stdout_to_stderr():
        for name in ERNIE3_NAMES:
            raw = dict(p.ernie_cfg.ERNIE_PRETRAINED_INIT_CONFIGURATION[name])
            full = p.ernie_cfg.ErnieConfig(**raw)
            entry = {
                k: getattr(full, k) for k in (*raw, "intermediate_size", "layer_norm_eps", "pad_token_id")
            }
            small = p.ernie.ErnieModel(
                p.ernie_cfg.ErnieConfig(**{**raw, "num_hidden_layers": 1, "vocab_size": 16})
            )
            entry["layer_norm_eps_used"] = _eps_of(small)
            result[name] = entry
    C.dump_json(out, result)
    C.report({"configs": sorted(result), "out": str(out)})


def run(argv: list[str]) -> None:
    if argv[:1] == ["configs"]:
        if len(argv) != 3 or argv[1] != "--out":
            raise SystemExit("usage: configs --out FILE.json")
        ernie3_paddlenlp_configs(Path(argv[2]))
        return
    args = C.base_parser(ARCHS).parse_args(argv)
    if args.cmd == "write":
        if args.arch == "ernie":
            C.report(write(args.arch, args.config, args.out, args.seed, args.flavor))
        else:
            if args.flavor not in (None, *STATIC_FLAVORS) or (args.flavor and args.arch != "paddle_static"):
                raise SystemExit(f"--flavor {args.flavor}: only paddle_static has flavors {STATIC_FLAVORS}")
            C.report(write_repo(args.arch, args.config, args.out, args.seed, args.flavor))
    else:
        inputs = C.read_inputs(args.inputs)
        impl = args.impl or "paddlenlp"
        if impl in ("paddlenlp", "paddlenlp_repo_eps"):
            res, summary = forward_paddlenlp(
                args.arch, args.ckpt, inputs, repo_eps=impl == "paddlenlp_repo_eps"
            )
        elif impl == "ernie_gen":
            res, summary = forward_ernie_gen(args.arch, args.ckpt, inputs)
        elif impl == "paddle" and args.arch == "ernie":
            res, summary = forward(args.arch, args.ckpt, inputs)
        elif impl == "hf4" and args.arch == "ernie":
            res, summary = forward_hf4(args.ckpt, inputs)
        else:
            raise SystemExit(
                f"--impl {impl} is not available for {args.arch} (paddlenlp|ernie_gen|paddle|hf4)"
            )
        C.save_outputs(args.out, res)
        summary.update({"arch": args.arch, "ckpt": str(args.ckpt), "outputs": sorted(res), "impl": impl})
        C.report(summary)


if __name__ == "__main__":
    C.main_with_batch(run)
