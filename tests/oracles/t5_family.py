"""T5 checkpoints in their original formats, written and run by the libraries that made them.

    t5_family.py hf4 --flavor uer|mengzi --dir DIR --seed N --inputs IN.json --out REF.npz [--texts T.json]
    t5_family.py b4k-write --dir DIR --seed N
    t5_family.py b4k-forward --dir DIR --inputs IN.json --out REF.npz

``hf4`` (transformers 4.46.3): builds ``T5ForConditionalGeneration`` from the flavor's config (``uer``: v1.0,
ReLU, tied head, BERT vocabulary with ``extra{i}`` sentinels; ``mengzi``: v1.1, gated GELU,
``tie_word_embeddings: false``, a sentencepiece ``spiece.model`` the caller put in DIR), fills every parameter
with seeded random values (``_peer.randomize``; the v1.1 head gets values of its own), writes DIR with 4.46.3's
``save_pretrained(safe_serialization=False)`` (``pytorch_model.bin`` + ``config.json``, as the releases were
published) plus the tokenizer files, and saves to REF.npz: ``encoder_last_hidden_state`` ``[B,S,H]`` and
``logits`` ``[B,T,V]`` for IN.json's ``input_ids``/``attention_mask``/``decoder_input_ids``, ``greedy``
(4.46.3's own ``generate(do_sample=False, num_beams=1, max_new_tokens=N)`` on row 0) and, with ``--texts``,
``tokens.json`` beside REF.npz: the ids 4.46.3's tokenizer (``BertTokenizer`` / ``T5Tokenizer``) gives each text.

``b4k-write`` (bert4keras 0.11.5): builds T5-PEGASUS the way the authors' finetune.py does,
``build_transformer_model(config_path, model='mt5.1.1', return_keras_model=False, name='T5')``, with a tiny
``config.json`` in the released keys, sets seeded random values on every weight and saves it with bert4keras'
own ``save_weights_as_checkpoint(DIR/model.ckpt)`` — the mesh-TF names of the release. DIR also gets
``vocab.txt`` ([PAD] [UNK] [CLS] [SEP] [MASK], jieba words, CJK characters, ``##`` pieces).

``b4k-forward``: rebuilds it with the authors' exact call (``checkpoint_path=DIR/model.ckpt``), checks every
checkpoint variable was loaded, and saves ``encoder_last_hidden_state`` (``t5.encoder``), ``probs`` (the
decoder's own softmax output), ``logits`` (the input of ``Decoder-Output-LM`` times its kernel: the
pre-softmax scores) and ``greedy``: the authors' ``AutoTitle``-style ``AutoRegressiveDecoder`` with
``start_id=[CLS]``, ``end_id=[SEP]``, ``beam_search(..., topk=1)`` on row 0 (``maxlen`` from IN.json).
bert4keras masks token id 0 and does not mask padded context in the decoder, so IN.json has no padding.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

CKPT = "model.ckpt"
HF4_CONFIGS: dict[str, dict[str, Any]] = {
    # the keys of uer/t5-small-chinese-cluecorpussmall's config.json, tiny sizes
    "uer": {
        "architectures": ["T5ForConditionalGeneration"],
        "d_ff": 64,
        "d_kv": 8,
        "d_model": 32,
        "decoder_start_token_id": 2,
        "dropout_rate": 0.1,
        "eos_token_id": 3,
        "feed_forward_proj": "relu",
        "initializer_factor": 1.0,
        "is_encoder_decoder": True,
        "layer_norm_epsilon": 1e-6,
        "model_type": "t5",
        "n_positions": 512,
        "num_decoder_layers": 2,
        "num_heads": 4,
        "num_layers": 2,
        "output_past": True,
        "pad_token_id": 0,
        "relative_attention_num_buckets": 32,
        "vocab_size": 120,
    },
    # the keys of Langboat/mengzi-t5-base's config.json (T5 v1.1), tiny sizes
    "mengzi": {
        "architectures": ["T5ForConditionalGeneration"],
        "d_ff": 48,
        "d_kv": 8,
        "d_model": 32,
        "decoder_start_token_id": 0,
        "dropout_rate": 0.1,
        "eos_token_id": 1,
        "feed_forward_proj": "gated-gelu",
        "initializer_factor": 1.0,
        "is_encoder_decoder": True,
        "layer_norm_epsilon": 1e-6,
        "model_type": "t5",
        "num_decoder_layers": 2,
        "num_heads": 4,
        "num_layers": 2,
        "pad_token_id": 0,
        "relative_attention_num_buckets": 32,
        "tie_word_embeddings": False,
        "vocab_size": 128,
    },
}
# the keys of chinese_t5_pegasus_{small,base}/config.json (bert4keras mT5 configs), tiny sizes
B4K_CONFIG: dict[str, Any] = {
    "hidden_act": ["gelu", "linear"],
    "hidden_dropout_prob": 0.1,
    "hidden_size": 32,
    "initializer_range": 0.02,
    "intermediate_size": 48,
    "num_attention_heads": 4,
    "attention_head_size": 8,
    "num_hidden_layers": 2,
    "vocab_size": 120,
}
WORDS = ["中国", "我们", "北京", "天气", "今天", "摘要", "生成", "模型", "人民", "不错"]


def b4k_vocab(size: int) -> list[str]:
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "，", "。", "a", "b", "##s", "1"]
    chars = [chr(c) for c in range(0x4E00, 0x4E00 + size) if chr(c) not in "".join(WORDS)]
    needed = sorted(set("".join(WORDS)))
    return (specials + WORDS + needed + chars)[:size]


def uer_vocab(size: int) -> list[str]:
    """BERT specials, characters, then extra0..extra9 (UER appends its sentinels after BERT's vocabulary)."""
    body = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "，", "。"] + [chr(0x4E00 + i) for i in range(size)]
    return body[: size - 10] + [f"extra{i}" for i in range(10)]


