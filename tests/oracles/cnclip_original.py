"""Chinese-CLIP reference: the ``cn-clip`` package (OFA-Sys, pip ``cn-clip==1.6.0``, installed ``--no-deps``).

Runs in ``.venv-ref`` only. ``cn_clip.clip`` imports torchvision at module level for its ``image_transform``;
torchvision is never installed, so ``_torchvision_stub.install()`` provides the three primitives it
composes (Resize/ToTensor/Normalize on PIL images, see that module) before cn_clip is imported.

Commands (one JSON line on stdout each)::

    write      --out DIR [--seed N] [--vision-width W] [--image-size S] [--patch P] [--head-width H]
               [--text-hidden H] [--layers N] [--embed D] [--flavor vit|rn50]
               [--text-intermediate F] [--text-positions P]
        cn_clip's own ``CLIP`` built with a tiny config (real vocabulary: cn_clip's vocab.txt, 21128 ids),
        every parameter seeded random, saved by torch as the releases are: ``DIR/clip_cn_tiny.pt`` =
        ``{"epoch", "step", "name", "state_dict": {"module.<name>": tensor}}``; ``DIR/vocab.txt`` (cn_clip's);
        ``DIR/model_info.json`` (the CLIP kwargs: the name matches no cn_clip config file, so the converter
        sizes the model from the tensors as it must for a bare release). ``--flavor rn50``: a ResNet tower.
    forward    --ckpt DIR --inputs IN.json --out REF.npz
        IN.json: ``{"texts": [...], "pixels": "PIX.npy"}`` (float32 [B, 3, S, S]). cn_clip's ``CLIP`` rebuilt
        from model_info.json, state dict loaded strictly as ``create_model`` does (``module.`` stripped, the
        text pooler dropped); the texts tokenized by ``cn_clip.clip.tokenize`` (52 ids). REF.npz:
        ``input_ids``, ``image_features``, ``text_features`` (unnormalised, as ``encode_*`` return them),
        ``logits_per_image`` (``get_similarity``), ``logit_scale`` (exp).
    preprocess --size S --out OUT.npz [--exif-transpose] FILE...
        ``cn_clip.clip.image_transform(S)`` on ``PIL.Image.open(FILE)``: OUT.npz ``pixels`` [N, 3, S, S].
        cn_clip ignores EXIF orientation; with ``--exif-transpose`` the image is first turned upright by
        Pillow's ``ImageOps.exif_transpose`` (what zhplm does), so the rest is compared like for like.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import _torchvision_stub

_torchvision_stub.install()

import torch  # noqa: E402
from _peer import randomize  # noqa: E402


def _clip_module():  # type: ignore[no-untyped-def]
    import cn_clip.clip as clip
    from cn_clip.clip.model import CLIP

    return clip, CLIP


def write(args: argparse.Namespace) -> None:
    clip, CLIP = _clip_module()
    vocab = Path(clip.__file__).with_name("vocab.txt")
    n_vocab = sum(1 for _ in vocab.open(encoding="utf-8"))
    info = {
        "embed_dim": args.embed,
        "image_resolution": args.image_size,
        "vision_layers": [1, 1, 1, 1] if args.flavor == "rn50" else args.layers,
        "vision_width": args.vision_width,
        "vision_patch_size": args.patch,
        "vision_head_width": args.head_width,
        "vocab_size": n_vocab,
        "text_attention_probs_dropout_prob": 0.1,
        "text_hidden_act": "gelu",
        "text_hidden_dropout_prob": 0.1,
        "text_hidden_size": args.text_hidden,
        "text_initializer_range": 0.02,
        "text_intermediate_size": args.text_intermediate or 2 * args.text_hidden,
        "text_max_position_embeddings": args.text_positions,
        "text_num_attention_heads": args.text_hidden // 64,
        "text_num_hidden_layers": args.layers,
        "text_type_vocab_size": 2,
    }
    torch.manual_seed(args.seed)
    model = CLIP(**info)
    randomize(model, args.seed)
    with torch.no_grad():
        model.logit_scale.fill_(
            float(np.log(1 / 0.07)) + 0.3
        )  # not the init value: the mapping must carry it
    args.out.mkdir(parents=True, exist_ok=True)
    state = {f"module.{k}": v.clone() for k, v in model.state_dict().items()}
    torch.save({"epoch": 3, "step": 1000, "name": "tiny", "state_dict": state}, args.out / "clip_cn_tiny.pt")
    shutil.copy(vocab, args.out / "vocab.txt")
    (args.out / "model_info.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    print(json.dumps({"written": str(args.out), "tensors": len(state), "vocab_size": n_vocab}))


def _load(ckpt: Path):  # type: ignore[no-untyped-def]
    clip, CLIP = _clip_module()
    info = json.loads((ckpt / "model_info.json").read_text(encoding="utf-8"))
    model = CLIP(**info)
    checkpoint = torch.load(ckpt / "clip_cn_tiny.pt", map_location="cpu", weights_only=False)
    sd = {k[len("module.") :]: v for k, v in checkpoint["state_dict"].items() if "bert.pooler" not in k}
    model.load_state_dict(sd)  # strict, as cn_clip's create_model
    model.float().eval()
    return clip, model


def forward(args: argparse.Namespace) -> None:
    clip, model = _load(args.ckpt)
    spec = json.loads(args.inputs.read_text(encoding="utf-8"))
    pixels = torch.from_numpy(np.load(spec["pixels"]).astype(np.float32))
    ids = clip.tokenize(spec["texts"])
    with torch.no_grad():
        image = model.encode_image(pixels)
        text = model.encode_text(ids)
        logits_per_image, _ = model.get_similarity(pixels, ids)
    np.savez(
        args.out,
        input_ids=ids.numpy(),
        image_features=image.numpy(),
        text_features=text.numpy(),
        logits_per_image=logits_per_image.numpy(),
        logit_scale=model.logit_scale.exp().detach().numpy(),
    )
    print(json.dumps({"out": str(args.out), "images": int(pixels.shape[0]), "texts": int(ids.shape[0])}))


def preprocess(args: argparse.Namespace) -> None:
    from PIL import Image, ImageOps

    clip, _ = _clip_module()
    transform = clip.image_transform(args.size)
    out = []
    for path in args.files:
        with Image.open(path) as img:
            img.load()
            src = ImageOps.exif_transpose(img) if args.exif_transpose else img
            out.append(transform(src).numpy())
    np.savez(args.out, pixels=np.stack(out).astype(np.float32))
    print(json.dumps({"out": str(args.out), "images": len(out)}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--out", type=Path, required=True)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--flavor", choices=("vit", "rn50"), default="vit")
    w.add_argument("--vision-width", type=int, default=128)
    w.add_argument("--image-size", type=int, default=32)
    w.add_argument("--patch", type=int, default=8)
    w.add_argument("--head-width", type=int, default=64)
    w.add_argument("--text-hidden", type=int, default=128)
    w.add_argument("--layers", type=int, default=2)
    w.add_argument("--embed", type=int, default=32)
    w.add_argument("--text-intermediate", type=int, default=None, help="default: 2 × --text-hidden")
    w.add_argument("--text-positions", type=int, default=64)
    f = sub.add_parser("forward")
    f.add_argument("--ckpt", type=Path, required=True)
    f.add_argument("--inputs", type=Path, required=True)
    f.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("preprocess")
    r.add_argument("--size", type=int, required=True)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--exif-transpose", action="store_true")
    r.add_argument("files", nargs="+", type=Path)
    args = p.parse_args()
    {"write": write, "forward": forward, "preprocess": preprocess}[args.cmd](args)


if __name__ == "__main__":
    main()
