"""Catalog commands: ``zhplm list``, ``search``, ``info`` and ``zhplm catalog import|export|add|remove|archs``.

Thin: parse arguments, call one zhplm.catalog function, print. Nothing here imports torch.
"""

from __future__ import annotations

import argparse
import sys
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zhplm.catalog.schema import FRAMEWORKS, HOST_KINDS, SECTIONS, ModelRecord
from zhplm.cli.output import emit


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add this group's sub-commands to the zhplm parser."""
    p = sub.add_parser("list", help="list the models of the catalog, with filters")
    p.add_argument("--section", help=f"one of {', '.join(SECTIONS)} (or the list's heading, e.g. NLU系列)")
    p.add_argument("--family", help="the list's family heading, e.g. RoBERTa, 二郎神")
    p.add_argument("--arch", help="architecture, e.g. bert, nezha, roformer_v2 (see `zhplm catalog archs`)")
    p.add_argument("--domain", help="domain in Chinese or English, e.g. 司法, legal, medical")
    p.add_argument("--framework", choices=FRAMEWORKS, help="a download of this framework exists")
    p.add_argument("--host", choices=HOST_KINDS, help="a download on this host exists")
    p.add_argument("--size", help="size label (tiny, base, large, 2.6b …) or the list's 版本 text")
    p.add_argument(
        "--downloadable",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="only models an automatic source exists for (--no-downloadable: only manual ones)",
    )
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("search", help="search the catalog (Chinese or English), best match first")
    p.add_argument(
        "query",
        nargs="+",
        help="words to look for: ids, names, family, organisation (百度, Huawei, 哈工大 …), task (生成, 摘要, 相似度 …), "
        "size (large, 小模型, 110M, 1.3B), domain, papers",
    )
    p.set_defaults(handler=cmd_search)

    p = sub.add_parser(
        "info", help="everything about one model, including how to get it (--system: this machine)"
    )
    p.add_argument("id", nargs="?", help="a model id or alias (e.g. macbert-base, hfl/chinese-macbert-base)")
    p.add_argument(
        "--system", action="store_true", help="what this CPU runs natively and the precision dtype=auto picks"
    )
    p.set_defaults(handler=cmd_info)

    cat = sub.add_parser("catalog", help="import, export and extend the catalog")
    cs = cat.add_subparsers(dest="catalog_command", metavar="ACTION")
    cat.set_defaults(handler=lambda args: _help(cat))

    p = cs.add_parser(
        "import",
        help="parse a version of the awesome list's markdown; report what is new, changed and gone "
        "versus the built-in catalog (--add: register the new rows in your catalog)",
    )
    p.add_argument("file", type=Path, help="the list's markdown file")
    p.add_argument(
        "--add",
        action="store_true",
        help="add the new rows to your catalog as an overlay (typed where the family tells the arch); "
        "the built-in catalog is never changed",
    )
    p.set_defaults(handler=cmd_import)

    p = cs.add_parser("export", help="export the catalog as json, csv, the list's markdown, or bibtex")
    p.add_argument("--format", choices=("json", "csv", "md", "bibtex"), default="json")
    p.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")
    p.set_defaults(handler=cmd_export)

    p = cs.add_parser("add", help="register extra records (a JSON list in the `catalog export` schema)")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=cmd_add)

    p = cs.add_parser("remove", help="remove a record added with `zhplm catalog add`")
    p.add_argument("id")
    p.set_defaults(handler=cmd_remove)

    p = cs.add_parser(
        "archs", help="list the architecture names records may use (registered modules, then planned ones)"
    )
    p.add_argument(
        "--rules", metavar="ARCH", help="print ARCH's naming schemes (source → target) and evidence"
    )
    p.set_defaults(handler=cmd_archs)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


# --------------------------------------------------------------------------- handlers


