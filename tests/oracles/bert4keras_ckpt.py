"""RoFormerV2 and GAU-α TF1 checkpoints as bert4keras writes them, and their outputs as bert4keras computes
them (bert4keras 0.11.5 on TensorFlow 2.15 / Keras 2.15, the library both models were written in).

    bert4keras_ckpt.py write   --arch roformer_v2|gau_alpha --out DIR [--seed N] [--config CFG.json]
    bert4keras_ckpt.py forward --arch roformer_v2|gau_alpha --ckpt DIR --inputs IN.json --out REF.npz

``write`` builds the model exactly as the releases were produced (``build_transformer_model(...,
model='roformer_v2')``; GAU-α: the authors' own ``GAU_alpha`` class, executed from the git snapshot of
ZhuiyiTechnology/GAU-alpha ``models.py`` pinned in SNAPSHOTS.txt — see ``authors_gau_alpha``), sets seeded random values on every
weight (embeddings N(0, 0.25), kernels N(0, 1/fan_in), the GAU scale vectors 1 ± 0.3), and saves it with
bert4keras' own ``save_weights_as_checkpoint(DIR/bert_model.ckpt)``, so the TF1 names are those of its
``variable_mapping`` — what the released zips contain. DIR also gets ``bert_config.json`` (the released
keys; ``--config`` replaces the tiny default) and a ``vocab.txt`` of ``vocab_size`` lines ([PAD] [UNK] [CLS]
[SEP] [MASK], ``，`` ``。`` ``a`` ``b`` ``##s`` ``1``, then CJK characters from U+4E00). stdout: one JSON line with the variables written and their shapes.

``--flavor bert4keras-0.11.5`` (GAU-α only): save with GAU-alpha's ``variable_mapping`` list as it is,
which bert4keras 0.11.5 pairs with the wrong weights (see below): a bad-input fixture, not a release.

``forward`` rebuilds the model from DIR with bert4keras' own loader, ``build_transformer_model(config_path,
checkpoint_path, model=..., with_mlm=True)``, checks that every checkpoint variable was loaded into some
weight and every weight was set from the checkpoint, and writes REF.npz (float32):

* ``hidden_states`` ``[L+1, B, T, H]``: the outputs of ``Embedding-Norm`` and of each block's final norm;
* ``last_hidden_state`` ``[B, T, H]``;
* ``mlm_logits`` ``[B, T, V]``: the input of ``Output-MLM-Activation`` (hidden · token embeddingᵀ);
* ``mlm_probs`` ``[B, T, V]``: bert4keras' MLM output itself, which is **softmaxed** (``with_mlm=True``).

``tokenize --vocab VOCAB.txt --texts TEXTS.json --out OUT.json``: bert4keras' ``Tokenizer(vocab,
do_lower_case=True)`` (how the RoFormerV2 / GAU-α examples build it: characters, no word segmentation);
OUT holds, per text, ``{"tokens": [...], "ids": [...]}`` from ``encode`` ([CLS] … [SEP]).

IN.json holds ``input_ids``, optional ``token_type_ids`` and ``attention_mask``. bert4keras masks padding
through ``mask_zero`` on token id 0, so ``attention_mask`` must be exactly ``input_ids != 0`` (checked).

Two things this script does that plain bert4keras 0.11.5 on TF 2 cannot:

* ``save_weights_as_checkpoint`` is TF1 graph code (``tf.Session``, ``tf.train.Saver``): ``write`` runs
  in graph mode with those two names pointed at ``tf.compat.v1``.
* GAU-α's names and their pairing with weights come from the authors' ``models.py`` (its
  ``variable_mapping``, whose ``>= '0.10.4'`` branch lists i_dense, q/k scale-offsets, o_dense: the weight
  order of bert4keras 0.11.4+). Before Feb 2023 (GAU-alpha f21e819) it listed o_dense second, the order of
  0.11.2/0.11.3 with which the release was saved; 0.11.5 would pair that list wrongly. ``GAUAlphaRelease``
  below only writes that mispaired bad-input fixture (``--flavor bert4keras-0.11.5``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ["TF_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import keras
import numpy as np
import tensorflow as tf

# bert4keras 0.11.5 swaps sys.modules["keras"] for tf.keras, a lazy loader in TF 2.15 that recurses on
# attribute access; Keras 2.15 *is* tf.keras (the same fix as peer_bert4keras.py)
tf.keras = keras

from bert4keras.models import build_transformer_model  # noqa: E402
from peer_bert4keras import GAUAlpha  # noqa: E402

CONFIGS: dict[str, dict[str, Any]] = {
    # the keys of the released chinese_roformer-v2-char_L-*/bert_config.json (Google BERT keys)
    "roformer_v2": {
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "relu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": 32,
        "initializer_range": 0.02,
        "intermediate_size": 64,
        "max_position_embeddings": 512,
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "type_vocab_size": 2,
        "vocab_size": 64,
    },
    # the keys of the released chinese_GAU-alpha-char_L-24_H-768/bert_config.json
    "gau_alpha": {
        "hidden_act": "swish",
        "hidden_size": 32,
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "num_attention_heads": 1,
        "attention_key_size": 16,
        "intermediate_size": 48,
        "num_hidden_layers": 2,
        "type_vocab_size": 2,
        "vocab_size": 64,
    },
}
BLOCK_NORM = {
    "roformer_v2": "Transformer-%d-FeedForward-Norm",
    "gau_alpha": "Transformer-%d-GatedAttentionUnit-Norm",
}
CKPT_NAME = "bert_model.ckpt"


class GAUAlphaRelease(GAUAlpha):
    """GAU-α with GAU-alpha's ``variable_mapping`` names, each paired with the weight it names."""

    literal_mapping = False  # True: GAU-alpha's list order as is (what bert4keras 0.11.5 pairs wrongly)

    def variable_mapping(self) -> dict[str, list[str]]:
        mapping = {
            "Embedding-Token": ["bert/embeddings/word_embeddings"],
            "Embedding-Segment": ["bert/embeddings/token_type_embeddings"],
        }
        for i in range(self.num_hidden_layers):
            prefix = f"GAU_alpha/encoder/layer_{i}/gau/"
            name = f"Transformer-{i}-GatedAttentionUnit"
            layer = self.layers[self.prefixed(name)]
            named = [
                (layer.i_dense.kernel, prefix + "i_dense/kernel"),
                (layer.o_dense.kernel, prefix + "o_dense/kernel"),
                (layer.q_scaleoffset.gamma, prefix + "q_scaleoffset/gamma"),
                (layer.k_scaleoffset.gamma, prefix + "k_scaleoffset/gamma"),
            ]
            if self.literal_mapping:
                mapping[name] = [n for _, n in named]
                continue
            order = []
            for w in layer.trainable_weights:
                hits = [n for v, n in named if v is w]
                if len(hits) != 1:
                    raise SystemExit(f"{name}: unexpected weight {w.name}")
                order.append(hits[0])
            mapping[name] = order
        return mapping


