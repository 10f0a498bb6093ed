"""R2D2's own code as the oracle (https://github.com/yuxie11/R2D2, pinned in tests/oracles/SNAPSHOTS.txt).

    r2d2_original.py write   --out DIR [--seed N] [--model r2d2|prd2] [--full]
    r2d2_original.py forward --ckpt DIR --inputs IN.json --out REF.npz [--model r2d2|prd2]

``--full`` (r2d2): the config files unshrunk — ViT-B/16 at 224 px, RoBERTa-wwm-ext-base, 768-wide
cross-encoders, 768-d features (R2D2's base variant; the bench's weights). ``--model prd2``: ``models.prd2.PRD2`` (the two towers only; ViT-L/14 config file ``vision_config.json``,
width fixed at 1024, shrunk to 1 layer of 4 heads, 28-pixel images) and ``prd2_inference_demo.preprocess``;
outputs ``pixels``, ``input_ids``, ``text_embeds``, ``image_embeds``, ``sims``.

The snapshot's ``models/`` and ``checkpoints/`` (its config files and hfl_roberta's vocabulary) and
``r2d2_inference_demo.py`` are extracted into a temporary folder, which becomes the working directory (R2D2
reads ``./checkpoints/...`` relative to it). Only the config *files* are shrunk there before the model is
built (data, not code): the ViT (``vision_config_base.json``, ``vit_type='base'`` fixes its width at 768)
gets 1 layer of 4 heads (192 wide: not the 64-wide default, so the converter must read the file), 32-pixel
images of 16-pixel patches; the text tower (``hfl_roberta/config.json``) 2 layers 64 wide, 4 heads; the
cross-encoders (``bert_config.json``; R2D2 fixes 6 layers) 64 wide, 2 heads. The real 21128-word vocabulary.

``write``: ``models.r2d2.R2D2(vit_type='base', image_size=32, embed_dim=16)``, every parameter seeded random
(``temp`` 0.05), saved as the releases are: ``DIR/r2d2_tiny.pth = {"model": state_dict, "epoch": 1}``; the
three shrunk config files and ``vocab.txt`` are copied to ``DIR`` (as they sit in R2D2's ``checkpoints/``).

``forward``: the model rebuilt and loaded by R2D2's ``r2d2(pretrained=...)`` (``load_checkpoint``), in eval
mode. IN.json ``{"texts": [...], "images": [paths]}``. For every image, the demo's own ``evaluation`` (its
``preprocess``, ``tokenize_text``, towers and both cross-encoders) gives ``itm_scores [I, T]``; forward hooks
on ``itm_head`` / ``itm_head_i`` record the heads' logits during that call (``text_itm_logits`` /
``image_itm_logits [I, T, 2]``). Also ``pixels`` (the demo's ``preprocess``), ``input_ids`` / ``attention_mask``
(``tokenize_text``), ``text_embeds`` / ``image_embeds`` (``encode_text`` / ``encode_image``, normalised) and
``sims`` (``image_embeds @ text_embeds.T / temp``).

Shim (named): torchvision is never installed; ``_torchvision_stub`` provides ``Compose / Resize / ToTensor /
Normalize`` and ``InterpolationMode`` (what the demo's ``preprocess`` composes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
import _torchvision_stub
import torch
import transformers  # before the stub: transformers records at import that torchvision is absent
from _peer import randomize

_torchvision_stub.install()
assert transformers.__version__

REPO = "yuxie11/R2D2"
RELEASE = "r2d2_tiny.pth"
IMAGE_SIZE = 32
PRD2_SIZE = 28  # 2×2 patches of 14
EMBED = 16
FULL_SIZE = 224  # ``write --full``: the unshrunk ViT-B/16 config (bench/bench_multimodal.py)
VISION = {"num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 64, "image_size": 32}
TEXT = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 96}
JOINT = {"hidden_size": 64, "num_attention_heads": 2, "intermediate_size": 80, "max_position_embeddings": 72}
CONFIGS = {
    "checkpoints/r2d2_config/vision_config_base.json": "vision_config_base.json",
    "checkpoints/r2d2_config/bert_config.json": "bert_config.json",
    "checkpoints/hfl_roberta/config.json": "config.json",
}


def _checkout(dest: Path, shrink: bool = True) -> None:
    C.extract_original(
        REPO, ["models", "checkpoints", "r2d2_inference_demo.py", "prd2_inference_demo.py"], dest
    )
    if not shrink:  # the real config files: ViT-B/16 at 224 px, RoBERTa-wwm-ext-base, 768-wide cross-encoders
        return
    large_file = dest / "checkpoints/r2d2_config/vision_config.json"  # PRD2's ViT-L/14 (width fixed at 1024)
    large = json.loads(large_file.read_text(encoding="utf-8"))
    for key in ("vision_config", "vision_config_dict"):
        large[key].update(VISION, image_size=PRD2_SIZE, patch_size=14)
    large["text_config"].update(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    large_file.write_text(json.dumps(large), encoding="utf-8")
    vision_file = dest / "checkpoints/r2d2_config/vision_config_base.json"
    vision = json.loads(vision_file.read_text(encoding="utf-8"))
    # transformers 4.x builds the ViT from ``vision_config_dict`` when the file has one (this one does)
    for key in ("vision_config", "vision_config_dict"):
        vision[key].update(VISION, patch_size=16)
    # CLIPModel builds a text tower too, which R2D2 throws away: keep it small
    vision["text_config"].update(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    vision["projection_dim"] = 16
    vision_file.write_text(json.dumps(vision), encoding="utf-8")
    for path, sizes in (
        ("checkpoints/hfl_roberta/config.json", TEXT),
        ("checkpoints/r2d2_config/bert_config.json", JOINT),
    ):
        cfg = json.loads((dest / path).read_text(encoding="utf-8"))
        cfg.update(sizes)
        (dest / path).write_text(json.dumps(cfg), encoding="utf-8")


def _model(work: Path, pretrained: str = "", kind: str = "r2d2", full: bool = False) -> Any:
    os.chdir(work)
    sys.path.insert(0, str(work))
    with C.stdout_to_stderr():
        if kind == "prd2":
            from models.prd2 import prd2

            return prd2(pretrained=pretrained, image_size=PRD2_SIZE, embed_dim=EMBED)
        from models.r2d2 import r2d2

        if full:  # R2D2's defaults: 224-pixel images, 768-d features
            return r2d2(pretrained=pretrained, vit_type="base", image_size=FULL_SIZE)
        return r2d2(pretrained=pretrained, vit_type="base", image_size=IMAGE_SIZE, embed_dim=EMBED)


def write(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _checkout(work, shrink=not args.full)
        torch.manual_seed(args.seed)
        model = _model(work, kind=args.model, full=args.full)
        randomize(model, args.seed)
        with torch.no_grad():
            model.temp.fill_(0.05)
        args.out.mkdir(parents=True, exist_ok=True)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        torch.save({"model": state, "epoch": 1}, args.out / RELEASE)
        configs = dict(CONFIGS)
        if args.model == "prd2":
            configs["checkpoints/r2d2_config/vision_config.json"] = "vision_config.json"
            del configs["checkpoints/r2d2_config/vision_config_base.json"]
            del configs["checkpoints/r2d2_config/bert_config.json"]
        for src, name in configs.items():
            shutil.copy(work / src, args.out / name)
        shutil.copy(work / "checkpoints/hfl_roberta/vocab.txt", args.out / "vocab.txt")
    print(json.dumps({"written": str(args.out), "tensors": len(state)}))


def forward(args: argparse.Namespace) -> None:
    from PIL import Image

    spec = json.loads(args.inputs.read_text(encoding="utf-8"))
    texts, images = spec["texts"], [str(Path(p).resolve()) for p in spec["images"]]
    ckpt = str((args.ckpt / RELEASE).resolve())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _checkout(work)
        model = _model(work, ckpt, args.model).eval()
        if args.model == "prd2":
            _prd2_forward(model, texts, images, args.out)
            return
        import r2d2_inference_demo as demo

        seen: dict[str, list[torch.Tensor]] = {"t": [], "i": []}
        model.itm_head.register_forward_hook(lambda m, i, o: seen["t"].append(o.detach().clone()))
        model.itm_head_i.register_forward_hook(lambda m, i, o: seen["i"].append(o.detach().clone()))
        scores = []
        with C.stdout_to_stderr():
            for path in images:
                scores.append(demo.evaluation(model, texts, path, IMAGE_SIZE, "cpu"))
        with torch.no_grad():
            pixels = torch.stack([demo.preprocess(Image.open(p).convert("RGB"), IMAGE_SIZE) for p in images])
            tok = model.tokenize_text(texts)
            _, text_embeds = model.encode_text(tok)
            _, image_embeds = model.encode_image(pixels)
            sims = image_embeds @ text_embeds.T / model.temp
    np.savez(
        args.out,
        itm_scores=np.stack(scores).astype(np.float32),
        text_itm_logits=torch.stack(seen["t"]).numpy(),
        image_itm_logits=torch.stack(seen["i"]).numpy(),
        pixels=pixels.numpy(),
        input_ids=tok.input_ids.numpy(),
        attention_mask=tok.attention_mask.numpy(),
        text_embeds=text_embeds.numpy(),
        image_embeds=image_embeds.numpy(),
        sims=sims.numpy(),
    )
    print(json.dumps({"out": str(args.out), "images": len(images), "texts": len(texts)}))


def _prd2_forward(model: Any, texts: list[str], images: list[str], out: Path) -> None:
    """PRD2: the demo's ``preprocess``, ``encode_text`` / ``encode_image`` and ``image @ text.T / temp``."""
    import prd2_inference_demo as demo
    from PIL import Image

    with torch.no_grad():
        pixels = torch.stack([demo.preprocess(Image.open(p).convert("RGB"), PRD2_SIZE) for p in images])
        tok = model.tokenize_text(texts)
        text_embeds = model.encode_text(tok)
        image_embeds = model.encode_image(pixels)
        sims = image_embeds @ text_embeds.T / model.temp
    np.savez(
        out,
        pixels=pixels.numpy(),
        input_ids=tok.input_ids.numpy(),
        text_embeds=text_embeds.numpy(),
        image_embeds=image_embeds.numpy(),
        sims=sims.numpy(),
    )
    print(json.dumps({"out": str(out), "images": len(images), "texts": len(texts)}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--out", type=lambda s: Path(s).resolve(), required=True)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--model", choices=("r2d2", "prd2"), default="r2d2")
    w.add_argument("--full", action="store_true", help="the real ViT-B/16 + BERT-base sizes (r2d2 only)")
    f = sub.add_parser("forward")
    f.add_argument("--ckpt", type=lambda s: Path(s).resolve(), required=True)
    f.add_argument("--inputs", type=lambda s: Path(s).resolve(), required=True)
    f.add_argument("--out", type=lambda s: Path(s).resolve(), required=True)
    f.add_argument("--model", choices=("r2d2", "prd2"), default="r2d2")
    args = p.parse_args()
    {"write": write, "forward": forward}[args.cmd](args)


if __name__ == "__main__":
    main()