def cmd_list(args: argparse.Namespace) -> int:
    from zhplm.catalog import list_models

    records = list_models(
        section=args.section,
        family=args.family,
        arch=args.arch,
        domain=args.domain,
        framework=args.framework,
        host=args.host,
        size=args.size,
        downloadable=args.downloadable,
    )
    emit(args, records, lambda: _print_records(records))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from zhplm.catalog import search

    query = " ".join(args.query)
    records = search(query)
    if not records and not args.json:
        print(f"no model matches {query!r}", file=sys.stderr)
        return 1
    emit(args, records, lambda: _print_records(records))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from zhplm.catalog import how_to_get, info
    from zhplm.errors import ZhplmError

    if args.system:
        return _system(args)
    if args.id is None:
        raise ZhplmError("give a model id (zhplm info macbert-base), or --system for this machine")
    record = info(args.id)
    acquisition = how_to_get(record)
    data = record.to_dict()
    data["downloadable"] = acquisition.plan.downloadable
    data["how_to_get"] = acquisition_dict(acquisition)
    emit(args, data, _describe(record, acquisition))
    return 0


def _system(args: argparse.Namespace) -> int:
    """``zhplm info --system``: read without importing torch (the catalog commands never do)."""
    from zhplm.hardware import system_report

    report = system_report()
    lines = [
        f"cpu: {report['cpu']} ({report['cores']} cores usable)",
        f"instruction sets: {', '.join(report['flags']) or 'none of the ones that matter'}",  # type: ignore[arg-type]
        f"native bf16: {'yes' if report['native_bf16'] else 'no'}; int8 kernels: "
        f"{'yes' if report['int8_kernels'] else 'no'} ({report['int8_backend']})",
        f"dtype=auto picks: {report['auto_precision']} ({report['auto_reason']})",
        f"allocator: {report['allocator']}",
        f"torch {report['torch'] or 'not installed'}, transformers {report['transformers'] or 'not installed'}",
    ]
    emit(args, report, "\n".join(lines))
    return 0


def acquisition_dict(acquisition: Any) -> dict[str, Any]:
    """The planner's ways as JSON (``info --json`` and ``download --plan --json`` share it)."""
    p = acquisition.plan

    def way(a: Any, tried: bool) -> dict[str, Any]:
        return {
            "kind": a.kind,
            "where": a.repo or a.download.url,
            "revision": a.revision,
            "why": a.why,
            "tried": tried,
            "hub_copy": a.copy is not None,
        }

    return {
        "order": list(p.order),
        "order_from": p.order_from,
        "automatic": [a.repo or a.download.url for a in p.automatic],
        "ways": [way(a, True) for a in p.automatic] + [way(a, False) for a in (*p.manual, *p.skipped)],
        "lines": p.describe(),
        "steps": list(acquisition.steps),
    }


