"""``zhplm serve``: the HTTP server (OpenAI-compatible routes + the catalog page)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "serve",
        help="serve models over an OpenAI-compatible HTTP API, with the catalog page at /",
        description="Models load on first request (or with --preload); the store's converted models are "
        "offered too. Needs: pip install 'zhplm[serve]'.",
    )
    p.add_argument(
        "models",
        nargs="*",
        metavar="ID_OR_DIR",
        help="catalog ids (converted in the store) or converted folders",
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--api-key", default=None, help="require `Authorization: Bearer KEY` on /v1, /api and /metrics"
    )
    p.add_argument("--max-models", type=int, default=2, help="models (per task) kept in memory, LRU-evicted")
    p.add_argument(
        "--dtype",
        choices=("fp32", "bf16", "int8", "auto"),
        default="fp32",
        help="fp32 (default, exact), bf16, int8, or auto: the fastest this CPU runs natively (zhplm info --system)",
    )
    p.add_argument("--preload", action="store_true", help="load the named models before the first request")
    p.add_argument(
        "--batch-size", type=int, default=64, help="embeddings inputs per forward (dynamic batching)"
    )
    p.add_argument("--batch-wait-ms", type=float, default=5.0, help="how long a batch waits to fill")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: torch's own choice)",
    )
    p.add_argument("--max-body-bytes", type=int, default=1 << 20)
    p.add_argument("--max-inputs", type=int, default=256, help="texts per request")
    p.add_argument("--max-tokens", type=int, default=512, help="upper bound of a request's max_tokens")
    p.add_argument(
        "--max-images", type=int, default=32, help="images per request (image-text models; data URLs)"
    )
    p.add_argument(
        "--max-image-pixels", type=int, default=25_000_000, help="pixels per image, checked before decoding"
    )
    p.add_argument(
        "--allow-slow",
        action="store_true",
        help="serve text-to-image even where one image takes minutes (CogView on a CPU: about 70 per image)",
    )
    p.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from zhplm.serve import serve

    serve(
        args.models,
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        max_models=args.max_models,
        dtype=args.dtype,
        preload=args.preload,
        batch_size=args.batch_size,
        batch_wait_ms=args.batch_wait_ms,
        threads=args.threads,
        max_body_bytes=args.max_body_bytes,
        max_inputs=args.max_inputs,
        max_tokens=args.max_tokens,
        max_images=args.max_images,
        max_image_pixels=args.max_image_pixels,
        allow_slow=args.allow_slow,
    )
    return 0
