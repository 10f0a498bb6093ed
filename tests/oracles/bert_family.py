"""Oracle for the TF1-checkpoint BERT-architecture families (see tests/oracles/README.md for the contract).

    write   --arch A [--config CFG.json] --out DIR [--seed N] [--flavor F]
    forward --arch A --ckpt DIR --inputs IN.json --out REF.npz [--impl hf4|tf]

``write`` builds the original variable names and shapes from the original config, fills them with seeded
random values and saves them with TensorFlow (``SaveV2``), exactly as TF1 ``tf.train.Saver`` laid them out.
``forward`` loads DIR with transformers 4.46.3's own ``load_tf_weights_in_*`` into its model classes and
runs them; each load is checked to have consumed every variable and set every parameter. ``--impl tf``
(bert, albert_brightmart) instead runs a TensorFlow forward pass written from the original ``modeling.py``
math, used to cross-check the transformers 4.x reference and as the reference where none exists.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

# --------------------------------------------------------------------------------------------------------
# default tiny configs (original-framework json keys)

BERT_CONFIG = {
    "attention_probs_dropout_prob": 0.1,
    "directionality": "bidi",
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 32,
    "initializer_range": 0.02,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "pooler_fc_size": 32,
    "pooler_num_attention_heads": 4,
    "pooler_num_fc_layers": 3,
    "pooler_size_per_head": 8,
    "pooler_type": "first_token_transform",
    "type_vocab_size": 2,
    "vocab_size": 120,
}
NEZHA_CONFIG = {
    **{k: v for k, v in BERT_CONFIG.items() if not k.startswith("pooler_") and k != "directionality"},
    "max_relative_position": 4,  # the real models use 64; 4 makes the clipping visible on short inputs
    "use_relative_position": True,
}
ALBERT_CONFIG = {
    "attention_probs_dropout_prob": 0.0,
    "directionality": "bidi",
    "embedding_size": 16,
    "hidden_act": "relu",  # Google's Chinese ALBERT configs say relu (not gelu_new)
    "hidden_dropout_prob": 0.0,
    "hidden_size": 32,
    "initializer_range": 0.02,
    "inner_group_num": 1,
    "intermediate_size": 64,
    "ln_type": "postln",
    "max_position_embeddings": 64,
    "num_attention_heads": 4,
    "num_hidden_groups": 1,
    "num_hidden_layers": 3,
    "type_vocab_size": 2,
    "vocab_size": 120,
}
BRIGHTMART_CONFIG = {
    "attention_probs_dropout_prob": 0.0,
    "directionality": "bidi",
    "embedding_size": 16,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.0,
    "hidden_size": 32,
    "initializer_range": 0.02,
    "intermediate_size": 64,
    "ln_type": "postln",
    "max_position_embeddings": 64,
    "num_attention_heads": 4,
    "num_hidden_layers": 3,
    "type_vocab_size": 2,
    "vocab_size": 120,
}
ELECTRA_CONFIG = {
    "discriminator": {
        "attention_probs_dropout_prob": 0.1,
        "embedding_size": 16,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": 32,
        "initializer_range": 0.02,
        "intermediate_size": 64,
        "max_position_embeddings": 64,
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "type_vocab_size": 2,
        "vocab_size": 120,
    },
    "generator": {
        "attention_probs_dropout_prob": 0.1,
        "embedding_size": 16,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": 24,
        "initializer_range": 0.02,
        "intermediate_size": 48,
        "max_position_embeddings": 64,
        "num_attention_heads": 2,
        "num_hidden_layers": 2,
        "type_vocab_size": 2,
        "vocab_size": 120,
    },
}

# --------------------------------------------------------------------------------------------------------
# original variable layouts

Shapes = dict[str, tuple[int, ...]]


def _bert_layer(p: str, h: int, inter: int, attn: str = "attention") -> Shapes:
    s: Shapes = {}
    for q in ("query", "key", "value"):
        s[f"{p}/{attn}/self/{q}/kernel"] = (h, h)
        s[f"{p}/{attn}/self/{q}/bias"] = (h,)
    s[f"{p}/{attn}/output/dense/kernel"] = (h, h)
    s[f"{p}/{attn}/output/dense/bias"] = (h,)
    s[f"{p}/{attn}/output/LayerNorm/gamma"] = (h,)
    s[f"{p}/{attn}/output/LayerNorm/beta"] = (h,)
    s[f"{p}/intermediate/dense/kernel"] = (h, inter)
    s[f"{p}/intermediate/dense/bias"] = (inter,)
    s[f"{p}/output/dense/kernel"] = (inter, h)
    s[f"{p}/output/dense/bias"] = (h,)
    s[f"{p}/output/LayerNorm/gamma"] = (h,)
    s[f"{p}/output/LayerNorm/beta"] = (h,)
    return s


def bert_shapes(cfg: dict[str, Any], *, prefix: str = "bert", position: bool = True) -> Shapes:
    """Google BERT ``modeling.py`` names (as also written back by bert4keras ``variable_mapping``)."""
    h, v, e = cfg["hidden_size"], cfg["vocab_size"], cfg.get("embedding_size") or cfg["hidden_size"]
    s: Shapes = {f"{prefix}/embeddings/word_embeddings": (v, e)}
    if position:
        s[f"{prefix}/embeddings/position_embeddings"] = (cfg["max_position_embeddings"], e)
    s[f"{prefix}/embeddings/token_type_embeddings"] = (cfg["type_vocab_size"], e)
    s[f"{prefix}/embeddings/LayerNorm/gamma"] = (e,)
    s[f"{prefix}/embeddings/LayerNorm/beta"] = (e,)
    if e != h:
        s[f"{prefix}/embeddings_project/kernel"] = (e, h)
        s[f"{prefix}/embeddings_project/bias"] = (h,)
    for i in range(cfg["num_hidden_layers"]):
        s.update(_bert_layer(f"{prefix}/encoder/layer_{i}", h, cfg["intermediate_size"]))
    return s


def pooler_shapes(cfg: dict[str, Any], prefix: str = "bert") -> Shapes:
    h = cfg["hidden_size"]
    return {f"{prefix}/pooler/dense/kernel": (h, h), f"{prefix}/pooler/dense/bias": (h,)}


def mlm_shapes(cfg: dict[str, Any], width: int | None = None) -> Shapes:
    h, e = cfg["hidden_size"], width or cfg["hidden_size"]
    return {
        "cls/predictions/transform/dense/kernel": (h, e),
        "cls/predictions/transform/dense/bias": (e,),
        "cls/predictions/transform/LayerNorm/gamma": (e,),
        "cls/predictions/transform/LayerNorm/beta": (e,),
        "cls/predictions/output_bias": (cfg["vocab_size"],),
    }


def nsp_shapes(cfg: dict[str, Any]) -> Shapes:
    return {
        "cls/seq_relationship/output_weights": (2, cfg["hidden_size"]),
        "cls/seq_relationship/output_bias": (2,),
    }


def albert_shapes(cfg: dict[str, Any]) -> Shapes:
    """Google ALBERT ``modeling.py`` names (``transformer/group_G/inner_group_I/attention_1/…``)."""
    h, e, v = cfg["hidden_size"], cfg["embedding_size"], cfg["vocab_size"]
    s: Shapes = {
        "bert/embeddings/word_embeddings": (v, e),
        "bert/embeddings/position_embeddings": (cfg["max_position_embeddings"], e),
        "bert/embeddings/token_type_embeddings": (cfg["type_vocab_size"], e),
        "bert/embeddings/LayerNorm/gamma": (e,),
        "bert/embeddings/LayerNorm/beta": (e,),
        "bert/encoder/embedding_hidden_mapping_in/kernel": (e, h),
        "bert/encoder/embedding_hidden_mapping_in/bias": (h,),
    }
    inter = cfg["intermediate_size"]
    for g in range(cfg.get("num_hidden_groups", 1)):
        for j in range(cfg.get("inner_group_num", 1)):
            p = f"bert/encoder/transformer/group_{g}/inner_group_{j}"
            for q in ("query", "key", "value"):
                s[f"{p}/attention_1/self/{q}/kernel"] = (h, h)
                s[f"{p}/attention_1/self/{q}/bias"] = (h,)
            s[f"{p}/attention_1/output/dense/kernel"] = (h, h)
            s[f"{p}/attention_1/output/dense/bias"] = (h,)
            s[f"{p}/LayerNorm/gamma"] = (h,)
            s[f"{p}/LayerNorm/beta"] = (h,)
            s[f"{p}/ffn_1/intermediate/dense/kernel"] = (h, inter)
            s[f"{p}/ffn_1/intermediate/dense/bias"] = (inter,)
            s[f"{p}/ffn_1/intermediate/output/dense/kernel"] = (inter, h)
            s[f"{p}/ffn_1/intermediate/output/dense/bias"] = (h,)
            s[f"{p}/LayerNorm_1/gamma"] = (h,)
            s[f"{p}/LayerNorm_1/beta"] = (h,)
    s.update(pooler_shapes(cfg))
    s.update(mlm_shapes(cfg, e))
    s.update(nsp_shapes(cfg))
    return s


def brightmart_shapes(cfg: dict[str, Any]) -> Shapes:
    """brightmart/albert_zh early ``modeling.py``: V×E table, ``word_embeddings_2`` E×H, one ``layer_shared``."""
    h, e, v = cfg["hidden_size"], cfg["embedding_size"], cfg["vocab_size"]
    s: Shapes = {
        "bert/embeddings/word_embeddings": (v, e),
        "bert/embeddings/word_embeddings_2": (e, h),
        "bert/embeddings/token_type_embeddings": (cfg["type_vocab_size"], h),
        "bert/embeddings/position_embeddings": (cfg["max_position_embeddings"], h),
        "bert/embeddings/LayerNorm/gamma": (h,),
        "bert/embeddings/LayerNorm/beta": (h,),
    }
    s.update(_bert_layer("bert/encoder/layer_shared", h, cfg["intermediate_size"]))
    s.update(pooler_shapes(cfg))
    # brightmart's run_pretraining: transform H→H, LayerNorm, logits against the projected (V×H) table
    s.update(mlm_shapes(cfg))
    s.update(nsp_shapes(cfg))
    return s


def electra_shapes(disc: dict[str, Any], gen: dict[str, Any]) -> Shapes:
    """google-research/electra ``run_pretraining.py`` names: discriminator + generator in one checkpoint."""
    e, v = disc["embedding_size"], disc["vocab_size"]
    s = bert_shapes(disc, prefix="electra")
    g = {k: val for k, val in bert_shapes(gen, prefix="generator").items() if "/embeddings/" not in k}
    s.update(g)  # the generator shares electra/embeddings (untied_generator_embeddings=False)
    h = disc["hidden_size"]
    s.update(
        {
            "discriminator_predictions/dense/kernel": (h, h),
            "discriminator_predictions/dense/bias": (h,),
            "discriminator_predictions/dense_1/kernel": (h, 1),
            "discriminator_predictions/dense_1/bias": (1,),
            "generator_predictions/dense/kernel": (gen["hidden_size"], e),
            "generator_predictions/dense/bias": (e,),
            "generator_predictions/LayerNorm/gamma": (e,),
            "generator_predictions/LayerNorm/beta": (e,),
            "generator_predictions/output_bias": (v,),
        }
    )
    return s


def randomize(shapes: Shapes, seed: int) -> dict[str, np.ndarray]:
    r = C.rng(seed)
    return {n: C.random_value(r, n, shp) for n, shp in sorted(shapes.items())}


# --------------------------------------------------------------------------------------------------------
# write


def write(arch: str, cfg_path: Path | None, out: Path, seed: int, flavor: str | None) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    r = C.rng(seed + 1)
    extra: dict[str, np.ndarray] = {}
    if arch in ("bert", "wobert"):
        cfg = C.load_config(cfg_path, BERT_CONFIG)
        flavor = flavor or ("google" if arch == "bert" else "bert4keras")
        shapes = bert_shapes(cfg)
        if flavor == "google":
            shapes.update(pooler_shapes(cfg))
            shapes.update(mlm_shapes(cfg))
            shapes.update(nsp_shapes(cfg))
        elif flavor in ("bert4keras", "trained_scale"):  # only what bert4keras built: no pooler, no NSP
            shapes.update(mlm_shapes(cfg))
        else:
            raise SystemExit(f"unknown flavor {flavor!r} for {arch} (google|bert4keras|trained_scale)")
        arrays = randomize(shapes, seed)
        if flavor == "trained_scale":
            # embeddings of std 0.005 (trained BERTs: ~0.02-0.05), so that the embedding LayerNorm sees a
            # small variance and its epsilon shows in the outputs (1e-7 vs 1e-12: ~1e-3 here)
            for n in arrays:
                if n.startswith("bert/embeddings/") and n.endswith("_embeddings"):
                    arrays[n] = arrays[n] * np.float32(0.01)
        if flavor == "google":
            extra = C.optimizer_slots(r, arrays)
        prefix, cfg_name, words = "bert_model.ckpt", "bert_config.json", arch == "wobert"
    elif arch == "roformer":
        cfg = C.load_config(cfg_path, BERT_CONFIG)
        cfg = {k: v for k, v in cfg.items() if not k.startswith("pooler_")}
        shapes = bert_shapes(cfg, position=False)  # rotary: no position_embeddings variable
        shapes.update(mlm_shapes(cfg))
        arrays = randomize(shapes, seed)
        prefix, cfg_name, words = "bert_model.ckpt", "bert_config.json", True
    elif arch == "nezha":
        cfg = C.load_config(cfg_path, NEZHA_CONFIG)
        shapes = bert_shapes(cfg, position=not cfg.get("use_relative_position", True))
        shapes.update(pooler_shapes(cfg))
        shapes.update(mlm_shapes(cfg))
        shapes.update(nsp_shapes(cfg))
        arrays = randomize(shapes, seed)
        extra = C.optimizer_slots(r, arrays)
        prefix, cfg_name, words = "model.ckpt-900000", "bert_config.json", False
    elif arch == "albert":
        cfg = C.load_config(cfg_path, ALBERT_CONFIG)
        arrays = randomize(albert_shapes(cfg), seed)
        extra = {"global_step": np.array(125000, dtype=np.int64)}
        prefix, cfg_name, words = "model.ckpt-best", "albert_config.json", False
    elif arch == "albert_brightmart":
        cfg = C.load_config(cfg_path, BRIGHTMART_CONFIG)
        arrays = randomize(brightmart_shapes(cfg), seed)
        extra = {"global_step": np.array(489000, dtype=np.int64)}
        prefix, cfg_name, words = "albert_model.ckpt", "albert_config.json", False
    elif arch == "electra":
        both = C.load_config(cfg_path, ELECTRA_CONFIG)
        arrays = randomize(electra_shapes(both["discriminator"], both["generator"]), seed)
        extra = {"global_step": np.array(1000000, dtype=np.int64)}
        C.dump_json(out / "discriminator_config.json", both["discriminator"])
        C.dump_json(out / "generator_config.json", both["generator"])
        C.write_vocab(out / "vocab.txt", both["discriminator"]["vocab_size"])
        C.save_tf1_checkpoint(out, "electra_tiny", {**arrays, **extra})
        return {"arch": arch, "variables": len(arrays) + len(extra)}
    elif arch in WRITERS:
        return WRITERS[arch](cfg_path, out, seed, flavor)
    else:
        raise SystemExit(f"write: unknown arch {arch}")
    C.dump_json(out / cfg_name, cfg)
    C.write_vocab(out / ("vocab_chinese.txt" if arch == "albert" else "vocab.txt"), cfg["vocab_size"], words)
    C.save_tf1_checkpoint(out, prefix, {**arrays, **extra})
    return {"arch": arch, "flavor": flavor, "variables": len(arrays) + len(extra)}


# extra writers/forwards registered by the later sections (mobilebert, xlnet)
WRITERS: dict[str, Callable[[Path | None, Path, int, str | None], dict[str, Any]]] = {}
FORWARDS: dict[str, Callable[[Path, dict[str, np.ndarray], str], tuple[dict[str, Any], dict[str, Any]]]] = {}


# --------------------------------------------------------------------------------------------------------
# forward with transformers 4.46.3


def _torch_inputs(inp: dict[str, np.ndarray]) -> dict[str, Any]:
    import torch

    return {k: torch.from_numpy(v) for k, v in inp.items()}


def _ignore_optimizer(name: str) -> bool:
    parts = name.split("/")
    return name == "global_step" or parts[-1] in ("adam_m", "adam_v")


def _hidden(out: Any) -> Any:
    import torch

    return torch.stack(out.hidden_states)


def _unset(summary: dict[str, Any], prefix: str) -> bool:
    return any(n.startswith(prefix) for n in summary["unset_parameters"])


WOBERT_EPS_NOTE = """bert4keras' BERT LayerNormalization uses epsilon 1e-12: in 0.8.8 (Sep 2020, the version WoBERT
was released with) the layer's default was ``epsilon or 1e-12``; bojone/bert4keras cedf66b (Apr 2022) made
the default ``K.epsilon()`` = 1e-7 and 97b507d, the same day, passes ``epsilon=1e-12`` explicitly in BERT's
four LayerNormalizations (0.11.5 has it). 1e-7 was never WoBERT's."""


