"""BriVL-1.0 / WenLan (BAAI-WuDao/BriVL: ``BriVL-1.0-5500w.tar``) → zhplm's ``BriVLModel``.

The release is what ``evaluation/XYB_box_extract.py`` loads into ``VL_model.learnable``: a dict whose
``learnable`` entry is that ModuleDict's state dict (a ``module.`` prefix, from ``DataParallel``, may appear
on the names), read here flattened as ``learnable.<encoder>.…``:

* ``imgencoder.backbone.*``: timm ``tf_efficientnet_b5_ns`` (``conv_stem``, ``bn1``, ``blocks.S.J.*``,
  ``conv_head``, ``bn2``; its ``classifier`` is unused) → transformers' ``EfficientNetModel`` names. timm
  numbers blocks per stage, transformers in one sequence, so the rules are made per checkpoint
  (:class:`BriVLRules`); the sizes come from the tensors: width and depth coefficients are the ones that
  reproduce every block's shape;
* ``imgencoder.learnable.{max_pool.0, imgAtt, imgFC}`` → ``image_pool``, ``image_transformer``,
  ``image_head``; ``textencoder.backbone.bert.*`` → ``text_backbone`` (its pooler is unused);
  ``textencoder.learnable.{textAtt, textFC}`` → ``text_transformer``, ``text_head``;
* ``imgencoder_mom`` / ``textencoder_mom`` (MoCo's momentum copies), the queues and optimizer state are
  training state and dropped.

Head counts and the input geometry are in no tensor: BriVL's ``cfg/*.yml`` next to the checkpoint wins
(``IMG_SIZE``, ``GRID_SIZE``, ``*_TRANSFORMER_HEAD``, ``MAX_IMG_LEN``, ``MAX_TEXT_LEN``), then the BERT's
``config.json``; otherwise ``cfg/test_xyb.yml``'s values (380 pixels, 4×4 grid, 4 heads, 37 boxes, 80
tokens) and 64-wide BERT heads. Images are preprocessed as ``dataset/xybDataset.py`` does (RGB, to [0, 1],
bilinear resize of the tensor without antialiasing — torchvision 0.9's tensor ``Resize`` — ImageNet
mean/std); see :mod:`zhplm.tasks.region_image`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from zhplm.arch._rules import Plan, Rule, Rules, Shape
from zhplm.arch._spec import ArchSpec, Evidence, count_layers, fill_encoder_sizes, own_model, shape_of
from zhplm.errors import ConversionError

P = r"(?:module\.)?(?:learnable\.)?(?:module\.)?"
IMG = rf"{P}imgencoder\."
TXT = rf"{P}textencoder\."
BN = r"(weight|bias|running_mean|running_var)"
BB = "image_backbone"

# cfg/test_xyb.yml
DEFAULTS: dict[str, Any] = {
    "image_size": 380,
    "grid_size": 4,
    "image_transformer_heads": 4,
    "text_transformer_heads": 4,
    "max_boxes": 37,
    "max_text_length": 80,
}
_YML_KEYS = {
    "IMG_SIZE": "image_size",
    "GRID_SIZE": "grid_size",
    "IMG_TRANSFORMER_HEAD": "image_transformer_heads",
    "TEXT_TRANSFORMER_HEAD": "text_transformer_heads",
    "MAX_IMG_LEN": "max_boxes",
    "MAX_TEXT_LEN": "max_text_length",
}
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)

_STATIC = Rules(
    Rule(rf"{IMG}backbone\.conv_stem\.weight", f"{BB}.embeddings.convolution.weight"),
    Rule(rf"{IMG}backbone\.bn1\.{BN}", rf"{BB}.embeddings.batchnorm.\1"),
    Rule(rf"{IMG}backbone\.conv_head\.weight", f"{BB}.encoder.top_conv.weight"),
    Rule(rf"{IMG}backbone\.bn2\.{BN}", rf"{BB}.encoder.top_bn.\1"),
    Rule(rf"{IMG}learnable\.max_pool\.0\.(weight|bias)", r"image_pool.\1"),
    Rule(rf"{IMG}learnable\.imgAtt\.(layers\.\d+\..*)", r"image_transformer.\1"),
    Rule(rf"{IMG}learnable\.imgFC\.(fc[12])\.(weight|bias)", r"image_head.\1.\2"),
    Rule(rf"{TXT}backbone\.bert\.((?:embeddings|encoder)\..*)", r"text_backbone.\1"),
    Rule(rf"{TXT}learnable\.textAtt\.(layers\.\d+\..*)", r"text_transformer.\1"),
    Rule(rf"{TXT}learnable\.textFC\.(fc[12])\.(weight|bias)", r"text_head.\1.\2"),
    ignore={
        rf"{P}(?:imgencoder|textencoder)_mom\..*": "MoCo momentum encoder (training only)",
        rf"{IMG}backbone\.classifier\..*": "timm's ImageNet classifier (BriVL uses forward_features)",
        rf"{TXT}backbone\.bert\.pooler\..*": "BERT pooler (BriVL uses the last hidden states)",
        rf"{TXT}backbone\.bert\.embeddings\.position_ids": "buffer, recomputed by the model",
        rf"{P}(?:img|text)_queue(?:_ptr)?": "MoCo queue (training only)",
        r"(?:optimizer|scheduler|optim)\..*": "optimizer state",
        rf"{IMG}backbone\..*\.num_batches_tracked|{IMG}backbone\.bn1\.num_batches_tracked": "BatchNorm step counter (unused in eval)",
    },
    name="brivl",
)

# timm block parts → transformers' EfficientNetBlock parts (depthwise-separable first stage, inverted residual rest)
_DS_PARTS = {
    "conv_dw": "depthwise_conv.depthwise_conv",
    "bn1": "depthwise_conv.depthwise_norm",
    "conv_pw": "projection.project_conv",
    "bn2": "projection.project_bn",
}
_IR_PARTS = {
    "conv_pw": "expansion.expand_conv",
    "bn1": "expansion.expand_bn",
    "conv_dw": "depthwise_conv.depthwise_conv",
    "bn2": "depthwise_conv.depthwise_norm",
    "conv_pwl": "projection.project_conv",
    "bn3": "projection.project_bn",
}
_BLOCK = re.compile(rf"{IMG}backbone\.blocks\.(\d+)\.(\d+)\.(.*)")


class BriVLRules(Rules):
    """The static rules plus, per checkpoint, one rule per timm block ``blocks.S.J`` → ``blocks.N``."""

    def plan(
        self, shapes: Mapping[str, Shape], dtypes: Mapping[str, str], config: Mapping[str, Any] | None = None
    ) -> Plan:
        found: dict[tuple[int, int], bool] = {}  # (stage, index) → inverted residual (has conv_pwl)
        for name in shapes:
            if m := _BLOCK.fullmatch(name):
                key = (int(m.group(1)), int(m.group(2)))
                found[key] = found.get(key, False) or m.group(3).startswith("conv_pwl")
        rules = []
        for n, (stage, index) in enumerate(sorted(found)):
            parts = _IR_PARTS if found[(stage, index)] else _DS_PARTS
            block = rf"{IMG}backbone\.blocks\.{stage}\.{index}\."
            target = f"{BB}.encoder.blocks.{n}."
            for src, dst in parts.items():
                tail = r"weight" if src.startswith("conv") else BN
                rules.append(
                    Rule(rf"{block}{src}\.{tail}", target + dst + (r".\1" if tail == BN else ".weight"))
                )
            for side in ("reduce", "expand"):
                rules.append(
                    Rule(rf"{block}se\.conv_{side}\.(weight|bias)", rf"{target}squeeze_excite.{side}.\1")
                )
        return Rules(*rules, *self.rules, ignore=self.ignore, name=self.name).plan(shapes, dtypes, config)


BRIVL_RULES = BriVLRules(*_STATIC.rules, ignore=_STATIC.ignore, name="brivl")

# transformers' EfficientNetConfig defaults are EfficientNet-B0's stages (timm's ``_gen_efficientnet`` arch_def)
_BASE_IN = (32, 16, 24, 40, 80, 112, 192)
_BASE_OUT = (16, 24, 40, 80, 112, 192, 320)
_BASE_REPEATS = (1, 2, 2, 3, 3, 4, 1)
_BASE_EXPAND = (1, 6, 6, 6, 6, 6, 6)
_BASE_KERNEL = (3, 3, 5, 3, 5, 5, 3)
# (width, depth) of tf_efficientnet_b0 … b8 and l2: tried first, then a grid
_KNOWN = ((1.0, 1.0), (1.0, 1.1), (1.1, 1.2), (1.2, 1.4), (1.4, 1.8), (1.6, 2.2), (1.8, 2.6), (2.0, 3.1),
          (2.2, 3.6), (4.3, 5.3))  # fmt: skip


def _round_filters(channels: float, width: float, divisor: int = 8) -> int:
    channels *= width
    new = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return int(new + divisor if new < 0.9 * channels else new)


def _expected(width: float, depth: float) -> list[tuple[int, int, int]]:
    """Per block: (output channels, depthwise channels, kernel) of EfficientNet at these coefficients."""
    blocks = []
    for cin, cout, reps, exp, k in zip(
        _BASE_IN, _BASE_OUT, _BASE_REPEATS, _BASE_EXPAND, _BASE_KERNEL, strict=True
    ):
        cin_r, cout_r = _round_filters(cin, width), _round_filters(cout, width)
        for j in range(math.ceil(depth * reps)):
            dim = cout_r if j else cin_r
            blocks.append((cout_r, dim * exp, k))
    return blocks


def fit_efficientnet(shapes: Mapping[str, Shape]) -> dict[str, Any]:
    """transformers' ``EfficientNetConfig`` entries whose model has exactly these backbone tensors."""
    stem = shape_of(shapes, f"{BB}.embeddings.convolution.weight")[0]
    n = count_layers(shapes, rf"{BB}\.encoder\.blocks\.(\d+)\..*")
    found = [
        (
            shape_of(shapes, f"{BB}.encoder.blocks.{i}.projection.project_conv.weight")[0],
            shape_of(shapes, f"{BB}.encoder.blocks.{i}.depthwise_conv.depthwise_conv.weight")[0],
            shape_of(shapes, f"{BB}.encoder.blocks.{i}.depthwise_conv.depthwise_conv.weight")[2],
        )
        for i in range(n)
    ]
    if stem == found[0][0]:
        raise ConversionError(
            f"the backbone's stem and first block both have {stem} channels: timm then adds a residual around "
            "that block, which transformers' EfficientNetModel never does (no released EfficientNet is this narrow)"
        )
    grid = [(w / 20, d / 10) for w in range(2, 100) for d in range(1, 60)]
    for width, depth in (*_KNOWN, *grid):
        if _round_filters(32, width) == stem and _expected(width, depth) == found:
            return {
                "width_coefficient": width,
                "depth_coefficient": depth,
                "hidden_dim": shape_of(shapes, f"{BB}.encoder.top_conv.weight")[0],
                "num_channels": shape_of(shapes, f"{BB}.embeddings.convolution.weight")[1],
                "hidden_act": "swish",
                "batch_norm_eps": 1e-3,  # timm's BN_EPS_TF_DEFAULT for tf_* models
            }
    raise ConversionError(
        f"the image backbone's {n} blocks (stem {stem} channels) are no EfficientNet width/depth scaling "
        "zhplm knows: BriVL uses timm's tf_efficientnet_b5_ns"
    )


