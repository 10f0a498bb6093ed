"""Oscar+ / VinVL (microsoft/Oscar) releases, e.g. Langboat's Mengzi-oscar → zhplm's own ``OscarModel``.

A release is Oscar's ``save_pretrained`` folder (transformers-2.x era): ``pytorch_model.bin`` with the
``BertImgModel`` under ``bert.`` (BERT names plus ``bert.img_embedding`` and the region ``bert.LayerNorm``)
and the task head of the class that was trained (pre-training ``cls.*``, captioning ``cls.*``, retrieval or
VQA ``classifier.*``), and ``config.json`` with Oscar's additions (``img_feature_dim``, ``img_feature_type``,
``use_img_layernorm``, ``img_layer_norm_eps``, ``num_contrast_classes``). Every name is kept. Heads
(recorded in zhplm.json): ``mlm`` (``cls.predictions``, decoder tied to the word embedding: pre-training and
captioning), ``itm`` (``cls.seq_relationship``, Oscar+'s contrastive image-text head: pre-training —
Mengzi-oscar-base, whose ``run_oscarplus_pretrain.py`` command line gives 3 classes), ``classifier`` (a
fine-tuned linear classifier: retrieval's 2 labels, VQA's answers). An MLP classifier (Oscar's
``--classifier mlp``, VQA/GQA) is not carried.

The region features (VinVL X152-C4 detector: 2048-d + 6 box numbers) must be computed outside zhplm: the
detector is a separate project (microsoft/scene_graph_benchmark) that zhplm does not run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from zhplm.arch._rules import Rule, Rules, Shape
from zhplm.arch._spec import ArchSpec, Evidence, Head, count_layers, own_model, shape_of
from zhplm.errors import ConversionError

OSCAR = Rules(
    Rule(r"(bert\.(?:embeddings|encoder|pooler|img_embedding|LayerNorm)\..*)", r"\1"),
    Rule(r"(cls\.(?:predictions\.(?!decoder\.)|seq_relationship\.).*)", r"\1"),
    Rule(r"(classifier\.(?:weight|bias))", r"\1"),
    ignore={
        r"cls\.predictions\.decoder\.weight": "tied to bert.embeddings.word_embeddings.weight (Oscar ties them)",
        r"cls\.predictions\.decoder\.bias": "tied to cls.predictions.bias",
        r"classifier\.\d+\..*": "Oscar's MLP classifier (--classifier mlp, VQA/GQA): zhplm carries linear ones",
        r"bert\.embeddings\.position_ids": "buffer, recomputed by the model",
    },
    name="oscar",
)

HEADS = (
    Head(
        "mlm", (r"cls\.predictions\..*",), "masked-LM head (transform + decoder tied to the word embedding)"
    ),
    Head(
        "itm",
        (r"cls\.seq_relationship\..*",),
        "Oscar+'s image-text contrastive head over the pooled output (class 0: text and regions match)",
    ),
    Head(
        "classifier",
        (r"classifier\..*",),
        "fine-tuned classifier over the pooled output (retrieval: 2 labels)",
    ),
)


class OscarSpec(ArchSpec):
    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        orig = dict(original or {})
        feature_type = orig.get("img_feature_type", "faster_r-cnn")
        if str(feature_type).startswith("dis_code"):
            raise ConversionError(
                f"img_feature_type {feature_type!r} (discrete image codes) is not supported: zhplm converts "
                "Oscar models over detector region features"
            )
        vocab, hidden = shape_of(shapes, "bert.embeddings.word_embeddings.weight")
        img_hidden, img_dim = shape_of(shapes, "bert.img_embedding.weight")
        if img_hidden != hidden:
            raise ConversionError(f"img_embedding maps to {img_hidden}, the text is {hidden} wide")
        heads = int(orig.get("num_attention_heads", max(1, hidden // 64)))
        if hidden % heads:
            raise ConversionError(f"hidden size {hidden} does not split into {heads} attention heads")
        return {
            "model_type": self.model_type,
            "vocab_size": vocab,
            "hidden_size": hidden,
            "num_hidden_layers": count_layers(shapes, r"bert\.encoder\.layer\.(\d+)\..*"),
            "num_attention_heads": heads,
            "intermediate_size": shape_of(shapes, "bert.encoder.layer.0.intermediate.dense.weight")[0],
            "max_position_embeddings": shape_of(shapes, "bert.embeddings.position_embeddings.weight")[0],
            "type_vocab_size": shape_of(shapes, "bert.embeddings.token_type_embeddings.weight")[0],
            "hidden_act": orig.get("hidden_act", "gelu"),
            "layer_norm_eps": float(orig.get("layer_norm_eps", 1e-12)),
            "pad_token_id": 0,
            "img_feature_dim": img_dim,
            "use_img_layernorm": "bert.LayerNorm.weight" in shapes,
            "img_layer_norm_eps": float(orig.get("img_layer_norm_eps", 1e-12)),
            # the heads' sizes come from their tensors (Oscar's config.json may omit them)
            "num_contrast_classes": (
                shape_of(shapes, "cls.seq_relationship.weight")[0]
                if "cls.seq_relationship.weight" in shapes
                else 0
            ),
            "classifier_head": "classifier.weight" in shapes,
            "num_labels": shape_of(shapes, "classifier.weight")[0] if "classifier.weight" in shapes else 2,
        }


SPEC = OscarSpec(
    name="oscar",
    description="Oscar+ / VinVL BertImgModel: BERT over text + detector region features (Mengzi-oscar; zhplm's own model)",
    model_type="oscar",
    full_class="OscarForPreTraining",
    schemes={"oscar": OSCAR},
    heads=HEADS,
    config_names=("config.json",),
    vocab_names=("vocab.txt",),
    classes=(
        (("mlm",), "OscarForPreTraining"),
        (("itm",), "OscarForPreTraining"),
        (("classifier",), "OscarForSequenceClassification"),
        ((), "OscarModel"),
    ),
    evidence=Evidence(distinctive=(r"bert\.img_embedding\..*",), without_distinctive=0.0),
    own_model=own_model("oscar", "Oscar", heads=("PreTraining", "SequenceClassification")),
)
