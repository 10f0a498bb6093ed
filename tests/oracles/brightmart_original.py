"""brightmart/albert_zh's own TF1 code as the oracle for its early ALBERT checkpoints (``albert_brightmart``).

    brightmart_original.py write   --out DIR [--seed N]
    brightmart_original.py forward --ckpt DIR --inputs IN.json --out REF.npz

``modeling.py``, ``bert_utils.py``, ``optimization.py`` and ``run_pretraining.py`` are extracted with
``git archive`` from the snapshot of https://github.com/brightmart/albert_zh pinned in
tests/oracles/SNAPSHOTS.txt (``$ZHPLM_ORIGINALS/brightmart+albert_zh/repo``) into a temporary folder and
imported from there (never copied into the project). They are TF1 code; they run on TensorFlow 2.15 in
graph mode through ``tf.compat.v1``, with these shims for what TF 2 removed (nothing else is replaced):

* ``tensorflow`` as those files see it is ``tf.compat.v1`` (``tf.get_variable``, ``tf.variable_scope``,
  ``tf.layers.dense``, ``tf.gfile``, ``tf.truncated_normal_initializer``, ``tf.flags`` all exist there);
* ``tf.contrib.layers.layer_norm``: ``tf.contrib`` is gone. The shim is TF 1.15's own body of that function
  for this call (``begin_norm_axis=-1``): variables ``LayerNorm/beta`` (zeros), ``LayerNorm/gamma`` (ones),
  ``tf.nn.moments`` over the last axis, ``tf.nn.batch_normalization(..., variance_epsilon=1e-12)``.

``write``: ``modeling.BertModel`` (post-LN, ``layer_shared``, factorized ``word_embeddings`` +
``word_embeddings_2``) with ``run_pretraining.get_masked_lm_output`` (given ``get_embedding_table()`` and
``get_embedding_table_2()``, as ``model_fn`` passes them) and ``get_next_sentence_output`` build the graph;
every variable gets a seeded value (tests/oracles/_common.py ``random_value``) and ``tf.train.Saver`` saves
``DIR/albert_model.ckpt`` — the names are whatever brightmart's code creates. DIR gets ``albert_config.json``
(the keys of the repo's ``albert_config_tiny.json``, tiny sizes) and ``vocab.txt``.

``forward``: the same graph, ``Saver.restore`` (every checkpoint variable must be a graph variable and
vice versa), eval (``is_training=False``: no dropout). Outputs: ``hidden_states`` ``[L+1, B, T, H]``
(``get_embedding_output()`` and ``get_all_encoder_layers()``), ``last_hidden_state``, ``pooler_output``,
``mlm_log_probs`` ``[B, T, V]`` and ``nsp_log_probs`` ``[B, 2]`` (what those two functions return; their
logits are not exposed).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

REPO = "brightmart/albert_zh"
FILES = ("modeling.py", "bert_utils.py", "optimization.py", "run_pretraining.py")
CONFIG = {  # the keys of albert_config/albert_config_tiny.json, tiny sizes
    "attention_probs_dropout_prob": 0.0,
    "directionality": "bidi",
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.0,
    "hidden_size": 32,
    "embedding_size": 16,
    "initializer_range": 0.02,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
    "num_attention_heads": 4,
    "num_hidden_layers": 3,
    "pooler_fc_size": 768,
    "pooler_num_attention_heads": 12,
    "pooler_num_fc_layers": 3,
    "pooler_size_per_head": 128,
    "pooler_type": "first_token_transform",
    "type_vocab_size": 2,
    "vocab_size": 120,
    "ln_type": "postln",
}
PREFIX = "albert_model.ckpt"


def tf1_shim() -> Any:
    import tensorflow as tf

    v1 = tf.compat.v1

    def layer_norm(
        inputs: Any, begin_norm_axis: int = -1, begin_params_axis: int = -1, scope: Any = None
    ) -> Any:
        assert begin_norm_axis == -1 and begin_params_axis == -1
        with v1.variable_scope(scope, "LayerNorm", [inputs]):
            shape = inputs.shape[-1:]
            beta = v1.get_variable("beta", shape=shape, initializer=v1.zeros_initializer())
            gamma = v1.get_variable("gamma", shape=shape, initializer=v1.ones_initializer())
            mean, variance = v1.nn.moments(inputs, [inputs.shape.ndims - 1], keep_dims=True)
            return v1.nn.batch_normalization(
                inputs, mean, variance, offset=beta, scale=gamma, variance_epsilon=1e-12
            )

    shim = types.ModuleType("tensorflow")
    shim.__dict__.update({k: getattr(v1, k) for k in dir(v1) if not k.startswith("__")})
    shim.contrib = types.SimpleNamespace(layers=types.SimpleNamespace(layer_norm=layer_norm))  # type: ignore[attr-defined]
    return shim


def import_original(workdir: Path) -> tuple[Any, Any, str]:
    commit = C.extract_original(REPO, FILES, workdir)
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    real = sys.modules["tensorflow"]
    sys.modules["tensorflow"] = tf1_shim()
    sys.path.insert(0, str(workdir))
    try:
        with C.stdout_to_stderr():
            import modeling
            import run_pretraining
    finally:
        sys.modules["tensorflow"] = real
    return modeling, run_pretraining, commit


def build(modeling: Any, rp: Any, config: dict[str, Any], batch: int, length: int) -> dict[str, Any]:
    import tensorflow as tf

    v1 = tf.compat.v1
    ids = v1.placeholder(tf.int32, [batch, length], name="input_ids")
    mask = v1.placeholder(tf.int32, [batch, length], name="input_mask")
    types_ = v1.placeholder(tf.int32, [batch, length], name="segment_ids")
    bert_config = modeling.BertConfig.from_dict(config)
    with C.stdout_to_stderr():
        model = modeling.BertModel(
            config=bert_config, is_training=False, input_ids=ids, input_mask=mask, token_type_ids=types_
        )
    positions = tf.tile(tf.range(length)[None, :], [batch, 1])
    zeros = tf.zeros([batch, length], tf.int32)
    _, _, mlm = rp.get_masked_lm_output(
        bert_config,
        model.get_sequence_output(),
        model.get_embedding_table(),
        model.get_embedding_table_2(),
        positions,
        zeros,
        tf.ones([batch, length]),
    )
    _, _, nsp = rp.get_next_sentence_output(
        bert_config, model.get_pooled_output(), tf.zeros([batch], tf.int32)
    )
    return {
        "feeds": (ids, mask, types_),
        "embedding": model.get_embedding_output(),
        "layers": model.get_all_encoder_layers(),
        "pooled": model.get_pooled_output(),
        "mlm": tf.reshape(mlm, [batch, length, -1]),
        "nsp": nsp,
    }


def write(modeling: Any, rp: Any, out: Path, seed: int) -> dict[str, Any]:
    import tensorflow as tf

    v1 = tf.compat.v1
    out.mkdir(parents=True, exist_ok=True)
    build(modeling, rp, CONFIG, 1, 4)
    r = C.rng(seed)
    variables = sorted(v1.global_variables(), key=lambda v: v.op.name)
    with v1.Session() as sess:
        for v in variables:
            v.load(C.random_value(r, v.op.name, v.shape.as_list()), sess)
        v1.train.Saver(variables).save(sess, str(out / PREFIX), write_meta_graph=False)
    C.dump_json(out / "albert_config.json", CONFIG)
    C.write_vocab(out / "vocab.txt", CONFIG["vocab_size"])
    return {"variables": {v.op.name: v.shape.as_list() for v in variables}}


def forward(modeling: Any, rp: Any, ckpt: Path, inputs: Path, out: Path) -> dict[str, Any]:
    import tensorflow as tf

    v1 = tf.compat.v1
    config = json.loads((ckpt / "albert_config.json").read_text())
    inp = C.read_inputs(inputs)
    g = build(modeling, rp, config, *inp["input_ids"].shape)
    variables = {v.op.name: v for v in v1.global_variables()}
    in_ckpt = {n for n, _ in tf.train.list_variables(str(ckpt / PREFIX))} - {"global_step"}
    if set(variables) != in_ckpt:
        raise SystemExit(
            f"graph-only {sorted(set(variables) - in_ckpt)}, file-only {sorted(in_ckpt - set(variables))}"
        )
    with v1.Session() as sess:
        v1.train.Saver(list(variables.values())).restore(sess, str(ckpt / PREFIX))
        feed = dict(
            zip(g["feeds"], (inp["input_ids"], inp["attention_mask"], inp["token_type_ids"]), strict=True)
        )
        emb, layers, pooled, mlm, nsp = sess.run(
            [g["embedding"], g["layers"], g["pooled"], g["mlm"], g["nsp"]], feed_dict=feed
        )
    hs = np.stack([emb, *layers])
    C.save_outputs(
        out,
        {
            "hidden_states": hs,
            "last_hidden_state": hs[-1],
            "pooler_output": pooled,
            "mlm_log_probs": mlm,
            "nsp_log_probs": nsp,
        },
    )
    return {"loaded_variables": len(variables), "unset_parameters": [], "layer_norm_eps": 1e-12}


def main() -> None:
    args = C.original_args(__doc__, "albert_brightmart")
    with tempfile.TemporaryDirectory() as tmp:
        modeling, rp, commit = import_original(Path(tmp))
        if args.cmd == "write":
            summary = write(modeling, rp, args.out, args.seed)
        else:
            summary = forward(modeling, rp, args.ckpt, args.inputs, args.out)
        summary.update(
            {"impl": f"brightmart/albert_zh {commit[:10]} on TF {sys.modules['tensorflow'].__version__}"}
        )
        C.report(summary)


if __name__ == "__main__":
    main()
