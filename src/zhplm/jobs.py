"""Batch jobs over inputs too large for one call — embed a 50-million-line corpus, complete a million
prompts, score pairs, classify a folder of images — on this machine (``engine="local"``) or on a Ray
cluster (``engine="ray"``), with the same output.

Every task is one :class:`JobTask` in :data:`REGISTRY`: which pipeline it builds, which input fields a
record has, how one batch of records is computed and which result columns that gives. Everything else —
blocks, resuming, the manifest, the engines — is shared.

The input is cut into blocks of ``block_lines`` records:

- text tasks (``embed``, ``generate``): a ``.txt`` with one text per line, a ``.jsonl`` with a ``text``
  field, or a ``.parquet`` with a ``text`` column;
- ``similarity``: a ``.tsv``/``.txt`` with the two texts of a pair on a line separated by a tab, a
  ``.jsonl`` with ``text1`` and ``text2`` fields, or a ``.parquet`` with those columns;
- ``image-classify``: a folder (every file in it, recursively, sorted — the listing is kept in the output
  folder as ``_input.txt``) or a list file with one image path per line (relative to the list's folder).

Each block becomes one Parquet file in the output folder, ``part-NNNNNN.parquet`` (columns ``row``, the
input fields and the results), written under a temporary name and renamed when complete. That makes a job
resumable (a rerun skips the blocks whose file exists) and a lost worker harmless (its block is simply
computed again and renamed over nothing): nothing is lost and no row is written twice. ``_job.json``
records what the folder holds — task, model, input, block size, pipeline options and call options such as
generation settings or labels; a rerun with any of them changed is refused rather than mixed in. A record
that cannot be computed (an unreadable image) is written as a row with an ``error`` naming it, and the job
goes on; a malformed input line stops the job with its file and line number, the finished blocks kept.

With Ray, the blocks are a Ray Data dataset mapped by an actor pool: the model is loaded once per actor,
actors that die are restarted and their block retried. ``address`` joins an existing cluster (the input
and output folders must then be on storage every node sees); without it a Ray instance starts on this
machine. Ray is an optional extra (``pip install 'zhplm[ray]'``) imported only here and only for
``engine="ray"``.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zhplm.errors import ConversionError, MissingDependencyError

log = logging.getLogger(__name__)

MANIFEST = "_job.json"
# Bumped when the part files' schema changes (2: embeddings as float32 lists), so that a folder written by an older
# zhplm is refused instead of mixing two schemas in one result table.
PARTS_FORMAT = 2
LISTING = "_input.txt"  # a folder input's files, one per line, as the job saw them
Records = dict[str, list[Any]]  # input field → values, one per record of a block


# ----------------------------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class JobTask:
    """One task a job can run: ``compute(pipe, records, call) -> {result column: values}``."""

    pipeline: str  # zhplm.pipeline's task name
    fields: tuple[str, ...]  # the input fields of a record (also its columns in the output)
    results: dict[str, str]  # result column → Arrow type (see _arrow_type)
    compute: Callable[[Any, Records, dict[str, Any]], Records]
    images: bool = False  # records are image paths: a folder is listed, relative paths are resolved


def _embed(pipe: Any, records: Records, call: dict[str, Any]) -> Records:
    return {"embedding": [row.tolist() for row in pipe(records["text"])]}


def _generate(pipe: Any, records: Records, call: dict[str, Any]) -> Records:
    out = pipe.batch(records["text"], **call)
    return {
        "generated": [g.text for g in out],
        "token_ids": [g.token_ids for g in out],
        "finish_reason": [g.finish_reason for g in out],
    }


def _similarity(pipe: Any, records: Records, call: dict[str, Any]) -> Records:
    scores = pipe.pairs(list(zip(records["text1"], records["text2"], strict=True)))
    return {"score": [s.score for s in scores]}


def _classify(pipe: Any, records: Records, call: dict[str, Any]) -> Records:
    found = pipe(records["image"], call["labels"])  # an unreadable image: ImageLabels.error, no labels
    return {
        "labels": [[s.label for s in r.labels] for r in found],
        "scores": [[s.score for s in r.labels] for r in found],
        "error": [r.error for r in found],
    }


REGISTRY: dict[str, JobTask] = {
    "embed": JobTask("embeddings", ("text",), {"embedding": "list<float32>"}, _embed),
    "generate": JobTask(
        "text-generation",
        ("text",),
        {"generated": "string", "token_ids": "list<int64>", "finish_reason": "string"},
        _generate,
    ),
    "similarity": JobTask("sentence-similarity", ("text1", "text2"), {"score": "float64"}, _similarity),
    "image-classify": JobTask(
        "zero-shot-image-classification",
        ("image",),
        {"labels": "list<string>", "scores": "list<float64>", "error": "string"},
        _classify,
        images=True,
    ),
}
TASKS = tuple(REGISTRY)


@dataclass(frozen=True)
class Job:
    """What to compute: ``task`` over every record of ``input`` with ``model``, into the folder ``output``."""

    task: str
    model: str
    input: str
    output: str
    block_lines: int = 1000
    options: dict[str, Any] = field(
        default_factory=dict
    )  # building the pipeline: pooling, dtype, prompt_format, template …
    call: dict[str, Any] = field(default_factory=dict)  # each call: generation settings, labels …

    def __post_init__(self) -> None:
        if self.task not in REGISTRY:
            raise ConversionError(f"unknown job task {self.task!r}; known: {', '.join(TASKS)}")
        if self.block_lines < 1:
            raise ConversionError("block_lines must be at least 1")
        if self.task == "image-classify" and not self.call.get("labels"):
            raise ConversionError("an image-classify job needs labels, e.g. call={'labels': ['猫', '狗']}")

    @property
    def spec(self) -> JobTask:
        return REGISTRY[self.task]

    def source(self) -> Path:
        """The file the records are read from (a folder input: its listing in the output folder)."""
        path = Path(self.input)
        return Path(self.output) / LISTING if path.is_dir() else path

    def identity(self) -> dict[str, Any]:
        """What must match for a rerun to continue this folder (the input by path, size and mtime; a folder
        by its listing), as JSON would hold it."""
        path = Path(self.input)
        if not path.exists():
            raise ConversionError(f"{path}: no such input file or folder")
        found: dict[str, Any] = {
            "task": self.task,
            "model": self.model,
            "input": str(path.resolve()),
            "parts_format": PARTS_FORMAT,
        }
        if path.is_dir():
            listing = _listing(path)
            found["input_files"] = len(listing)
            found["input_listing_sha256"] = hashlib.sha256("\n".join(listing).encode()).hexdigest()
        else:
            stat = path.stat()
            found["input_size"] = stat.st_size
            found["input_mtime_ns"] = stat.st_mtime_ns
        found.update(block_lines=self.block_lines, options=self.options, call=self.call)
        normal: dict[str, Any] = json.loads(json.dumps(found, ensure_ascii=False))  # tuples → lists
        return normal


@dataclass(frozen=True)
class Block:
    index: int
    start: int  # first row
    stop: int  # one past the last row
    offset: int  # byte offset of the first row (line inputs)

    @property
    def name(self) -> str:
        return f"part-{self.index:06d}.parquet"


@dataclass
class Report:
    blocks: int
    computed: int
    skipped: int
    rows: int
    engine: str
    errors: int = 0  # rows of the blocks computed now that carry an error (an unreadable image)


# ----------------------------------------------------------------------------------------------- input


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".txt", ".text", ".tsv", ".lst", ""):
        return "lines"
    if suffix in (".jsonl", ".json"):
        return "jsonl"
    if suffix == ".parquet":
        return "parquet"
    raise ConversionError(
        f"{path.name}: give a .txt/.tsv (one record per line), .jsonl (one JSON object per line) or .parquet"
    )


def _listing(folder: Path) -> list[str]:
    """A folder input's files: every file under it that is not hidden, sorted (as ``image-search`` lists)."""
    root = folder.resolve()
    return [str(p) for p in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))]


