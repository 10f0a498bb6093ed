"""BriVL's own code as the oracle (https://github.com/BAAI-WuDao/BriVL, pinned in tests/oracles/SNAPSHOTS.txt).

    brivl_original.py write   --out DIR [--seed N]
    brivl_original.py forward --ckpt DIR --inputs IN.json --out REF.npz
    brivl_original.py backbone --out DIR [--seed N] [--variant tf_efficientnet_b5_ns] [--size 380]

The snapshot's ``BriVL-code-inference/{models,utils,dataset,cfg}`` are extracted into a temporary folder and
imported from there. Only the config *file* is shrunk (data, not code): ``cfg/test_xyb.yml`` gets a small
backbone, ``tf_efficientnet_tiny`` (registered here: timm's own ``_gen_efficientnet`` called as its
``tf_efficientnet_b0`` calls it — TF "same" padding, BN eps 1e-3 — at width 0.4 and depth 0.5: 512 channels,
repeated blocks with residuals), 76-pixel images (a 3×3 feature map, with odd-sized maps inside the backbone,
so both TF "same" paddings occur), 1-layer transformers, a 3×3 RoI grid, at most 5 boxes and 12 tokens; the text encoder is a 2-layer, 32-wide BERT written with
transformers 4.46 (``ENCODER`` points at it) over hfl RoBERTa-wwm-ext's real 21128-word vocabulary (taken
from the R2D2 snapshot's ``checkpoints/hfl_roberta/vocab.txt``, the same file).

``write``: ``models.build_network(cfg.MODEL)`` (``VL_model``), every parameter seeded random and the
backbone's BatchNorm statistics measured on random images (random statistics fade the signal to a
constant), saved as ``XYB_box_extract.py`` loads it: ``DIR/BriVL-tiny.pth = {"learnable": model.learnable.
state_dict()}``; the shrunk ``test_xyb.yml``, the BERT's ``config.json`` and ``vocab.txt`` are copied to
``DIR`` (not the BERT's weights: the checkpoint carries them). ``--preset bench`` writes the bigger model
bench/bench_brivl.py times (``BENCH_MODEL``). ``forward``: a BERT folder made from ``DIR``'s ``config.json``
and ``vocab.txt`` for ``ENCODER``, the model rebuilt the same way and loaded as ``XYB_box_extract.py`` does,
in eval mode; IN.json ``{"items": [{"image": path, "boxes": [[x1, y1, x2, y2], ...], "text": str}]}`` is
written as the jsonl its dataset reads (``sur_text`` = the text, ``bbox`` = the boxes); each item goes
through ``XYBDataset_all(cfg, args, 'val')[i]`` (image transform, box scaling, tokenizer) and the model's
``extract`` path with ``utils.getLanMask`` masks, one item per batch as in ``XYB_box_extract.py``. Outputs
``pixels``, ``boxes``, ``img_lens``, ``input_ids``, ``text_lens``, ``image_embeds``, ``text_embeds``
(normalised).

``backbone``: timm's ``VARIANT`` alone (the real size: b5 by default), random weights, measured BN statistics,
``DIR/backbone.pth`` (its state dict), ``DIR/pixels.npy`` (random ``[1, 3, SIZE, SIZE]``) and
``DIR/features.npy`` (``forward_features``): the evidence that transformers' EfficientNetModel computes it.

Shims (named): torchvision is never installed; ``_torchvision_stub`` gives ``Compose / ToTensor / Normalize``
and here ``Resize`` on a tensor is torchvision 0.9.1's ``functional_tensor.resize`` (``interpolate(bilinear,
align_corners=False)``, no antialiasing), ``ColorJitter / RandomApply / RandomGrayscale`` are inert names
(the training transform is built and then replaced); timm 0.4.12 imports ``torchvision.transforms.functional``
(given) for its data module only. The dataset module's training-data libraries (lmdb, msgpack,
msgpack_numpy, pandas, jsonlines) are empty modules except ``jsonlines.Reader`` (reads JSON lines).
``timm.create_model(..., pretrained=True)`` is called with ``pretrained=False`` (no download; the weights are
random anyway), and ``AutoTokenizer.from_pretrained("hfl/chinese-roberta-wwm-ext")`` reads the local copy.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
import _torchvision_stub
import torch
import transformers  # before the stub: transformers records at import that torchvision is absent

_torchvision_stub.install()

REPO = "BAAI-WuDao/BriVL"
CODE = "BriVL-code-inference"
RELEASE = "BriVL-tiny.pth"
HFL = "hfl/chinese-roberta-wwm-ext"
TINY_CNN = (
    "tf_efficientnet_tiny"  # timm's tf_efficientnet_b0 generator at width 0.4, depth 0.5 (512 channels)
)
MODEL = {
    "CNN": TINY_CNN,
    "IMG_SIZE": 76,
    "IMG_FEATURE_DIM": 512,
    "IMG_TRANSFORMER_HEAD": 4,
    "IMG_TRANSFORMER_LAYER": 1,
    "TEXT_FEATURE_DIM": 32,
    "TEXT_TRANSFORMER_HEAD": 4,
    "TEXT_TRANSFORMER_LAYER": 1,
    "MAX_IMG_LEN": 5,
    "MAX_TEXT_LEN": 12,
    "GRID_SIZE": 3,
}
BERT = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 48}
# bench/bench_brivl.py: BriVL-1.0's image tower at its real size (b5, 380 px, 2048 wide, 4×4 grid, 37 boxes) and
# BERT-base width, with 1-layer transformers and a 2-layer BERT to keep the random checkpoint under 1 GB
BENCH_MODEL = {
    **MODEL,
    "CNN": "tf_efficientnet_b5_ns",
    "IMG_SIZE": 380,
    "IMG_FEATURE_DIM": 2048,
    "TEXT_FEATURE_DIM": 768,
    "MAX_IMG_LEN": 37,
    "MAX_TEXT_LEN": 80,
    "GRID_SIZE": 4,
}
BENCH_BERT = {
    "hidden_size": 768,
    "num_hidden_layers": 2,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
}
PRESETS = {"tiny": (MODEL, BERT), "bench": (BENCH_MODEL, BENCH_BERT)}


def _shims() -> None:
    tv = sys.modules["torchvision.transforms"]
    tv.functional = sys.modules["torchvision.transforms.functional"]  # type: ignore[attr-defined]
    pil_resize = _torchvision_stub.Resize

    class Resize(pil_resize):  # type: ignore[misc,valid-type]
        def __call__(self, img: Any) -> Any:
            if isinstance(img, torch.Tensor):  # torchvision 0.9.1 functional_tensor.resize, bilinear
                out = torch.nn.functional.interpolate(
                    img[None], size=list(self.size), mode="bilinear", align_corners=False
                )
                return out[0]
            return super().__call__(img)

    class Inert:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

    tv.Resize = Resize  # type: ignore[attr-defined]
    for name in ("ColorJitter", "RandomApply", "RandomGrayscale"):
        setattr(tv, name, Inert)
    for name in ("lmdb", "msgpack", "pandas"):
        sys.modules[name] = types.ModuleType(name)
    mn = types.ModuleType("msgpack_numpy")
    mn.patch = lambda: None  # type: ignore[attr-defined]
    sys.modules["msgpack_numpy"] = mn
    jl = types.ModuleType("jsonlines")
    jl.Reader = lambda f: (json.loads(line) for line in f if line.strip())  # type: ignore[attr-defined]
    sys.modules["jsonlines"] = jl

    import timm
    from timm.models.efficientnet import BN_EPS_TF_DEFAULT, _gen_efficientnet

    create = timm.create_model

    def create_model(name: str, pretrained: bool = False, **kw: Any) -> Any:
        if (
            name == TINY_CNN
        ):  # timm's own generator, as its tf_efficientnet_b0 calls it, at smaller multipliers
            return _gen_efficientnet(
                "tf_efficientnet_b0",
                channel_multiplier=0.4,
                depth_multiplier=0.5,
                bn_eps=BN_EPS_TF_DEFAULT,
                pad_type="same",
            )
        return create(name, pretrained=False, **kw)

    timm.create_model = create_model


def _checkout(dest: Path, bert: Path | None) -> Any:
    C.extract_original(REPO, [f"{CODE}/{p}" for p in ("models", "utils", "dataset", "cfg")], dest)
    root = dest / CODE
    sys.path.insert(0, str(root))
    _shims()
    if bert is not None:  # the dataset's tokenizer: the local copy of the vocabulary
        local = str(bert)
        original = transformers.AutoTokenizer.from_pretrained
        transformers.AutoTokenizer.from_pretrained = lambda name, *a, **k: original(  # type: ignore[method-assign]
            local if name == HFL else name, *a, **k
        )
    return root


def _cfg(root: Path, yml: Path) -> Any:
    from utils.config import cfg, cfg_from_yaml_file

    cfg_from_yaml_file(str(yml), cfg)
    return cfg


def release_model(ckpt: Path) -> dict[str, Any]:
    """The MODEL values of a release's ``test_xyb.yml`` (what ``write`` shrank it to)."""
    import yaml

    model: dict[str, Any] = yaml.safe_load((ckpt / "test_xyb.yml").read_text(encoding="utf-8"))["MODEL"]
    return {k: v for k, v in model.items() if k in MODEL}


