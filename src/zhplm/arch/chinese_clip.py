"""Chinese-CLIP (OFA-Sys ``clip_cn_*.pt`` releases) → transformers ``ChineseCLIPModel``.

A release is ``{"state_dict": {...}}`` of ``cn_clip.clip.model.CLIP`` wrapped in DistributedDataParallel
(``module.`` prefixes): an OpenAI-style ViT (``visual.*``: one fused ``attn.in_proj_{weight,bias}`` per
block, q/k/v stacked on dim 0; ``visual.proj`` stored ``[width, embed]``), a BERT text tower
(``bert.*``, the names transformers uses), ``text_projection`` ``[hidden, embed]`` and ``logit_scale``.
The fused projections are split into q/k/v, the two projections transposed into ``Linear`` weights; the
text pooler, which cn_clip never uses (the [CLS] hidden state is projected), is dropped.

The RN50 release's image tower is a ModifiedResNet with an attention pool: ``ChineseCLIPModel`` holds
ViTs only, so it is refused with the reason. Tensors do not store head counts: the text tower uses
64-wide heads (every release), the image tower 64-wide except ViT-H-14 (80, width 1280); cn_clip's own
model config files (``ViT-H-14.json`` …) next to the checkpoint override both.

Besides the tokenizer (cn_clip's ``vocab.txt``, lower-cased WordPiece) the folder gets a
``preprocessor_config.json`` describing cn_clip's ``image_transform``: a bicubic resize of the whole image
to the square input size (no crop: the aspect ratio is not kept), RGB, the OpenAI mean/std
(:mod:`zhplm.tasks.images` applies it exactly).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from zhplm.arch._rules import TRANSPOSE, Plan, Rule, Rules, Shape, Step, Transform
from zhplm.arch._spec import ArchSpec, Evidence, count_layers, fill_encoder_sizes, shape_of
from zhplm.errors import ConversionError, MappingError

P = r"(?:module\.)?"
V = rf"{P}visual\."
VL = rf"{V}transformer\.resblocks\.(\d+)"
HVL = r"vision_model.encoder.layers.\1"
_FUSED = re.compile(rf"{VL}\.attn\.in_proj_(weight|bias)")
_RESNET = re.compile(rf"{V}(?:attnpool|layer[1-4]|bn[1-3]|conv[23])\..*")

# cn_clip.clip.utils.image_transform: OpenAI CLIP's normalisation constants
IMAGE_MEAN = (0.48145466, 0.4578275, 0.40821073)
IMAGE_STD = (0.26862954, 0.26130258, 0.27577711)
BICUBIC = 3  # PIL.Image.Resampling.BICUBIC
# cn_clip.clip.tokenize: every released model was trained on 52-token texts ([CLS] … [SEP], padded with 0)
CONTEXT_LENGTH = 52


def _third(i: int) -> Transform:
    """Part ``i`` of a q/k/v stack along dim 0 (``nn.MultiheadAttention.in_proj_*``)."""
    return Transform(
        f"qkv[{i}/3]",
        lambda xs: xs[0][i * (xs[0].shape[0] // 3) : (i + 1) * (xs[0].shape[0] // 3)],
        lambda ss: (ss[0][0] // 3, *ss[0][1:]),
    )


class ClipRules(Rules):
    """Plain rules plus the split of the fused attention input projections (and the RN50 refusal)."""

    def plan(
        self, shapes: Mapping[str, Shape], dtypes: Mapping[str, str], config: Mapping[str, Any] | None = None
    ) -> Plan:
        resnet = sorted(n for n in shapes if _RESNET.fullmatch(n))
        if resnet:
            raise ConversionError(
                f"this is Chinese-CLIP RN50 ({resnet[0]} …): its image tower is a ModifiedResNet with an "
                "attention pool, and transformers' ChineseCLIPModel holds ViT image towers only, so it cannot "
                "be converted; use the ViT-B-16/L-14/H-14 releases, or run RN50 with the cn_clip package"
            )
        fused = {n: tuple(s) for n, s in shapes.items() if _FUSED.fullmatch(n)}
        plan = super().plan({n: s for n, s in shapes.items() if n not in fused}, dtypes, config)
        for name, shape in sorted(fused.items()):
            match = _FUSED.fullmatch(name)
            assert match is not None
            if not shape or shape[0] % 3:
                raise MappingError(
                    f"{name} has shape {shape}: a q/k/v stack needs a first size divisible by 3"
                )
            for i, part in enumerate(("q", "k", "v")):
                target = (
                    f"vision_model.encoder.layers.{match.group(1)}.self_attn.{part}_proj.{match.group(2)}"
                )
                plan.steps.append(Step(target, (name,), _third(i), (shape[0] // 3, *shape[1:]), dtypes[name]))
        return plan


CN_CLIP = ClipRules(
    Rule(rf"{V}conv1\.weight", "vision_model.embeddings.patch_embedding.weight"),
    Rule(rf"{V}class_embedding", "vision_model.embeddings.class_embedding"),
    Rule(rf"{V}positional_embedding", "vision_model.embeddings.position_embedding.weight"),
    Rule(rf"{V}ln_pre\.(weight|bias)", r"vision_model.pre_layrnorm.\1"),
    Rule(rf"{V}ln_post\.(weight|bias)", r"vision_model.post_layernorm.\1"),
    Rule(rf"{V}proj", "visual_projection.weight", TRANSPOSE),
    Rule(rf"{VL}\.attn\.out_proj\.(weight|bias)", rf"{HVL}.self_attn.out_proj.\2"),
    Rule(rf"{VL}\.ln_([12])\.(weight|bias)", rf"{HVL}.layer_norm\2.\3"),
    Rule(rf"{VL}\.mlp\.c_fc\.(weight|bias)", rf"{HVL}.mlp.fc1.\2"),
    Rule(rf"{VL}\.mlp\.c_proj\.(weight|bias)", rf"{HVL}.mlp.fc2.\2"),
    # never reached by planning (ClipRules.plan splits these first); listed so detection counts them
    Rule(rf"{VL}\.attn\.in_proj_(weight|bias)", rf"{HVL}.self_attn.qkv.\2"),
    Rule(rf"{P}bert\.((?:embeddings|encoder)\..*)", r"text_model.\1"),
    Rule(rf"{P}text_projection", "text_projection.weight", TRANSPOSE),
    Rule(rf"{P}logit_scale", "logit_scale"),
    ignore={
        rf"{P}bert\.pooler\..*": "text pooler: Chinese-CLIP projects the [CLS] hidden state, not the pooler",
        rf"{P}bert\.embeddings\.position_ids": "buffer, recomputed by the model",
    },
    name="cn-clip",
)

# cn_clip's model config files (cn_clip/clip/model_configs/*.json): a vision and a text file per model
_CONFIG_FILES = ("ViT-*.json", "RoBERTa-wwm-ext-*.json", "RBT3-*.json")


class ChineseClipSpec(ArchSpec):
    def read_original_config(self, folder: Path | None) -> dict[str, Any] | None:
        """cn_clip keeps the vision and the text sizes in two files; both are merged, as its ``create_model`` does."""
        if folder is None:
            return None
        merged: dict[str, Any] = {}
        for pattern in _CONFIG_FILES:
            for path in sorted(folder.rglob(pattern))[:1]:
                try:
                    data = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, ValueError) as exc:
                    raise ConversionError(f"cannot read config {path}: {exc}") from exc
                if isinstance(data, dict):
                    merged.update(data)
        return merged or None

    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        orig = dict(original or {})
        if isinstance(orig.get("vision_layers"), (list, str)):
            raise ConversionError("the model config describes a ResNet image tower (RN50): not convertible")
        text: dict[str, Any] = {
            "layer_norm_eps": 1e-12,
            "hidden_act": orig.get("text_hidden_act", "gelu"),
            "pad_token_id": 0,
        }
        for key in ("num_attention_heads", "hidden_dropout_prob", "attention_probs_dropout_prob"):
            if f"text_{key}" in orig:
                text[key] = orig[f"text_{key}"]
        text_shapes = {k: v for k, v in shapes.items() if k.startswith("text_model.")}
        fill_encoder_sizes(text, text_shapes, "text_model")
        width, _, patch, _ = shape_of(shapes, "vision_model.embeddings.patch_embedding.weight")
        positions = shape_of(shapes, "vision_model.embeddings.position_embedding.weight")[0]
        grid = math.isqrt(positions - 1)
        if grid * grid != positions - 1:
            raise ConversionError(f"{positions} image positions are not a square grid plus the class token")
        head_width = int(orig.get("vision_head_width", 80 if width == 1280 else 64))
        if width % head_width:
            raise ConversionError(f"image width {width} does not split into {head_width}-wide heads")
        vision = {
            "hidden_size": width,
            "intermediate_size": shape_of(shapes, "vision_model.encoder.layers.0.mlp.fc1.weight")[0],
            "num_hidden_layers": count_layers(shapes, r"vision_model\.encoder\.layers\.(\d+)\..*"),
            "num_attention_heads": width // head_width,
            "patch_size": patch,
            "image_size": grid * patch,
            "num_channels": 3,
            "hidden_act": "quick_gelu",
            "layer_norm_eps": 1e-5,
        }
        projection = shape_of(shapes, "visual_projection.weight")[0]
        if shape_of(shapes, "text_projection.weight")[0] != projection:
            raise ConversionError("the text and image projections have different output sizes")
        return {
            "model_type": self.model_type,
            "text_config": text,
            "vision_config": vision,
            "projection_dim": projection,
        }

    def write_tokenizer(self, vocab: Path | None, out: Path, config: Mapping[str, Any]) -> list[str]:
        size = int(config["vision_config"]["image_size"])
        write_image_processor(out, size)
        if vocab is None:
            return [
                "no vocab.txt found: the tokenizer was not written; put cn_clip's vocab.txt (pip package "
                "cn-clip, cn_clip/clip/vocab.txt) next to the checkpoint and convert again"
            ]
        from zhplm.arch.tokenization.wordpiece import write_bert_tokenizer

        return write_bert_tokenizer(vocab, out, do_lower_case=True)


def write_image_processor(out: Path, size: int, *, context_length: int = CONTEXT_LENGTH) -> None:
    """``preprocessor_config.json`` in transformers' ChineseCLIP format, saying what cn_clip does: resize the
    whole image to ``size``×``size`` (bicubic), no crop, RGB, scale to [0, 1], normalise."""
    data = {
        "image_processor_type": "ChineseCLIPImageProcessor",
        "do_resize": True,
        "size": {"height": size, "width": size},
        "resample": BICUBIC,
        "do_center_crop": False,
        "crop_size": {"height": size, "width": size},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": list(IMAGE_MEAN),
        "image_std": list(IMAGE_STD),
        "do_convert_rgb": True,
        "context_length": context_length,
    }
    (out / "preprocessor_config.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


SPEC = ChineseClipSpec(
    name="chinese_clip",
    description="Chinese-CLIP: ViT image tower + RoBERTa-wwm text tower, contrastive (transformers' ChineseCLIPModel)",
    model_type="chinese_clip",
    full_class="ChineseCLIPModel",
    schemes={"cn-clip": CN_CLIP},
    config_names=_CONFIG_FILES,
    vocab_names=("vocab.txt",),
    classes=(((), "ChineseCLIPModel"),),
    evidence=Evidence(
        distinctive=(rf"{VL}\.attn\.in_proj_weight", rf"{P}logit_scale", rf"{V}attnpool\..*"),
        without_distinctive=0.0,
    ),
)