def cmd_import(args: argparse.Namespace) -> int:
    from zhplm import config
    from zhplm.catalog import awesome
    from zhplm.catalog.newer import import_list

    result = import_list(args.file, add=args.add)  # raises MarkdownParseError listing every bad line
    doc = result.document
    diff = result.diff
    by_line = {r.row.line: r for r in doc.rows}
    not_in = sorted([*(n.line for n in diff.new), *(c.line for c in diff.changed)])
    links = sum(len(awesome.cell_links(c)) for r in doc.rows for c in r.row.cells)
    summary = {
        "file": str(args.file),
        "sections": len(doc.sections),
        "families": len(doc.families),
        "paper_lines": sum(len(f.papers) for f in doc.families),
        "rows": len(doc.rows),
        "links_in_rows": links,
        "rows_in_catalog": diff.unchanged,
        "rows_not_in_catalog": [
            {"family": by_line[n].family.title, "line": n, "model": by_line[n].row.cells[0]} for n in not_in
        ],
    }
    report = {
        **diff.to_dict(),
        "added": list(result.added),
        "already_added": list(result.already),
        "catalog": config.user_catalog_path() if args.add else None,
    }
    lines = [
        f"{args.file}: {summary['sections']} sections, {summary['families']} families, "
        f"{summary['paper_lines']} paper lines, {summary['rows']} rows, {links} links; nothing unparsed",
        f"{diff.unchanged} rows are in the catalog as listed; {len(not_in)} are new or changed",
        f"versus the built-in catalog: {len(diff.new)} new, {len(diff.changed)} changed, {len(diff.gone)} gone",
    ]
    for n in diff.new:
        kind = f"arch {n.record.arch}" if n.typed else "arch unknown (catalog only)"
        lines.append(
            f"  new      line {n.line}: [{n.family}] {n.model} ({n.size or '-'}) -> {n.record.id}, {kind}"
        )
    for c in diff.changed:
        what = "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in c.columns)
        lines.append(f"  changed  line {c.line}: {c.id}: {what}")
    lines += [f"  gone     {g.id} [{g.family}] {g.model}" for g in diff.gone]
    if args.add:
        path = config.user_catalog_path()
        lines.append(
            f"added {len(result.added)} record(s) to {path}"
            + (f" ({len(result.already)} added before)" if result.already else "")
            + "; the built-in catalog is unchanged"
        )
    elif diff.new:
        lines.append("run again with --add to add the new rows to your catalog")
    emit(args, {"summary": summary, "diff": report, "document": doc}, "\n".join(lines))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from zhplm.catalog import export, get_catalog

    text = export.export(get_catalog(), args.format)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        result = {"format": args.format, "output": args.output, "bytes": len(text.encode("utf-8"))}
        emit(args, result, lambda: print(f"wrote {args.output}", file=sys.stderr))
    else:  # under --json the exported text is one string field (json.loads it again for --format json)
        emit(args, {"format": args.format, "output": None, "text": text}, lambda: sys.stdout.write(text))
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from zhplm import config
    from zhplm.catalog.overlay import add_records

    added = add_records(args.file)
    path = config.user_catalog_path()
    emit(
        args,
        {"added": [r.id for r in added], "catalog": path},
        f"added {len(added)} record(s) to {path}: {', '.join(r.id for r in added)}",
    )
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from zhplm.catalog.overlay import remove_record

    removed = remove_record(args.id)
    emit(args, {"removed": removed.id}, f"removed {removed.id}")
    return 0


def cmd_archs(args: argparse.Namespace) -> int:
    from zhplm.catalog import get_catalog
    from zhplm.catalog.archs import vocabulary as arch_vocabulary

    if args.rules:
        return _print_rules(args)

    vocabulary = arch_vocabulary()

    counts: dict[str, int] = {}
    for r in get_catalog():
        counts[r.arch] = counts.get(r.arch, 0) + 1
    emit(
        args,
        [{"arch": a, "description": d, "models": counts.get(a, 0)} for a, d in vocabulary.items()],
        lambda: _print_table(
            ["ARCH", "MODELS", "DESCRIPTION"], [[a, str(counts.get(a, 0)), d] for a, d in vocabulary.items()]
        ),
    )
    return 0


