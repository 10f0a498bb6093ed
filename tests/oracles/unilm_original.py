"""Yunwen UniLM oracle: the ORIGINAL YunwenTechnology/Unilm code (``modeling_unilm.py``,
``configuration_unilm.py``, ``tokenization_unilm.py``, ``utils_seq2seq.py`` and the authors' TF exporter
``convert_unilm_pytorch_checkpoint_to_original_tf.py``), run from a temporary checkout of the git snapshot
pinned in ``SNAPSHOTS.txt`` in ``.venv-ref`` (transformers 4.46.3, TensorFlow 2.15). Never copied into zhplm.

    write   --out DIR [--seed N]
    forward --ckpt DIR --inputs IN.json --out REF.npz

Stubs, each for an import path that moved since transformers 2.6 (the files are imported unmodified):
* ``transformers.modeling_bert`` → ``transformers.models.bert.modeling_bert`` (same classes);
* ``transformers.tokenization_bert`` → ``transformers.models.bert.tokenization_bert``;
* for the exporter, ``tensorflow`` → ``tf.compat.v1`` with v2 behaviour disabled (it is TF1 code:
  ``tf.Session``, ``tf.get_variable``, ``tf.train.Saver``).

``write``: the original ``UnilmForLM`` (the class ``conver_torch_to_tf.py`` loads the release with) from a tiny
``UnilmConfig`` (``type_vocab_size`` 6), every parameter seeded random; ``DIR/pytorch/pytorch_model.bin`` (its
``state_dict``, ``torch.save``), ``config.json`` and ``vocab.txt``; then the authors' own
``convert_pytorch_checkpoint_to_tf(model, DIR/tf1, "bert_model")`` writes the TF1 release layout
(``bert_model.ckpt.*``), with ``bert_config.json`` and ``vocab.txt`` beside it.

``forward`` (IN.json: ``input_ids``, ``token_type_ids``, ``attention_mask`` [B, T, T] (the UniLM mask, 1 =
may attend), ``prompts`` (texts), ``steps``): ``UnilmForSeq2Seq`` loaded from the PyTorch files gives
``mlm_logits`` [B, T, V] (its ``forward`` without labels); the decoding is ``decode_seq2seq.py``'s path, driven
from here: ``UnilmTokenizer`` (lower case) tokenizes each prompt, ``Preprocess4Seq2seqDecode`` (``max_tgt_length``
= steps) and ``batch_list_to_batch_tensors`` build the batch, ``UnilmForSeq2SeqDecode`` (``mask_word_id`` =
``[MASK]``, beam 1) decodes greedily → ``greedy_ids`` [P, steps] and ``source_ids`` (``[CLS] … [SEP]``, -1 padded).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

REPO = "YunwenTechnology/Unilm"
FILES = [
    "modeling_unilm.py",
    "configuration_unilm.py",
    "tokenization_unilm.py",
    "utils_seq2seq.py",
    "convert_unilm_pytorch_checkpoint_to_original_tf.py",
]
CONFIG = dict(
    vocab_size=120,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    max_position_embeddings=64,
    type_vocab_size=6,
    hidden_act="gelu",
    layer_norm_eps=1e-12,
)


def import_original(workdir: Path) -> tuple[dict[str, ModuleType], str]:
    import transformers.models.bert.modeling_bert as modeling_bert
    import transformers.models.bert.tokenization_bert as tokenization_bert

    commit = C.write_original(REPO, FILES, workdir)
    sys.modules["transformers.modeling_bert"] = modeling_bert  # stub: moved in transformers 3
    sys.modules["transformers.tokenization_bert"] = tokenization_bert  # stub: moved in transformers 3
    sys.path.insert(0, str(workdir))
    import configuration_unilm
    import modeling_unilm
    import tokenization_unilm
    import utils_seq2seq

    mods = {
        "modeling": modeling_unilm,
        "config": configuration_unilm,
        "tokenization": tokenization_unilm,
        "seq2seq": utils_seq2seq,
    }
    return mods, commit


def import_exporter() -> ModuleType:
    import tensorflow as tf

    tf.compat.v1.disable_v2_behavior()
    sys.modules["tensorflow"] = tf.compat.v1  # stub: the exporter is TF1 code
    import convert_unilm_pytorch_checkpoint_to_original_tf as exporter

    return exporter


def write(out: Path, seed: int) -> dict[str, Any]:
    import _peer
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        mods, commit = import_original(Path(tmp))
        config = mods["config"].UnilmConfig(**CONFIG)
        model = mods["modeling"].UnilmForLM(config).eval()
        _peer.randomize(model, seed=seed)
        model.tie_weights()
        torch_dir, tf_dir = out / "pytorch", out / "tf1"
        torch_dir.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), torch_dir / "pytorch_model.bin")
        for folder, name in ((torch_dir, "config.json"), (tf_dir, "bert_config.json")):
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(config.to_json_string(), encoding="utf-8")
            C.write_vocab(folder / "vocab.txt", CONFIG["vocab_size"])
        with C.stdout_to_stderr():
            import_exporter().convert_pytorch_checkpoint_to_tf(model, str(tf_dir), "bert_model")
    return {"cmd": "write", "original": f"{REPO}@{commit}", "out": str(out)}


def forward(ckpt: Path, inputs: Path, out: Path) -> dict[str, Any]:
    import numpy as np
    import torch

    data = json.loads(inputs.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        mods, commit = import_original(Path(tmp))
        modeling = mods["modeling"]
        config = mods["config"].UnilmConfig.from_json_file(str(ckpt / "config.json"))
        state = torch.load(ckpt / "pytorch_model.bin", weights_only=True)
        model = modeling.UnilmForSeq2Seq(config).eval()
        missing, unexpected = model.load_state_dict(state, strict=False)
        assert not missing and all(k.startswith("cls2.") for k in unexpected), (missing, unexpected)
        with torch.no_grad():
            logits = model(
                torch.tensor(data["input_ids"]),
                torch.tensor(data["token_type_ids"]),
                torch.tensor(data["attention_mask"]),
            )
        tokenizer = mods["tokenization"].UnilmTokenizer(str(ckpt / "vocab.txt"), do_lower_case=True)
        mask_id, eos_id, sos_id = tokenizer.convert_tokens_to_ids(["[MASK]", "[SEP]", "[S2S_SOS]"])
        steps = int(data["steps"])
        decoder = modeling.UnilmForSeq2SeqDecode(
            config, mask_word_id=mask_id, search_beam_size=1, eos_id=eos_id, sos_id=sos_id
        ).eval()
        decoder.load_state_dict(state, strict=False)
        prep = mods["seq2seq"].Preprocess4Seq2seqDecode(
            list(tokenizer.vocab.keys()), tokenizer.convert_tokens_to_ids, 512, max_tgt_length=steps
        )
        greedy, sources = [], []
        for text in data["prompts"]:
            tokens = tokenizer.tokenize(text)
            batch = mods["seq2seq"].batch_list_to_batch_tensors([prep((tokens, len(tokens)))])
            input_ids, token_type_ids, position_ids, input_mask = batch
            with torch.no_grad():
                greedy.append(decoder(input_ids, token_type_ids, position_ids, input_mask)[0].tolist())
            sources.append(input_ids[0].tolist())
    width = max(len(s) for s in sources)
    C.save_outputs(
        out,
        {
            "mlm_logits": logits.numpy(),
            "greedy_ids": np.array(greedy, dtype=np.int64),
            "source_ids": np.array([s + [-1] * (width - len(s)) for s in sources], dtype=np.int64),
        },
    )
    return {"cmd": "forward", "original": f"{REPO}@{commit}", "ckpt": str(ckpt)}


def main() -> None:
    args = C.original_args(__doc__ or "", "unilm")
    if args.cmd == "write":
        C.report(write(args.out, args.seed))
    else:
        C.report(forward(args.ckpt, args.inputs, args.out))


if __name__ == "__main__":
    main()