def _shrunk_yml(
    root: Path, out: Path, bert: Path, jsonl: str = "", model: dict[str, Any] | None = None
) -> Path:
    values = MODEL if model is None else model
    lines = []
    for line in (root / "cfg/test_xyb.yml").read_text(encoding="utf-8").splitlines():
        key = line.strip().split(":")[0]
        if key in values:
            line = (
                f"    {key}: {values[key]!r}" if isinstance(values[key], str) else f"    {key}: {values[key]}"
            )
        elif key == "ENCODER":
            line = f"    ENCODER: '{bert}'"
        elif key == "JSONPATH" and jsonl:
            line = f"    JSONPATH: '{jsonl}'"
        elif key == "WORKERS":
            line = "    WORKERS: 0"
        lines.append(line)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def _randomize(model: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            noise = torch.randn(t.shape, generator=g)
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "running_var":
                t.copy_(0.5 + noise.abs())
            elif leaf == "running_mean" or leaf == "bias":
                t.copy_(0.1 * noise)
            elif t.dim() <= 1:  # BN / LayerNorm gains
                t.copy_(1.0 + 0.1 * noise)
            elif "embeddings" in name:
                t.copy_(0.5 * noise)
            else:
                fan_in = t[0].numel()
                t.copy_(noise / fan_in**0.5)


def _calibrate(backbone: torch.nn.Module, size: int, seed: int) -> None:
    """BatchNorm statistics of the random backbone measured on random images (one training-mode pass with
    momentum 1): random statistics would let the signal fade block after block into a constant map."""
    norms = [m for m in backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in norms:
        m.momentum = 1.0
    backbone.train()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        backbone.forward_features(torch.randn((4, 3, size, size), generator=g))
    for m in norms:
        m.momentum = 0.1
    backbone.eval()


def write(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = _checkout(Path(tmp), None)
        C.extract_original("yuxie11/R2D2", ["checkpoints/hfl_roberta/vocab.txt"], Path(tmp))
        bert = Path(tmp) / "bert"
        bert.mkdir()
        shutil.copy(Path(tmp) / "checkpoints/hfl_roberta/vocab.txt", bert / "vocab.txt")
        torch.manual_seed(args.seed)
        values, bert_sizes = PRESETS[args.preset]
        transformers.BertModel(transformers.BertConfig(vocab_size=21128, **bert_sizes)).save_pretrained(
            str(bert)
        )
        for name in ("config.json", "vocab.txt"):
            shutil.copy(bert / name, out / name)
        yml = _shrunk_yml(root, out / "test_xyb.yml", Path(HFL), model=values)
        yml = _shrunk_yml(root, Path(tmp) / "test_xyb.yml", bert, model=values)
        cfg = _cfg(root, yml)
        from models import build_network

        with C.stdout_to_stderr():
            model = build_network(cfg.MODEL)
        _randomize(model.learnable, args.seed)
        _calibrate(model.learnable["imgencoder"].backbone, values["IMG_SIZE"], args.seed)
        torch.save({"learnable": model.learnable.state_dict()}, out / RELEASE)
    C.report({"release": str(out / RELEASE), "tensors": len(model.learnable.state_dict())})


def forward(args: argparse.Namespace) -> None:
    ckpt = Path(args.ckpt)
    items = json.loads(Path(args.inputs).read_text(encoding="utf-8"))["items"]
    with tempfile.TemporaryDirectory() as tmp:
        bert = Path(tmp) / "bert"
        bert.mkdir()
        shutil.copy(ckpt / "vocab.txt", bert / "vocab.txt")
        transformers.BertModel(
            transformers.BertConfig.from_json_file(str(ckpt / "config.json"))
        ).save_pretrained(str(bert))
        root = _checkout(Path(tmp), bert)
        jsonl = Path(tmp) / "in.jsonl"
        jsonl.write_text(
            "".join(
                json.dumps(
                    {"image_id": it["image"], "sentences": [["sur_text", it["text"]]], "bbox": it["boxes"]}
                )
                + "\n"
                for it in items
            ),
            encoding="utf-8",
        )
        cfg = _cfg(root, _shrunk_yml(root, Path(tmp) / "test.yml", bert, str(jsonl), release_model(ckpt)))
        from dataset.xybDataset import XYBDataset_all
        from models import build_network
        from utils import getLanMask

        with C.stdout_to_stderr():
            model = build_network(cfg.MODEL)
            dataset = XYBDataset_all(cfg, args, "val")
        component = torch.load(ckpt / RELEASE, map_location=torch.device("cpu"))
        model.learnable.load_state_dict(component["learnable"])
        model.eval()
        rows: dict[str, list[np.ndarray]] = {}
        with torch.no_grad():
            for i in range(len(dataset)):
                image, img_len, text, text_len, boxes = dataset[i]
                imgs, texts, image_boxs = image[None], text[None], boxes[None]
                img_lens, text_lens = img_len.view(-1), text_len.view(-1)
                img_mask = getLanMask(img_lens, cfg.MODEL.MAX_IMG_LEN)
                text_mask = getLanMask(text_lens, cfg.MODEL.MAX_TEXT_LEN)
                img, txt = model(imgs, texts, img_mask, text_mask, text_lens, image_boxs, is_training=False)[
                    "img_text"
                ]
                for key, value in (
                    ("pixels", imgs),
                    ("boxes", image_boxs),
                    ("img_lens", img_lens),
                    ("input_ids", texts),
                    ("text_lens", text_lens),
                    ("image_embeds", img),
                    ("text_embeds", txt),
                ):
                    rows.setdefault(key, []).append(value.numpy())
    C.save_outputs(Path(args.out), {k: np.concatenate(v) for k, v in rows.items()})


def backbone(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        _checkout(Path(tmp), None)
        import timm

        model = timm.create_model(args.variant, pretrained=True)
        _randomize(model, args.seed)
        _calibrate(model, args.size, args.seed)
        pixels = torch.from_numpy(
            np.random.default_rng(args.seed).standard_normal((1, 3, args.size, args.size), dtype=np.float32)
        )
        with torch.no_grad():
            features = model.forward_features(pixels)
    torch.save(model.state_dict(), out / "backbone.pth")
    np.save(out / "pixels.npy", pixels.numpy())
    np.save(out / "features.npy", features.numpy())
    C.report({"variant": args.variant, "features": list(features.shape)})


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--out", required=True)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    f = sub.add_parser("forward")
    f.add_argument("--ckpt", required=True)
    f.add_argument("--inputs", required=True)
    f.add_argument("--out", required=True)
    b = sub.add_parser("backbone")
    b.add_argument("--out", required=True)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--variant", default="tf_efficientnet_b5_ns")
    b.add_argument("--size", type=int, default=380)
    args = parser.parse_args()
    {"write": write, "forward": forward, "backbone": backbone}[args.cmd](args)


if __name__ == "__main__":
    main()
