"""Batch jobs over inputs too large for one call — embed a 50-million-line corpus, complete a million
prompts — on this machine (``engine="local"``) or on a Ray cluster (``engine="ray"``), with the same output.

The input (a ``.txt`` with one text per line, a ``.jsonl`` with a ``text`` field, or a ``.parquet`` with a
``text`` column) is cut into blocks of ``block_lines`` lines. Each block becomes one Parquet file in the
output folder, ``part-NNNNNN.parquet`` (columns ``row``, ``text`` and the result), written under a temporary
name and renamed when complete. That makes a job resumable (a rerun skips the blocks whose file exists) and a
lost worker harmless (its block is simply computed again and renamed over nothing): nothing is lost and no
row is written twice. ``_job.json`` records what the folder holds; a rerun with another model, task or input
is refused rather than mixed in.

With Ray, the blocks are a Ray Data dataset mapped by an actor pool: the model is loaded once per actor,
actors that die are restarted and their block retried. ``address`` joins an existing cluster; without it a
Ray instance starts on this machine. Ray is an optional extra (``pip install 'zhplm[ray]'``) imported only
here and only for ``engine="ray"``.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zhplm.errors import ConversionError, MissingDependencyError

log = logging.getLogger(__name__)

TASKS = ("embed", "generate")
RESULT_COLUMN = {"embed": "embedding", "generate": "generated"}
MANIFEST = "_job.json"


@dataclass(frozen=True)
class Job:
    """What to compute: ``task`` over every text of ``input`` with ``model``, into the folder ``output``."""

    task: str
    model: str
    input: str
    output: str
    block_lines: int = 1000
    options: dict[str, Any] = field(
        default_factory=dict
    )  # building the pipeline: pooling, dtype, prompt_format …
    call: dict[str, Any] = field(default_factory=dict)  # each call: max_new_tokens, sampling … (generation)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConversionError(f"unknown job task {self.task!r}; known: {', '.join(TASKS)}")
        if self.block_lines < 1:
            raise ConversionError("block_lines must be at least 1")

    def identity(self) -> dict[str, Any]:
        """What must match for a rerun to continue this folder (the input by path, size and mtime)."""
        stat = Path(self.input).stat()
        return {
            "task": self.task,
            "model": self.model,
            "input": str(Path(self.input).resolve()),
            "input_size": stat.st_size,
            "input_mtime_ns": stat.st_mtime_ns,
            "block_lines": self.block_lines,
            "options": self.options,
            "call": self.call,
        }


@dataclass(frozen=True)
class Block:
    index: int
    start: int  # first row
    stop: int  # one past the last row
    offset: int  # byte offset of the first row (text/jsonl inputs)

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


# ----------------------------------------------------------------------------------------------- input


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".txt", ".text", ""):
        return "txt"
    if suffix in (".jsonl", ".json"):
        return "jsonl"
    if suffix == ".parquet":
        return "parquet"
    raise ConversionError(
        f"{path.name}: give a .txt (one text per line), .jsonl (a 'text' field) or .parquet"
    )


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


def read_block(path: Path, block: Block) -> list[str]:
    """The texts of one block (read by whichever worker computes it)."""
    kind = _kind(path)
    if kind == "parquet":
        pq = _arrow()[1]
        table = pq.read_table(path, columns=["text"], memory_map=True)
        return [str(t) for t in table.column("text").slice(block.start, block.stop - block.start).to_pylist()]
    texts = []
    with open(path, "rb") as fh:
        fh.seek(block.offset)
        for _ in range(block.stop - block.start):
            line = fh.readline().decode("utf-8").rstrip("\r\n")
            texts.append(str(json.loads(line)["text"]) if kind == "jsonl" and line.strip() else line)
    return texts


# ----------------------------------------------------------------------------------------------- compute


class BlockWorker:
    """Loads the model once; computes a block and writes its Parquet file atomically (Ray actors run it too)."""

    def __init__(self, job: dict[str, Any], threads: int | None = None) -> None:
        from zhplm.tasks import pipeline

        if threads:
            import torch

            torch.set_num_threads(threads)
        self.job = Job(**job)
        task = "embeddings" if self.job.task == "embed" else "text-generation"
        self.pipe = pipeline(task, self.job.model, **self.job.options)

    def compute(self, block: Block) -> int:
        texts = read_block(Path(self.job.input), block)
        if self.job.task == "embed":
            vectors = self.pipe(texts)
            results: list[Any] = [row.tolist() for row in vectors]
        else:
            results = [g.text for g in self.pipe.batch(texts, **self.job.call)]
        _write_block(Path(self.job.output), block, texts, results, RESULT_COLUMN[self.job.task])
        return len(texts)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Ray Data's map_batches entry: a batch of block descriptors → rows written per block."""
        written = []
        for i in range(len(batch["index"])):
            block = Block(*(int(batch[k][i]) for k in ("index", "start", "stop", "offset")))
            written.append(self.compute(block))
        return {"index": batch["index"], "rows": written}