def forward_bert(arch: str, d: Path, inp: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, Any]]:
    import torch
    from transformers import BertConfig, BertForPreTraining, load_tf_weights_in_bert

    cfg = C.load_config(d / "bert_config.json", {})
    eps = cfg.get("layer_norm_eps", 1e-12)  # WoBERT too: see WOBERT_EPS_NOTE
    config = BertConfig.from_dict({**cfg, "layer_norm_eps": eps})
    torch.manual_seed(0)
    model = BertForPreTraining(config).eval()
    prefix = C.find_tf1_prefix(d)
    ckpt = C.read_tf1_checkpoint(prefix)
    summary = C.checked_load(
        [model],
        lambda: load_tf_weights_in_bert(model, config, str(prefix)),
        ckpt,
        ignore=_ignore_optimizer,
        may_stay=("bert.pooler.", "cls.seq_relationship."),
    )
    with torch.no_grad():
        out = model(**_torch_inputs(inp), output_hidden_states=True)
        base = model.bert(**_torch_inputs(inp))
    res = {
        "last_hidden_state": base.last_hidden_state,
        "hidden_states": _hidden(out),
        "mlm_logits": out.prediction_logits,
    }
    if not _unset(summary, "bert.pooler."):
        res["pooler_output"] = base.pooler_output
        if not _unset(summary, "cls.seq_relationship."):
            res["nsp_logits"] = out.seq_relationship_logits
    summary["layer_norm_eps"] = eps
    return res, summary


