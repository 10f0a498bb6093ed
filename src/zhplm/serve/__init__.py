"""``zhplm serve``: an OpenAI-compatible HTTP server over zhplm's tasks, and the catalog page.

Needs the optional extra: ``pip install 'zhplm[serve]'`` (FastAPI + uvicorn). Nothing here is imported
by ``import zhplm`` or the catalog commands.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zhplm.errors import MissingDependencyError

log = logging.getLogger(__name__)


def model_dirs(names: Sequence[str | Path]) -> dict[str, Path]:
    """``ID_OR_DIR`` arguments → served name → converted folder (a folder is served under its own name,
    a catalog id under its id; a missing conversion fails here, before the port opens)."""
    from zhplm.loader import resolve_model_dir

    found: dict[str, Path] = {}
    for item in names:
        path = Path(item)
        name = path.resolve().name if path.is_dir() else str(item)
        found[name] = resolve_model_dir(item)
    return found


def torch_threads(threads: int | None, forwards: int) -> int:
    """Set torch's threads so that the forwards running at once share the cores instead of each taking
    all of them: oversubscribed, torch's threads spin against each other (measured on 2 busy cores: one
    BERT forward 10x slower with 2 threads than with 1; bench/results/serve_load.txt)."""
    import os

    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    chosen = threads if threads is not None else max(1, cores // max(1, forwards))
    torch.set_num_threads(chosen)
    log.info("torch threads: %d (%d cores, %d forwards in flight)", chosen, cores, forwards)
    return chosen


def serve(
    models: Sequence[str | Path] = (),
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    **options: Any,
) -> None:
    """Run the server (``preload=True``: load the named models before answering) until SIGINT/SIGTERM; in-flight requests and streams finish first (30 s at most)."""
    try:
        import uvicorn

        from zhplm.serve.app import ServeConfig, create_app
        from zhplm.serve.transport import uvicorn_config
    except ImportError as exc:
        raise MissingDependencyError("fastapi and uvicorn", "serve", "serve models over HTTP") from exc
    cfg = ServeConfig(**options)
    torch_threads(cfg.threads, cfg.forwards_in_flight)
    app, state = create_app(model_dirs(models), cfg)
    config = uvicorn_config(app, host=host, port=port, header_timeout_s=cfg.header_timeout_s)
    log.info("serving %d model(s) on http://%s:%d", len(state.pool.explicit), host, port)
    uvicorn.Server(config).run()


__all__ = ["model_dirs", "serve", "torch_threads"]