GAU_REPO = "ZhuiyiTechnology/GAU-alpha"


def authors_gau_alpha() -> Any:
    """The ``GAU_alpha`` class of ZhuiyiTechnology/GAU-alpha's own ``models.py``, read from the git snapshot
    pinned in tests/oracles/SNAPSHOTS.txt (``$ZHPLM_ORIGINALS/ZhuiyiTechnology+GAU-alpha/repo``) and executed
    as a module (never copied into the project). Its ``variable_mapping`` names the TF1 variables of the
    release and lists them in the order of bert4keras' ``GatedAttentionUnit`` weights (its
    ``bert4keras.__version__ >= '0.10.4'`` branch: i_dense, q_scaleoffset, k_scaleoffset, o_dense, the
    order of 0.11.4+), so bert4keras 0.11.5's ``save_weights_as_checkpoint`` pairs names and weights by the
    authors' list, not by ours."""
    import types

    import _common as C

    source, commit = C.show_original(GAU_REPO, "models.py")
    module = types.ModuleType("gau_alpha_models")
    module.__file__ = f"{GAU_REPO}@{commit[:10]}:models.py"
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module.GAU_alpha


def model_arg(arch: str, flavor: str = "release") -> Any:
    if arch != "gau_alpha":
        return "roformer_v2"
    # the bad-input flavor: GAU-alpha's pre-2023 list order with 0.11.5 (see GAUAlphaRelease)
    return GAUAlphaRelease if flavor == "bert4keras-0.11.5" else authors_gau_alpha()


