"""Lattice-BERT oracle: the ORIGINAL alibaba/AliceMind ``LatticeBERT`` TensorFlow 1 code, run locally in
``.venv-ref`` (TensorFlow 2.15, ``tf.compat.v1`` graph mode).

    write   --out DIR [--seed N] [--flavor layers|shared]
    forward --ckpt DIR --out REF.npz [--max-seq-length 40] [--flavor layers|shared]

The original code is on no package registry and is never copied into zhplm. At run time this script reads
it from a git snapshot of https://github.com/alibaba/AliceMind — ``$ZHPLM_ORIGINALS/alibaba+AliceMind`` (a
bare git dir, or a folder holding one named ``repo``; ``ZHPLM_ORIGINALS`` defaults to ``/work/.mirror``) —
with ``git show HEAD:LatticeBERT/<file>`` into a temporary folder and imports it from there. Without the
snapshot it exits with status 3 and says how to get it. Besides TensorFlow it needs ``pygtrie`` (the
lexicon trie of ``tokenization_labert.py``) and ``tf-slim`` (see below) in ``.venv-ref``
(``requirements-labert.txt``).

Runtime patches, and nothing else (the original files are imported unmodified). The graph is built in
``tf.compat.v1`` graph mode (eager execution disabled). TF 2.15's ``tf`` module lacks TF1 names the code
calls; they are set to their TF1 implementations:
* ``tf.layers`` = ``tf.compat.v1.layers`` (``tf.layers.dense``: every dense layer, incl. the reused
  ``query_position``/``key_position`` of the [CLS] reset rows and the MLM transform);
* ``tf.contrib`` = a namespace whose ``layers`` is ``tf_slim.layers`` (``modeling.layer_norm`` calls
  ``tf.contrib.layers.layer_norm``; tf-slim 1.1.0 is that same contrib code, moved out of TF: variables
  ``LayerNorm/{beta,gamma}``, epsilon 1e-12);
* ``tf.truncated_normal_initializer`` = ``tf.compat.v1.truncated_normal_initializer`` (initialisers only;
  every value is then overwritten);
* ``tf.flags`` = ``tf.compat.v1.flags`` before ``run_classifier_labert.py`` is imported (it reads
  ``tf.flags`` at import; ``run_pretraining_labert.py`` sets the same alias itself), and the absl flags
  that module defined are removed again before ``run_pretraining_labert.py`` is imported (both define
  ``max_seq_length``, ``do_train``, … and absl refuses a second definition; no flag is ever read);
* ``igraph`` (imported at the top of ``tokenization_labert.py``, used only for the pre-training
  ``cand_indices`` with ``add_candidate_indices=True``, which nothing here asks for) is an empty stand-in
  module.

``write``: the original graph — ``modeling_labert.LaBertModel`` (post-LN, the default of the released
models) plus the pre-training heads of ``run_pretraining_labert.py`` (``get_masked_lm_output``: transform
H→E + LayerNorm + the embedding table transposed + ``output_bias``; ``get_next_sentence_output`` with 3
classes, the ``next_sentence_type`` default that ``slim_pretrain_checkpoint.py`` also hard-codes) — is
built from a tiny ``labert_config.json``; every variable gets a seeded random value; ``tf.compat.v1.train.
Saver`` saves it as ``model.ckpt`` (so the names are the original graph's own); ``vocab.txt`` (chars) and
``lexicon.txt`` (words, some ``surface\\tcluster`` lines, as the release's named lexicon) are written
beside it, like the released tar.gz. ``--flavor shared`` builds the model with
``do_share_parameter_across_layers=True`` (``run_pretraining_labert.py``'s flag): one ``layer_shared`` scope.

``forward``: features for ``SENTENCES`` built by the ORIGINAL ``run_classifier_labert.convert_single_example``
with the ORIGINAL ``tokenization_labert.LatticeTokenizerWithMapping`` (what ``--use_named_lexicon=true``
selects, as the README's fine-tuning example and ``port_labert_checkpoint.py`` use) on DIR's vocab/lexicon,
then the same graph restored from DIR with ``Saver.restore`` (every graph variable must be in the
checkpoint and every checkpoint variable in the graph). REF.npz holds the inputs (``input:*``, padded as
the original pads to ``max_seq_length``), ``hidden_states`` ``[L+1, B, T, H]`` (embedding output first),
``last_hidden_state``, ``pooler_output``, ``mlm_logits`` ``[B, T, V]`` (the logits inside
``get_masked_lm_output``, gathered at every position), ``nsp_logits`` ``[B, 3]``, and ``meta`` (JSON: the
sentences, the lattice tokens, the snapshot commit).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

ORIGINAL_FILES = (
    "LatticeBERT/modeling.py",
    "LatticeBERT/modeling_labert.py",
    "LatticeBERT/gpu_environment.py",
    "LatticeBERT/optimization.py",
    "LatticeBERT/tokenization.py",
    "LatticeBERT/tokenization_labert.py",
    "LatticeBERT/run_classifier_labert.py",
    "LatticeBERT/run_pretraining_labert.py",
    "LatticeBERT/loss_logging_hook.py",
    "LatticeBERT/best_checkpoint_copyer.py",
)

# labert_config.json of the tiny model (the LaBertConfig fields; vocab_size is set from the files)
LABERT_CONFIG = {
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
    "type_vocab_size": 3,
}
NSP_CLASSES = 3
# "layers": one variable scope per layer (the releases); "shared": --do_share_parameter_across_layers
# (one ``layer_shared`` scope reused by every layer)
FLAVORS = ("layers", "shared")

# After the specials and _common.CHARS: Latin/digit pieces and characters of the fixture words. Others
# (城, 苹, 吗, …) read as [UNK].
EXTRA_TOKENS = ["京", "候", "模", "型", "吃", "，", "。", "bert", "hello", "world", "20", "##19", "##s"]

# The lexicon: plain words (one id each), named lines ``surface\tcluster`` (several surfaces share one
# cluster id), a surface listed twice with two clusters (the later line wins the match, both clusters get
# ids), words with a character outside the vocabulary (their key holds [UNK] and matches any unknown
# character there), a single-character word (a second lattice token over the same character), a word equal
# to a vocabulary token ("bert": the token's id becomes the word's id), a Latin phrase, a digit word, a
# blank line (an id, never matched), and words the sentences do not contain.
LEXICON_LINES = [
    "中国",
    "国人",
    "中国人",
    "北京",
    "北京大学\t机构",
    "华大学\t机构",
    "大学",
    "大学生",
    "学生",
    "学生会",
    "我们",
    "现在",
    "时候",
    "知道",
    "天气",
    "说话",
    "一个",
    "自己",
    "京城",
    "苹果\t水果",
    "苹果\t公司名",
    "好吃",
    "水",
    "模型",
    "bert",
    "hello world",
    "2019年",
    "",
    "发布",
    "张三\t人名",
    "没有用到",
    "人们",
]

# Single sentences and pairs; one long enough to be truncated (single sentences only: the original
# truncates pairs by coin flips), [MASK]s, upper case, digits, unknown characters, no word at all.
SENTENCES: list[tuple[str, str | None]] = [
    ("我们是中国人，北京大学的学生。", None),
    ("他说北京的天气很好", "现在我们知道了"),
    ("BERT模型在2019年发布", None),
    ("这是京城的大学生", "苹果很好吃"),
    ("水", None),
    ("我们的学生会说[MASK]话", None),
    ("hello world，中国人们的时候", None),
    ("你会吗", "一个人[MASK]自己"),
    ("中国人民大学生会在北京大学的学生会上说话，我们都知道天气很好，一个大学生说中国人", None),
]


# --------------------------------------------------------------------------- the original code


def materialise_original(dest: Path) -> str:
    """Write the original files into ``dest``, apply the patches of the docstring; return the commit."""
    commit = C.write_original("alibaba/AliceMind", ORIGINAL_FILES, dest, flatten=True)

    import tensorflow as tf
    import tf_slim

    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
    tf.layers = tf.compat.v1.layers
    tf.contrib = types.SimpleNamespace(layers=tf_slim.layers)
    tf.truncated_normal_initializer = tf.compat.v1.truncated_normal_initializer
    tf.flags = tf.compat.v1.flags
    sys.modules.setdefault("igraph", types.ModuleType("igraph"))
    sys.path.insert(0, str(dest))
    return commit


def forget_flags() -> None:
    """Remove the absl flags one original script defined, so that the other can define its own."""
    from absl import flags

    for name in list(flags.FLAGS):
        if name not in ("help", "helpshort", "helpfull", "helpxml"):
            delattr(flags.FLAGS, name)


def tiny_vocab() -> list[str]:
    return [*C.SPECIAL_TOKENS, *dict.fromkeys(C.CHARS), *(t for t in EXTRA_TOKENS if t not in C.CHARS)]


def lexicon_clusters() -> list[str]:
    """The distinct cluster names of the lexicon in first-seen order (their ids follow the char vocab)."""
    return list(dict.fromkeys(line.strip().split("\t")[-1] for line in LEXICON_LINES))


def build_graph(config: Any, batch: int, length: int, shared: bool = False) -> dict[str, Any]:
    """The original model + pre-training heads on placeholders; returns the tensors to fetch."""
    import modeling_labert
    import run_pretraining_labert as pretrain
    import tensorflow as tf

    v1 = tf.compat.v1
    ph = {
        name: v1.placeholder(tf.int32, [batch, length], name=name)
        for name in ("input_ids", "input_mask", "segment_ids", "start", "end")
    }
    model = modeling_labert.LaBertModel(
        config=config,
        is_training=False,
        input_ids=ph["input_ids"],
        input_mask=ph["input_mask"],
        token_type_ids=ph["segment_ids"],
        start_positions=ph["start"],
        end_positions=ph["end"],
        use_one_hot_embeddings=False,
        do_share_parameter_across_layers=shared,
    )
    every_position = tf.tile(tf.range(length)[None, :], [batch, 1])
    pretrain.get_masked_lm_output(
        config,
        model.get_sequence_output(),
        model.get_embedding_table(),
        every_position,
        tf.zeros([batch, length], tf.int32),
        tf.zeros([batch, length], tf.float32),
    )
    pretrain.get_next_sentence_output(
        config, model.get_pooled_output(), tf.zeros([batch], tf.int32), NSP_CLASSES
    )
    graph = v1.get_default_graph()

    def logits_of(scope: str) -> Any:
        ops = [op for op in graph.get_operations() if op.name == f"{scope}BiasAdd"]
        if len(ops) != 1:
            raise SystemExit(f"expected one BiasAdd (the logits) in {scope}, found {[o.name for o in ops]}")
        return ops[0].outputs[0]

    return {
        "placeholders": ph,
        "embedding_output": model.get_embedding_output(),
        "layers": model.get_all_encoder_layers(),
        "sequence_output": model.get_sequence_output(),
        "pooled_output": model.get_pooled_output(),
        "mlm_logits": logits_of("cls/predictions/"),  # ``logits`` of get_masked_lm_output
        "nsp_logits": logits_of("cls/seq_relationship/"),
    }


# --------------------------------------------------------------------------- commands


def cmd_write(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="labert-original-") as tmp:
        commit = materialise_original(Path(tmp))
        import modeling_labert
        import tensorflow as tf

        v1 = tf.compat.v1
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        vocab = tiny_vocab()
        config_dict = dict(LABERT_CONFIG, vocab_size=len(vocab) + len(lexicon_clusters()))
        (out / "labert_config.json").write_text(json.dumps(config_dict, indent=2) + "\n", encoding="utf-8")
        (out / "vocab.txt").write_text("".join(t + "\n" for t in vocab), encoding="utf-8")
        (out / "lexicon.txt").write_text("".join(w + "\n" for w in LEXICON_LINES), encoding="utf-8")
        config = modeling_labert.LaBertConfig.from_json_file(str(out / "labert_config.json"))
        with tf.Graph().as_default():
            build_graph(config, 2, 8, shared=args.flavor == "shared")
            variables = sorted(v1.global_variables(), key=lambda v: v.op.name)
            r = C.rng(args.seed)
            with v1.Session() as sess:
                for var in variables:
                    value = C.random_value(r, var.op.name, var.shape.as_list())
                    var.load(value, sess)
                v1.train.Saver().save(sess, str(out / "model.ckpt"))
        print(
            json.dumps(
                {
                    "written": str(out),
                    "variables": [f"{v.op.name} {v.shape.as_list()}" for v in variables],
                    "commit": commit,
                }
            )
        )


def _features(tokenizer: Any, max_seq_length: int, seed: int) -> list[Any]:
    import run_classifier_labert as classifier

    rng = random.Random(seed)
    feats = []
    for i, (a, b) in enumerate(SENTENCES):
        example = classifier.InputExample(guid=f"t-{i}", text_a=a, text_b=b, label="0")
        feats.append(classifier.convert_single_example(i, example, ["0"], max_seq_length, tokenizer, rng))
    return feats


def cmd_forward(args: argparse.Namespace) -> None:
    ckpt = Path(args.ckpt)
    with tempfile.TemporaryDirectory(prefix="labert-original-") as tmp:
        commit = materialise_original(Path(tmp))
        import tensorflow as tf
        import tokenization_labert

        v1 = tf.compat.v1
        tokenizer = tokenization_labert.LatticeTokenizerWithMapping(
            vocab_file=str(ckpt / "vocab.txt"), lexicon_file=str(ckpt / "lexicon.txt"), do_lower_case=True
        )
        feats = _features(tokenizer, args.max_seq_length, args.seed)
        lattices = []
        for a, b in SENTENCES:  # the lattice tokens themselves, for the record
            lattices.append([tokenization_labert_tokens(tokenizer, t) for t in (a, b) if t is not None])
        forget_flags()
        import modeling_labert

        config = modeling_labert.LaBertConfig.from_json_file(str(ckpt / "labert_config.json"))

        def stack(name: str) -> np.ndarray:
            return np.array([getattr(f, name) for f in feats], dtype=np.int32)

        inputs = {
            "input_ids": stack("input_ids"),
            "token_type_ids": stack("segment_ids"),
            "attention_mask": stack("input_mask"),
            "start_position_ids": stack("positional_embeddings_start"),
            "end_position_ids": stack("positional_embeddings_end"),
        }
        batch, length = inputs["input_ids"].shape
        with tf.Graph().as_default():
            t = build_graph(config, batch, length, shared=args.flavor == "shared")
            graph_vars = {v.op.name for v in v1.global_variables()}
            ckpt_vars = {name for name, _ in tf.train.list_variables(str(ckpt / "model.ckpt"))}
            if graph_vars != ckpt_vars:
                raise SystemExit(
                    f"graph and checkpoint differ: only in the graph {sorted(graph_vars - ckpt_vars)}, "
                    f"only in the checkpoint {sorted(ckpt_vars - graph_vars)}"
                )
            with v1.Session() as sess:
                v1.train.Saver().restore(sess, str(ckpt / "model.ckpt"))
                ph = t["placeholders"]
                feed = {
                    ph["input_ids"]: inputs["input_ids"],
                    ph["input_mask"]: inputs["attention_mask"],
                    ph["segment_ids"]: inputs["token_type_ids"],
                    ph["start"]: inputs["start_position_ids"],
                    ph["end"]: inputs["end_position_ids"],
                }
                emb, layers, seq, pooled, mlm, nsp = sess.run(
                    [
                        t["embedding_output"],
                        t["layers"],
                        t["sequence_output"],
                        t["pooled_output"],
                        t["mlm_logits"],
                        t["nsp_logits"],
                    ],
                    feed_dict=feed,
                )
        arrays: dict[str, np.ndarray] = {f"input:{k}": v.astype(np.int64) for k, v in inputs.items()}
        arrays.update(
            {
                "hidden_states": np.stack([emb, *layers]).astype(np.float32),
                "last_hidden_state": seq.astype(np.float32),
                "pooler_output": pooled.astype(np.float32),
                "mlm_logits": mlm.reshape(batch, length, -1).astype(np.float32),
                "nsp_logits": nsp.astype(np.float32),
            }
        )
        meta = {
            "sentences": SENTENCES,
            "lattices": lattices,
            "commit": commit,
            "max_seq_length": args.max_seq_length,
            "vocab_size": len(tokenizer.vocab),
        }
        arrays["meta"] = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode(), dtype=np.uint8)
        np.savez(args.out, **arrays)
        print(
            json.dumps(
                {
                    "ckpt": str(ckpt),
                    "impl": f"alibaba/AliceMind@{commit[:12]} LatticeBERT (TF {tf.__version__}, compat.v1)",
                    "outputs": sorted(arrays),
                    "lengths": [int(sum(f.input_mask)) for f in feats],
                    "restored_variables": len(ckpt_vars),
                },
                ensure_ascii=False,
            )
        )


def tokenization_labert_tokens(tokenizer: Any, text: str) -> list[list[Any]]:
    """``[token, start, length]`` of the original lattice of one text (before truncation)."""
    enc = tokenizer.tokenize(text, add_candidate_indices=False)
    return [[tok, pos, n] for tok, pos, n in zip(enc.tokens, enc.positions, enc.lengths, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--out", required=True)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--flavor", choices=FLAVORS, default="layers")
    f = sub.add_parser("forward")
    f.add_argument("--ckpt", required=True)
    f.add_argument("--out", required=True)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--max-seq-length", type=int, default=40)
    f.add_argument("--flavor", choices=FLAVORS, default="layers")
    args = parser.parse_args()
    {"write": cmd_write, "forward": cmd_forward}[args.cmd](args)


if __name__ == "__main__":
    main()
