"""``zhplm serve``: an OpenAI-compatible HTTP server over zhplm's tasks, and the catalog page.

Needs the optional extra: ``pip install 'zhplm[serve]'`` (FastAPI + uvicorn). Nothing here is imported
by ``import zhplm`` or the catalog commands.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zhplm.errors import ConfigError, MissingDependencyError

log = logging.getLogger(__name__)


def model_dirs(names: Sequence[str | Path]) -> dict[str, Path]:
    """``ID_OR_DIR`` arguments → served name → converted folder (a folder is served under its own name,
    a catalog id under its id; a missing conversion fails here, before the port opens)."""
    from zhplm.loader import resolve_model_dir

    found: dict[str, Path] = {}
    for item in names:
        path = Path(item)
        name = path.resolve().name if path.is_dir() else str(item)
        folder = resolve_model_dir(item)
        if name in found and found[name] != folder:
            raise ConfigError(
                f"two models would be served as {name!r}: {found[name]} and {folder}; a folder is served under its "
                "own name, so rename one of them"
            )
        found[name] = folder
    return found


def torch_threads(threads: int | None) -> None:
    """``--threads N``: torch's threads for every forward. Left alone by default: on the shared 2-core
    machine of bench/results/serve_load.txt, 1 thread per forward cost ~10% less CPU per request than
    torch's default but won a smaller share of the busy cores (lower req/s), so no default was proven better."""
    if threads is None:
        return
    import torch

    torch.set_num_threads(max(1, threads))
    log.info("torch threads: %d", threads)


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
    torch_threads(cfg.threads)
    app, state = create_app(model_dirs(models), cfg)
    config = uvicorn_config(app, host=host, port=port, header_timeout_s=cfg.header_timeout_s)
    log.info("serving %d model(s) on http://%s:%d", len(state.pool.explicit), host, port)
    uvicorn.Server(config).run()


__all__ = ["model_dirs", "serve", "torch_threads"]