def plan_blocks(path: Path, block_lines: int) -> list[Block]:
    """The input's blocks: one pass over the file, keeping the byte offset where each block starts."""
    if _kind(path) == "parquet":
        pq = _arrow()[1]
        rows = pq.ParquetFile(path).metadata.num_rows
        return [Block(i, s, min(s + block_lines, rows), 0) for i, s in enumerate(range(0, rows, block_lines))]
    blocks: list[Block] = []
    row, offset, start, start_offset = 0, 0, 0, 0
    with open(path, "rb") as fh:
        for line in fh:
            if row - start == block_lines:
                blocks.append(Block(len(blocks), start, row, start_offset))
                start, start_offset = row, offset
            row += 1
            offset += len(line)
    if row > start:
        blocks.append(Block(len(blocks), start, row, start_offset))
    return blocks


def read_block(path: Path, block: Block, fields: tuple[str, ...] = ("text",)) -> Records:
    """The records of one block as ``{field: values}`` (read by whichever worker computes it)."""
    kind = _kind(path)
    if kind == "parquet":
        pq = _arrow()[1]
        try:
            table = pq.read_table(path, columns=list(fields), memory_map=True)
        except Exception as exc:  # pyarrow's ArrowInvalid names the missing column
            raise ConversionError(f"{path}: needs the column(s) {', '.join(fields)}: {exc}") from exc
        part = table.slice(block.start, block.stop - block.start)
        return {f: [None if v is None else str(v) for v in part.column(f).to_pylist()] for f in fields}
    records: Records = {f: [] for f in fields}
    with open(path, "rb") as fh:
        fh.seek(block.offset)
        for n in range(block.start + 1, block.stop + 1):  # 1-based line numbers for messages
            raw = fh.readline()
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                raise ConversionError(f"{path}:{n}: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
            for f, value in zip(fields, _parse(line, kind, fields, f"{path}:{n}"), strict=True):
                records[f].append(value)
    return records


def _parse(line: str, kind: str, fields: tuple[str, ...], where: str) -> list[str]:
    if kind == "jsonl":
        if not line.strip():
            if len(fields) == 1:
                return [""]
            raise ConversionError(
                f"{where}: an empty line where a record with {', '.join(fields)} was expected"
            )
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConversionError(f"{where}: not a JSON object ({exc.msg})") from exc
        missing = [f for f in fields if not isinstance(obj, dict) or f not in obj]
        if missing:
            raise ConversionError(f"{where}: the record has no {', '.join(repr(f) for f in missing)} field")
        return [str(obj[f]) for f in fields]
    if len(fields) == 1:
        return [line]
    parts = line.split("\t")
    if len(parts) != len(fields):
        raise ConversionError(
            f"{where}: expected {len(fields)} texts separated by tabs, got {len(parts)} field(s)"
        )
    return parts


# ----------------------------------------------------------------------------------------------- compute


class BlockWorker:
    """Loads the model once; computes a block and writes its Parquet file atomically (Ray actors run it too)."""

    def __init__(self, job: dict[str, Any], threads: int | None = None) -> None:
        from zhplm.tasks import pipeline

        if threads:
            import torch

            torch.set_num_threads(threads)
        self.job = Job(**job)
        self.spec = self.job.spec
        self.pipe = pipeline(self.spec.pipeline, self.job.model, **self.job.options)

    def compute(self, block: Block) -> tuple[int, int]:
        """Compute and write ``block``; return its rows and how many of them carry an error."""
        source = self.job.source()
        records = read_block(source, block, self.spec.fields)
        if self.spec.images:  # list-file paths are relative to the list's folder
            records["image"] = [str(source.parent / p) if p else p for p in records["image"]]
        results = self.spec.compute(self.pipe, records, self.job.call)
        _write_block(Path(self.job.output), block, self.spec, records, results)
        errors = results.get("error", [])
        return block.stop - block.start, sum(e is not None for e in errors)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Ray Data's map_batches entry: a batch of block descriptors → rows (and error rows) per block."""
        rows, errors = [], []
        for i in range(len(batch["index"])):
            block = Block(*(int(batch[k][i]) for k in ("index", "start", "stop", "offset")))
            n, bad = self.compute(block)
            rows.append(n)
            errors.append(bad)
        return {"index": batch["index"], "rows": rows, "errors": errors}


def _arrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingDependencyError("pyarrow", "ray", "write batch-job results as Parquet") from exc
    return pa, pq


def _arrow_type(pa: Any, name: str) -> Any:
    if name.startswith("list<"):
        return pa.list_(_arrow_type(pa, name[5:-1]))
    return {"string": pa.string(), "float32": pa.float32(), "float64": pa.float64(), "int64": pa.int64()}[
        name
    ]


def _write_block(out: Path, block: Block, spec: JobTask, records: Records, results: Records) -> None:
    pa, pq = _arrow()
    columns = {"row": pa.array(range(block.start, block.stop), pa.int64())}
    columns.update({f: pa.array(records[f], pa.string()) for f in spec.fields})
    columns.update({c: pa.array(results[c], _arrow_type(pa, t)) for c, t in spec.results.items()})
    tmp = out / f".{block.name}.{os.getpid()}.tmp"
    pq.write_table(pa.table(columns), tmp)
    os.replace(tmp, out / block.name)  # the block exists complete or not at all


# ----------------------------------------------------------------------------------------------- run


def prepare(job: Job) -> tuple[list[Block], list[Block]]:
    """Check or write the folder's manifest; return (all blocks, the blocks still to compute)."""
    out = Path(job.output)
    identity = job.identity()
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / MANIFEST
    if manifest.exists():
        found = json.loads(manifest.read_text(encoding="utf-8"))
        if found != identity:
            changed = sorted(k for k in identity if found.get(k) != identity[k])
            raise ConversionError(
                f"{out} holds another job's results (different {', '.join(changed)}): "
                "give another --output folder, or delete this one to start over"
            )
    if Path(job.input).is_dir() and not (out / LISTING).exists():
        if not job.spec.images:
            raise ConversionError(f"{job.input} is a folder: a {job.task} job reads a file")
        listing = _listing(Path(job.input))
        (out / LISTING).write_text("".join(f"{p}\n" for p in listing), encoding="utf-8")
    if not manifest.exists():
        manifest.write_text(json.dumps(identity, ensure_ascii=False, indent=2), encoding="utf-8")
    for stale in out.glob(".part-*.tmp"):  # a block a killed worker was writing
        stale.unlink(missing_ok=True)
    blocks = plan_blocks(job.source(), job.block_lines)
    todo = [b for b in blocks if not (out / b.name).exists()]
    return blocks, todo


def run(
    job: Job,
    *,
    engine: str = "local",
    address: str | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Compute every block not yet in ``job.output``; ``progress`` is called with each block's row count."""
    if engine not in ("local", "ray"):
        raise ConversionError(f"unknown engine {engine!r}: local or ray")
    blocks, todo = prepare(job)
    errors = 0
    if engine == "local":
        if todo:
            worker = BlockWorker(asdict(job))
            for block in todo:
                rows, bad = worker.compute(block)
                errors += bad
                if progress:
                    progress(rows)
    else:
        for rows, bad in _run_ray(job, todo, address=address, workers=workers):
            errors += bad
            if progress:
                progress(rows)
    return Report(
        blocks=len(blocks),
        computed=len(todo),
        skipped=len(blocks) - len(todo),
        rows=blocks[-1].stop if blocks else 0,
        engine=engine,
        errors=errors,
    )


def _run_ray(
    job: Job, todo: list[Block], *, address: str | None, workers: int | None
) -> Iterator[tuple[int, int]]:
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError("ray[data]", "ray", "run batch jobs on Ray") from exc
    if not todo:
        return
    started = not ray.is_initialized()
    printer = builtins.print  # ray.init swaps in its own print for the whole process; put it back after
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # zhplm reports progress itself, per block
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # Ray Data's resource tables every 10 s
    try:
        cpus = int(ray.available_resources().get("CPU", 1)) or 1  # type: ignore[no-untyped-call]
        pool = max(1, min(workers or cpus, len(todo)))
        dataset = ray.data.from_items([asdict(b) for b in todo], override_num_blocks=len(todo))
        mapped = dataset.map_batches(
            BlockWorker,
            fn_constructor_kwargs={"job": asdict(job), "threads": max(1, cpus // pool)},
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=pool),
            num_cpus=1,
            # Ray Data's own defaults for an actor pool restart an actor that dies and retry its block
            # (max_restarts / max_task_retries = -1); passing them again is a deprecated "ray_remote_args"
        )
        try:
            for row in mapped.iter_rows():
                yield int(row["rows"]), int(row["errors"])
        except Exception as exc:  # Ray wraps the worker's exception: give back zhplm's own
            cause = _zhplm_cause(exc)
            if cause is None:
                raise
            raise cause from None
    finally:
        if started:
            ray.shutdown()
        builtins.print = printer


def _zhplm_cause(exc: BaseException) -> ConversionError | None:
    """The zhplm error a Ray worker raised: found in the chain Ray wrapped it in (``__cause__``, Ray's
    ``cause``), or failing that named in the worker's traceback text Ray carries over."""
    seen: BaseException | None = exc
    for _ in range(20):  # a chain, not a cycle
        if seen is None:
            break
        if isinstance(seen, ConversionError) and type(seen).__module__.startswith("zhplm"):
            return seen
        found = getattr(seen, "cause", None)
        seen = found if isinstance(found, BaseException) else (seen.__cause__ or seen.__context__)
    for line in reversed(str(exc).splitlines()):
        if line.startswith(_WORKER_ERROR):
            return ConversionError(line[len(_WORKER_ERROR) :])
    return None


_WORKER_ERROR = "zhplm.errors.ConversionError: "


def read_results(output: str | Path) -> Any:
    """The job's results as one pyarrow Table, ordered by row (for checks and small jobs)."""
    pa, pq = _arrow()
    parts = sorted(Path(output).glob("part-*.parquet"))
    if not parts:
        raise ConversionError(f"{output} holds no results")

    table = pa.concat_tables([pq.read_table(p) for p in parts])
    return table.sort_by("row")