def forward_roformer(d: Path, inp: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, Any]]:
    import torch
    from transformers import RoFormerConfig, RoFormerForMaskedLM, load_tf_weights_in_roformer

    cfg = C.load_config(d / "bert_config.json", {})
    eps = cfg.get("layer_norm_eps", 1e-7)
    config = RoFormerConfig.from_dict({**cfg, "layer_norm_eps": eps, "rotary_value": False})
    torch.manual_seed(0)
    model = RoFormerForMaskedLM(config).eval()
    prefix = C.find_tf1_prefix(d)
    ckpt = C.read_tf1_checkpoint(prefix)
    summary = C.checked_load(
        [model],
        lambda: load_tf_weights_in_roformer(model, config, str(prefix)),
        ckpt,
        # RoFormerModel has no pooler/NSP head; bert4keras may still have saved them
        ignore=lambda n: _ignore_optimizer(n) or n.startswith(("bert/pooler/", "cls/seq_relationship/")),
        may_stay=("roformer.encoder.embed_positions.",),  # fixed sinusoidal table, not a variable
    )
    with torch.no_grad():
        out = model(**_torch_inputs(inp), output_hidden_states=True)
    summary["layer_norm_eps"] = eps
    return {
        "last_hidden_state": out.hidden_states[-1],
        "hidden_states": _hidden(out),
        "mlm_logits": out.logits,
    }, summary