def _arrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingDependencyError("pyarrow", "ray", "write batch-job results as Parquet") from exc
    return pa, pq


def _write_block(out: Path, block: Block, texts: list[str], results: list[Any], column: str) -> None:
    pa, pq = _arrow()

    table = pa.table(
        {"row": pa.array(range(block.start, block.stop), pa.int64()), "text": texts, column: results}
    )
    tmp = out / f".{block.name}.{os.getpid()}.tmp"
    pq.write_table(table, tmp)
    os.replace(tmp, out / block.name)  # the block exists complete or not at all


# ----------------------------------------------------------------------------------------------- run


def prepare(job: Job) -> tuple[list[Block], list[Block]]:
    """Check or write the folder's manifest; return (all blocks, the blocks still to compute)."""
    out = Path(job.output)
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / MANIFEST
    identity = job.identity()
    if manifest.exists():
        found = json.loads(manifest.read_text(encoding="utf-8"))
        if found != identity:
            changed = sorted(k for k in identity if found.get(k) != identity[k])
            raise ConversionError(
                f"{out} holds another job's results (different {', '.join(changed)}): "
                "give another --output folder, or delete this one to start over"
            )
    else:
        manifest.write_text(json.dumps(identity, ensure_ascii=False, indent=2), encoding="utf-8")
    for stale in out.glob(".part-*.tmp"):  # a block a killed worker was writing
        stale.unlink(missing_ok=True)
    blocks = plan_blocks(Path(job.input), job.block_lines)
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
    blocks, todo = prepare(job)
    if engine == "local":
        if todo:
            worker = BlockWorker(asdict(job))
            for block in todo:
                rows = worker.compute(block)
                if progress:
                    progress(rows)
    elif engine == "ray":
        for rows in _run_ray(job, todo, address=address, workers=workers):
            if progress:
                progress(rows)
    else:
        raise ConversionError(f"unknown engine {engine!r}: local or ray")
    return Report(
        blocks=len(blocks),
        computed=len(todo),
        skipped=len(blocks) - len(todo),
        rows=blocks[-1].stop if blocks else 0,
        engine=engine,
    )


def _run_ray(job: Job, todo: list[Block], *, address: str | None, workers: int | None) -> Iterator[int]:
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
            concurrency=pool,
            num_cpus=1,
            max_restarts=-1,  # an actor that dies is started again …
            max_task_retries=-1,  # … and its block retried
        )
        for row in mapped.iter_rows():
            yield int(row["rows"])
    finally:
        if started:
            ray.shutdown()
        builtins.print = printer


def read_results(output: str | Path) -> Any:
    """The job's results as one pyarrow Table, ordered by row (for checks and small jobs)."""
    pa, pq = _arrow()
    parts = sorted(Path(output).glob("part-*.parquet"))
    if not parts:
        raise ConversionError(f"{output} holds no results")

    table = pa.concat_tables([pq.read_table(p) for p in parts])
    return table.sort_by("row")