def vocab_lines(size: int) -> list[str]:
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "，", "。", "a", "b", "##s", "1"]
    return (specials + [chr(0x4E00 + i) for i in range(size)])[:size]


def seeded_value(name: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    if "Embedding" in name:
        value = 0.5 * rng.standard_normal(shape)
    elif name.endswith("gamma:0"):
        value = 1.0 + 0.3 * rng.standard_normal(shape)
    else:
        value = rng.standard_normal(shape) / np.sqrt(shape[0])
    return value.astype(np.float32)


def check_release_layout(arch: str, config: dict[str, Any], shapes: dict[str, list[int]]) -> None:
    """The variable shapes the released checkpoints have, by name."""
    h, vocab = config["hidden_size"], config["vocab_size"]
    expected = {"bert/embeddings/word_embeddings": [vocab, h]}
    if config.get("type_vocab_size", 2) > 0:
        expected["bert/embeddings/token_type_embeddings"] = [config.get("type_vocab_size", 2), h]
    for i in range(config["num_hidden_layers"]):
        if arch == "gau_alpha":
            e, s = config["intermediate_size"], config["attention_key_size"]
            p = f"GAU_alpha/encoder/layer_{i}/gau/"
            expected[p + "i_dense/kernel"] = [h, 2 * e + s]
            expected[p + "o_dense/kernel"] = [e, h]
            expected[p + "q_scaleoffset/gamma"] = [s]
            expected[p + "k_scaleoffset/gamma"] = [s]
        else:
            p = f"bert/encoder/layer_{i}/"
            for n in ("query", "key", "value"):
                expected[p + f"attention/self/{n}/kernel"] = [h, h]
            expected[p + "attention/output/dense/kernel"] = [h, h]
            expected[p + "intermediate/dense/kernel"] = [h, config["intermediate_size"]]
            expected[p + "output/dense/kernel"] = [config["intermediate_size"], h]
    if shapes != expected:
        raise SystemExit(f"checkpoint layout differs from the release: {shapes} != {expected}")


def write(args: argparse.Namespace) -> None:
    # bert4keras' save_weights_as_checkpoint is TF1 graph code
    tf.compat.v1.disable_eager_execution()
    tf.Session = tf.compat.v1.Session
    tf.train.Saver = tf.compat.v1.train.Saver
    import keras.backend as K

    config = dict(CONFIGS[args.arch])
    if args.config:
        config = json.loads(Path(args.config).read_text(encoding="utf-8"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bert_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (out / "vocab.txt").write_text("\n".join(vocab_lines(config["vocab_size"])) + "\n", encoding="utf-8")
    transformer = build_transformer_model(
        str(out / "bert_config.json"), model=model_arg(args.arch, args.flavor), return_keras_model=False
    )
    rng = np.random.default_rng(args.seed)
    weights = transformer.model.weights
    K.batch_set_value([(w, seeded_value(w.name, tuple(w.shape), rng)) for w in weights])
    GAUAlphaRelease.literal_mapping = args.flavor == "bert4keras-0.11.5"
    transformer.save_weights_as_checkpoint(str(out / CKPT_NAME))
    shapes = {n: list(s) for n, s in tf.train.list_variables(str(out / CKPT_NAME))}
    if args.flavor == "release":
        check_release_layout(args.arch, config, shapes)
    print(json.dumps({"arch": args.arch, "ckpt": str(out / CKPT_NAME), "variables": shapes}))


def forward(args: argparse.Namespace) -> None:
    ckpt = Path(args.ckpt)
    config = json.loads((ckpt / "bert_config.json").read_text(encoding="utf-8"))
    transformer = build_transformer_model(
        str(ckpt / "bert_config.json"),
        str(ckpt / CKPT_NAME),
        model=model_arg(args.arch),
        with_mlm=True,
        return_keras_model=False,
    )
    model = transformer.model
    # bert4keras skips nothing silently (a missing name raises), but check both directions anyway
    reader = tf.train.load_checkpoint(str(ckpt / CKPT_NAME))
    in_ckpt = set(reader.get_variable_to_shape_map())
    loaded: set[str] = set()
    set_weights: set[str] = set()
    for layer_name, names in transformer.variable_mapping().items():
        layer = transformer.layers.get(transformer.prefixed(layer_name))
        if layer is None:
            continue
        for w, n in zip(layer.trainable_weights, names, strict=True):
            if not np.array_equal(w.numpy(), reader.get_tensor(n)):
                raise SystemExit(f"{w.name} does not hold {n}")
            loaded.add(n)
            set_weights.add(w.name)
    unset = sorted({w.name for w in model.trainable_weights} - set_weights)
    if in_ckpt != loaded or unset:
        raise SystemExit(f"unused variables {sorted(in_ckpt - loaded)}, weights not set {unset}")

    inputs = json.loads(Path(args.inputs).read_text(encoding="utf-8"))
    ids = np.asarray(inputs["input_ids"], dtype=np.int64)
    types = np.asarray(inputs.get("token_type_ids", np.zeros_like(ids)), dtype=np.int64)
    mask = np.asarray(inputs.get("attention_mask", np.ones_like(ids)), dtype=np.int64)
    if not np.array_equal(mask, (ids != 0).astype(np.int64)):
        raise SystemExit("bert4keras masks exactly the positions with token id 0: attention_mask must match")

    norms = ["Embedding-Norm"] + [BLOCK_NORM[args.arch] % i for i in range(config["num_hidden_layers"])]
    probe = tf.keras.Model(
        model.inputs,
        [model.get_layer(n).output for n in norms]
        + [model.get_layer("Output-MLM-Activation").input, model.output],
    )
    results = probe.predict([ids, types], verbose=0)
    hidden = np.stack(results[: len(norms)]).astype(np.float32)
    arrays = {
        "hidden_states": hidden,
        "last_hidden_state": hidden[-1],
        "mlm_logits": np.asarray(results[-2], dtype=np.float32),
        "mlm_probs": np.asarray(results[-1], dtype=np.float32),
    }
    np.savez(args.out, **arrays)
    print(
        json.dumps(
            {
                "arch": args.arch,
                "ckpt": str(ckpt),
                "impl": "bert4keras-0.11.5",
                "outputs": sorted(arrays),
                "loaded_variables": len(loaded),
                "ignored_variables": 0,
                "unset_parameters": [],
                "layer_norm_eps": float(tf.keras.backend.epsilon()),
            }
        )
    )


def tokenize(args: argparse.Namespace) -> None:
    from bert4keras.tokenizers import Tokenizer

    tok = Tokenizer(args.vocab, do_lower_case=True)
    texts = json.loads(Path(args.texts).read_text(encoding="utf-8"))
    result = []
    for text in texts:
        ids, _segments = tok.encode(text)
        result.append({"tokens": tok.ids_to_tokens(ids), "ids": ids})
    Path(args.out).write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    print(json.dumps({"texts": len(texts), "out": args.out}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write")
    w.add_argument("--arch", choices=sorted(CONFIGS), required=True)
    w.add_argument("--out", required=True)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--config")
    w.add_argument("--flavor", choices=("release", "bert4keras-0.11.5"), default="release")
    f = sub.add_parser("forward")
    f.add_argument("--arch", choices=sorted(CONFIGS), required=True)
    f.add_argument("--ckpt", required=True)
    f.add_argument("--inputs", required=True)
    f.add_argument("--out", required=True)
    t = sub.add_parser("tokenize")
    t.add_argument("--vocab", required=True)
    t.add_argument("--texts", required=True)
    t.add_argument("--out", required=True)
    args = parser.parse_args()
    {"write": write, "forward": forward, "tokenize": tokenize}[args.command](args)


if __name__ == "__main__":
    main()
