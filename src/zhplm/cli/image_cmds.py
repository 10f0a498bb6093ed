"""``zhplm image-classify``, ``image-search``, ``text-to-image``, ``image-caption`` and ``post-select``: image–text
models (Chinese-CLIP, R2D2, CogView) from the command line.

An unreadable file in a batch is reported on its own line (or as ``error`` under ``--json``) and the rest
goes on; the command then exits with the image-error code so scripts notice. ``--input/--output`` runs a
resumable batch job (zhplm.jobs) where such a file becomes a row with an ``error``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from zhplm.cli.output import emit
from zhplm.cli.tasks_cmds import add_job_arguments, run_job


def register(sub: argparse._SubParsersAction[Any]) -> None:
    c = sub.add_parser("image-classify", help="zero-shot image classification with labels you give")
    c.add_argument("model", help="catalog id (converted in the store) or a converted Chinese-CLIP folder")
    c.add_argument("images", nargs="*", help="image files (JPEG, PNG, WebP, BMP, GIF, TIFF …)")
    add_job_arguments(
        c,
        "a batch job's images: a folder (recursively) or a list file, one path a line",
        "the job's folder of Parquet parts (columns row, image, labels, scores, error)",
    )
    c.add_argument("--labels", required=True, help="comma-separated labels, e.g. 猫,狗,汽车")
    c.add_argument("--template", default=None, help='prompt around each label (default "一张{}的照片")')
    c.add_argument("--top-k", type=int, default=None, help="labels shown per image (default: all)")
    c.set_defaults(handler=_classify)

    s = sub.add_parser("image-search", help="rank the images of a folder by a text query (features cached)")
    s.add_argument("model", help="catalog id (converted in the store) or a converted Chinese-CLIP folder")
    s.add_argument("query", help='e.g. "海边的日落"')
    s.add_argument("--images", required=True, help="folder of images (searched recursively)")
    s.add_argument("-k", "--top-k", type=int, default=5)
    s.add_argument("--cache-dir", default=None, help="where image features are kept (default: the store)")
    s.add_argument(
        "--rerank",
        type=int,
        default=64,
        help="candidates re-scored by the model's image-text matching heads, where it has them (R2D2; 0: off)",
    )
    s.set_defaults(handler=_search)

    t = sub.add_parser(
        "text-to-image", help="draw an image from Chinese text (CogView; a GPU job at full size)"
    )
    t.add_argument("model", help="catalog id (converted in the store) or a converted CogView folder")
    t.add_argument("text", help='what to draw, e.g. "一只可爱的猫"')
    t.add_argument(
        "-o", "--output", required=True, help="image file to write (.png, .jpg); -N added per image"
    )
    t.add_argument(
        "-n", "--num-images", type=int, default=1, help="images per call (drawn as the original's batch)"
    )
    t.add_argument("--seed", type=int, default=None, help="seed of the sampling (same seed, same image)")
    t.add_argument(
        "--top-k", type=int, default=200, help="top-k of the sampling (the original's 200; 0: off)"
    )
    t.add_argument("--temperature", type=float, default=1.0)
    t.add_argument("--grid", type=int, default=32, help="codes per image side (the release: 32, 256 pixels)")
    t.add_argument("--vqvae", default=None, help="the VQ-VAE .pt when the converted folder has none")
    t.add_argument("--device", default=None, help="cuda, cuda:1, cpu … (default: cpu)")
    t.add_argument(
        "--allow-slow",
        action="store_true",
        help="start even when the CPU would take very long (full size: ~70 min)",
    )
    t.set_defaults(handler=_text_to_image)

    cap = sub.add_parser(
        "image-caption", help="describe images in Chinese (CogView image2text; cogview-caption)"
    )
    cap.add_argument("model", help="catalog id (converted in the store) or a converted CogView folder")
    cap.add_argument("images", nargs="+", help="image files (JPEG, PNG, WebP, BMP, GIF, TIFF …)")
    cap.add_argument("-n", "--num-captions", type=int, default=1, help="captions per image")
    cap.add_argument("--seed", type=int, default=None, help="seed of the sampling (same seed, same caption)")
    cap.add_argument(
        "--top-k", type=int, default=200, help="top-k of the sampling (the original's 200; 0: off)"
    )
    cap.add_argument("--temperature", type=float, default=1.0)
    cap.add_argument("--greedy", action="store_true", help="argmax instead of sampling")
    cap.add_argument(
        "--max-new-tokens", type=int, default=20, help="caption length in tokens (the original's 20)"
    )
    _vqvae_device(cap)
    cap.set_defaults(handler=_caption)

    sel = sub.add_parser(
        "post-select",
        help="rank images by how well they fit a text (CogView post-selection: caption likelihood)",
    )
    sel.add_argument("model", help="catalog id (converted in the store) or a converted CogView folder")
    sel.add_argument("text", help='the text the images should show, e.g. "一只可爱的猫"')
    sel.add_argument("images", nargs="+", help="candidate image files")
    _vqvae_device(sel)
    sel.set_defaults(handler=_post_select)


def _vqvae_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--vqvae", default=None, help="the VQ-VAE .pt when the converted folder has none")
    p.add_argument("--device", default=None, help="cuda, cuda:1, cpu … (default: cpu)")


def _image_to_text(args: argparse.Namespace) -> Any:
    from zhplm.tasks import pipeline

    options: dict[str, Any] = {"vqvae": args.vqvae}
    if args.device:
        options["device"] = args.device
    return pipeline("image-to-text", args.model, **options)


def _caption(args: argparse.Namespace) -> int:
    from zhplm.errors import ImageError

    captioner = _image_to_text(args)
    options = {
        "num_captions": args.num_captions,
        "seed": args.seed,
        "top_k": args.top_k,
        "temperature": args.temperature,
        "greedy": args.greedy,
        "max_new_tokens": args.max_new_tokens,
    }
    results: list[dict[str, Any]] = []
    for image in args.images:
        try:
            results.append({"image": image, "captions": [c.text for c in captioner(image, **options)]})
        except ImageError as exc:  # the batch goes on; the exit code says one failed
            results.append({"image": image, "captions": [], "error": str(exc)})

    def human() -> None:
        for r in results:
            if "error" in r:
                sys.stderr.write(f"error: {r['error']}\n")
                continue
            sys.stdout.write("".join(f"{r['image']}\t{c}\n" for c in r["captions"]))

    emit(args, results, human)
    return _status(any("error" in r for r in results))


def _post_select(args: argparse.Namespace) -> int:
    ranked = _image_to_text(args).post_selection(args.text, args.images)

    def human() -> None:
        for s in ranked:
            if s.error is not None:
                sys.stderr.write(f"error: {s.error}\n")
            else:
                sys.stdout.write(f"{s.score:10.4f}  {s.image}\n")

    emit(args, {"text": args.text, "ranking": ranked}, human)
    return _status(any(s.error for s in ranked))


def _text_to_image(args: argparse.Namespace) -> int:
    from pathlib import Path

    from zhplm.tasks import pipeline

    options: dict[str, Any] = {"vqvae": args.vqvae, "allow_slow": args.allow_slow, "grid": args.grid}
    if args.device:
        options["device"] = args.device
    draw = pipeline("text-to-image", args.model, **options)
    images = draw(
        args.text, num_images=args.num_images, seed=args.seed, top_k=args.top_k, temperature=args.temperature
    )
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = [
        out if len(images) == 1 else out.with_name(f"{out.stem}-{i}{out.suffix}") for i in range(len(images))
    ]
    for path, item in zip(paths, images, strict=True):
        item.image.save(path)
    result = {"text": args.text, "images": [str(p) for p in paths], "seed": args.seed}
    emit(args, result, lambda: sys.stdout.write("".join(f"{p}\n" for p in paths)))
    return 0


def _labels(text: str) -> list[str]:
    from zhplm.errors import ConversionError

    labels = [t.strip() for t in text.replace("，", ",").split(",") if t.strip()]
    if not labels:
        raise ConversionError("--labels needs at least one label, e.g. --labels 猫,狗")
    return labels


def _classify(args: argparse.Namespace) -> int:
    from zhplm.errors import ConversionError
    from zhplm.tasks import pipeline
    from zhplm.tasks.image_text import DEFAULT_TEMPLATE

    if args.input:
        if args.images:
            raise ConversionError("give --input (a batch job) or image files, not both")
        options = {"template": args.template or DEFAULT_TEMPLATE}
        return run_job(args, "image-classify", options, {"labels": _labels(args.labels)}, "images")
    if not args.images:
        raise ConversionError("give image files, or --input FOLDER|LIST --output DIR for a batch job")
    clf = pipeline("zero-shot-image-classification", args.model, template=args.template or DEFAULT_TEMPLATE)
    results = clf(args.images, _labels(args.labels))
    if args.top_k is not None:
        results = [type(r)(r.image, r.labels[: args.top_k], r.error) for r in results]

    def human() -> None:
        for r in results:
            if r.error is not None:
                sys.stderr.write(f"error: {r.error}\n")
                continue
            sys.stdout.write(f"{r.image}\n")
            for item in r.labels:
                sys.stdout.write(f"  {item.score:7.4f}  {item.label}\n")

    emit(args, results, human)
    return _status(any(r.error for r in results))


def _search(args: argparse.Namespace) -> int:
    from zhplm.tasks import pipeline

    sim = pipeline("image-text-similarity", args.model, rerank=args.rerank)
    index = sim.index(args.images, cache_dir=args.cache_dir)
    matches = index.search(args.query, k=args.top_k)
    result = {
        "query": args.query,
        "matches": matches,
        "indexed": len(index.images),
        "encoded": index.encoded,
        "failures": index.failures,
    }

    def human() -> None:
        for f in index.failures:
            sys.stderr.write(f"error: {f.error}\n")
        sys.stderr.write(
            f"{len(index.images)} images indexed ({index.encoded} encoded now, the rest from the cache)\n"
        )
        for m in matches:
            sys.stdout.write(f"{m.score:7.4f}  {m.item}\n")

    emit(args, result, human)
    return _status(bool(index.failures))


def _status(failed: bool) -> int:
    if not failed:
        return 0
    from zhplm import errors
    from zhplm.cli.errors import exit_code

    return exit_code(errors.ImageError("-", "-"))