# ----------------------------------------------------------------------------- transformers 4.46.3


def hf4(args: argparse.Namespace) -> None:
    os.environ.setdefault("USE_TF", "0")
    import _peer
    import torch
    import transformers

    cfg = dict(HF4_CONFIGS[args.flavor])
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    config = transformers.T5Config(**cfg)
    torch.manual_seed(args.seed)
    model = transformers.T5ForConditionalGeneration(config).eval()
    _peer.randomize(model, seed=args.seed + 1)
    model.tie_weights()
    tied = model.lm_head.weight.data_ptr() == model.shared.weight.data_ptr()
    if tied != (args.flavor == "uer"):
        raise SystemExit(f"{args.flavor}: lm_head tied={tied}, not what the release has")
    model.save_pretrained(str(out), safe_serialization=False)
    if args.flavor == "uer":
        (out / "vocab.txt").write_text("\n".join(uer_vocab(cfg["vocab_size"])) + "\n", encoding="utf-8")
        tok: Any = transformers.BertTokenizer(str(out / "vocab.txt"), do_lower_case=True)
    else:
        if not (out / "spiece.model").exists():
            raise SystemExit("mengzi: put a sentencepiece spiece.model in DIR first")
        tok = transformers.T5Tokenizer(str(out / "spiece.model"), extra_ids=0, legacy=True)
    tok.save_pretrained(str(out))

    feeds = json.loads(Path(args.inputs).read_text(encoding="utf-8"))
    ids = torch.tensor(feeds["input_ids"])
    mask = torch.tensor(feeds["attention_mask"])
    dec = torch.tensor(feeds["decoder_input_ids"])
    with torch.no_grad():
        o = model(input_ids=ids, attention_mask=mask, decoder_input_ids=dec, return_dict=True)
        greedy = model.generate(
            input_ids=ids[:1],
            attention_mask=mask[:1],
            do_sample=False,
            num_beams=1,
            max_new_tokens=int(feeds["max_new_tokens"]),
        )
    np.savez(
        args.out,
        encoder_last_hidden_state=o.encoder_last_hidden_state.numpy(),
        logits=o.logits.numpy(),
        greedy=greedy[0].numpy(),
        lm_head=model.lm_head.weight.detach().numpy(),
    )
    if args.texts:
        texts = json.loads(Path(args.texts).read_text(encoding="utf-8"))
        encoded = [tok(t)["input_ids"] for t in texts]
        (Path(args.out).parent / "tokens.json").write_text(json.dumps(encoded), encoding="utf-8")
    print(
        json.dumps({"flavor": args.flavor, "peer": f"transformers-{transformers.__version__}", "tied": tied})
    )


# ----------------------------------------------------------------------------- bert4keras 0.11.5