def forward_nezha(d: Path, inp: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, Any]]:
    import torch
    from torch import nn
    from transformers.models.deprecated.nezha.configuration_nezha import NezhaConfig
    from transformers.models.deprecated.nezha.modeling_nezha import (
        NezhaForPreTraining,
        load_tf_weights_in_nezha,
    )

    cfg = C.load_config(d / "bert_config.json", {})
    if not cfg.get("use_relative_position", True):
        raise SystemExit("nezha oracle: use_relative_position=false is not what NezhaModel implements")
    config = NezhaConfig.from_dict({**cfg, "layer_norm_eps": cfg.get("layer_norm_eps", 1e-12)})
    torch.manual_seed(0)
    model = NezhaForPreTraining(config).eval()
    # load_tf_weights_in_nezha walks attribute names; the TF names start with ``bert/`` (Huawei kept Google's
    # scopes) while the 4.x class calls its encoder ``nezha``: give the walker a view with Google's names.
    view = nn.Module()
    view.bert = model.nezha
    view.cls = model.cls
    prefix = C.find_tf1_prefix(d)
    ckpt = C.read_tf1_checkpoint(prefix)
    summary = C.checked_load(
        [model], lambda: load_tf_weights_in_nezha(view, config, str(prefix)), ckpt, ignore=_ignore_optimizer
    )
    with torch.no_grad():
        out = model(**_torch_inputs(inp), output_hidden_states=True)
        base = model.nezha(**_torch_inputs(inp))
    return {
        "last_hidden_state": base.last_hidden_state,
        "hidden_states": _hidden(out),
        "pooler_output": base.pooler_output,
        "mlm_logits": out.prediction_logits,
        "nsp_logits": out.seq_relationship_logits,
    }, summary


def forward_albert(d: Path, inp: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, Any]]:
    import torch
    from transformers import AlbertConfig, AlbertForPreTraining, load_tf_weights_in_albert

    cfg = C.load_config(d / "albert_config.json", {})
    config = AlbertConfig.from_dict({**cfg, "layer_norm_eps": cfg.get("layer_norm_eps", 1e-12)})
    torch.manual_seed(0)
    model = AlbertForPreTraining(config).eval()
    prefix = C.find_tf1_prefix(d)
    ckpt = C.read_tf1_checkpoint(prefix)
    summary = C.checked_load(
        [model], lambda: load_tf_weights_in_albert(model, config, str(prefix)), ckpt, ignore=_ignore_optimizer
    )
    with torch.no_grad():
        out = model(**_torch_inputs(inp), output_hidden_states=True)
        base = model.albert(**_torch_inputs(inp))
    return {
        "last_hidden_state": base.last_hidden_state,
        "hidden_states": _hidden(out),
        "pooler_output": base.pooler_output,
        "mlm_logits": out.prediction_logits,
        "sop_logits": out.sop_logits,
    }, summary


def forward_electra(d: Path, inp: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, Any]]:
    import torch
    from transformers import (
        ElectraConfig,
        ElectraForMaskedLM,
        ElectraForPreTraining,
        load_tf_weights_in_electra,
    )

    dcfg = ElectraConfig.from_dict(C.load_config(d / "discriminator_config.json", {}))
    gcfg = ElectraConfig.from_dict(C.load_config(d / "generator_config.json", {}))
    torch.manual_seed(0)
    disc = ElectraForPreTraining(dcfg).eval()
    gen = ElectraForMaskedLM(gcfg).eval()
    prefix = C.find_tf1_prefix(d)
    ckpt = C.read_tf1_checkpoint(prefix)

    def load() -> None:
        load_tf_weights_in_electra(disc, dcfg, str(prefix), discriminator_or_generator="discriminator")
        load_tf_weights_in_electra(gen, gcfg, str(prefix), discriminator_or_generator="generator")

    summary = C.checked_load([disc, gen], load, ckpt, ignore=_ignore_optimizer)
    with torch.no_grad():
        dout = disc(**_torch_inputs(inp), output_hidden_states=True)
        gout = gen(**_torch_inputs(inp), output_hidden_states=True)
    return {
        "last_hidden_state": dout.hidden_states[-1],
        "hidden_states": _hidden(dout),
        "disc_logits": dout.logits,
        "gen_last_hidden_state": gout.hidden_states[-1],
        "gen_hidden_states": _hidden(gout),
        "gen_mlm_logits": gout.logits,
    }, summary


