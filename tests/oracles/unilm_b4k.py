"""SimBERT and RoFormer-sim TF1 checkpoints as bert4keras writes them, and what bert4keras computes from them
(bert4keras 0.11.5 on TensorFlow 2.15 / Keras 2.15; the releases were trained with bert4keras 0.7.7 / 0.10.6).

    unilm_b4k.py write   --arch simbert|roformer_sim --out DIR [--seed N] [--vocab VOCAB.txt]
    unilm_b4k.py forward --arch simbert|roformer_sim --ckpt DIR --inputs IN.json --out REF.npz

Both build the model with the authors' own call (ZhuiyiTechnology/simbert ``simbert.py``,
ZhuiyiTechnology/roformer-sim ``test/generate.py``)::

    build_transformer_model(config, checkpoint, model='bert'|'roformer', with_pool='linear',
                            application='unilm', return_keras_model=False)

``write`` sets seeded random values on every weight (embeddings N(0, 0.25), kernels N(0, 1/fan_in), gammas
1 ± 0.3, biases N(0, 0.01·…)) and saves with bert4keras' own ``save_weights_as_checkpoint``, so the TF1 names
are those of its ``variable_mapping`` (what the released zips hold: encoder, ``bert/pooler/dense``,
``cls/predictions``). DIR also gets ``bert_config.json`` and ``vocab.txt`` (``--vocab`` copied, else
specials + CJK characters from U+4E00).

``forward`` loads DIR with the same call and writes REF.npz (float32 unless noted):

* ``pooled`` ``[B, H]``: the ``Pooler-Dense`` output (linear, no tanh) for IN's ``input_ids`` /
  ``token_type_ids`` (padding = id 0, masked by bert4keras' ``mask_zero``);
* ``mlm_logits`` ``[B, T, V]``: the input of ``MLM-Activation`` under the UniLM mask of those segments;
* ``text_pooled`` ``[N, H]``: for IN's ``texts``, tokenised by bert4keras ``Tokenizer(vocab, do_lower_case=True)``
  and padded with ``sequence_padding``, as the authors' ``gen_synonyms`` encodes them;
* ``text_ids`` (int64, padded with -1): those token ids;
* ``greedy_ids`` ``[P, steps]`` (int64): for IN's ``prompts`` (texts), the authors' ``SynonymsGenerator``
  (``AutoRegressiveDecoder``, generated tokens segment 1, ``last_token(seq2seq)``) decoded with
  ``beam_search(topk=1)`` (greedy) for exactly ``steps`` (IN's ``steps``) tokens (``minlen = maxlen``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path
from typing import Any

os.environ["TF_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import keras
import numpy as np
import tensorflow as tf

tf.keras = keras  # bert4keras swaps in tf.keras, a recursing lazy loader in TF 2.15; Keras 2.15 is tf.keras

from bert4keras.models import build_transformer_model  # noqa: E402

MODEL = {"simbert": "bert", "roformer_sim": "roformer"}
CONFIG: dict[str, Any] = {
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 32,
    "initializer_range": 0.02,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "type_vocab_size": 2,
}
CKPT_NAME = "bert_model.ckpt"


def build(arch: str, d: Path, checkpoint: bool) -> Any:
    return build_transformer_model(
        str(d / "bert_config.json"),
        str(d / CKPT_NAME) if checkpoint else None,
        model=MODEL[arch],
        with_pool="linear",
        application="unilm",
        return_keras_model=False,
    )


def seeded_value(name: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    if "Embedding" in name:
        value = 0.5 * rng.standard_normal(shape)
    elif name.endswith("gamma:0"):
        value = 1.0 + 0.3 * rng.standard_normal(shape)
    elif len(shape) == 1:
        value = 0.1 * rng.standard_normal(shape)
    else:
        value = rng.standard_normal(shape) / np.sqrt(shape[0])
    return value.astype(np.float32)


def write(args: argparse.Namespace) -> None:
    tf.compat.v1.disable_eager_execution()  # save_weights_as_checkpoint is TF1 graph code
    tf.Session = tf.compat.v1.Session
    tf.train.Saver = tf.compat.v1.train.Saver
    import keras.backend as K

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.vocab:
        shutil.copyfile(args.vocab, out / "vocab.txt")
    else:
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        (out / "vocab.txt").write_text("\n".join(specials + [chr(0x4E00 + i) for i in range(59)]) + "\n")
    vocab = (out / "vocab.txt").read_text(encoding="utf-8").splitlines()
    config = dict(CONFIG, vocab_size=len(vocab))
    (out / "bert_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    transformer = build(args.arch, out, checkpoint=False)
    rng = np.random.default_rng(args.seed)
    K.batch_set_value([(w, seeded_value(w.name, tuple(w.shape), rng)) for w in transformer.model.weights])
    transformer.save_weights_as_checkpoint(str(out / CKPT_NAME))
    shapes = {n: list(s) for n, s in tf.train.list_variables(str(out / CKPT_NAME))}
    if "bert/pooler/dense/kernel" not in shapes or "cls/predictions/output_bias" not in shapes:
        raise SystemExit(f"the linear pooler or the MLM head is missing: {sorted(shapes)}")
    print(json.dumps({"arch": args.arch, "ckpt": str(out / CKPT_NAME), "variables": shapes}))


def forward(args: argparse.Namespace) -> None:
    from bert4keras.snippets import AutoRegressiveDecoder, sequence_padding
    from bert4keras.tokenizers import Tokenizer

    ckpt = Path(args.ckpt)
    transformer = build(args.arch, ckpt, checkpoint=True)
    model = transformer.model
    reader = tf.train.load_checkpoint(str(ckpt / CKPT_NAME))
    loaded = set()
    for layer_name, names in transformer.variable_mapping().items():
        layer = transformer.layers.get(transformer.prefixed(layer_name))
        if layer is None:
            continue
        for w, n in zip(layer.trainable_weights, names, strict=True):
            if not np.array_equal(w.numpy(), reader.get_tensor(n)):
                raise SystemExit(f"{w.name} does not hold {n}")
            loaded.add(n)
    if loaded != set(reader.get_variable_to_shape_map()):
        raise SystemExit(f"unused variables {sorted(set(reader.get_variable_to_shape_map()) - loaded)}")

    encoder = keras.models.Model(model.inputs, model.outputs[0])
    seq2seq = keras.models.Model(model.inputs, model.outputs[1])
    logits_model = keras.models.Model(model.inputs, model.get_layer("MLM-Activation").input)
    inputs = json.loads(Path(args.inputs).read_text(encoding="utf-8"))
    ids = np.asarray(inputs["input_ids"], dtype=np.int64)
    types = np.asarray(inputs.get("token_type_ids", np.zeros_like(ids)), dtype=np.int64)
    arrays: dict[str, np.ndarray] = {
        "pooled": encoder.predict([ids, types], verbose=0).astype(np.float32),
        "mlm_logits": logits_model.predict([ids, types], verbose=0).astype(np.float32),
    }
    tokenizer = Tokenizer(str(ckpt / "vocab.txt"), do_lower_case=True)
    if inputs.get("texts"):
        encoded = [tokenizer.encode(t) for t in inputs["texts"]]
        x = sequence_padding([e[0] for e in encoded])
        s = sequence_padding([e[1] for e in encoded])
        arrays["text_pooled"] = encoder.predict([x, s], verbose=0).astype(np.float32)
        arrays["text_ids"] = sequence_padding([e[0] for e in encoded], value=-1).astype(np.int64)
    if inputs.get("prompts"):
        steps = int(inputs["steps"])

        class SynonymsGenerator(
            AutoRegressiveDecoder
        ):  # the authors' decoder (roformer-sim test/generate.py)
            @AutoRegressiveDecoder.wraps(default_rtype="probas")
            def predict(self, inputs: Any, output_ids: Any, states: Any) -> Any:
                token_ids, segment_ids = inputs
                token_ids = np.concatenate([token_ids, output_ids], 1)
                segment_ids = np.concatenate([segment_ids, np.ones_like(output_ids)], 1)
                return self.last_token(seq2seq).predict([token_ids, segment_ids], verbose=0)

        gen = SynonymsGenerator(start_id=None, end_id=tokenizer._token_end_id, maxlen=steps, minlen=steps)
        greedy = []
        for text in inputs["prompts"]:
            token_ids, segment_ids = tokenizer.encode(text)
            greedy.append(gen.beam_search([token_ids, segment_ids], topk=1))
        arrays["greedy_ids"] = np.asarray(greedy, dtype=np.int64)
    np.savez(args.out, **arrays)
    print(json.dumps({"arch": args.arch, "outputs": sorted(arrays), "loaded_variables": len(loaded)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write")
    w.add_argument("--arch", choices=sorted(MODEL), required=True)
    w.add_argument("--out", required=True)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--vocab")
    f = sub.add_parser("forward")
    f.add_argument("--arch", choices=sorted(MODEL), required=True)
    f.add_argument("--ckpt", required=True)
    f.add_argument("--inputs", required=True)
    f.add_argument("--out", required=True)
    args = parser.parse_args()
    {"write": write, "forward": forward}[args.command](args)


if __name__ == "__main__":
    main()
