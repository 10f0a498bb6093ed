"""Oscar's own ``BertImgModel`` as the oracle (https://github.com/microsoft/Oscar, pinned in SNAPSHOTS.txt).

    oscar_original.py write   --out DIR [--seed N] [--model retrieval|pretrain] [--full]
    oscar_original.py forward --ckpt DIR --inputs IN.npz --out REF.npz [--model retrieval|pretrain]

``oscar/modeling`` and ``oscar/utils`` of the snapshot are extracted into a temporary folder and imported
from there. ``write``: Oscar's retrieval model ``ImageBertForSequenceClassification`` (a ``BertImgModel``
under ``bert.`` + ``classifier``; Mengzi-oscar-base-retrieval's class) with a tiny config (hidden 64, 4
heads, 2 layers, 2054-d region features, ``use_img_layernorm`` as Mengzi-oscar), every parameter seeded
random, saved as ``save_pretrained`` does: ``DIR/pytorch_model.bin`` (state dict), ``DIR/config.json``, and a
tiny ``DIR/vocab.txt``. ``--model pretrain``: Oscar+'s pre-training class ``BertImgForPreTraining`` instead
(Mengzi-oscar-base's: ``run_oscarplus_pretrain.py`` saves it) — ``bert.*``, the MLM head ``cls.predictions.*``
(decoder tied to the word embedding) and the 3-way contrastive head ``cls.seq_relationship`` (Mengzi's
command line, ``--use_b 1 --texta_false_prob 0.25``, gives ``num_contrast_classes = 3``). ``--full``: the
BERT-base sizes of Mengzi-oscar-base (21128 words, 768 wide, 12 layers of 12 heads) for the bench.
``forward``: the model rebuilt from config.json, the state dict loaded strictly,
eval mode; ``model.bert(input_ids, token_type_ids, attention_mask, img_feats=...)`` on IN.npz
(``input_ids``, ``token_type_ids``, ``attention_mask`` [B, T + N], ``img_feats`` [B, N, 2054]); REF.npz:
``last_hidden_state``, ``pooler_output``, and the heads' logits: ``cls_logits`` (retrieval's
``classifier``) or ``mlm_logits`` / ``itm_logits`` (pre-training's ``cls``).

Shims (named): Oscar imports ``transformers.pytorch_transformers`` — its own fork of pytorch-transformers
1.x, a git submodule that the snapshot does not contain. The module is provided with transformers 4.46's
BERT building blocks under the old names (``BertEmbeddings``, ``BertSelfAttention``, ``BertAttention``,
``BertEncoder``, ``BertLayer``, ``BertSelfOutput``, ``BertIntermediate``, ``BertOutput``, ``BertPooler``,
``BertConfig``; ``BertLayerNorm`` = ``torch.nn.LayerNorm``), with the two 1.x conventions Oscar relies on:
``BertSelfAttention.output_attentions`` (from the config) and ``init_weights(module)`` applied per module.
Oscar's own classes (the self-attention, layer and encoder loop, the mask, the region embedding and the
concatenation) are what run. Names imported but unused on this path (``cached_path``, the archive maps,
``load_tf_weights_in_bert``, ``anytree`` for ``utils/cbs.py``) are placeholders.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
import torch
import transformers
from _peer import randomize
from transformers.models.bert import modeling_bert as mb

REPO = "microsoft/Oscar"
CONFIG = {
    "vocab_size": 120,
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 96,
    "max_position_embeddings": 64,
    "type_vocab_size": 2,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-12,
    "img_feature_dim": 2054,
    "img_feature_type": "faster_r-cnn",
    "use_img_layernorm": 1,
    "img_layer_norm_eps": 1e-12,
    "num_labels": 2,
    "loss_type": "sfmx",
    "classifier": "linear",
}


def _shims() -> None:
    class BertSelfAttention(mb.BertSelfAttention):  # type: ignore[misc]
        def __init__(self, config: Any) -> None:
            super().__init__(config)
            self.output_attentions = config.output_attentions

    class BertPreTrainedModel(mb.BertPreTrainedModel):  # type: ignore[misc]
        def init_weights(self, module: Any = None) -> None:
            if module is None:
                super().init_weights()
            else:
                self._init_weights(module)

    names = {
        "BertEmbeddings": mb.BertEmbeddings,
        "BertSelfAttention": BertSelfAttention,
        "BertAttention": mb.BertAttention,
        "BertEncoder": mb.BertEncoder,
        "BertLayer": mb.BertLayer,
        "BertSelfOutput": mb.BertSelfOutput,
        "BertIntermediate": mb.BertIntermediate,
        "BertOutput": mb.BertOutput,
        "BertPooler": mb.BertPooler,
        "BertLayerNorm": torch.nn.LayerNorm,
        "BertPreTrainedModel": BertPreTrainedModel,
        "BertPredictionHeadTransform": mb.BertPredictionHeadTransform,
        "BertOnlyMLMHead": mb.BertOnlyMLMHead,
        "BertLMPredictionHead": mb.BertLMPredictionHead,
        "BertConfig": transformers.BertConfig,
        "BertModel": mb.BertModel,
        "BERT_PRETRAINED_MODEL_ARCHIVE_MAP": {},
        "load_tf_weights_in_bert": None,
    }
    package = types.ModuleType("transformers.pytorch_transformers")
    package.__path__ = []
    modeling_bert = types.ModuleType("transformers.pytorch_transformers.modeling_bert")
    modeling_bert.__dict__.update(names)
    modeling_utils = types.ModuleType("transformers.pytorch_transformers.modeling_utils")
    modeling_utils.__dict__.update(
        PreTrainedModel=transformers.PreTrainedModel,
        WEIGHTS_NAME="pytorch_model.bin",
        TF_WEIGHTS_NAME="model.ckpt",
    )
    file_utils = types.ModuleType("transformers.pytorch_transformers.file_utils")
    file_utils.cached_path = None  # type: ignore[attr-defined]
    sys.modules.update(
        {
            "transformers.pytorch_transformers": package,
            "transformers.pytorch_transformers.modeling_bert": modeling_bert,
            "transformers.pytorch_transformers.modeling_utils": modeling_utils,
            "transformers.pytorch_transformers.file_utils": file_utils,
            "anytree": types.ModuleType("anytree"),
        }
    )


def _oscar(work: Path) -> Any:
    C.extract_original(
        REPO, ["oscar/__init__.py", "oscar/modeling", "oscar/utils/__init__.py", "oscar/utils/cbs.py"], work
    )
    _shims()
    sys.path.insert(0, str(work))
    from oscar.modeling import modeling_bert

    return modeling_bert


FULL = {  # Mengzi-oscar-base: Mengzi-BERT-base's sizes
    "vocab_size": 21128,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "max_position_embeddings": 512,
}


TIED_BIAS = "cls.predictions.decoder.bias"


def _class(ob: Any, kind: str) -> Any:
    return ob.BertImgForPreTraining if kind == "pretrain" else ob.ImageBertForSequenceClassification


def write(args: argparse.Namespace) -> None:
    cfg = {**CONFIG, **(FULL if args.full else {})}
    if args.model == "pretrain":
        cfg["num_contrast_classes"] = 3
    with tempfile.TemporaryDirectory() as tmp:
        ob = _oscar(Path(tmp))
        config = transformers.BertConfig(**cfg)
        torch.manual_seed(args.seed)
        model = _class(ob, args.model)(config)
        randomize(model, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    state = model.state_dict()
    # transformers 4.x aliases the MLM bias as ``decoder.bias``; Oscar's pytorch-transformers 1.x fork has no such key
    state.pop(TIED_BIAS, None)
    torch.save(state, args.out / "pytorch_model.bin")
    (args.out / "config.json").write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    C.write_vocab(args.out / "vocab.txt", cfg["vocab_size"])
    print(json.dumps({"written": str(args.out), "tensors": len(model.state_dict())}))


def forward(args: argparse.Namespace) -> None:
    with np.load(args.inputs) as npz:
        data = {k: npz[k] for k in npz.files}
    with tempfile.TemporaryDirectory() as tmp:
        ob = _oscar(Path(tmp))
        config = transformers.BertConfig(
            **json.loads((args.ckpt / "config.json").read_text(encoding="utf-8"))
        )
        model = _class(ob, args.model)(config)
        missing, unexpected = model.load_state_dict(
            torch.load(args.ckpt / "pytorch_model.bin", weights_only=True), strict=False
        )
        assert set(missing) <= {TIED_BIAS} and not unexpected, (missing, unexpected)
        model.eval()
        inputs = {
            "token_type_ids": torch.from_numpy(data["token_type_ids"]).long(),
            "attention_mask": torch.from_numpy(data["attention_mask"]).long(),
            "img_feats": torch.from_numpy(data["img_feats"]).float(),
        }
        ids = torch.from_numpy(data["input_ids"]).long()
        with torch.no_grad():
            seq, pooled = model.bert(ids, **inputs)[:2]
            heads = model(ids, **inputs)
    out = {"last_hidden_state": seq.numpy(), "pooler_output": pooled.numpy()}
    if args.model == "pretrain":
        out.update(mlm_logits=heads[0].numpy(), itm_logits=heads[1].numpy())
    else:
        out["cls_logits"] = heads[0].numpy()
    np.savez(args.out, **out)
    print(json.dumps({"out": str(args.out), "shape": list(seq.shape)}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--out", type=lambda s: Path(s).resolve(), required=True)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--model", choices=("retrieval", "pretrain"), default="retrieval")
    w.add_argument("--full", action="store_true", help="Mengzi-oscar-base's BERT-base sizes")
    f = sub.add_parser("forward")
    f.add_argument("--ckpt", type=lambda s: Path(s).resolve(), required=True)
    f.add_argument("--inputs", type=lambda s: Path(s).resolve(), required=True)
    f.add_argument("--out", type=lambda s: Path(s).resolve(), required=True)
    f.add_argument("--model", choices=("retrieval", "pretrain"), default="retrieval")
    args = p.parse_args()
    {"write": write, "forward": forward}[args.cmd](args)


if __name__ == "__main__":
    main()