# --------------------------------------------------------------------------------------------------------
# TensorFlow forward passes written from the original modeling.py math (cross-check / sole reference)


def _tf_layer_norm(x: Any, gamma: Any, beta: Any, eps: float) -> Any:
    import tensorflow as tf

    mean, var = tf.nn.moments(x, axes=[-1], keepdims=True)
    return (x - mean) * tf.math.rsqrt(var + eps) * gamma + beta


def _tf_act(name: str, tanh_gelu: bool) -> Callable[[Any], Any]:
    """``gelu`` is the erf form in transformers and in Google's first BERT release, but the tanh
    approximation in the later Google ``modeling.py`` that brightmart's ``modeling.py`` copied."""
    import tensorflow as tf

    acts: dict[str, Callable[[Any], Any]] = {
        "gelu": lambda x: tf.nn.gelu(x, approximate=tanh_gelu),
        "gelu_new": lambda x: tf.nn.gelu(x, approximate=True),
        "relu": tf.nn.relu,
        "tanh": tf.tanh,
    }
    return acts[name]


def _tf_bert_layer(
    x: Any, mask_add: Any, w: dict[str, Any], p: str, cfg: dict[str, Any], eps: float, tanh_gelu: bool
) -> Any:
    """Google BERT ``transformer_model`` layer (post-LN), one layer scope ``p``."""
    import tensorflow as tf

    b, t = tf.shape(x)[0], tf.shape(x)[1]
    n = cfg["num_attention_heads"]
    dh = cfg["hidden_size"] // n

    def dense(v: Any, scope: str) -> Any:
        return tf.matmul(v, w[f"{scope}/kernel"]) + w[f"{scope}/bias"]

    def heads(v: Any) -> Any:
        return tf.transpose(tf.reshape(v, [b, t, n, dh]), [0, 2, 1, 3])

    q = heads(dense(x, f"{p}/attention/self/query"))
    k = heads(dense(x, f"{p}/attention/self/key"))
    v = heads(dense(x, f"{p}/attention/self/value"))
    scores = tf.matmul(q, k, transpose_b=True) / np.sqrt(dh) + mask_add
    ctx = tf.matmul(tf.nn.softmax(scores, axis=-1), v)
    ctx = tf.reshape(tf.transpose(ctx, [0, 2, 1, 3]), [b, t, n * dh])
    a = dense(ctx, f"{p}/attention/output/dense")
    x = _tf_layer_norm(
        a + x, w[f"{p}/attention/output/LayerNorm/gamma"], w[f"{p}/attention/output/LayerNorm/beta"], eps
    )
    hmid = _tf_act(cfg["hidden_act"], tanh_gelu)(dense(x, f"{p}/intermediate/dense"))
    o = dense(hmid, f"{p}/output/dense")
    return _tf_layer_norm(o + x, w[f"{p}/output/LayerNorm/gamma"], w[f"{p}/output/LayerNorm/beta"], eps)


def forward_tf(arch: str, d: Path, inp: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, Any]]:
    """TF forward from the checkpoint variables: Google ``modeling.py`` (bert) or brightmart's (albert_zh)."""
    import tensorflow as tf

    if arch not in ("bert", "wobert", "albert_brightmart"):
        raise SystemExit(f"--impl tf is not available for {arch}")
    cfg_name = "albert_config.json" if arch == "albert_brightmart" else "bert_config.json"
    cfg = C.load_config(d / cfg_name, {})
    eps = cfg.get("layer_norm_eps", 1e-12)  # WoBERT too: see WOBERT_EPS_NOTE
    tanh_gelu = arch == "albert_brightmart"
    w = {k: tf.constant(v) for k, v in C.read_tf1_checkpoint(C.find_tf1_prefix(d)).items()}
    ids, tt, am = (tf.constant(inp[k]) for k in ("input_ids", "token_type_ids", "attention_mask"))
    t = ids.shape[1]
    word = w["bert/embeddings/word_embeddings"]
    if arch == "albert_brightmart":
        # embedding_lookup_factorized: (ids → V×E table) @ word_embeddings_2 (E×H), then + type + position
        word = tf.matmul(word, w["bert/embeddings/word_embeddings_2"])
    x = tf.gather(word, ids)
    x += tf.gather(w["bert/embeddings/token_type_embeddings"], tt)
    x += w["bert/embeddings/position_embeddings"][:t][None]
    x = _tf_layer_norm(x, w["bert/embeddings/LayerNorm/gamma"], w["bert/embeddings/LayerNorm/beta"], eps)
    mask_add = (1.0 - tf.cast(am, tf.float32))[:, None, None, :] * -10000.0
    hidden = [x]
    for i in range(cfg["num_hidden_layers"]):
        scope = "bert/encoder/layer_shared" if arch == "albert_brightmart" else f"bert/encoder/layer_{i}"
        x = _tf_bert_layer(x, mask_add, w, scope, cfg, eps, tanh_gelu)
        hidden.append(x)
    res: dict[str, Any] = {"last_hidden_state": x, "hidden_states": tf.stack(hidden)}
    if "bert/pooler/dense/kernel" in w:
        pooled = tf.tanh(tf.matmul(x[:, 0], w["bert/pooler/dense/kernel"]) + w["bert/pooler/dense/bias"])
        res["pooler_output"] = pooled
        if "cls/seq_relationship/output_weights" in w:
            res["nsp_logits"] = (
                tf.matmul(pooled, w["cls/seq_relationship/output_weights"], transpose_b=True)
                + w["cls/seq_relationship/output_bias"]
            )
    if "cls/predictions/output_bias" in w:
        tr = _tf_act(cfg["hidden_act"], tanh_gelu)(
            tf.matmul(x, w["cls/predictions/transform/dense/kernel"])
            + w["cls/predictions/transform/dense/bias"]
        )
        tr = _tf_layer_norm(
            tr,
            w["cls/predictions/transform/LayerNorm/gamma"],
            w["cls/predictions/transform/LayerNorm/beta"],
            eps,
        )
        if arch == "albert_brightmart":  # run_pretraining.get_masked_lm_output: h·W2ᵀ, then ·W_Eᵀ
            tr = tf.matmul(tr, w["bert/embeddings/word_embeddings_2"], transpose_b=True)
            table = w["bert/embeddings/word_embeddings"]
        else:
            table = word
        res["mlm_logits"] = tf.matmul(tr, table, transpose_b=True) + w["cls/predictions/output_bias"]
    return {k: v.numpy() for k, v in res.items()}, {
        "impl": "tf",
        "layer_norm_eps": eps,
        "tanh_gelu": tanh_gelu,
    }


