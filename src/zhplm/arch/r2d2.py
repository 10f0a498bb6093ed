"""R2D2 (yuxie11/R2D2: ``r2d2_pretrain_250m.pth`` and the fine-tuned retrieval releases) → zhplm's ``R2D2Model``.

A release is ``torch.save({"model": state_dict, ...})`` of ``models/r2d2.py::R2D2`` (or its fine-tuned
subclasses, the same parameters): ``visual_encoder.*`` (transformers' CLIP vision transformer),
``text_encoder.*`` (transformers' ``BertModel``, hfl RoBERTa-wwm-ext sizes), ``vision_proj`` / ``text_proj``,
the two BLIP-style cross-encoders ``text_joint_layer.*`` / ``img_joint_layer.*`` (R2D2's ``models/bert.py``,
BLIP's ``med.py``), ``img_joint_proj``, ``temp`` and the ITM heads ``itm_head`` / ``itm_head_i``.
:mod:`zhplm.arch.modeling.r2d2` keeps every name, so the rules are the identity (buffers dropped).

Sizes: from the tensors, except head counts (no tensor stores them): R2D2's own config files, when they lie
next to the checkpoint as in the repository (``checkpoints/r2d2_config/vision_config*.json``: a CLIPConfig
whose ``vision_config`` sizes the ViT; ``bert_config.json``: the cross-encoders; ``checkpoints/hfl_roberta/
config.json``: the text tower) win; otherwise 64-wide heads (ViT-L/14: 16, ViT-B/16 and BERT-base: 12).
Images are preprocessed as ``r2d2_inference_demo.preprocess``: bicubic resize of the whole image to the
square input size, the OpenAI CLIP mean/std — cn_clip's transform, so the same ``preprocessor_config.json``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from zhplm.arch._rules import Rule, Rules, Shape
from zhplm.arch._spec import ArchSpec, Evidence, count_layers, fill_encoder_sizes, own_model, shape_of
from zhplm.arch.chinese_clip import write_image_processor
from zhplm.errors import ConversionError

P = r"(?:module\.)?"
_PARTS = (
    "visual_encoder",
    "text_encoder",
    "vision_proj",
    "text_proj",
    "text_joint_layer",
    "img_joint_layer",
    "img_joint_proj",
    "itm_head",
    "itm_head_i",
)
CONTEXT_LENGTH = 64  # R2D2.tokenize_text: padding="max_length", max_length=64

R2D2_RULES = Rules(
    Rule(rf"{P}((?:{'|'.join(_PARTS)})\..*)", r"\1"),
    Rule(rf"{P}temp", "temp"),
    ignore={
        rf"{P}.*\.position_ids": "buffer, recomputed by the model",
    },
    name="r2d2",
)

# R2D2's own config files (checkpoints/r2d2_config/*, checkpoints/hfl_roberta/config.json)
_VISION_FILES = ("vision_config.json", "vision_config_base.json")
_JOINT_FILE = "bert_config.json"
_TEXT_FILE = "config.json"


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConversionError(f"cannot read config {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConversionError(f"{path} is not a JSON object")
    return data


def _heads(cfg: dict[str, Any], given: Mapping[str, Any]) -> None:
    if "num_attention_heads" in given:
        cfg["num_attention_heads"] = int(given["num_attention_heads"])
    if int(cfg["hidden_size"]) % int(cfg["num_attention_heads"]):
        raise ConversionError(
            f"width {cfg['hidden_size']} does not split into {cfg['num_attention_heads']} attention heads"
        )


class R2D2Spec(ArchSpec):
    def read_original_config(self, folder: Path | None) -> dict[str, Any] | None:
        """R2D2's three config files, each under its own key (``vision``, ``joint``, ``text``)."""
        if folder is None:
            return None
        found: dict[str, Any] = {}
        for pattern in _VISION_FILES:
            for path in sorted(folder.rglob(pattern))[:1]:
                data = _read(path)
                # a CLIPConfig file; transformers 4.x lets ``vision_config_dict`` override ``vision_config``
                vision = {**(data.get("vision_config") or {}), **(data.get("vision_config_dict") or {})}
                found.setdefault("vision", vision or data)
        for key, name in (("joint", _JOINT_FILE), ("text", _TEXT_FILE)):
            for path in sorted(folder.rglob(name))[:1]:
                found[key] = _read(path)
        return found or None

    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        orig = dict(original or {})

        def part(prefix: str) -> dict[str, Shape]:
            return {k: v for k, v in shapes.items() if k.startswith(prefix + ".")}

        width, _, patch, _ = shape_of(shapes, "visual_encoder.embeddings.patch_embedding.weight")
        positions = shape_of(shapes, "visual_encoder.embeddings.position_embedding.weight")[0]
        grid = math.isqrt(positions - 1)
        if grid * grid != positions - 1:
            raise ConversionError(f"{positions} image positions are not a square grid plus the class token")
        vision: dict[str, Any] = {
            "hidden_size": width,
            "intermediate_size": shape_of(shapes, "visual_encoder.encoder.layers.0.mlp.fc1.weight")[0],
            "num_hidden_layers": count_layers(shapes, r"visual_encoder\.encoder\.layers\.(\d+)\..*"),
            "num_attention_heads": max(1, width // 64),
            "patch_size": patch,
            "image_size": grid * patch,
            "num_channels": 3,
            "hidden_act": orig.get("vision", {}).get("hidden_act", "quick_gelu"),
            "layer_norm_eps": float(orig.get("vision", {}).get("layer_norm_eps", 1e-5)),
        }
        _heads(vision, orig.get("vision", {}))

        text: dict[str, Any] = {"layer_norm_eps": 1e-12, "pad_token_id": 0}
        fill_encoder_sizes(text, part("text_encoder"), "text_encoder")
        _heads(text, orig.get("text", {}))

        joint: dict[str, Any] | None = None
        if part("text_joint_layer"):  # R2D2; PRD2 has the two towers only
            joint = self._joint(orig, shapes, text, width)
        return {
            "model_type": self.model_type,
            "vision_config": vision,
            "text_config": text,
            "joint_config": joint,
            "projection_dim": shape_of(shapes, "vision_proj.weight")[0],
            "context_length": CONTEXT_LENGTH,
        }

    @staticmethod
    def _joint(
        orig: Mapping[str, Any], shapes: Mapping[str, Shape], text: Mapping[str, Any], width: int
    ) -> dict[str, Any]:
        """The cross-encoders' config (both have the same sizes; their key/value widths differ)."""

        def part(prefix: str) -> dict[str, Shape]:
            return {k: v for k, v in shapes.items() if k.startswith(prefix + ".")}

        joint_shapes = part("text_joint_layer")
        hidden = shape_of(shapes, "text_joint_layer.encoder.layer.0.attention.self.query.weight")[0]
        if hidden != text["hidden_size"]:
            raise ConversionError(
                f"the cross-encoders are {hidden} wide and the text tower {text['hidden_size']}: "
                "R2D2 feeds the text states into the cross-encoder unchanged, so they must be equal"
            )
        joint: dict[str, Any] = {
            "vocab_size": shape_of(shapes, "text_joint_layer.embeddings.word_embeddings.weight")[0],
            "hidden_size": hidden,
            "intermediate_size": shape_of(
                shapes, "text_joint_layer.encoder.layer.0.intermediate.dense.weight"
            )[0],
            "num_hidden_layers": count_layers(joint_shapes),
            "num_attention_heads": max(1, hidden // 64),
            "max_position_embeddings": shape_of(
                shapes, "text_joint_layer.embeddings.position_embeddings.weight"
            )[0],
            "hidden_act": orig.get("joint", {}).get("hidden_act", "gelu"),
            "layer_norm_eps": float(orig.get("joint", {}).get("layer_norm_eps", 1e-12)),
            "pad_token_id": 0,
            "encoder_hidden_size": width,
            "is_decoder": True,
            "bos_token_id": None,  # BlipTextConfig's defaults name ids of BLIP's English vocabulary
            "eos_token_id": None,
            "sep_token_id": None,
        }
        _heads(joint, orig.get("joint", {}))
        if count_layers(part("img_joint_layer")) != joint["num_hidden_layers"]:
            raise ConversionError("the two cross-encoders have different depths")
        return joint

    def write_tokenizer(self, vocab: Path | None, out: Path, config: Mapping[str, Any]) -> list[str]:
        write_image_processor(out, int(config["vision_config"]["image_size"]), context_length=CONTEXT_LENGTH)
        if vocab is None:
            return [
                "no vocab.txt found: the tokenizer was not written; put R2D2's checkpoints/hfl_roberta/vocab.txt "
                "next to the checkpoint and convert again"
            ]
        from zhplm.arch.tokenization.wordpiece import write_bert_tokenizer

        return write_bert_tokenizer(vocab, out, do_lower_case=True)


SPEC = R2D2Spec(
    name="r2d2",
    description="R2D2: CLIP ViT + BERT dual encoder with BLIP-style ITM cross-encoders (zhplm's own model)",
    model_type="r2d2",
    full_class="R2D2Model",
    schemes={"r2d2": R2D2_RULES},
    config_names=(*_VISION_FILES, _JOINT_FILE, _TEXT_FILE),
    vocab_names=("vocab.txt",),
    classes=(((), "R2D2Model"),),
    evidence=Evidence(
        # the cross-encoders (R2D2), or a CLIP vision tower named R2D2's way beside its BERT (PRD2)
        distinctive=(
            rf"{P}text_joint_layer\..*",
            rf"{P}img_joint_proj\..*",
            rf"{P}itm_head_i\..*",
            rf"{P}visual_encoder\.embeddings\.class_embedding",
        ),
        without_distinctive=0.0,
    ),
    own_model=own_model("r2d2", "R2D2", heads=()),
)
