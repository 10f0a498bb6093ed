"""``zhplm generate`` and ``zhplm chat``: text generation and dialogue from the command line.

``generate`` streams the continuation to the terminal as the model produces it (one prompt, no beams,
no ``--json``); ``--file`` runs a batch of prompts (one per line); ``--input/--output`` a resumable batch
job (zhplm.jobs, locally or on Ray). ``chat`` reads turns from stdin (a
terminal or a pipe), answers each on stdout, and understands ``/reset`` and ``/exit``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from zhplm.cli.output import emit
from zhplm.cli.tasks_cmds import add_dtype, add_job_arguments, run_job


def _sampling_options(p: argparse.ArgumentParser, defaults: bool = True) -> None:
    g = p.add_argument_group("decoding")
    g.add_argument("--max-new-tokens", type=int, default=50 if defaults else None)
    g.add_argument("--sample", action="store_true", default=None, help="sample (default: greedy)")
    g.add_argument("--greedy", action="store_true", help="greedy decoding (chat samples by default)")
    g.add_argument("--temperature", type=float)
    g.add_argument("--top-k", type=int, help="sample among the k likeliest tokens")
    g.add_argument("--top-p", type=float, help="sample among the likeliest tokens holding this probability")
    g.add_argument("--repetition-penalty", type=float)
    g.add_argument("--num-beams", type=int, help="beam search with this many beams")
    g.add_argument("--seed", type=int, help="seed the sampler (same seed, same text)")
    g.add_argument("--stop", action="append", default=[], help="stop before this text (repeatable)")
    g.add_argument(
        "--prompt-format",
        help="override the model's prompt format (plain, gpt2-chinese, cls-prefix, cdial, chitchat)",
    )


def register(sub: argparse._SubParsersAction[Any]) -> None:
    g = sub.add_parser(
        "generate",
        help="continue a text with a generative model (streams as it writes)",
        description="Continue PROMPT (or every line of --file) with a converted causal LM, in the model's "
        "own prompt format. Greedy by default; --sample with --temperature/--top-k/--top-p; --num-beams for "
        "beam search.",
    )
    g.add_argument("model", help="catalog id (converted in the store) or a converted folder")
    g.add_argument("prompt", nargs="?", help='e.g. "今天天气"')
    g.add_argument("--file", help="UTF-8 text file: one prompt per line (a batch)")
    g.add_argument("--batch-size", type=int, default=8)
    g.add_argument("--no-stream", action="store_true", help="print the text once it is complete")
    add_job_arguments(
        g,
        "a batch job's prompts: .txt (one a line), .jsonl with 'text', or .parquet with 'text'",
        "the job's folder of Parquet parts (columns row, text, generated, finish_reason)",
    )
    add_dtype(g)
    _sampling_options(g)
    g.set_defaults(handler=_generate)

    c = sub.add_parser(
        "chat",
        help="talk with a dialogue model (CDial-GPT, GPT2-chitchat): /reset, /exit",
        description="Each line of stdin is your turn; the reply follows on stdout. The history is kept in "
        "the model's own format. /reset forgets it, /exit (or end of input) quits. GPT2-chitchat's replies "
        "are reranked by its MMI model when that one is converted (--mmi to name it, --no-mmi to skip).",
    )
    c.add_argument("model", help="catalog id (converted in the store) or a converted folder")
    c.add_argument("--mmi", help="reverse model that reranks candidate replies (catalog id or folder)")
    c.add_argument("--no-mmi", action="store_true", help="do not rerank")
    c.add_argument("--candidates", type=int, default=5, help="replies to rerank (with an MMI model)")
    c.add_argument("--max-history", type=int, default=5, help="past exchanges fed back to the model")
    add_dtype(c)
    _sampling_options(c, defaults=False)
    c.set_defaults(handler=_chat)


def _options(args: argparse.Namespace, base: dict[str, Any]) -> dict[str, Any]:
    opts = dict(base)
    given = {
        "max_new_tokens": args.max_new_tokens,
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "repetition_penalty": args.repetition_penalty,
        "num_beams": args.num_beams,
        "seed": args.seed,
    }
    opts.update({k: v for k, v in given.items() if v is not None})
    if args.sample or any(v is not None for v in (args.temperature, args.top_k, args.top_p)):
        opts["sample"] = True
    if args.greedy:
        opts["sample"] = False
    if args.stop:
        opts["stop"] = tuple(_unescape(s) for s in args.stop)
    return opts


def _unescape(text: str) -> str:
    """``--stop '\\n'`` means a newline (a shell cannot easily pass one)."""
    return text.replace("\\n", "\n").replace("\\t", "\t")


def _generate(args: argparse.Namespace) -> int:
    from zhplm.errors import ConversionError
    from zhplm.tasks.generate import Options, TextGeneration

    if args.input:
        if args.prompt is not None or args.file is not None:
            raise ConversionError("give --input (a batch job) or a PROMPT / --file, not both")
        options = {"prompt_format": args.prompt_format, **({"dtype": args.dtype} if args.dtype else {})}
        call = {**_options(args, {}), "batch_size": args.batch_size}  # recorded: a rerun must match
        return run_job(args, "generate", options, call, "generations")
    if (args.prompt is None) == (args.file is None):
        raise ConversionError("give either a PROMPT or --file FILE (one prompt per line)")
    gen = TextGeneration.from_model(args.model, prompt_format=args.prompt_format, dtype=args.dtype)
    opts = Options(**_options(args, {}))
    if args.file is not None:
        prompts = [line for line in Path(args.file).read_text(encoding="utf-8").splitlines() if line.strip()]
        if not prompts:
            raise ConversionError(f"{args.file} holds no prompt (one per line)")
        results = gen.batch(prompts, batch_size=args.batch_size, **vars(opts))
        emit(args, results, "\n".join(f"{r.prompt}{r.text}" for r in results))
        return 0
    stream = not (args.json or args.no_stream) and opts.num_beams == 1
    if stream:
        sys.stdout.write(args.prompt)
        sys.stdout.flush()
        result = gen(args.prompt, on_text=_write, **vars(opts))
        sys.stdout.write("\n")
        return 0
    result = gen(args.prompt, **vars(opts))
    emit(args, result, f"{result.prompt}{result.text}")
    return 0


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _chat(args: argparse.Namespace) -> int:
    from zhplm.errors import ConversionError
    from zhplm.tasks.chat import Chat
    from zhplm.tasks.generate import make_options

    chat = Chat.from_model(
        args.model,
        reranker=args.mmi,
        use_reranker=not args.no_mmi,
        candidates=args.candidates,
        max_history=args.max_history,
        prompt_format=args.prompt_format,
        dtype=args.dtype,
    )
    gen = chat.generator
    gen.options = make_options(gen.options, _options(args, {}))
    interactive = sys.stdin.isatty()
    transcript: list[dict[str, Any]] = []
    while True:
        if interactive:
            sys.stderr.write("> ")
            sys.stderr.flush()
        line = sys.stdin.readline()
        if not line or line.strip() == "/exit":
            break
        text = line.strip()
        if not text:
            continue
        if text == "/reset":
            chat.reset()
            transcript.append({"reset": True})
            if not args.json:
                sys.stderr.write("(history cleared)\n")
            continue
        try:
            reply = chat.say(text)
        except ConversionError as exc:
            sys.stderr.write(f"zhplm: {exc}\n")
            continue
        transcript.append({"user": text, "reply": reply.text, "candidates": reply.candidates})
        if not args.json:
            sys.stdout.write(reply.text + "\n")
            sys.stdout.flush()
    emit(args, transcript, None)
    return 0