def _read_yml(path: Path) -> dict[str, Any]:
    """BriVL's ``MODEL:`` section (a YAML file of plain ``KEY: value`` lines; read without a YAML library)."""
    out: dict[str, Any] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConversionError(f"cannot read BriVL's config {path}: {exc}") from exc
    for line in text.splitlines():
        m = re.fullmatch(r"\s+([A-Z_]+):\s*([0-9]+)\s*(?:#.*)?", line)
        if m and m.group(1) in _YML_KEYS:
            out[_YML_KEYS[m.group(1)]] = int(m.group(2))
    return out


class BriVLSpec(ArchSpec):
    def read_original_config(self, folder: Path | None) -> dict[str, Any] | None:
        """BriVL's ``*.yml`` (``brivl`` key) and the BERT's ``config.json`` (``text`` key), where they lie."""
        if folder is None:
            return None
        found: dict[str, Any] = {}
        for path in sorted([*folder.rglob("*.yml"), *folder.rglob("*.yaml")])[:1]:
            found["brivl"] = _read_yml(path)
        for path in sorted(folder.rglob("config.json"))[:1]:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConversionError(f"cannot read config {path}: {exc}") from exc
            if isinstance(data, dict):
                found["text"] = data
        return found or None

    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        orig = dict(original or {})
        geometry = {**DEFAULTS, **orig.get("brivl", {})}
        text: dict[str, Any] = {"layer_norm_eps": 1e-12, "pad_token_id": 0}
        given = orig.get("text", {})
        if "num_attention_heads" in given:
            text["num_attention_heads"] = int(given["num_attention_heads"])
        fill_encoder_sizes(
            text, {k: v for k, v in shapes.items() if k.startswith("text_backbone.")}, "text_backbone"
        )
        width = shape_of(shapes, "image_pool.weight")[0]
        vision = fit_efficientnet(shapes)
        if vision["hidden_dim"] != width:
            raise ConversionError(
                f"the backbone gives {vision['hidden_dim']} channels, the region pooling reads {width}"
            )
        for side in ("image", "text"):
            heads = int(geometry[f"{side}_transformer_heads"])
            dim = width if side == "image" else text["hidden_size"]
            if dim % heads:
                raise ConversionError(
                    f"the {side} transformer's width {dim} does not split into {heads} heads"
                )
        return {
            "model_type": self.model_type,
            "vision_config": vision,
            "text_config": text,
            "projection_dim": width,
            "image_transformer_layers": count_layers(shapes, r"image_transformer\.layers\.(\d+)\..*"),
            "text_transformer_layers": count_layers(shapes, r"text_transformer\.layers\.(\d+)\..*"),
            "transformer_ffn_dim": shape_of(shapes, "image_transformer.layers.0.linear1.weight")[0],
            **geometry,
        }

    def write_tokenizer(self, vocab: Path | None, out: Path, config: Mapping[str, Any]) -> list[str]:
        write_region_image_processor(out, config)
        if vocab is None:
            return [
                "no vocab.txt found: the tokenizer was not written; put hfl/chinese-roberta-wwm-ext's vocab.txt "
                "next to the checkpoint and convert again"
            ]
        from zhplm.arch.tokenization.wordpiece import write_bert_tokenizer

        return write_bert_tokenizer(vocab, out, do_lower_case=True)


