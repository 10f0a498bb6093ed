"""Source and store commands: ``zhplm download``, ``zhplm import``, ``zhplm store list|verify|remove|gc|path``.

Thin: parse arguments, call one zhplm.get or store function, print. Manual hosts print their exact steps
(link, extraction code, expected file) and exit with code 4.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from zhplm.cli.output import emit


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add this group's sub-commands to the zhplm parser."""
    from zhplm.sources.registry import kinds

    p = sub.add_parser("download", help="fetch, verify, extract and convert a model into the store")
    p.add_argument("id", help="a model id or alias")
    p.add_argument(
        "--source",
        choices=kinds(),
        help="only try ways of this kind (default: ZHPLM_SOURCES or the config file's sources, else all)",
    )
    p.add_argument(
        "--plan", action="store_true", help="list every way to get it, in the order tried, and fetch nothing"
    )
    p.add_argument("--no-convert", dest="convert", action="store_false", help="stop after fetching")
    p.add_argument("--force", action="store_true", help="fetch again even if the store has it")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or status lines")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per network operation (default 30)")
    p.set_defaults(handler=cmd_download)

    p = sub.add_parser("import", help="store a file you downloaded by hand (checked against the catalog)")
    p.add_argument("id", help="a model id or alias")
    p.add_argument("path", type=Path, help="the downloaded file, archive or folder")
    p.add_argument("--no-convert", dest="convert", action="store_false", help="stop after storing")
    p.add_argument("--quiet", "-q", action="store_true", help="no status lines")
    p.set_defaults(handler=cmd_import)

    st = sub.add_parser("store", help="the local store (ZHPLM_HOME): list, verify, remove, gc")
    ss = st.add_subparsers(dest="store_command", metavar="ACTION")
    st.set_defaults(handler=lambda args: _help(st))
    p = ss.add_parser("list", help="models in the store")
    p.set_defaults(handler=cmd_store_list)
    p = ss.add_parser("verify", help="re-hash stored files against the index")
    p.add_argument("id", nargs="?", help="one model (default: all)")
    p.set_defaults(handler=cmd_store_verify)
    p = ss.add_parser("remove", help="remove a model from the store")
    p.add_argument("id")
    p.set_defaults(handler=cmd_store_remove)
    p = ss.add_parser("gc", help="delete unreferenced downloads, abandoned partials and staging folders")
    p.set_defaults(handler=cmd_store_gc)
    p = ss.add_parser("path", help="print the stored (or --converted) folder of a model")
    p.add_argument("id")
    p.add_argument("--converted", action="store_true")
    p.set_defaults(handler=cmd_store_path)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _manual(exc: Exception, args: argparse.Namespace) -> int:
    from zhplm.cli.errors import exit_code, report

    if args.json:
        return report(exc, args)
    print(str(exc), file=sys.stdout)
    return exit_code(exc)


def cmd_download(args: argparse.Namespace) -> int:
    from zhplm.errors import ManualDownloadRequired
    from zhplm.get import download

    if args.plan:
        return _show_plan(args)
    try:
        path = download(
            args.id,
            source=args.source,
            convert=args.convert,
            force=args.force,
            quiet=args.quiet,
            timeout=args.timeout,
        )
    except ManualDownloadRequired as exc:
        return _manual(exc, args)
    emit(args, {"id": args.id, "path": path}, str(path))
    return 0


def _show_plan(args: argparse.Namespace) -> int:
    from zhplm.catalog import get_catalog, how_to_get
    from zhplm.cli.catalog_cmds import acquisition_dict

    record = get_catalog().get(args.id)
    acquisition = how_to_get(record, args.source)
    p = acquisition.plan
    head = f"{record.id}: {len(p.automatic)} automatic way(s), {len(p.manual)} by hand"
    head += f" ({p.order_from} order: {', '.join(p.order) or '-'})"
    emit(args, {"id": record.id, **acquisition_dict(acquisition)}, "\n".join([head, *p.describe()]))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from zhplm.get import import_file

    path = import_file(args.id, args.path, convert=args.convert, quiet=args.quiet)
    emit(args, {"id": args.id, "path": path}, str(path))
    return 0


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def cmd_store_list(args: argparse.Namespace) -> int:
    from zhplm.sources.store import Store

    store = Store()
    entries = store.entries()
    result = [
        {
            "id": e.model_id,
            "path": e.path,
            "source": e.source,
            "url": e.url,
            "sha256": e.sha256,
            "size": e.size,
            "format": e.format,
            "converted": e.converted,
            "parity": e.parity,
            "files": len(e.files),
        }
        for e in entries
    ]
    if not entries:
        emit(args, result, f"the store ({store.root}) is empty")
        return 0
    rows = [("ID", "SOURCE", "SIZE", "SHA256", "CONVERTED", "PARITY")]
    rows += [
        (e.model_id, e.source, _human(e.size), e.sha256[:12], "yes" if e.converted else "no", e.parity or "-")
        for e in entries
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    emit(args, result, "\n".join(table))
    return 0


def cmd_store_verify(args: argparse.Namespace) -> int:
    from zhplm.sources.store import Store

    results = Store().verify(args.id)
    lines = []
    for r in results:
        lines.append(f"{r.model_id}: {'ok' if r.ok else 'FAILED'}")
        lines += [f"  {p}" for p in r.problems]
    emit(args, results, "\n".join(lines) or None)
    bad = sum(not r.ok for r in results)
    if bad and not args.json:
        print(
            f"{bad} model(s) failed verification; `zhplm download ID --force` fetches them again",
            file=sys.stderr,
        )
        return 6
    return 0


def cmd_store_remove(args: argparse.Namespace) -> int:
    from zhplm.sources.store import Store

    removed = Store().remove(args.id)
    emit(
        args,
        {"id": args.id, "removed": removed},
        f"removed {args.id} (run `zhplm store gc` to free its raw download)"
        if removed
        else lambda: print(f"{args.id} is not in the store", file=sys.stderr),
    )
    return 0 if removed else 1


def cmd_store_gc(args: argparse.Namespace) -> int:
    from zhplm.sources.store import Store

    report = Store().gc()
    lines = [f"removed {p}" for p in report.removed] + [f"freed {_human(report.freed_bytes)}"]
    emit(args, report, "\n".join(lines))
    return 0


def cmd_store_path(args: argparse.Namespace) -> int:
    from zhplm.sources.store import Store

    store = Store()
    path = store.converted_dir(args.id) if args.converted else store.path_of(args.id)
    emit(args, {"id": args.id, "path": path}, str(path))
    return 0
