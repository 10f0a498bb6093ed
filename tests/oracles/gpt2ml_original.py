"""imcaspar/gpt2-ml's own TF1 code as the oracle for its Grover checkpoints (arch ``grover``).

    gpt2ml_original.py write    --out DIR [--seed N]
    gpt2ml_original.py forward  --ckpt DIR --inputs IN.json --out REF.npz

``train/modeling.py``, ``train/utils.py``, ``train/optimization_adafactor.py`` and ``train/__init__.py`` are
extracted with ``git archive`` from the snapshot of https://github.com/imcaspar/gpt2-ml pinned in
tests/oracles/SNAPSHOTS.txt into a temporary folder and imported from there (never copied into the project).
The code already imports ``tensorflow.compat.v1``; on TensorFlow 2.15 it needs graph mode and one shim for
what TF 2 changed (nothing of the model is replaced):

* ``tf.compat.v1.disable_v2_tensorshape()``: ``train/utils.py``'s ``layer_norm`` reads
  ``input_tensor.shape[-1].value``, a TF1 ``Dimension``; TF 2 shapes hold plain ints.

``write``: ``GroverModel(config, is_training=False, input_ids, scope="newslm")`` builds the graph; every
variable gets a seeded value (``_common.random_value``) and ``tf.train.Saver`` saves
``DIR/model.ckpt-100000`` (the released file name) — the names are whatever the authors' code creates
(``newslm/embeddings/word_embed``, ``newslm/layer00/query_layer/kernel``, …). DIR gets ``config.json`` (the
keys of the authors' ``configs/*.json``, tiny sizes) and ``vocab.txt``.

``forward``: the same graph on IN.json's ``input_ids`` (no padding: the authors' model has no padding mask),
``Saver.restore`` (every checkpoint variable must be a graph variable and vice versa). Outputs: ``logits``
``[B, T, V]`` (``model.logits_flat``) and ``greedy`` ``[B, T + NEW]``: the authors' own decoding loop
``sample()`` (KV cache, ``tf.while_loop``) with ``do_topk=True`` and k = 1 per row, which keeps only the
most likely token: greedy decoding. The loop stops only at the eos token after ``min_len`` (or 1025
tokens); eos -1 never occurs, so it runs to 1025 tokens and the first NEW (16) are kept.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

REPO = "imcaspar/gpt2-ml"
FILES = ("train/__init__.py", "train/modeling.py", "train/utils.py", "train/optimization_adafactor.py")
CONFIG = {  # the keys of configs/mega.json, tiny sizes
    "vocab_size": 120,
    "hidden_size": 32,
    "attention_probs_dropout_prob": 0.1,
    "hidden_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "initializer_range": 0.014142135623731,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
    "num_attention_heads": 4,
    "num_hidden_layers": 3,
}
PREFIX = "model.ckpt-100000"
NEW = 16


def import_original(workdir: Path) -> tuple[Any, str]:
    commit = C.extract_original(REPO, FILES, workdir)
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.disable_v2_tensorshape()  # the one shim: TF1 Dimension objects (see the docstring)
    sys.path.insert(0, str(workdir))
    with C.stdout_to_stderr():
        from train import modeling
    return modeling, commit


def build(modeling: Any, config: dict[str, Any], ids: Any) -> Any:
    cfg = modeling.GroverConfig.from_dict(config)
    return modeling.GroverModel(
        config=cfg, is_training=False, input_ids=ids, chop_off_last_token=False, scope="newslm"
    )


def write(modeling: Any, out: Path, seed: int) -> dict[str, Any]:
    import tensorflow as tf

    v1 = tf.compat.v1
    out.mkdir(parents=True, exist_ok=True)
    build(modeling, CONFIG, v1.placeholder(tf.int32, [1, 4]))
    r = C.rng(seed)
    variables = sorted(v1.global_variables(), key=lambda v: v.op.name)
    with v1.Session() as sess:
        for v in variables:
            v.load(C.random_value(r, v.op.name, v.shape.as_list()), sess)
        v1.train.Saver(variables).save(sess, str(out / PREFIX), write_meta_graph=False)
    C.dump_json(out / "config.json", CONFIG)
    C.write_vocab(out / "vocab.txt", CONFIG["vocab_size"])
    return {"variables": {v.op.name: v.shape.as_list() for v in variables}}


def forward(modeling: Any, ckpt: Path, inputs: Path, out: Path) -> dict[str, Any]:
    import tensorflow as tf

    v1 = tf.compat.v1
    config = json.loads((ckpt / "config.json").read_text())
    ids = np.asarray(json.loads(inputs.read_text())["input_ids"], dtype=np.int32)
    batch, length = ids.shape
    ids_in = v1.placeholder(tf.int32, [batch, length])
    model = build(modeling, config, ids_in)
    logits = tf.reshape(model.logits_flat, [batch, length, -1])
    cfg = modeling.GroverConfig.from_dict(config)
    context = v1.placeholder(tf.int32, [batch, None])
    top_k = v1.placeholder(tf.float32, [batch])
    with v1.variable_scope(v1.get_variable_scope(), reuse=v1.AUTO_REUSE):
        tokens, _ = modeling.sample(
            news_config=cfg, initial_context=context, eos_token=-1, min_len=0, p_for_topp=top_k, do_topk=True
        )
    variables = {v.op.name: v for v in v1.global_variables()}
    in_ckpt = {n for n, _ in tf.train.list_variables(str(ckpt / PREFIX))}
    if set(variables) != in_ckpt:
        raise SystemExit(
            f"graph-only {sorted(set(variables) - in_ckpt)}, file-only {sorted(in_ckpt - set(variables))}"
        )
    with v1.Session() as sess:
        v1.train.Saver(list(variables.values())).restore(sess, str(ckpt / PREFIX))
        ref_logits = sess.run(logits, {ids_in: ids})
        greedy = sess.run(tokens, {context: ids, top_k: np.ones([batch], np.float32)})
    C.save_outputs(out, {"logits": ref_logits, "greedy": greedy[:, : length + NEW].astype(np.int64)})
    return {"loaded_variables": len(variables), "unset_parameters": [], "layer_norm_eps": 1e-5}


def main() -> None:
    args = C.original_args(__doc__, "grover")
    with tempfile.TemporaryDirectory() as tmp:
        modeling, commit = import_original(Path(tmp))
        if args.cmd == "write":
            summary = write(modeling, args.out, args.seed)
        else:
            summary = forward(modeling, args.ckpt, args.inputs, args.out)
        import tensorflow as tf

        summary.update({"impl": f"imcaspar/gpt2-ml {commit[:10]} on TF {tf.__version__}"})
        C.report(summary)


if __name__ == "__main__":
    main()
