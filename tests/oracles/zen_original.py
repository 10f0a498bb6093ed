"""ZEN oracle: the ORIGINAL sinovation/ZEN code (``ZEN/modeling.py``, ``ZEN/ngram_utils.py``,
``ZEN/tokenization.py``, ``examples/utils_sequence_level_task.py``), run locally in ``.venv-ref``.

    write   --out DIR [--seed N] [--flavor weight-bias|gamma-beta]
    forward --ckpt DIR --out REF.npz [--seed N] [--max-seq-length 32]

The original code is not on PyPI and is never copied into zhplm. At run time this script reads it from a
git snapshot of https://github.com/sinovation/ZEN — ``$ZHPLM_ORIGINALS/sinovation+ZEN`` (a bare git dir,
or a folder holding one named ``repo``; ``ZHPLM_ORIGINALS`` defaults to ``/work/.mirror``) — with
``git show HEAD:<path>`` into a temporary folder and imports it from there. Without the snapshot it exits
with status 3 and says how to get it (``git clone --bare https://github.com/sinovation/ZEN
$ZHPLM_ORIGINALS/sinovation+ZEN/repo``).

Runtime patches, and nothing else (the files themselves are imported unmodified):
* ``examples/utils_sequence_level_task.py`` imports ``scipy.stats`` and ``sklearn.metrics`` at the top for
  its evaluation metrics; ``.venv-ref`` has neither and the n-gram matcher uses neither, so empty stand-in
  modules are put in ``sys.modules`` (any use of them would raise ``AttributeError``);
* it builds its n-gram mask with ``np.bool``, an alias numpy removed in 1.24: ``np.bool = bool`` is set.
``ZEN/modeling.py`` needs no patch under Python 3.11 / torch 2.13 (no apex: its own BertLayerNorm is used).

``write``: the original ``ZenForPreTraining`` (the class ``examples/run_pre_train.py`` trains and saves,
so the class the released ``ZEN_pretrain_base`` weights come from) built from a tiny ``ZenConfig``, every
parameter set to seeded random values, saved with ``torch.save(state_dict, _use_new_zipfile_serialization=
False)`` (the pre-1.6 legacy format of the 2019 release) as ``pytorch_model.bin``; ``bert_config.json``
(the ZenConfig fields); ``vocab.txt``; ``ngram.txt`` (``ngram,freq`` lines, the release's format).
``--flavor gamma-beta`` renames the LayerNorm parameters to ``gamma``/``beta`` in the saved file
(pytorch-pretrained-bert's old spelling, which the original ``from_pretrained`` renames back).

``forward``: features for the fixture sentences (``SENTENCES``, single and paired) built by the ORIGINAL
``convert_examples_to_features`` with the original ``BertTokenizer`` and ``ZenNgramDict`` read from DIR
(its ``random.shuffle`` of the matched n-grams seeded with ``--seed``), then the original
``ZenForPreTraining.from_pretrained`` (its own loader, incl. its gamma/beta renaming) on DIR, all inputs
passed by keyword. REF.npz holds the inputs (``input:*``, padded as the original pads: ``max_seq_length``
characters, ``max_ngram_in_seq`` = 128 n-gram slots), the outputs (``hidden_states [L+1, B, T, H]``
(embedding output first), ``last_hidden_state``, ``pooler_output``, ``mlm_logits``, ``nsp_logits``) and
``meta`` (JSON: the sentences, the matched n-gram tuples, the snapshot commit).
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
    "ZEN/__init__.py",
    "ZEN/file_utils.py",
    "ZEN/modeling.py",
    "ZEN/ngram_utils.py",
    "ZEN/optimization.py",
    "ZEN/tokenization.py",
    "examples/utils_sequence_level_task.py",
)

ZEN_CONFIG = {
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 32,
    "initializer_range": 0.02,
    "intermediate_size": 64,
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": 64,
    "num_attention_heads": 4,
    "num_hidden_layers": 3,
    "num_hidden_word_layers": 2,
    "type_vocab_size": 2,
}

# Characters and Latin pieces after the Chinese characters of _common.CHARS; others (京, 城, 布, …) read
# as [UNK].
EXTRA_TOKENS = [
    "六",
    "七",
    "八",
    "模",
    "型",
    "吗",
    "候",
    "，",
    "。",
    "？",
    "zen",
    "bert",
    "##s",
    "20",
    "##19",
]

# The n-gram lexicon: words the sentences contain (2..7 tokens), some they do not, one longer than 7
# (never matched), n-grams with a character outside the vocabulary (their tuple holds [UNK] and matches
# any unknown character there), Latin/digit n-grams, and two lines whose tokens coincide after lower-casing
# (the later id wins, as in ZenNgramDict).
NGRAMS = [
    "我们",
    "中国",
    "学生",
    "中国学生",
    "自己",
    "一个",
    "时候",
    "现在",
    "知道",
    "没有",
    "什么",
    "可以",
    "我们的",
    "一二三",
    "三四五六七",
    "一二三四五六七",
    "二三四五六七八九",
    "北京",
    "京城",
    "Zen模型",
    "zen模型",
    "2019年",
    "天天",
    "天气",
    "人民日报",
    "学习",
    "大学",
    "大学生",
    "学生会",
    "会说",
    "说话",
    "明天",
    "看书",
    "去看",
]

# (text_a, text_b or None): Chinese with and without lexicon words, overlapping n-grams, a pair, Latin
# and digits, characters outside the vocabulary, a sentence with no n-gram at all, one with a [MASK].
SENTENCES: list[tuple[str, str | None]] = [
    ("我们是中国学生，我们的学生会明天去看书。", None),
    ("一二三四五六七八九十", None),
    ("他说北京的天气很好，天天都想去。", "现在我们知道了什么？"),
    ("ZEN模型在2019年发布", None),
    ("这是京城的大学生", "可以没有自己的时候"),
    ("水", None),
    ("你会说话吗", None),
    ("我们的学生会说[MASK]话", None),
]


# --------------------------------------------------------------------------- the original code


def materialise_original(dest: Path) -> str:
    """Write the original files from the snapshot into ``dest`` and make them importable; return the commit."""
    commit = C.write_original("sinovation/ZEN", ORIGINAL_FILES, dest)
    # the patches listed in the module docstring
    for name, functions in (
        ("scipy", ()),
        ("scipy.stats", ("pearsonr", "spearmanr")),
        ("sklearn", ()),
        ("sklearn.metrics", ("matthews_corrcoef", "f1_score")),
    ):
        module = sys.modules.setdefault(name, types.ModuleType(name))
        for fn in functions:
            setattr(module, fn, _unavailable)
    if "bool" not in np.__dict__:
        np.bool = bool  # type: ignore[attr-defined]
    sys.path[:0] = [str(dest), str(dest / "examples")]
    return commit


def _unavailable(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("evaluation metrics are stubbed out in this oracle")


def tiny_vocab() -> list[str]:
    return [*C.SPECIAL_TOKENS, *dict.fromkeys(C.CHARS), *EXTRA_TOKENS]


# --------------------------------------------------------------------------- commands


def cmd_write(args: argparse.Namespace) -> None:
    import torch

    with tempfile.TemporaryDirectory(prefix="zen-original-") as tmp:
        commit = materialise_original(Path(tmp))
        from ZEN.modeling import ZenConfig, ZenForPreTraining

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        vocab = tiny_vocab()
        config = dict(ZEN_CONFIG, vocab_size=len(vocab), word_size=len(NGRAMS) + 1)
        (out / "bert_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        (out / "vocab.txt").write_text("".join(t + "\n" for t in vocab), encoding="utf-8")
        (out / "ngram.txt").write_text(
            "".join(f"{g},{100 + 7 * i}\n" for i, g in enumerate(NGRAMS)), encoding="utf-8"
        )
        model = ZenForPreTraining(ZenConfig.from_json_file(str(out / "bert_config.json")))
        r = C.rng(args.seed)
        with torch.no_grad():
            for name, param in model.named_parameters():
                leaf = "gamma" if "LayerNorm.weight" in name else name
                param.copy_(torch.from_numpy(C.random_value(r, leaf, param.shape)))
        state = model.state_dict()
        if args.flavor == "gamma-beta":
            state = type(state)(
                (
                    k.replace("LayerNorm.weight", "LayerNorm.gamma").replace(
                        "LayerNorm.bias", "LayerNorm.beta"
                    ),
                    v,
                )
                for k, v in state.items()
            )
        torch.save(state, out / "pytorch_model.bin", _use_new_zipfile_serialization=False)
        print(
            json.dumps({"written": str(out), "tensors": len(state), "commit": commit, "flavor": args.flavor})
        )


def _features(tokenizer: Any, ngram_dict: Any, max_seq_length: int, seed: int) -> list[Any]:
    from utils_sequence_level_task import InputExample, convert_examples_to_features

    examples = [
        InputExample(guid=f"t-{i}", text_a=a, text_b=b, label="0") for i, (a, b) in enumerate(SENTENCES)
    ]
    random.seed(seed)
    return list(convert_examples_to_features(examples, ["0"], max_seq_length, tokenizer, ngram_dict))


def cmd_forward(args: argparse.Namespace) -> None:
    import torch

    ckpt = Path(args.ckpt)
    with tempfile.TemporaryDirectory(prefix="zen-original-") as tmp:
        commit = materialise_original(Path(tmp))
        from ZEN.modeling import ZenForPreTraining
        from ZEN.ngram_utils import ZenNgramDict
        from ZEN.tokenization import BertTokenizer

        tokenizer = BertTokenizer(str(ckpt / "vocab.txt"), do_lower_case=True)
        ngram_dict = ZenNgramDict(str(ckpt), tokenizer=tokenizer)
        feats = _features(tokenizer, ngram_dict, args.max_seq_length, args.seed)

        # The original from_pretrained reads DIR/config.json and DIR/pytorch_model.bin; the release folder
        # names its config bert_config.json, so it is given a view folder with links under those names.
        view = Path(tmp) / "view"
        view.mkdir()
        (view / "config.json").symlink_to((ckpt / "bert_config.json").resolve())
        (view / "pytorch_model.bin").symlink_to((ckpt / "pytorch_model.bin").resolve())
        model = ZenForPreTraining.from_pretrained(str(view))
        if model is None:
            raise SystemExit("the original from_pretrained could not load the checkpoint")
        model.eval()
        saved = torch.load(ckpt / "pytorch_model.bin", map_location="cpu", weights_only=True)
        check_loaded(model, saved)

        def stack(name: str, dtype: Any = torch.long) -> torch.Tensor:
            return torch.tensor(np.array([getattr(f, name) for f in feats]), dtype=dtype)

        inputs = {
            "input_ids": stack("input_ids"),
            "token_type_ids": stack("segment_ids"),
            "attention_mask": stack("input_mask"),
            "input_ngram_ids": stack("ngram_ids"),
            "ngram_position_matrix": stack("ngram_positions", torch.float32),
            "ngram_token_type_ids": stack("ngram_seg_ids"),
            "ngram_attention_mask": stack("ngram_masks"),
        }
        with torch.no_grad():
            encoded, pooled = model.bert(
                inputs["input_ids"],
                inputs["input_ngram_ids"],
                inputs["ngram_position_matrix"],
                token_type_ids=inputs["token_type_ids"],
                ngram_token_type_ids=inputs["ngram_token_type_ids"],
                attention_mask=inputs["attention_mask"],
                ngram_attention_mask=inputs["ngram_attention_mask"],
                output_all_encoded_layers=True,
            )
            embedded = model.bert.embeddings(inputs["input_ids"], inputs["token_type_ids"])
            mlm, nsp = model(
                inputs["input_ids"],
                inputs["input_ngram_ids"],
                inputs["ngram_position_matrix"],
                token_type_ids=inputs["token_type_ids"],
                ngram_token_type_ids=inputs["ngram_token_type_ids"],
                attention_mask=inputs["attention_mask"],
                ngram_attention_mask=inputs["ngram_attention_mask"],
            )
        arrays = {f"input:{k}": v.numpy() for k, v in inputs.items()}
        arrays.update(
            {
                "hidden_states": torch.stack([embedded, *encoded]).numpy(),
                "last_hidden_state": encoded[-1].numpy(),
                "pooler_output": pooled.numpy(),
                "mlm_logits": mlm.numpy(),
                "nsp_logits": nsp.numpy(),
            }
        )
        meta = {
            "sentences": SENTENCES,
            "ngram_tuples": [[list(t) for t in f.ngram_tuples] for f in feats],
            "commit": commit,
            "max_ngram_in_seq": ngram_dict.max_ngram_in_seq,
        }
        arrays["meta"] = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode(), dtype=np.uint8)
        np.savez(args.out, **arrays)
        print(
            json.dumps(
                {
                    "ckpt": str(ckpt),
                    "impl": f"sinovation/ZEN@{commit[:12]}",
                    "outputs": sorted(arrays),
                    "ngram_matches": [len(f.ngram_tuples) for f in feats],
                }
            )
        )


def check_loaded(model: Any, saved: dict[str, Any]) -> None:
    """Every parameter of the original model must equal the saved tensor of its name (gamma/beta read
    as weight/bias): the original loader skips what it does not know without an error."""
    import torch

    renamed = {k.replace(".gamma", ".weight").replace(".beta", ".bias"): v for k, v in saved.items()}
    params = dict(model.named_parameters())
    missing = [n for n in params if n not in renamed]
    differ = [n for n, p in params.items() if n in renamed and not torch.equal(p.detach(), renamed[n])]
    if missing or differ:
        raise SystemExit(f"original loader left parameters unset: missing={missing} differ={differ}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--out", required=True)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--flavor", choices=("weight-bias", "gamma-beta"), default="weight-bias")
    f = sub.add_parser("forward")
    f.add_argument("--ckpt", required=True)
    f.add_argument("--out", required=True)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--max-seq-length", type=int, default=32)
    args = parser.parse_args()
    {"write": cmd_write, "forward": cmd_forward}[args.cmd](args)


if __name__ == "__main__":
    main()