# --------------------------------------------------------------------------------------------------------


def forward_b4k(arch: str, d: Path, inp: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, Any]]:
    """bert4keras 0.11.5 (the library WoBERT, RoFormer and WoNEZHA were trained and saved with; installed in
    .venv-ref by requirements-peers*.txt) building the model from the same files: MLM logits only."""
    import os

    os.environ["TF_KERAS"] = "1"
    import keras
    import tensorflow as tf

    tf.keras = (
        keras  # bert4keras swaps in tf.keras, a recursing lazy loader in TF 2.15; Keras 2.15 is tf.keras
    )
    import bert4keras
    from bert4keras.models import build_transformer_model

    kind = {"bert": "bert", "wobert": "bert", "roformer": "roformer", "nezha": "nezha"}.get(arch)
    if kind is None:
        raise SystemExit(f"--impl b4k is not available for {arch}")
    cfg = C.load_config(d / "bert_config.json", {})
    if arch == "nezha" and cfg.get("max_relative_position", 64) != 64:
        raise SystemExit("bert4keras NEZHA hard-codes max_relative_position=64; write the fixture with 64")
    model = build_transformer_model(
        config_path=str(d / "bert_config.json"),
        checkpoint_path=str(C.find_tf1_prefix(d)),
        model=kind,
        with_mlm="linear",
    )
    feed = [inp["input_ids"], inp["token_type_ids"]]
    summary: dict[str, Any] = {"impl": "b4k", "reference": f"bert4keras {bert4keras.__version__}"}
    if kind != "bert":
        return {"mlm_logits": model.predict(feed, verbose=0)}, summary
    # BERT: also the embedding output and each layer's output, and the epsilon bert4keras itself used
    norms = ["Embedding-Norm"] + [
        f"Transformer-{i}-FeedForward-Norm" for i in range(int(cfg["num_hidden_layers"]))
    ]
    probe = tf.keras.Model(model.inputs, [model.get_layer(n).output for n in norms] + [model.output])
    *hidden, logits = probe.predict(feed, verbose=0)
    eps = {float(model.get_layer(n).epsilon) for n in [*norms, "MLM-Norm"]}
    if len(eps) != 1:
        raise SystemExit(f"bert4keras used several LayerNorm epsilons: {eps}")
    hs = np.stack(hidden)
    summary["layer_norm_eps"] = eps.pop()
    return {"mlm_logits": logits, "hidden_states": hs, "last_hidden_state": hs[-1]}, summary


