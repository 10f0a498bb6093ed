"""Oracle: TensorFlow itself writes TF1 tensor bundles for zhplm's reader to read back.

Usage: tf1_write.py OUT_DIR CASE [CASE ...]   (cases: dtypes, sharded, sliced, saver, bert)

For each case it writes the bundle under OUT_DIR/CASE/ and an ``expected.npz`` + ``expected.json`` with
the exact arrays it handed to TensorFlow (bfloat16 stored as its uint16 bit pattern). Then it reads the
bundle back with ``tf.train.load_checkpoint`` and prints, as JSON on stdout, what TensorFlow says the
checkpoint holds (name -> [dtype, shape]), so the test can compare our listing with TF's.
Runs in .venv-ref only (TensorFlow 2.15).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import tensorflow as tf

rng = np.random.default_rng(1234)


def rand(shape, dtype):
    if dtype in ("float32", "float16", "float64", "bfloat16"):
        a = rng.standard_normal(shape).astype("float32")
        return tf.constant(a, dtype=getattr(tf, dtype))
    if dtype == "bool":
        return tf.constant(rng.integers(0, 2, shape).astype(bool))
    info = np.iinfo(dtype)
    return tf.constant(rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True))


def dump_expected(out, tensors):
    """tensors: name -> tf.Tensor (or list of (slice_spec, tf.Tensor) for partitioned ones)."""
    arrays, manifest = {}, {}
    for i, (name, t) in enumerate(tensors.items()):
        if t.dtype == tf.string:
            manifest[name] = {"dtype": "string"}
            continue
        a = t.numpy()
        dtype = t.dtype.name
        if dtype == "bfloat16":
            a = a.view(np.uint16)
        arrays[f"t{i}"] = a
        manifest[name] = {"key": f"t{i}", "dtype": dtype, "shape": list(a.shape)}
    np.savez(os.path.join(out, "expected.npz"), **arrays)
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(manifest, f)


def save_v2(prefix, tensors, slices=None):
    names = list(tensors)
    specs = [(slices or {}).get(n, "") for n in names]
    tf.raw_ops.SaveV2(
        prefix=prefix, tensor_names=names, shape_and_slices=specs, tensors=list(tensors.values())
    )


def case_dtypes(out):
    tensors = {
        "bert/embeddings/word_embeddings": rand([37, 8], "float32"),
        "bert/encoder/layer_0/attention/self/query/kernel": rand([8, 8], "float16"),
        "bert/encoder/layer_0/attention/self/query/bias": rand([8], "bfloat16"),
        "cls/predictions/output_bias": rand([37], "float64"),
        "ids/int32": rand([3, 5], "int32"),
        "ids/int64": rand([4], "int64"),
        "ids/int16": rand([2, 2], "int16"),
        "ids/int8": rand([5], "int8"),
        "ids/uint8": rand([6], "uint8"),
        "ids/uint16": rand([3], "uint16"),
        "flags/bool": rand([7], "bool"),
        "global_step": tf.constant(12345, dtype=tf.int64),  # a 0-d scalar
        "empty/tensor": tf.zeros([0, 3], dtype=tf.float32),
        "meta/string_scalar": tf.constant("你好, bundle"),
        "meta/string_tensor": tf.constant([b"a", b"\x00\xff", b"ccc"]),
        "名字/中文": rand([2, 3], "float32"),
    }
    save_v2(os.path.join(out, "model.ckpt"), tensors)
    tf.compat.v1.train.update_checkpoint_state(out, os.path.join(out, "model.ckpt"))
    dump_expected(out, tensors)
    return os.path.join(out, "model.ckpt")


def case_sharded(out):
    """Three shards merged by MergeV2Checkpoints, exactly as a sharded tf.train.Saver does."""
    groups = [
        {"bert/encoder/layer_0/output/dense/kernel": rand([16, 8], "float32"), "b/x": rand([3], "int32")},
        {"bert/encoder/layer_1/output/dense/kernel": rand([16, 8], "float32")},
        {"cls/predictions/output_bias": rand([11], "float16"), "z/last": rand([2, 2], "int64")},
    ]
    tmp = os.path.join(out, "model.ckpt_temp")
    parts = []
    for i, g in enumerate(groups):
        p = tf.raw_ops.ShardedFilename(basename=tmp, shard=i, num_shards=len(groups)).numpy().decode()
        save_v2(p, g)
        parts.append(p)
    prefix = os.path.join(out, "model.ckpt")
    tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=parts, destination_prefix=prefix, delete_old_dirs=True)
    merged = {k: v for g in groups for k, v in g.items()}
    dump_expected(out, merged)
    return prefix


def case_sliced(out):
    """Partitioned variables: each saved as several slices (shape_and_slices), reassembled by readers."""
    full_a = rand([9000, 2], "float32")
    full_b = rand([4, 6], "int32")
    a_specs = ["9000 2 0,100:-", "9000 2 100,8100:-", "9000 2 8200,800:-"]
    b_specs = ["4 6 -:0,2", "4 6 -:2,4"]
    names = ["part/a"] * 3 + ["part/b"] * 2 + ["plain"]
    specs = [*a_specs, *b_specs, ""]
    plain = rand([3], "float32")
    tensors = [full_a[0:100], full_a[100:8200], full_a[8200:9000], full_b[:, 0:2], full_b[:, 2:6], plain]
    prefix = os.path.join(out, "model.ckpt")
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=specs, tensors=tensors)
    dump_expected(out, {"part/a": full_a, "part/b": full_b, "plain": plain})
    return prefix


def case_saver(out):
    """A graph-mode tf.compat.v1 Saver: `checkpoint` file, global step in the name, .meta file."""
    g = tf.Graph()
    values = {
        "bert/embeddings/word_embeddings": rng.standard_normal([21, 4]).astype("float32"),
        "bert/pooler/dense/kernel": rng.standard_normal([4, 4]).astype("float32"),
    }
    with g.as_default():
        vs = [tf.compat.v1.get_variable(n, initializer=v) for n, v in values.items()]
        saver = tf.compat.v1.train.Saver(vs, max_to_keep=2)
        with tf.compat.v1.Session(graph=g) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            for step in (1, 2, 3):
                path = saver.save(sess, os.path.join(out, "bert_model.ckpt"), global_step=step)
    dump_expected(out, {k: tf.constant(v) for k, v in values.items()})
    return path


def case_bert(out):
    """A tiny Google-BERT checkpoint (2 layers, hidden 32, intermediate 64, vocab 100), Adam slots too."""
    layers, hidden, inter, vocab, max_pos, types = 2, 32, 64, 100, 40, 2
    shapes = {
        "bert/embeddings/word_embeddings": [vocab, hidden],
        "bert/embeddings/position_embeddings": [max_pos, hidden],
        "bert/embeddings/token_type_embeddings": [types, hidden],
        "bert/embeddings/LayerNorm/gamma": [hidden],
        "bert/embeddings/LayerNorm/beta": [hidden],
    }
    for i in range(layers):
        p = f"bert/encoder/layer_{i}/"
        for m in ("query", "key", "value"):
            shapes[p + f"attention/self/{m}/kernel"] = [hidden, hidden]
            shapes[p + f"attention/self/{m}/bias"] = [hidden]
        shapes[p + "attention/output/dense/kernel"] = [hidden, hidden]
        shapes[p + "attention/output/dense/bias"] = [hidden]
        shapes[p + "attention/output/LayerNorm/gamma"] = [hidden]
        shapes[p + "attention/output/LayerNorm/beta"] = [hidden]
        shapes[p + "intermediate/dense/kernel"] = [hidden, inter]
        shapes[p + "intermediate/dense/bias"] = [inter]
        shapes[p + "output/dense/kernel"] = [inter, hidden]
        shapes[p + "output/dense/bias"] = [hidden]
        shapes[p + "output/LayerNorm/gamma"] = [hidden]
        shapes[p + "output/LayerNorm/beta"] = [hidden]
    shapes.update(
        {
            "bert/pooler/dense/kernel": [hidden, hidden],
            "bert/pooler/dense/bias": [hidden],
            "cls/predictions/transform/dense/kernel": [hidden, hidden],
            "cls/predictions/transform/dense/bias": [hidden],
            "cls/predictions/transform/LayerNorm/gamma": [hidden],
            "cls/predictions/transform/LayerNorm/beta": [hidden],
            "cls/predictions/output_bias": [vocab],
            "cls/seq_relationship/output_weights": [2, hidden],
            "cls/seq_relationship/output_bias": [2],
        }
    )
    tensors = {n: rand(s, "float32") for n, s in shapes.items()}
    tensors.update({n + "/adam_m": rand(s, "float32") for n, s in list(shapes.items())[:3]})
    tensors["global_step"] = tf.constant(7, dtype=tf.int64)
    save_v2(os.path.join(out, "bert_model.ckpt"), tensors)
    dump_expected(out, tensors)
    return os.path.join(out, "bert_model.ckpt")


CASES = {f.__name__[5:]: f for f in (case_dtypes, case_sharded, case_sliced, case_saver, case_bert)}


def main():
    root, cases = sys.argv[1], sys.argv[2:]
    report = {}
    for case in cases:
        out = os.path.join(root, case)
        os.makedirs(out, exist_ok=True)
        prefix = CASES[case](out)
        reader = tf.train.load_checkpoint(prefix)
        dtypes = reader.get_variable_to_dtype_map()
        shapes = reader.get_variable_to_shape_map()
        report[case] = {
            "prefix": prefix,
            "tf": {n: [dtypes[n].name, list(shapes[n])] for n in shapes},
        }
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
