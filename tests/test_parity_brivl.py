"""BriVL / WenLan (arch ``brivl``) against the authors' own code (BAAI-WuDao/BriVL snapshot, run in .venv-ref).

BriVL's ``models/vl_model.py::VL_model`` (built by ``build_network`` from a shrunk ``cfg/test_xyb.yml``: see
tests/oracles/brivl_original.py) writes ``{"learnable": state_dict}`` with seeded random weights and BatchNorm
statistics; zhplm detects and converts it to its own ``BriVLModel``. The oracle runs images, detector boxes
and texts through BriVL's own dataset (``XYBDataset_all``: transform, box scaling, tokenizer) and its
``extract`` path; preprocessing, boxes, token ids and the normalised image and text features must match
(features within 1e-4), also through ``zhplm.pipeline("image-text-similarity")``. A second oracle run
checks the backbone alone at BriVL-1.0's real size: timm 0.4.12's ``tf_efficientnet_b5_ns`` at 380 pixels
against transformers' ``EfficientNetModel`` with the converted names and TF "same" padding.

Stubbed (named, in the oracle): torchvision (``Compose / ToTensor / Normalize``, a tensor ``Resize`` as
torchvision 0.9.1's), the dataset module's training-data libraries, timm's pretrained download.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import zhplm
from helpers_clip import make_images
from oracle import require_original, run_oracle
from zhplm.errors import ConversionError
from zhplm.tasks.region_image import BoxedImage, RegionImageTransform

TOL = 1e-4
TEXTS = ["一张猫的照片", "诺伍德大厅酒店位于阿伯丁，是家4星级酒店。", "Hello 世界, MIXED case", "北京" * 20]
IMAGES = [
    "rgb.jpg",
    "small_rgb.png",
    "wide.webp",
    "gray.png",
    "cmyk.jpg",
    "alpha.png",
    "palette.gif",
    "big.bmp",
]


def _boxes(i: int, width: int, height: int) -> list[list[float]]:
    """0 to 7 boxes inside the image (more than the 4 the tiny model keeps, for some), in its pixels."""
    r = np.random.default_rng(i)
    out = []
    for _ in range(i % 8):
        x1, x2 = sorted(r.uniform(0, width, 2))
        y1, y2 = sorted(r.uniform(0, height, 2))
        out.append([round(float(v), 1) for v in (x1, y1, x2 + 1, y2 + 1)])
    return out


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_original("BAAI-WuDao/BriVL")
    require_original("yuxie11/R2D2")  # hfl RoBERTa-wwm-ext's vocab.txt, the one BriVL's tokenizer reads
    out = tmp_path_factory.mktemp("brivl-release")
    run_oracle("brivl_original.py", "write", "--out", out, "--seed", "3")
    return out


@pytest.fixture(scope="module")
def converted(release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("brivl") / "model"
    zhplm.convert(release, out)  # detected, not named
    return out


@pytest.fixture(scope="module")
def reference(
    release: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[BoxedImage], dict[str, np.ndarray]]:
    from PIL import Image

    tmp = tmp_path_factory.mktemp("brivl-ref")
    files = make_images(tmp / "images")
    items = []
    for i, name in enumerate(IMAGES):
        with Image.open(files[name]) as img:
            size = img.size
        items.append(BoxedImage(files[name], _boxes(i, *size)))
    spec = tmp / "in.json"
    rows = [
        {"image": str(item.image), "boxes": item.boxes, "text": TEXTS[i % len(TEXTS)]}
        for i, item in enumerate(items)
    ]
    spec.write_text(json.dumps({"items": rows}, ensure_ascii=False), encoding="utf-8")
    run_oracle("brivl_original.py", "forward", "--ckpt", release, "--inputs", spec, "--out", tmp / "ref.npz")
    with np.load(tmp / "ref.npz") as ref:
        return items, {k: ref[k] for k in ref.files}


def _texts(n: int) -> list[str]:
    return [TEXTS[i % len(TEXTS)] for i in range(n)]


def test_conversion_reads_brivl_config(converted: Path) -> None:
    cfg = json.loads((converted / "config.json").read_text(encoding="utf-8"))
    assert cfg["model_type"] == "brivl" and cfg["architectures"] == ["BriVLModel"]
    # geometry and head counts from BriVL's yml next to the checkpoint (no tensor stores them)
    assert (cfg["image_size"], cfg["grid_size"], cfg["max_boxes"], cfg["max_text_length"]) == (76, 3, 5, 12)
    assert cfg["text_config"]["num_attention_heads"] == 4  # the BERT's config.json, not 64-wide heads
    assert cfg["vision_config"]["width_coefficient"] == 0.4 and cfg["projection_dim"] == 512
    # 76 → 38 → 19 (odd: symmetric padding in the next stride-2 block) → 10 → 5 (odd) → 3
    assert cfg["vision_config"]["depthwise_padding"] == [2, 7]
    pre = json.loads((converted / "preprocessor_config.json").read_text(encoding="utf-8"))
    assert (
        pre["size"] == {"height": 76, "width": 76} and pre["max_boxes"] == 5 and pre["context_length"] == 12
    )


def test_preprocessing_and_boxes_equal_brivl_dataset(
    converted: Path, reference: tuple[list[BoxedImage], dict[str, np.ndarray]]
) -> None:
    items, ref = reference
    transform = RegionImageTransform.from_folder(converted)
    for i, item in enumerate(items):
        pixels, boxes = transform(item)
        np.testing.assert_allclose(pixels, ref["pixels"][i], atol=1e-5, rtol=0, err_msg=str(item))
        n = int(ref["img_lens"][i])
        assert len(boxes) == n == min(len(item.boxes), 4) + 1
        np.testing.assert_allclose(boxes, ref["boxes"][i][:n], atol=1e-4, rtol=0)


def test_features_match_brivl(
    converted: Path, reference: tuple[list[BoxedImage], dict[str, np.ndarray]]
) -> None:
    import torch

    items, ref = reference
    loaded = zhplm.load(converted)
    enc = loaded.tokenizer(
        _texts(len(items)), padding="max_length", truncation=True, max_length=12, return_tensors="pt"
    )
    np.testing.assert_array_equal(enc["input_ids"].numpy(), ref["input_ids"])
    np.testing.assert_array_equal(enc["attention_mask"].sum(1).numpy(), ref["text_lens"])
    box_mask = torch.arange(5)[None] < torch.from_numpy(ref["img_lens"]).long()[:, None]
    with torch.inference_mode():
        out = loaded.model(
            input_ids=enc["input_ids"],
            attention_mask=enc["attention_mask"],
            pixel_values=torch.from_numpy(ref["pixels"]),
            boxes=torch.from_numpy(ref["boxes"]),
            box_mask=box_mask.long(),
        )
    embeds = ref["image_embeds"]
    assert (
        np.abs(embeds[:, None] - embeds[None]).max() > 50 * TOL
    )  # the images' features differ far beyond TOL
    np.testing.assert_allclose(out.text_embeds.numpy(), ref["text_embeds"], atol=TOL, rtol=0)
    np.testing.assert_allclose(out.image_embeds.numpy(), ref["image_embeds"], atol=TOL, rtol=0)


def test_pipeline_similarity_and_retrieval(
    converted: Path, reference: tuple[list[BoxedImage], dict[str, np.ndarray]]
) -> None:
    items, ref = reference
    sim = zhplm.pipeline("image-text-similarity", converted)
    cosine = ref["image_embeds"] @ ref["text_embeds"].T
    np.testing.assert_allclose(sim(items, _texts(len(items))), cosine, atol=TOL, rtol=0)
    got = sim.text_to_image(TEXTS[1], items, k=3)
    order = np.argsort(-cosine[:, 1], kind="stable")[:3]
    assert [m.item for m in got] == [str(items[i]) for i in order]
    pairs = [(item.image, item.boxes) for item in items[:2]]  # (image, boxes) pairs work too
    np.testing.assert_allclose(sim(pairs, TEXTS[:1]), cosine[:2, :1], atol=TOL, rtol=0)


def test_reduced_precision_stays_near_the_original(
    converted: Path, reference: tuple[list[BoxedImage], dict[str, np.ndarray]]
) -> None:
    """bf16 / int8 (zhplm.precision) on BriVL: finite features near BriVL's fp32 ones (int8 once broke on
    nn.MultiheadAttention's out_proj; bf16's RoI sampling is kept in fp32, see the next test)."""
    items, ref = reference
    cosine = ref["image_embeds"] @ ref["text_embeds"].T
    for dtype in ("bf16", "int8"):
        sim = zhplm.pipeline("image-text-similarity", converted, dtype=dtype)
        got = sim(items, _texts(len(items)))
        assert np.isfinite(got).all(), dtype
        np.testing.assert_allclose(got, cosine, atol=0.03, rtol=0, err_msg=dtype)


def test_transformers_run_torchs_fused_encoder_kernel(
    converted: Path,
    reference: tuple[list[BoxedImage], dict[str, np.ndarray]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """zhplm runs BriVL's region and text transformers batch-first, so torch's fused inference kernel computes
    them (the features above are checked against BriVL's sequence-first layers)."""
    import torch

    calls: list[int] = []
    fused = torch._transformer_encoder_layer_fwd

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return fused(*args, **kwargs)

    monkeypatch.setattr(torch, "_transformer_encoder_layer_fwd", counted)
    items, ref = reference
    sim = zhplm.pipeline("image-text-similarity", converted)
    model = sim.encoder.model
    layers = len(model.image_transformer.layers) + len(model.text_transformer.layers)
    got = sim(items[:2], _texts(2))
    assert len(calls) == layers
    np.testing.assert_allclose(got, ref["image_embeds"][:2] @ ref["text_embeds"][:2].T, atol=TOL, rtol=0)


def test_roi_pooling_of_a_bf16_channels_last_map_is_sampled_in_fp32() -> None:
    """BriVL's real map (2048 channels, 12 × 12 at 380 px) in bf16 and channels-last — the layout the CPU path
    uses: torch's bf16 ``grid_sample`` returns NaN there, and bf16 coordinates are ~0.05 px off. The pooled
    features must equal the fp32 pooling within bf16 rounding of the result."""
    import types

    import torch

    from zhplm.arch.modeling.brivl import BriVLModel

    torch.manual_seed(0)
    pool = torch.nn.Conv2d(2048, 2048, kernel_size=1)
    config = types.SimpleNamespace(image_size=380, grid_size=4)
    boxes = torch.tensor(
        [[[0.0, 0.0, 380.0, 380.0], [37.5, 80.25, 200.0, 301.0], [5.0, 5.0, 60.0, 33.0]]] * 2
    )
    feature_map = torch.randn(2, 2048, 12, 12)
    want = BriVLModel.region_features(
        types.SimpleNamespace(config=config, image_pool=pool), feature_map, boxes
    )
    low = types.SimpleNamespace(config=config, image_pool=pool.to(torch.bfloat16))
    got = BriVLModel.region_features(
        low, feature_map.to(torch.bfloat16).contiguous(memory_format=torch.channels_last), boxes
    )
    assert got.dtype == torch.bfloat16 and torch.isfinite(got).all()
    torch.testing.assert_close(got.float(), want, atol=0.05, rtol=0.02)


def test_images_without_boxes_are_refused(
    converted: Path, reference: tuple[list[BoxedImage], dict[str, np.ndarray]]
) -> None:
    items, _ = reference
    sim = zhplm.pipeline("image-text-similarity", converted)
    with pytest.raises(ConversionError, match="detector"):
        sim([items[0].image], TEXTS[:1])
    with pytest.raises(ConversionError, match="detector boxes"):
        sim.index(Path(str(items[0].image)).parent)
    with pytest.raises(ConversionError, match="x1 <= x2"):
        sim([BoxedImage(items[0].image, [[10, 10, 5, 20]])], TEXTS[:1])
    with pytest.raises(ConversionError, match="NaN"):
        sim([BoxedImage(items[0].image, [[0, 0, float("nan"), 3]])], TEXTS[:1])


def test_efficientnet_b5_equals_timm(tmp_path: Path) -> None:
    """BriVL-1.0's backbone at its real size: timm 0.4.12 ``tf_efficientnet_b5_ns`` (random weights and
    BatchNorm statistics, 380-pixel input) against transformers' ``EfficientNetModel`` built from the
    converter's fitted config and rules."""
    import torch
    from transformers import EfficientNetConfig, EfficientNetModel

    from zhplm.arch.brivl import BRIVL_RULES, fit_efficientnet
    from zhplm.arch.modeling.configuration_brivl import same_padding_blocks

    require_original("BAAI-WuDao/BriVL")
    run_oracle("brivl_original.py", "backbone", "--out", tmp_path, "--seed", "1")
    state = torch.load(tmp_path / "backbone.pth", map_location="cpu")
    named = {f"learnable.imgencoder.backbone.{k}": v for k, v in state.items()}
    plan = BRIVL_RULES.plan(
        {k: tuple(v.shape) for k, v in named.items()}, {k: str(v.dtype) for k, v in named.items()}
    )
    assert not plan.unmatched
    weights = {s.target.removeprefix("image_backbone."): named[s.sources[0]] for s in plan.steps}
    vision = fit_efficientnet({f"image_backbone.{k}": tuple(v.shape) for k, v in weights.items()})
    assert (vision["width_coefficient"], vision["hidden_dim"]) == (1.6, 2048)
    config = EfficientNetConfig(**vision, image_size=380)
    config.depthwise_padding = same_padding_blocks(config, 380)
    model = EfficientNetModel(config).eval()
    missing, unexpected = model.load_state_dict(weights, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing)
    with torch.inference_mode():
        ours = model(torch.from_numpy(np.load(tmp_path / "pixels.npy"))).last_hidden_state.numpy()
    ref = np.load(tmp_path / "features.npy")
    assert ours.shape == ref.shape == (1, 2048, 12, 12)
    scale = np.abs(ref).max()
    np.testing.assert_allclose(ours / scale, ref / scale, atol=TOL, rtol=0)


def test_module_prefix_and_tar_name_convert_the_same(release: Path, converted: Path, tmp_path: Path) -> None:
    """A release saved from ``DataParallel`` (``module.`` on every name) under the released file name
    (``BriVL-1.0-5500w.tar``, a torch zip despite the suffix) converts to the same tensors."""
    import shutil

    import torch
    from safetensors.numpy import load_file

    src = tmp_path / "release"
    src.mkdir()
    state = torch.load(release / "BriVL-tiny.pth", map_location="cpu")["learnable"]
    torch.save(
        {"learnable": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, src / "BriVL-1.0-5500w.tar"
    )
    for name in ("test_xyb.yml", "config.json", "vocab.txt"):
        shutil.copy(release / name, src / name)
    out = tmp_path / "model"
    zhplm.convert(src / "BriVL-1.0-5500w.tar", out)
    ours, first = load_file(str(out / "model.safetensors")), load_file(str(converted / "model.safetensors"))
    assert ours.keys() == first.keys()
    for key, value in first.items():
        np.testing.assert_array_equal(ours[key], value, err_msg=key)