def write_region_image_processor(out: Path, config: Mapping[str, Any]) -> None:
    """``preprocessor_config.json`` saying what BriVL's dataset does (read by :mod:`zhplm.tasks.region_image`)."""
    size = int(config["image_size"])
    data = {
        "image_processor_type": "BriVLRegionImageProcessor",
        "size": {"height": size, "width": size},
        "resize": "bilinear-tensor",  # torchvision 0.9 Resize on the [0, 1] tensor: no antialiasing
        "image_mean": list(IMAGE_MEAN),
        "image_std": list(IMAGE_STD),
        "max_boxes": int(config["max_boxes"]),
        "context_length": int(config["max_text_length"]),
    }
    (out / "preprocessor_config.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


SPEC = BriVLSpec(
    name="brivl",
    description="BriVL / WenLan: EfficientNet + RoI grid pooling over detector boxes + BERT, dual encoder (zhplm's own model)",
    model_type="brivl",
    full_class="BriVLModel",
    schemes={"brivl": BRIVL_RULES},
    config_names=("config.json",),
    vocab_names=("vocab.txt",),
    classes=(((), "BriVLModel"),),
    evidence=Evidence(
        distinctive=(
            rf"{IMG}learnable\.imgAtt\..*",
            rf"{TXT}learnable\.textFC\..*",
            rf"{IMG}learnable\.max_pool\..*",
        ),
        without_distinctive=0.0,
    ),
    own_model=own_model("brivl", "BriVL", heads=()),
)