def forward(
    arch: str, d: Path, inp: dict[str, np.ndarray], impl: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    if impl == "tf" or arch == "albert_brightmart":
        return forward_tf(arch, d, inp)
    if impl == "b4k":
        return forward_b4k(arch, d, inp)
    if impl not in (None, "hf4"):
        raise SystemExit(f"unknown --impl {impl}")
    if arch in ("bert", "wobert"):
        return forward_bert(arch, d, inp)
    if arch == "roformer":
        return forward_roformer(d, inp)
    if arch == "nezha":
        return forward_nezha(d, inp)
    if arch == "albert":
        return forward_albert(d, inp)
    if arch == "electra":
        return forward_electra(d, inp)
    if arch in FORWARDS:
        return FORWARDS[arch](d, inp, impl)
    raise SystemExit(f"forward: unknown arch {arch}")


# --------------------------------------------------------------------------------------------------------
# MobileBERT (google-research/mobilebert modeling.py; Chinese-MobileBERT ships the teacher inside)

MOBILEBERT_CONFIG = {  # shaped like Chinese-MobileBERT base-f2: trigram input, bottleneck attention, 2 FFNs
    "attention_probs_dropout_prob": 0.1,
    "classifier_activation": False,
    "embedding_size": 32,
    "hidden_act": "relu",
    "hidden_dropout_prob": 0.0,
    "hidden_size": 32,
    "initializer_range": 0.02,
    "intermediate_size": 24,
    "intra_bottleneck_size": 16,
    "max_position_embeddings": 64,
    "normalization_type": "no_norm",
    "num_attention_heads": 4,
    "num_feedforward_networks": 2,
    "num_hidden_layers": 2,
    "trigram_input": True,
    "type_vocab_size": 2,
    "use_bottleneck": True,
    "use_bottleneck_attention": True,
    "vocab_size": 120,
    # key_query_shared_bottleneck is absent on purpose (as in base-f2): Google's default is False
}
# google-research/mobilebert BertConfig defaults; transformers' MobileBertConfig defaults differ (True/4/no_norm…)
MOBILEBERT_GOOGLE_DEFAULTS: dict[str, Any] = {
    "type_vocab_size": 16,
    "embedding_size": None,
    "trigram_input": False,
    "use_bottleneck": False,
    "intra_bottleneck_size": None,
    "use_bottleneck_attention": False,
    "key_query_shared_bottleneck": False,
    "num_feedforward_networks": 1,
    "normalization_type": "layer_norm",
    "classifier_activation": True,
}


def mobilebert_full_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Google ``BertConfig.from_dict``: Google defaults for absent keys, then embedding/bottleneck = hidden."""
    full = {**MOBILEBERT_GOOGLE_DEFAULTS, **cfg}
    if full["embedding_size"] is None:
        full["embedding_size"] = full["hidden_size"]
    if full["intra_bottleneck_size"] is None:
        full["intra_bottleneck_size"] = full["hidden_size"]
    return full


def mobilebert_shapes(cfg: dict[str, Any], prefix: str = "bert", cls: str = "cls") -> Shapes:
    c = mobilebert_full_config(cfg)
    h, e, v, inter = c["hidden_size"], c["embedding_size"], c["vocab_size"], c["intermediate_size"]
    bn = c["use_bottleneck"]
    b = c["intra_bottleneck_size"] if bn else h
    ln = "FakeLayerNorm" if c["normalization_type"] == "no_norm" else "LayerNorm"

    def dense(scope: str, i: int, o: int) -> Shapes:
        return {f"{scope}/kernel": (i, o), f"{scope}/bias": (o,)}

    def norm(scope: str, n: int) -> Shapes:
        return {f"{scope}/{ln}/gamma": (n,), f"{scope}/{ln}/beta": (n,)}

    s: Shapes = {f"{prefix}/embeddings/word_embeddings": (v, e)}
    if c["trigram_input"] or e != h:
        s.update(
            dense(f"{prefix}/embeddings/embedding_transformation", 3 * e if c["trigram_input"] else e, h)
        )
    s[f"{prefix}/embeddings/token_type_embeddings"] = (c["type_vocab_size"], h)
    s[f"{prefix}/embeddings/position_embeddings"] = (c["max_position_embeddings"], h)
    s.update(norm(f"{prefix}/embeddings", h))
    for i in range(c["num_hidden_layers"]):
        p = f"{prefix}/encoder/layer_{i}"
        q_in = v_in = h
        if bn:
            s.update(dense(f"{p}/bottleneck/input/dense", h, b))
            s.update(norm(f"{p}/bottleneck/input", b))
            if c["use_bottleneck_attention"]:
                q_in = v_in = b
            elif c["key_query_shared_bottleneck"]:
                s.update(dense(f"{p}/bottleneck/attention/dense", h, b))
                s.update(norm(f"{p}/bottleneck/attention", b))
                q_in = b
        s.update(dense(f"{p}/attention/self/query", q_in, b))
        s.update(dense(f"{p}/attention/self/key", q_in, b))
        s.update(dense(f"{p}/attention/self/value", v_in, b))
        s.update(dense(f"{p}/attention/output/dense", b, b))
        s.update(norm(f"{p}/attention/output", b))
        for f in range(c["num_feedforward_networks"] - 1):
            s.update(dense(f"{p}/ffn_layer_{f}/intermediate/dense", b, inter))
            s.update(dense(f"{p}/ffn_layer_{f}/output/dense", inter, b))
            s.update(norm(f"{p}/ffn_layer_{f}/output", b))
        s.update(dense(f"{p}/intermediate/dense", b, inter))
        s.update(dense(f"{p}/output/dense", inter, b))
        s.update(norm(f"{p}/output", b))
        if bn:
            s.update(dense(f"{p}/output/bottleneck/dense", b, h))
            s.update(norm(f"{p}/output/bottleneck", h))
    if c["classifier_activation"]:
        s.update(dense(f"{prefix}/pooler/dense", h, h))
    # run_pretraining.get_logits: transform (a real LayerNorm), output_bias, extra_output_weights [V, H-E]
    s.update(dense(f"{cls}/predictions/transform/dense", h, h))
    s[f"{cls}/predictions/transform/LayerNorm/gamma"] = (h,)
    s[f"{cls}/predictions/transform/LayerNorm/beta"] = (h,)
    s[f"{cls}/predictions/output_bias"] = (v,)
    if h != e:
        s[f"{cls}/predictions/extra_output_weights"] = (v, h - e)
    s[f"{cls}/seq_relationship/output_weights"] = (2, h)
    s[f"{cls}/seq_relationship/output_bias"] = (2,)
    return s


def _is_distill(name: str) -> bool:
    return name.startswith("teacher/") or "distill" in name


def write_mobilebert(cfg_path: Path | None, out: Path, seed: int, flavor: str | None) -> dict[str, Any]:
    cfg = C.load_config(cfg_path, MOBILEBERT_CONFIG)
    arrays = randomize(mobilebert_shapes(cfg), seed)
    extra = C.optimizer_slots(C.rng(seed + 1), arrays)
    if flavor != "student_only":
        # the IB-BERT teacher rides along (deliberately other widths: loading it into the student must fail)
        t_cfg = {**BERT_CONFIG, "vocab_size": cfg["vocab_size"], "hidden_size": 48, "intermediate_size": 96}
        teacher = {**bert_shapes(t_cfg, prefix="teacher/bert"), **pooler_shapes(t_cfg, "teacher/bert")}
        teacher.update({f"teacher/{k}": v for k, v in mlm_shapes(t_cfg).items()})
        extra.update(randomize(teacher, seed + 2))
    out.mkdir(parents=True, exist_ok=True)
    C.dump_json(out / "bert_config.json", cfg)
    C.write_vocab(out / "vocab.txt", cfg["vocab_size"])
    C.save_tf1_checkpoint(out, "mobilebert_variables.ckpt", {**arrays, **extra})
    return {"arch": "mobilebert", "flavor": flavor, "variables": len(arrays) + len(extra)}


def forward_mobilebert(
    d: Path, inp: dict[str, np.ndarray], impl: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    import tempfile

    import torch
    from transformers import MobileBertConfig, MobileBertForPreTraining, load_tf_weights_in_mobilebert

    cfg = mobilebert_full_config(C.load_config(d / "bert_config.json", {}))
    config = MobileBertConfig.from_dict({**cfg, "layer_norm_eps": cfg.get("layer_norm_eps", 1e-12)})
    torch.manual_seed(0)
    model = MobileBertForPreTraining(config).eval()
    ckpt = C.read_tf1_checkpoint(C.find_tf1_prefix(d))
    # load_tf_weights_in_mobilebert skips an unknown first scope but goes on walking, so ``teacher/bert/…``
    # would be loaded INTO the student: hand it the student variables only (TF re-saves them unchanged).
    student = {k: v for k, v in ckpt.items() if not _is_distill(k) and not _ignore_optimizer(k)}
    may_stay = []
    if not (cfg["trigram_input"] or cfg["embedding_size"] != cfg["hidden_size"]):
        may_stay.append("mobilebert.embeddings.embedding_transformation.")  # built but unused by the class
    if cfg["embedding_size"] == cfg["hidden_size"]:
        may_stay.append("cls.predictions.dense.")  # [0, V]: no extra_output_weights
    with tempfile.TemporaryDirectory() as tmp:
        prefix = C.save_tf1_checkpoint(Path(tmp), "student.ckpt", student)
        summary = C.checked_load(
            [model],
            lambda: load_tf_weights_in_mobilebert(model, config, str(prefix)),
            ckpt,
            ignore=lambda n: _ignore_optimizer(n) or _is_distill(n),
            may_stay=may_stay,
        )
    with torch.no_grad():
        out = model(**_torch_inputs(inp), output_hidden_states=True)
        base = model.mobilebert(**_torch_inputs(inp))
    summary["teacher_variables"] = sum(1 for k in ckpt if _is_distill(k))
    return {
        "last_hidden_state": base.last_hidden_state,
        "hidden_states": _hidden(out),
        "pooler_output": base.pooler_output,
        "mlm_logits": out.prediction_logits,
        "nsp_logits": out.seq_relationship_logits,
    }, summary


WRITERS["mobilebert"] = write_mobilebert
FORWARDS["mobilebert"] = forward_mobilebert

# --------------------------------------------------------------------------------------------------------
# XLNet (zihangdai/xlnet modeling.py names; HFL Chinese XLNet: relu FFN, untie_r)

XLNET_CONFIG = {
    "d_head": 8,
    "d_inner": 64,
    "d_model": 32,
    "ff_activation": "relu",
    "n_head": 4,
    "n_layer": 2,
    "n_token": 120,
    "untie_r": True,
}


def xlnet_shapes(cfg: dict[str, Any]) -> Shapes:
    d, n, dh, layers = cfg["d_model"], cfg["n_head"], cfg["d_head"], cfg["n_layer"]
    t = "model/transformer"
    bias_shape = (layers, n, dh) if cfg["untie_r"] else (n, dh)
    s: Shapes = {
        f"{t}/word_embedding/lookup_table": (cfg["n_token"], d),
        f"{t}/mask_emb/mask_emb": (1, 1, d),
        f"{t}/r_w_bias": bias_shape,
        f"{t}/r_r_bias": bias_shape,
        f"{t}/r_s_bias": bias_shape,
        f"{t}/seg_embed": (layers, 2, n, dh) if cfg["untie_r"] else (2, n, dh),
        "model/lm_loss/bias": (cfg["n_token"],),
    }
    for i in range(layers):
        p = f"{t}/layer_{i}"
        for w in ("q", "k", "v", "r", "o"):
            s[f"{p}/rel_attn/{w}/kernel"] = (d, n, dh)
        s[f"{p}/rel_attn/LayerNorm/gamma"] = (d,)
        s[f"{p}/rel_attn/LayerNorm/beta"] = (d,)
        s[f"{p}/ff/layer_1/kernel"] = (d, cfg["d_inner"])
        s[f"{p}/ff/layer_1/bias"] = (cfg["d_inner"],)
        s[f"{p}/ff/layer_2/kernel"] = (cfg["d_inner"], d)
        s[f"{p}/ff/layer_2/bias"] = (d,)
        s[f"{p}/ff/LayerNorm/gamma"] = (d,)
        s[f"{p}/ff/LayerNorm/beta"] = (d,)
    return s


def write_xlnet(cfg_path: Path | None, out: Path, seed: int, flavor: str | None) -> dict[str, Any]:
    cfg = C.load_config(cfg_path, XLNET_CONFIG)
    arrays = randomize(xlnet_shapes(cfg), seed)
    extra = {"global_step": np.array(2000000, dtype=np.int64)}
    out.mkdir(parents=True, exist_ok=True)
    C.dump_json(out / "xlnet_config.json", cfg)
    C.save_tf1_checkpoint(out, "xlnet_model.ckpt", {**arrays, **extra})
    return {"arch": "xlnet", "variables": len(arrays) + len(extra), "note": "no spiece.model is written"}


def forward_xlnet(d: Path, inp: dict[str, np.ndarray], impl: str) -> tuple[dict[str, Any], dict[str, Any]]:
    import torch
    from transformers import XLNetConfig, XLNetLMHeadModel, load_tf_weights_in_xlnet

    cfg = C.load_config(d / "xlnet_config.json", {})
    eps = cfg.get("layer_norm_eps", 1e-12)
    config = XLNetConfig.from_dict(
        {**cfg, "vocab_size": cfg["n_token"], "layer_norm_eps": eps, "use_mems_eval": False}
    )
    torch.manual_seed(0)
    model = XLNetLMHeadModel(config).eval()
    prefix = C.find_tf1_prefix(d)
    ckpt = C.read_tf1_checkpoint(prefix)
    summary = C.checked_load(
        [model], lambda: load_tf_weights_in_xlnet(model, config, str(prefix)), ckpt, ignore=_ignore_optimizer
    )
    with torch.no_grad():
        out = model(**_torch_inputs(inp), output_hidden_states=True)
    return {
        "last_hidden_state": out.hidden_states[-1],
        "hidden_states": _hidden(out),
        "lm_logits": out.logits,
    }, summary


WRITERS["xlnet"] = write_xlnet
FORWARDS["xlnet"] = forward_xlnet


ARCHS = (
    "bert",
    "wobert",
    "roformer",
    "nezha",
    "albert",
    "albert_brightmart",
    "electra",
    "mobilebert",
    "xlnet",
)


def run(argv: list[str]) -> None:
    args = C.base_parser(ARCHS).parse_args(argv)
    if args.cmd == "write":
        C.report(write(args.arch, args.config, args.out, args.seed, args.flavor))
    else:
        res, summary = forward(args.arch, args.ckpt, C.read_inputs(args.inputs), args.impl)
        C.save_outputs(args.out, res)
        summary.update({"arch": args.arch, "ckpt": str(args.ckpt), "outputs": sorted(res)})
        summary.setdefault("impl", "hf4")
        C.report(summary)


if __name__ == "__main__":
    C.main_with_batch(run)
