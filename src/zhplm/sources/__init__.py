"""Where a model's bytes come from, and the local store they go into. Fetching only: nothing here
converts (that is :mod:`zhplm.get`, which composes fetch → verify → extract → convert → record).

One module per source, each a :class:`~zhplm.sources.base.Source` registered in
:mod:`zhplm.sources.registry`: ``hf`` (huggingface_hub, ``HF_ENDPOINT``, pinned revisions),
``modelscope`` (plain HTTP API), plain ``http(s)`` (resume, size + sha256), ``gdrive`` (confirm pages)
and ``manual`` (exact steps for hosts a program cannot script, then a checked import).
:mod:`zhplm.sources.plan` orders a row's links without touching the network. The store itself (layout,
``path_of``/``converted_dir`` for the loader, verify/remove/gc) is :mod:`zhplm.sources.store`.
"""

from __future__ import annotations

from pathlib import Path

from zhplm.sources.store import Store, StoreEntry


def path_of(model_id: str) -> Path:
    """The stored folder of a model (see :meth:`Store.path_of`)."""
    return Store().path_of(model_id)


def converted_dir(model_id: str) -> Path:
    """The converted HF-layout folder of a model (see :meth:`Store.converted_dir`)."""
    return Store().converted_dir(model_id)


__all__ = ["Store", "StoreEntry", "converted_dir", "path_of"]