# --------------------------------------------------------------------------- printing


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max([_width(h), *(_width(r[i]) for r in rows)]) for i, h in enumerate(header)]
    lines = ["  ".join(_pad(c, w) for c, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(_pad(c, w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    sys.stdout.write("\n".join(lines) + "\n")


def _print_records(records: Sequence[ModelRecord]) -> None:
    from zhplm.catalog.query import is_downloadable

    rows = [
        [
            r.id,
            r.family,
            r.size_label,
            r.arch,
            r.domain_en,
            ",".join(f for f in r.frameworks if f != "project") or "-",
            "auto" if is_downloadable(r) else "manual",
        ]
        for r in records
    ]
    _print_table(["ID", "FAMILY", "SIZE", "ARCH", "DOMAIN", "FRAMEWORKS", "GET"], rows)
    print(f"{len(records)} model(s)", file=sys.stderr)


def _describe(r: ModelRecord, acquisition: Any) -> str:
    dims = ", ".join(
        f"{k} {v:,}" if k == "parameters" else f"{k} {v}"
        for k, v in (
            ("layers", r.layers),
            ("hidden", r.hidden),
            ("heads", r.heads),
            ("parameters", r.parameters),
            ("vocab", r.vocab_size),
        )
        if v is not None
    )
    out = [
        f"{r.id}  ({r.name})",
        f"  section     {r.section} / {r.family}",
        f"  size        {r.size_label}  (listed: {r.size or '-'})" + (f"; {dims}" if dims else ""),
        f"  arch        {r.arch}" + (f"; tokenizer {r.tokenizer}" if r.tokenizer else ""),
        f"  domain      {r.domain_zh} / {r.domain_en}",
        f"  publisher   {r.publisher.name}" + (f"  {r.publisher.url}" if r.publisher.url else ""),
        f"  source      {r.source_repo or '-'}",
    ]
    if r.model_type:
        out.append(f"  type        {r.model_type}")
    if r.aliases:
        out.append(f"  aliases     {', '.join(r.aliases)}")
    p = acquisition.plan
    ways = {id(a.download): f"via {a.kind}" for a in (*p.automatic, *p.skipped)}
    ways.update({id(a.download): "by hand" for a in p.manual})
    out.append("  downloads")
    for d in r.downloads:
        extra = [f"host {d.host}"]
        if d.format:
            extra.append(f"format {d.format}")
        if d.hf_repo:
            extra.append(f"repo {d.hf_repo}" + (f"@{d.revision}" if d.revision else ""))
        if d.code:
            extra.append(f"code {d.code}")
        extra += list(d.notes)
        extra.append(ways.get(id(d), "the same as an earlier link"))
        out.append(f"    [{d.framework}] {d.text}: {d.url}")
        out.append(f"        {'; '.join(extra)}")
    if r.hub_copies:
        out.append("  hub copies")
        for hc in r.hub_copies:
            rev = f"@{hc.revision}" if hc.revision else ""
            what = "HF layout" if hc.weights == "hf" else f"original {hc.format}"
            out.append(f"    {hc.hub} {hc.repo}{rev}: {what}, {hc.framework}, by {hc.publisher}")
    p = acquisition.plan
    out.append(f"  ways to get it, in the order tried ({p.order_from} order: {', '.join(p.order)})")
    out += [f"    {line}" for line in p.describe()]
    out.append("  how to get it")
    out += [f"    {i}. {s}" for i, s in enumerate(acquisition.steps, 1)]
    if r.papers:
        out.append("  papers")
        out += [f"    {p.year}  {p.title} ({p.authors}, {p.venue})" for p in r.papers]
    for c in r.corrections:
        out.append(
            f"  correction  {c.field}: the list says {c.listed!r}, in fact {c.corrected!r}: {c.reason}"
        )
    for n in r.notes:
        out.append(f"  note        {n}")
    if r.remark:
        out.append(f"  remark      {r.remark}")
    return "\n".join(out)


def _print_rules(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from zhplm.arch import get_arch

    spec = get_arch(args.rules)

    def human() -> None:
        print(f"{spec.name}: {spec.description} (model_type {spec.model_type}, class {spec.full_class})")
        for key, rules in spec.schemes.items():
            print(f"\nscheme {key}:\n{rules.render()}")
        print(f"\nevidence: {spec.evidence}")

    emit(
        args,
        {
            "arch": spec.name,
            "description": spec.description,
            "model_type": spec.model_type,
            "schemes": {
                k: [[r.source, r.target, r.transform.name] for r in v.rules] for k, v in spec.schemes.items()
            },
            "evidence": asdict(spec.evidence),
        },
        human,
    )
    return 0