def _bert4keras() -> Any:
    os.environ["TF_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    import keras
    import tensorflow as tf

    tf.keras = keras  # bert4keras swaps sys.modules["keras"]; Keras 2.15 is tf.keras (as bert4keras_ckpt.py)
    return tf


def b4k_write(args: argparse.Namespace) -> None:
    tf = _bert4keras()
    tf.compat.v1.disable_eager_execution()  # save_weights_as_checkpoint is TF1 graph code
    tf.Session = tf.compat.v1.Session
    tf.train.Saver = tf.compat.v1.train.Saver
    import keras.backend as K
    from bert4keras.models import build_transformer_model

    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(B4K_CONFIG, indent=2) + "\n", encoding="utf-8")
    lines = b4k_vocab(B4K_CONFIG["vocab_size"])
    (out / "vocab.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    t5 = build_transformer_model(
        config_path=str(out / "config.json"), model="mt5.1.1", return_keras_model=False, name="T5"
    )
    rng = np.random.default_rng(args.seed)
    values = []
    for w in t5.model.weights:
        shape = tuple(w.shape)
        if "Embedding" in w.name:
            v = 0.5 * rng.standard_normal(shape)
        elif w.name.endswith("gamma:0"):
            v = 1.0 + 0.3 * rng.standard_normal(shape)
        else:
            v = rng.standard_normal(shape) / np.sqrt(shape[0])
        values.append((w, v.astype(np.float32)))
    K.batch_set_value(values)
    t5.save_weights_as_checkpoint(str(out / CKPT))
    shapes = {n: list(s) for n, s in tf.train.list_variables(str(out / CKPT))}
    print(json.dumps({"ckpt": str(out / CKPT), "variables": len(shapes)}))


def b4k_forward(args: argparse.Namespace) -> None:
    tf = _bert4keras()
    from bert4keras.models import build_transformer_model
    from bert4keras.snippets import AutoRegressiveDecoder

    ckpt = Path(args.dir)
    # the authors' call (ZhuiyiTechnology/t5-pegasus finetune.py)
    t5 = build_transformer_model(
        config_path=str(ckpt / "config.json"),
        checkpoint_path=str(ckpt / CKPT),
        model="mt5.1.1",
        return_keras_model=False,
        name="T5",
    )
    encoder, decoder = t5.encoder, t5.decoder
    reader = tf.train.load_checkpoint(str(ckpt / CKPT))
    in_ckpt = set(reader.get_variable_to_shape_map())
    loaded = {n for names in t5.variable_mapping().values() for n in names}
    if in_ckpt - loaded:
        raise SystemExit(f"checkpoint variables bert4keras did not load: {sorted(in_ckpt - loaded)}")

    feeds = json.loads(Path(args.inputs).read_text(encoding="utf-8"))
    ids = np.asarray(feeds["input_ids"])
    dec = np.asarray(feeds["decoder_input_ids"])
    if (ids == 0).any() or (dec == 0).any():
        raise SystemExit("no padding: bert4keras masks token id 0 and not padded context in the decoder")
    enc = encoder.predict(ids, verbose=0)
    lm = next(layer for layer in decoder.layers if layer.name.endswith("Decoder-Output-LM"))
    probe = tf.keras.Model(decoder.inputs, [lm.input, decoder.output])
    hidden, probs = probe.predict([enc, dec], verbose=0)
    logits = hidden.astype(np.float64) @ lm.get_weights()[0].astype(np.float64)

    vocab = (ckpt / "vocab.txt").read_text(encoding="utf-8").split("\n")

    class AutoTitle(AutoRegressiveDecoder):  # type: ignore[misc]
        @AutoRegressiveDecoder.wraps(default_rtype="probas")
        def predict(self, inputs: Any, output_ids: Any, states: Any) -> Any:
            return self.last_token(decoder).predict([inputs[0], output_ids], verbose=0)

    title = AutoTitle(
        start_id=vocab.index("[CLS]"), end_id=vocab.index("[SEP]"), maxlen=int(feeds["max_new_tokens"])
    )
    greedy = title.beam_search([enc[0]], topk=1)
    np.savez(
        args.out,
        encoder_last_hidden_state=enc.astype(np.float32),
        logits=logits.astype(np.float32),
        probs=probs.astype(np.float32),
        greedy=np.asarray(greedy),
    )
    print(json.dumps({"impl": "bert4keras-0.11.5", "loaded_variables": len(in_ckpt), "greedy": len(greedy)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    h = sub.add_parser("hf4")
    h.add_argument("--flavor", choices=sorted(HF4_CONFIGS), required=True)
    for p in (h, sub.add_parser("b4k-write"), sub.add_parser("b4k-forward")):
        p.add_argument("--dir", required=True)
        p.add_argument("--seed", type=int, default=0)
        if p is not h and p.prog.endswith("b4k-write"):
            continue
        p.add_argument("--inputs")
        p.add_argument("--out")
    h.add_argument("--texts")
    args = parser.parse_args()
    {"hf4": hf4, "b4k-write": b4k_write, "b4k-forward": b4k_forward}[args.command](args)


if __name__ == "__main__":
    main()
