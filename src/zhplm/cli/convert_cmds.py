"""``zhplm convert``: an original checkpoint (catalog id in the store, folder, archive or file) → HF folder."""

from __future__ import annotations

import argparse
from typing import Any

from zhplm.cli.output import emit


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "convert",
        help="convert an original checkpoint into a Hugging Face folder",
        description="Convert SRC (a catalog id whose files are in the store, or a folder, archive or file) "
        "into a Hugging Face folder: config.json, model.safetensors, tokenizer files and zhplm.json.",
    )
    p.add_argument("src", help="catalog id, or path to a folder, archive, checkpoint file or TF prefix")
    p.add_argument("--out", help="output folder (required unless --dry-run)")
    p.add_argument("--arch", help="architecture (detected from names and shapes when omitted)")
    p.add_argument("--dry-run", action="store_true", help="print the plan: source → target, transform, shape")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    p.add_argument(
        "--remote-code",
        action="store_true",
        help="for zhplm's own architectures, also write the code that loads the folder without zhplm "
        "(auto_map + trust_remote_code=True)",
    )
    p.add_argument(
        "--prompt-format",
        help="how the model is prompted for generate/chat (plain, gpt2-chinese, cls-prefix, cdial, chitchat, "
        "chitchat-mmi); default: the catalog row's",
    )
    p.set_defaults(handler=_convert)

    r = sub.add_parser(
        "export-remote-code",
        help="make a converted folder of zhplm's own architectures load without zhplm",
        description="Write the auto_map and the modeling/configuration/tokenization files (generated from "
        "zhplm's own modules) into DIR, so that AutoModel/AutoTokenizer.from_pretrained(DIR, "
        "trust_remote_code=True) work with plain transformers, e.g. after uploading DIR to a hub.",
    )
    r.add_argument("dir", help="a converted folder (config.json, weights, tokenizer files)")
    r.add_argument("--json", action="store_true", help="print the notes as JSON")
    r.set_defaults(handler=_export_remote_code)


def _export_remote_code(args: argparse.Namespace) -> int:
    from zhplm.remote_code import write_remote_code

    notes = write_remote_code(args.dir)
    emit(args, {"dir": args.dir, "notes": notes}, "\n".join(notes))
    return 0


def _convert(args: argparse.Namespace) -> int:
    from zhplm.converter import convert
    from zhplm.errors import ConversionError

    if not args.dry_run and not args.out:
        raise ConversionError("--out DIR is required (or use --dry-run to see the plan)")
    result = convert(
        args.src,
        args.out,
        arch=args.arch,
        dry_run=args.dry_run,
        overwrite=args.overwrite,
        remote_code=args.remote_code,
        prompt_format=args.prompt_format,
    )
    summary = {
        "out": result.out,
        "arch": result.arch,
        "format": result.format,
        "scheme": result.scheme,
        "architectures": result.architectures,
        "heads": result.heads,
        "tensors": len(result.plan.steps),
        "ignored": [n for n, _ in result.plan.ignored],
        "notes": result.notes,
    }

    def human() -> None:
        print(
            f"format {result.format}, arch {result.arch} ({result.scheme} names) → {', '.join(result.architectures)}"
        )
        if args.dry_run:
            print(result.plan.render())
        heads = ", ".join(f"{h}: {s}" for h, s in result.heads.items())
        print(f"heads: {heads}")
        for note in result.notes:
            print(f"note: {note}")
        if result.out:
            print(f"written to {result.out}")

    emit(args, summary, human)
    return 0
