"""huawei-noah NEZHA-Gen's own TF1 code as the oracle for its checkpoints (arch ``nezha_gen``).

    nezha_gen_original.py write   --out DIR [--seed N]
    nezha_gen_original.py forward --ckpt DIR --inputs IN.json --out REF.npz

``NEZHA-Gen-TensorFlow/interactive_conditional_generation.py`` and ``tokenization.py`` are extracted with
``git archive`` from the snapshot of https://github.com/huawei-noah/Pretrained-Language-Model pinned in
tests/oracles/SNAPSHOTS.txt and imported from a temporary folder (never copied into the project). It is TF 1.13
code; on TensorFlow 2.15 (graph mode) it runs with these shims for what TF 2 removed or changed, nothing else:

* ``tensorflow`` as the file sees it is ``tf.compat.v1``;
* ``tf.contrib.layers.layer_norm``: TF 1.15's body of it for this call (as brightmart_original.py: variables
  ``LayerNorm/{beta,gamma}``, moments over the last axis, ``variance_epsilon=1e-12``);
* ``tf.compat.v1.disable_tensor_equality()``: the code tests ``past != None``; TF 2 made ``!=`` elementwise;
* ``fire`` (imported for the command line only, never called) is an empty module.

The released generation loop hard-codes the base shapes in its ``tf.while_loop`` invariants (12 layers, 12
heads of 64, batch 1) and 511 positions, so the fixture has those (hidden 768) with a tiny vocabulary and
FFN (120, 32): ``bert_model.ckpt`` is ~115 MB.

``write``: ``GenerativeModel(GPTConfig, init_input_ids)`` (the file's own class) builds the graph; every
variable gets a seeded value (embeddings ×0.1, so the post-LN model's attention does not saturate) and
``tf.train.Saver`` saves ``DIR/bert_model.ckpt`` with the names the code creates (``bert/embeddings/
{word_embeddings,position_embeddings,LayerNorm}``, ``bert/encoder/layer_N/…``, ``cls/predictions/…``; no
token-type table: the generation graph never makes one). DIR gets ``bert_config.json`` and ``vocab.txt``.

``forward``: ``logits`` ``[B, T, V]``: the file's ``embedding_lookup``, ``embedding_postprocessor`` (no token
types, as ``GenerativeModel``), ``create_attention_mask_from_input_mask`` and ``transformer_model`` at
``predict_token_idx=0`` under ``bert/``, then the MLM head of its ``get_predict_output`` (transform dense with
gelu, LayerNorm, ``· word_embeddingsᵀ + output_bias``) on every position instead of the last one only (that
closure returns sampled ids, not logits). ``greedy`` ``[B, T + NEW]``: per row, ``GenerativeModel``'s own
cached loop (``tf.while_loop`` to 511 positions, top-k 30 multinomial) at temperature 1e-6, where the
multinomial is the argmax (the file's docstring: "as the temperature approaches zero, the model will become
deterministic"); the first NEW (16) tokens are kept.
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
from brightmart_original import tf1_shim

REPO = "huawei-noah/Pretrained-Language-Model"
FILES = ("NEZHA-Gen-TensorFlow/interactive_conditional_generation.py", "NEZHA-Gen-TensorFlow/tokenization.py")
CONFIG = {  # GPTConfig's keys: the base shapes its loop hard-codes, tiny vocabulary and FFN
    "vocab_size": 120,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 32,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512,
    "type_vocab_size": 16,
    "initializer_range": 0.02,
}
PREFIX = "bert_model.ckpt"
NEW = 16


def import_original(workdir: Path) -> tuple[Any, str]:
    commit = C.extract_original(REPO, FILES, workdir)
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.disable_tensor_equality()
    real = sys.modules["tensorflow"]
    sys.modules["tensorflow"] = tf1_shim()
    sys.modules.setdefault("fire", types.ModuleType("fire"))
    sys.path.insert(0, str(workdir / "NEZHA-Gen-TensorFlow"))
    try:
        with C.stdout_to_stderr():
            import interactive_conditional_generation as icg
    finally:
        sys.modules["tensorflow"] = real
    return icg, commit


def gpt_config(icg: Any, config: dict[str, Any], temperature: float) -> Any:
    return icg.GPTConfig(temperature=temperature, **config)


def write(icg: Any, out: Path, seed: int) -> dict[str, Any]:
    import tensorflow as tf

    v1 = tf.compat.v1
    out.mkdir(parents=True, exist_ok=True)
    icg.GenerativeModel(
        config=gpt_config(icg, CONFIG, 1.0), init_input_ids=v1.placeholder(tf.int32, [1, None])
    )
    r = C.rng(seed)
    variables = sorted(v1.global_variables(), key=lambda v: v.op.name)
    with v1.Session() as sess:
        for v in variables:
            value = C.random_value(r, v.op.name, v.shape.as_list())
            v.load(value * 0.1 if "embeddings" in v.op.name else value, sess)
        v1.train.Saver(variables).save(sess, str(out / PREFIX), write_meta_graph=False)
    C.dump_json(out / "bert_config.json", CONFIG)
    C.write_vocab(out / "vocab.txt", CONFIG["vocab_size"])
    return {"variables": {v.op.name: v.shape.as_list() for v in variables}}


def logits_graph(icg: Any, config: Any, ids: Any) -> Any:
    import tensorflow as tf

    v1 = tf.compat.v1
    with v1.variable_scope("bert", reuse=v1.AUTO_REUSE):
        with v1.variable_scope("embeddings"):
            emb, table = icg.embedding_lookup(
                input_ids=ids, vocab_size=config.vocab_size, embedding_size=config.hidden_size,
                word_embedding_name="word_embeddings", use_one_hot_embeddings=True,
            )  # fmt: skip
            emb = icg.embedding_postprocessor(
                input_tensor=emb, use_token_type=False, max_position_embeddings=config.max_position_embeddings,
                dropout_prob=0.0, predict_token_idx=0,
            )  # fmt: skip
        with v1.variable_scope("encoder"):
            mask = icg.create_attention_mask_from_input_mask(ids, tf.ones_like(ids), predict_token_idx=0)
            layers, _, _ = icg.transformer_model(
                input_tensor=emb, attention_mask=mask, hidden_size=config.hidden_size,
                num_hidden_layers=config.num_hidden_layers, num_attention_heads=config.num_attention_heads,
                intermediate_size=config.intermediate_size, intermediate_act_fn=icg.get_activation("gelu"),
                hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, do_return_all_layers=True,
                past=None, predict_token_idx=0,
            )  # fmt: skip
    with v1.variable_scope("cls/predictions", reuse=v1.AUTO_REUSE):
        with v1.variable_scope("transform", reuse=v1.AUTO_REUSE):
            h = v1.layers.dense(layers[-1], units=config.hidden_size, activation=icg.get_activation("gelu"))
            h = icg.layer_norm(h)
        bias = v1.get_variable("output_bias", shape=[config.vocab_size])
        return tf.nn.bias_add(tf.einsum("bth,vh->btv", h, table), bias)


def forward(icg: Any, ckpt: Path, inputs: Path, out: Path) -> dict[str, Any]:
    import tensorflow as tf

    v1 = tf.compat.v1
    config = gpt_config(icg, json.loads((ckpt / "bert_config.json").read_text()), 1e-6)
    ids = np.asarray(json.loads(inputs.read_text())["input_ids"], dtype=np.int32)
    batch, length = ids.shape
    context = v1.placeholder(tf.int32, [1, None])
    model = icg.GenerativeModel(config=config, init_input_ids=context)
    ids_in = v1.placeholder(tf.int32, [batch, length])
    logits = logits_graph(icg, config, ids_in)
    variables = {v.op.name: v for v in v1.global_variables()}
    in_ckpt = {n for n, _ in tf.train.list_variables(str(ckpt / PREFIX))}
    if set(variables) != in_ckpt:
        raise SystemExit(
            f"graph-only {sorted(set(variables) - in_ckpt)}, file-only {sorted(in_ckpt - set(variables))}"
        )
    with v1.Session() as sess:
        v1.train.Saver(list(variables.values())).restore(sess, str(ckpt / PREFIX))
        ref_logits = sess.run(logits, {ids_in: ids})
        v1.set_random_seed(0)
        greedy = [sess.run(model.get_predicted_tokens(), {context: row[None]})[0][:NEW] for row in ids]
    greedy_ids = np.concatenate([ids, np.asarray(greedy)], axis=1).astype(np.int64)
    C.save_outputs(out, {"logits": ref_logits, "greedy": greedy_ids})
    return {"loaded_variables": len(variables), "unset_parameters": [], "layer_norm_eps": 1e-12}


def main() -> None:
    args = C.original_args(__doc__, "nezha_gen")
    with tempfile.TemporaryDirectory() as tmp:
        icg, commit = import_original(Path(tmp))
        if args.cmd == "write":
            summary = write(icg, args.out, args.seed)
        else:
            summary = forward(icg, args.ckpt, args.inputs, args.out)
        import tensorflow as tf

        summary.update({"impl": f"{REPO} {commit[:10]} NEZHA-Gen-TensorFlow on TF {tf.__version__}"})
        C.report(summary)


if __name__ == "__main__":
    main()
