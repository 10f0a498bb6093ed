"""``zhplm fill-mask`` and ``zhplm embed``: use a converted model from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from zhplm.cli.output import emit


def add_dtype(p: argparse.ArgumentParser) -> None:
    """``--dtype``: the precision the model runs in (zhplm.precision; ``zhplm info --system`` shows auto's pick)."""
    p.add_argument(
        "--dtype",
        choices=("fp32", "bf16", "int8", "auto"),
        default=None,
        help="fp32 (default, exact), bf16, int8, or auto: the fastest this CPU runs natively",
    )
    p.add_argument(
        "--int8-backend",
        choices=("auto", "fbgemm", "torchao"),
        default=None,
        help="with --dtype int8: which library quantises (default: the fastest installed; ZHPLM_INT8_BACKEND)",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="run the model through torch.compile: pays only over many batches, the first costs seconds to "
        "minutes (ZHPLM_COMPILE=1)",
    )


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("fill-mask", help="predict the [MASK] tokens of a text")
    p.add_argument("model", help="catalog id (converted in the store) or a converted folder")
    p.add_argument("text", help='e.g. "中国的首都是[MASK]京。"')
    p.add_argument("--top-k", type=int, default=5)
    add_dtype(p)
    p.set_defaults(handler=_fill_mask)

    e = sub.add_parser("embed", help="embed the lines of a text file")
    e.add_argument("model", help="catalog id (converted in the store) or a converted folder")
    add_job_arguments(
        e,
        "UTF-8 text file, one text per line (a job also reads .jsonl 'text' / .parquet 'text')",
        "FILE.npy or FILE.jsonl; a folder of Parquet parts for a job (--engine)",
        required=True,
    )
    e.add_argument("--pooling", choices=("cls", "mean", "pooler"), default="cls")
    e.add_argument("--no-normalize", action="store_true")
    e.add_argument("--batch-size", type=int, default=32)
    e.add_argument("--max-length", type=int, default=512)
    add_dtype(e)
    e.set_defaults(handler=_embed)

    s = sub.add_parser(
        "similarity", help="cosine similarity of sentence pairs (each model's own sentence vector)"
    )
    s.add_argument("model", help="catalog id (converted in the store) or a converted folder")
    s.add_argument("texts", nargs="*", help='two texts: "句子A" "句子B"')
    s.add_argument("--pairs", help="UTF-8 file: one pair a line, the two texts separated by a tab")
    add_job_arguments(
        s,
        "a batch job's pairs: .tsv (two texts a line, tab-separated), .jsonl with 'text1' and 'text2', "
        "or .parquet with those columns",
        "the job's folder of Parquet parts (columns row, text1, text2, score)",
    )
    s.add_argument("--pooling", choices=("cls", "mean", "pooler"), default=None, help="default: the authors'")
    s.add_argument("--batch-size", type=int, default=32)
    add_dtype(s)
    s.set_defaults(handler=_similarity)

    d = sub.add_parser(
        "demo",
        help="the whole path on a small model: search, download, convert + verify, fill-mask, similarity "
        "(offline: on a BERT made here, in an original release format)",
    )
    d.add_argument("--offline", action="store_true", help="skip the hub: use the model made here")
    d.add_argument("--steps", type=int, default=300, help="training steps of the local model (default 300)")
    d.add_argument("--query", default=None, help="what the first step searches for")
    d.set_defaults(handler=_demo)


def _fill_mask(args: argparse.Namespace) -> int:
    from zhplm.tasks import pipeline

    results = pipeline("fill-mask", args.model, top_k=args.top_k, dtype=args.dtype)(args.text)
    lines = []
    for n, preds in enumerate(results, 1):
        if len(results) > 1:
            lines.append(f"[MASK] #{n}")
        lines += [f"{p.score:8.4f}  {p.token}  {p.sequence}" for p in preds]
    emit(args, results, "\n".join(lines))
    return 0


def _embed(args: argparse.Namespace) -> int:
    import numpy as np

    from zhplm.errors import ConversionError
    from zhplm.tasks import pipeline

    if args.engine:
        return _embed_job(args)
    out = Path(args.output)
    if out.suffix not in (".npy", ".jsonl"):
        raise ConversionError(f"--output must end in .npy or .jsonl, got {out.name}")
    texts = [line.rstrip("\n") for line in Path(args.input).read_text(encoding="utf-8").splitlines()]
    embed = pipeline(
        "embeddings",
        args.model,
        pooling=args.pooling,
        normalize=not args.no_normalize,
        batch_size=args.batch_size,
        max_length=args.max_length,
        dtype=args.dtype,
    )
    bar = None
    if not args.quiet:
        try:
            from tqdm import tqdm

            bar = tqdm(total=len(texts), unit="text", file=sys.stderr)
        except ImportError:
            bar = None
    vectors = embed(texts, progress=bar.update if bar is not None else None)
    if bar is not None:
        bar.close()
    if out.suffix == ".npy":
        np.save(out, vectors)
    else:
        with open(out, "w", encoding="utf-8") as fh:
            for n, (text, vec) in enumerate(zip(texts, vectors, strict=True)):
                row: dict[str, Any] = {"text": text, "embedding": vec.tolist()}
                if n in embed.windows:  # longer than the model's window: the mean of this many windows
                    row["windows"] = embed.windows[n]
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    windowed = len(embed.windows)
    note = f" ({windowed} longer than {args.max_length} tokens: sliding windows)" if windowed else ""
    emit(
        args,
        {"output": out, "count": len(texts), "size": vectors.shape[1], "windowed": windowed},
        lambda: print(
            f"{len(texts)} embeddings of size {vectors.shape[1]} written to {out}{note}", file=sys.stderr
        ),
    )
    return 0


def _embed_job(args: argparse.Namespace) -> int:
    options = {
        "pooling": args.pooling,
        "normalize": not args.no_normalize,
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        **({"dtype": args.dtype} if args.dtype else {}),
    }
    return run_job(args, "embed", options, {}, "embeddings")


def add_job_arguments(
    p: argparse.ArgumentParser, input_help: str, output_help: str, *, required: bool = False
) -> None:
    """``--input/--output`` and the batch-job options every job command shares (zhplm.jobs)."""
    p.add_argument("--input", required=required, help=input_help)
    p.add_argument("--output", required=required, help=output_help)
    j = p.add_argument_group("batch job (resumable Parquet parts; zhplm.jobs)")
    j.add_argument(
        "--engine",
        choices=("local", "ray"),
        help="run as a batch job here or on Ray (embed: needs it; the others: --input alone means local)",
    )
    j.add_argument("--address", help="a Ray cluster to join (default: start Ray on this machine)")
    j.add_argument("--workers", type=int, help="Ray actors (default: one per CPU)")
    j.add_argument("--block-lines", type=int, default=1000, help="records per output part (default 1000)")
    flags = ["--quiet"] + ([] if "-q" in p._option_string_actions else ["-q"])
    p.add_argument(*flags, action="store_true", help="no progress bar; only warnings and errors on stderr")


def run_job(
    args: argparse.Namespace, task: str, options: dict[str, Any], call: dict[str, Any], noun: str
) -> int:
    """Run ``task`` over ``--input`` into ``--output`` as a zhplm.jobs batch job; report like every command.
    A job whose rows carry errors (unreadable images) exits with the image-error code, the rows written."""
    from zhplm.errors import ConversionError
    from zhplm.jobs import Job, run

    if not args.input or not args.output:
        raise ConversionError("a batch job needs both --input and --output (a folder for the Parquet parts)")
    job = Job(
        task, args.model, args.input, args.output, block_lines=args.block_lines, options=options, call=call
    )
    bar = _progress_bar(args)
    engine = args.engine or "local"
    report = run(job, engine=engine, address=args.address, workers=args.workers, progress=bar)
    failed = f"; {report.errors} rows with an error" if report.errors else ""
    emit(
        args,
        vars(report),
        lambda: print(
            f"{report.rows} {noun} in {report.blocks} parts under {args.output} "
            f"({report.computed} computed, {report.skipped} already there; {report.engine}{failed})",
            file=sys.stderr,
        ),
    )
    if not report.errors:
        return 0
    from zhplm import errors
    from zhplm.cli.errors import exit_code

    return exit_code(errors.ImageError("-", "-"))


def _progress_bar(args: argparse.Namespace) -> Any:
    if args.quiet:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(unit="row", file=sys.stderr).update


def _similarity(args: argparse.Namespace) -> int:
    from zhplm.errors import ConversionError
    from zhplm.tasks import pipeline
    from zhplm.tasks.similarity import read_pairs

    if args.input:
        if args.pairs or args.texts:
            raise ConversionError("give --input (a batch job) or texts / --pairs, not both")
        options = {
            "pooling": args.pooling,
            "batch_size": args.batch_size,
            **({"dtype": args.dtype} if args.dtype else {}),
        }
        return run_job(args, "similarity", options, {}, "scores")
    if args.pairs and args.texts:
        raise ConversionError("give either two texts or --pairs FILE, not both")
    if args.pairs:
        pairs = read_pairs(args.pairs)
    elif len(args.texts) == 2:
        pairs = [(args.texts[0], args.texts[1])]
    else:
        raise ConversionError(f"give two texts (got {len(args.texts)}) or --pairs FILE")
    sim = pipeline(
        "sentence-similarity", args.model, pooling=args.pooling, batch_size=args.batch_size, dtype=args.dtype
    )
    scores = sim.pairs(pairs)
    emit(args, scores, "\n".join(f"{s.score:8.4f}  {s.a}\t{s.b}" for s in scores))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from zhplm.demo import SEARCH_QUERY, run

    say = (lambda line: None) if args.json else (lambda line: print(line, flush=True))
    result = run(say, offline=args.offline or None, steps=args.steps, query=args.query or SEARCH_QUERY)
    emit(args, result, None)
    return 0
