"""The original implementations of RoFormerV2 and GAU-α: bert4keras 0.11.5 (Jianlin Su's library, in
which both were written and trained) on TensorFlow 2.15 / Keras 2.15, tiny random configs.

    peer_bert4keras.py OUT_DIR      (writes OUT_DIR/roformer_v2.npz and OUT_DIR/gau_alpha.npz)

RoFormerV2 is bert4keras' own ``RoFormerV2`` class. GAU-α is published in ZhuiyiTechnology/GAU-alpha as a
small subclass of ``RoFormerV2`` whose blocks are bert4keras' ``GatedAttentionUnit`` (swish, no bias,
``softmax_plus``) followed by dropout, residual add and the parameter-free norm; ``GAUAlpha`` below
assembles the same bert4keras layers in that order. Padding is bert4keras' own: id 0 is masked
(``mask_zero``), and the softmax_plus length counts the unmasked keys.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

os.environ["TF_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import keras
import numpy as np
import tensorflow as tf

# bert4keras 0.11.5 swaps sys.modules["keras"] for tf.keras, which in TF 2.15 is a lazy loader that
# recurses on attribute access; Keras 2.15 *is* tf.keras, so hand it over directly.
tf.keras = keras

from bert4keras.layers import Add, Dropout, GatedAttentionUnit, LayerNormalization  # noqa: E402
from bert4keras.models import RoFormerV2, build_transformer_model  # noqa: E402

CONFIGS = {
    "roformer_v2": dict(
        vocab_size=60,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        hidden_act="relu",
        max_position_embeddings=64,
        type_vocab_size=2,
    ),
    "gau_alpha": dict(
        vocab_size=60,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=1,
        intermediate_size=48,
        attention_key_size=16,
        hidden_act="swish",
        max_position_embeddings=64,
        type_vocab_size=2,
    ),
}


class GAUAlpha(RoFormerV2):
    """RoFormerV2 with each block a GatedAttentionUnit -> Dropout -> Add -> parameter-free norm."""

    def apply_main_layers(self, inputs, index):
        name = f"Transformer-{index}-GatedAttentionUnit"
        bias = self.compute_attention_bias(index)
        feeds, arguments = [inputs, self.compute_position_bias(inputs)], {"a_bias": None, "p_bias": "rotary"}
        if bias is not None:
            feeds.insert(1, bias)
            arguments["a_bias"] = True
        x = self.apply(
            inputs=feeds,
            layer=GatedAttentionUnit,
            arguments=arguments,
            units=self.intermediate_size,
            key_size=self.attention_key_size,
            activation=self.hidden_act,
            use_bias=False,
            normalization="softmax_plus",
            attention_dropout=self.attention_dropout_rate,
            kernel_initializer=self.initializer,
            name=name,
        )
        x = self.apply(inputs=x, layer=Dropout, rate=self.dropout_rate, name=name + "-Dropout")
        x = self.apply(inputs=[inputs, x], layer=Add, name=name + "-Add")
        return self.apply(
            inputs=x,
            layer=LayerNormalization,
            zero_mean=False,
            scale=False,
            offset=False,
            name=name + "-Norm",
        )


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(f"usage: {sys.argv[0]} OUT_DIR  (writes {', '.join(a + '.npz' for a in CONFIGS)})")
    out_dir = Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    for arch in CONFIGS:  # one process for both: TensorFlow's start-up is most of the time
        keras.backend.clear_session()
        write(arch, out_dir / f"{arch}.npz")


def write(arch: str, out: Path) -> None:
    config = CONFIGS[arch]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bert_config.json"
        path.write_text(json.dumps(config))
        model = build_transformer_model(
            str(path), model=GAUAlpha if arch == "gau_alpha" else "roformer_v2", with_mlm="linear"
        )
    block = "GatedAttentionUnit" if arch == "gau_alpha" else "FeedForward"
    norms = ["Embedding-Norm"] + [f"Transformer-{i}-{block}-Norm" for i in range(config["num_hidden_layers"])]
    probe = keras.models.Model(model.inputs, [model.get_layer(n).output for n in norms] + [model.output])

    r = np.random.default_rng(1)
    params = {}
    for w in model.weights:
        shape = tuple(w.shape)
        if "embeddings" in w.name:
            value = 0.5 * r.standard_normal(shape)
        elif w.name.endswith("gamma:0"):
            value = 1.0 + 0.3 * r.standard_normal(shape)
        else:
            value = r.standard_normal(shape) / np.sqrt(shape[0])
        w.assign(value.astype(np.float32))
        params[w.name] = value.astype(np.float32)

    r = np.random.default_rng(2)
    batch, length, lengths = 3, 24, {1: 20, 2: 10}  # row 2 has fewer than 16 keys: softmax_plus' floor
    ids = r.integers(1, config["vocab_size"], (batch, length))
    segments = r.integers(0, 2, (batch, length))
    mask = np.ones((batch, length), dtype=np.int64)
    for row, n in lengths.items():
        ids[row, n:], segments[row, n:], mask[row, n:] = 0, 0, 0
    results = probe.predict([ids, segments], verbose=0)

    arrays = {"param:" + k: v for k, v in params.items()}
    arrays.update({"input:input_ids": ids, "input:token_type_ids": segments, "input:attention_mask": mask})
    for i, h in enumerate(results[:-1]):
        arrays[f"output:hidden_states:{i}"] = h.astype(np.float32)
    arrays["output:logits"] = results[-1].astype(np.float32)
    meta = {"config": config, "peer": "bert4keras-0.11.5", "arch": arch}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(out, **arrays)
    print(json.dumps({"saved": str(out), "params": sorted(params)}))


if __name__ == "__main__":
    main()
