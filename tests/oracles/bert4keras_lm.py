"""roformer-gpt (RoFormer weights used as a causal LM) as bert4keras writes and runs it (bert4keras 0.11.5 on
TensorFlow 2.15 / Keras 2.15: the library the model was trained and released with).

    bert4keras_lm.py write   --out DIR [--seed N]
    bert4keras_lm.py forward --ckpt DIR --inputs IN.json --out REF.npz

``write`` builds ``build_transformer_model(config, model="roformer", application="lm")`` — how the authors'
``test_roformer_gpt.py`` (ZhuiyiTechnology/roformer) loads the release — sets seeded random values on every
weight and saves it with bert4keras' own ``save_weights_as_checkpoint(DIR/bert_model.ckpt)`` (TF1 graph code:
run in graph mode with ``tf.Session`` / ``tf.train.Saver`` pointed at ``tf.compat.v1``, as bert4keras_ckpt.py
does). The names are those of bert4keras' ``variable_mapping`` (Google BERT names, no position table,
``cls/predictions/*``). DIR also gets ``bert_config.json`` (Google keys, tiny sizes) and ``vocab.txt``.

``forward`` loads DIR with the same call (bert4keras' loader), checks every checkpoint variable was loaded
into a weight and every weight set, and writes ``logits`` ``[B, T, V]`` (the input of the softmax of
``MLM-Activation``; no padding: IN.json holds unpadded rows of equal length) and ``greedy``
``[B, T + NEW]``: per row, bert4keras' own ``AutoRegressiveDecoder.beam_search`` with beam size 1 (greedy)
over a ``predict`` written as in ``test_roformer_gpt.py`` (the whole sequence, ``last_token(model)``,
segment ids 0), ``end_id`` None-like (-1) so it runs ``maxlen`` = NEW (16) steps.
"""

from __future__ import annotations

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

import _common as C  # noqa: E402
from bert4keras.models import build_transformer_model  # noqa: E402
from bert4keras.snippets import AutoRegressiveDecoder  # noqa: E402

CONFIG = {  # the keys of chinese_roformer-gpt-char_L-12_H-768_A-12/bert_config.json, tiny sizes
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 32,
    "initializer_range": 0.02,
    "intermediate_size": 64,
    "max_position_embeddings": 512,
    "num_attention_heads": 4,
    "num_hidden_layers": 3,
    "type_vocab_size": 2,
    "vocab_size": 120,
}
CKPT_NAME = "bert_model.ckpt"
NEW = 16


def build(config_path: Path, checkpoint: Path | None = None) -> Any:
    return build_transformer_model(
        str(config_path),
        None if checkpoint is None else str(checkpoint),
        model="roformer",
        application="lm",
        return_keras_model=False,
    )


def write(out: Path, seed: int) -> dict[str, Any]:
    tf.compat.v1.disable_eager_execution()
    tf.Session = tf.compat.v1.Session
    tf.train.Saver = tf.compat.v1.train.Saver
    import keras.backend as K

    out.mkdir(parents=True, exist_ok=True)
    C.dump_json(out / "bert_config.json", CONFIG)
    C.write_vocab(out / "vocab.txt", CONFIG["vocab_size"])
    transformer = build(out / "bert_config.json")
    r = C.rng(seed)
    weights = transformer.model.weights
    K.batch_set_value([(w, C.random_value(r, w.name.split(":")[0], tuple(w.shape))) for w in weights])
    transformer.save_weights_as_checkpoint(str(out / CKPT_NAME))
    return {"variables": {n: list(s) for n, s in tf.train.list_variables(str(out / CKPT_NAME))}}


def forward(ckpt: Path, inputs: Path, out: Path) -> dict[str, Any]:
    transformer = build(ckpt / "bert_config.json", ckpt / CKPT_NAME)
    model = transformer.model
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

    ids = np.asarray(json.loads(inputs.read_text())["input_ids"], dtype=np.int64)
    if (ids == 0).any():
        raise SystemExit("no padding: bert4keras masks token id 0")
    probe = tf.keras.Model(model.inputs, model.get_layer("MLM-Activation").input)
    logits = np.asarray(probe.predict([ids, np.zeros_like(ids)], verbose=0), dtype=np.float32)

    class Greedy(AutoRegressiveDecoder):  # type: ignore[misc]
        @AutoRegressiveDecoder.wraps(default_rtype="probas")
        def predict(self, inputs: Any, output_ids: Any, states: Any) -> Any:
            token_ids = np.concatenate([inputs[0], output_ids], 1)
            return self.last_token(model).predict([token_ids, np.zeros_like(token_ids)], verbose=0)

    decoder = Greedy(start_id=None, end_id=-1, maxlen=NEW)
    greedy = np.stack([np.concatenate([row, decoder.beam_search([row], topk=1)]) for row in ids])
    C.save_outputs(out, {"logits": logits, "greedy": greedy.astype(np.int64)})
    return {
        "loaded_variables": len(loaded),
        "unset_parameters": [],
        "layer_norm_eps": 1e-12,
        "impl": "bert4keras 0.11.5 roformer application=lm",
    }


def main() -> None:
    args = C.original_args(__doc__, "roformer_gpt")
    with C.stdout_to_stderr():
        summary = (
            write(args.out, args.seed) if args.cmd == "write" else forward(args.ckpt, args.inputs, args.out)
        )
    C.report(summary)


if __name__ == "__main__":
    main()
