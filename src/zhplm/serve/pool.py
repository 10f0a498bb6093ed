"""Resident models: loaded on first request (or preloaded), at most N kept, least recently used
evicted first; concurrent requests for a model that is loading wait for that one load."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zhplm.errors import RequestError, ZhplmError
from zhplm.tasks.image_text import BOXED_TYPES, IMAGE_TEXT_TYPES

log = logging.getLogger(__name__)

CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel")
IMAGE_TEXT_TASKS = ("embeddings", "zero-shot-image-classification")


def is_image_text(folder: Path) -> bool:
    """Whether a converted folder holds an image-text dual encoder (its ``config.json``'s model type)."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("model_type") in IMAGE_TEXT_TYPES


def model_tasks(folder: Path) -> tuple[str, ...]:
    """What a converted folder can serve, read from ``config.json`` and ``zhplm.json`` (no weights read):
    decoders generate; encoders embed and rerank, and fill masks when their MLM head is there and trained;
    image-text models embed texts and images and classify images zero-shot."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    try:
        provenance = json.loads((folder / "zhplm.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        provenance = {}
    archs = [a for a in config.get("architectures") or [] if isinstance(a, str)]
    if config.get("model_type") == "cogview" and (folder / "vqvae.safetensors").is_file():
        return ("text-to-image",)  # CogView's text is a prompt for its image codes (zhplm.serve.images)
    if config.get("model_type") in IMAGE_TEXT_TYPES:  # texts and images in one space (zhplm.serve.images)
        # a boxed model (BriVL) needs detector boxes, which a data URL does not carry: its texts only
        return ("embeddings",) if config.get("model_type") in BOXED_TYPES else IMAGE_TEXT_TASKS
    if config.get("is_decoder") or any(a.endswith(CAUSAL_SUFFIXES) for a in archs):
        return ("text-generation",)
    tasks = ["embeddings", "rerank"]  # rerank: the cosine of its sentence-similarity vectors
    mlm = (provenance.get("heads") or {}).get("mlm")
    if mlm is None:  # no zhplm.json (saved by transformers): the declared class says whether it has one
        mlm = "trained" if any("MaskedLM" in a or "PreTraining" in a for a in archs) else "absent"
    if mlm not in ("absent", "untrained"):
        tasks.append("fill-mask")
    return tuple(tasks)


@dataclass
class Resident:
    name: str
    task: str
    value: Any  # the task object: a Batcher (embeddings), FillMask, or Loaded (generation)
    extra: dict[str, Any] = field(default_factory=dict)


Loader = Callable[[Path, str], Any]  # (folder, task) -> the task object, run in a worker thread


class ModelPool:
    def __init__(
        self, models: dict[str, Path], loader: Loader, *, max_models: int, store_models: bool = True
    ) -> None:
        self.explicit = dict(models)
        self.loader = loader
        self.max_models = max(1, max_models)
        self.store_models = store_models
        self.resident: OrderedDict[tuple[str, str], Resident] = OrderedDict()
        self.loads = 0
        self.evictions = 0
        self._loading: dict[tuple[str, str], asyncio.Task[Resident]] = {}

    def available(self) -> dict[str, Path]:
        """Every model the server can load: the ones named on the command line, then the store's
        converted models."""
        found = dict(self.explicit)
        if self.store_models:
            try:
                from zhplm.sources.store import Store

                for entry in Store().entries():
                    if entry.converted is not None and entry.converted.is_dir():
                        found.setdefault(entry.model_id, entry.converted)
            except (ZhplmError, OSError) as exc:  # an unreadable store still serves the explicit models
                log.warning("store not readable: %s", exc)
        return found

    def _stored(self, name: str) -> Path | None:
        from zhplm.sources.store import Store

        try:
            entry = Store().get(name)
        except (ZhplmError, OSError, ValueError) as exc:
            log.warning("store not readable: %s", exc)
            return None
        if entry is not None and entry.converted is not None and entry.converted.is_dir():
            return entry.converted
        return None

    def loaded_names(self) -> list[str]:
        return list(dict.fromkeys(name for name, _ in self.resident))

    def resolve(self, name: str) -> Path:
        """The folder of a served name: the command line's first, then (one index lookup) the store's."""
        folder = self.explicit.get(name)
        if folder is None and self.store_models:
            folder = self._stored(name)
        if folder is None:
            loaded = ", ".join(self.loaded_names()) or "none"
            avail = ", ".join(sorted(self.available())) or "none"
            raise RequestError(
                404,
                f"model {name!r} is not served here. Loaded: {loaded}. Available: {avail}. "
                f"Convert it into the store (`zhplm download {name}`) or start `zhplm serve DIR`.",
                kind="model_not_found",
            )
        return folder

    def tasks_of(self, name: str) -> tuple[str, ...]:
        return model_tasks(self.resolve(name))

    async def get(self, name: str, task: str) -> Resident:
        hit = self.resident.get((name, task))
        if hit is not None:  # the hot path: no file or index read
            self.resident.move_to_end((name, task))
            return hit
        folder = self.resolve(name)
        tasks = model_tasks(folder)
        if task not in tasks:
            raise RequestError(
                400,
                f"model {name!r} does not do {task}; its tasks: {', '.join(tasks) or 'none'}",
                kind="wrong_task",
            )
        key = (name, task)
        loading = self._loading.get(key)
        if loading is None:
            loading = asyncio.create_task(self._load(key, folder))
            self._loading[key] = loading
        # shield: a client that goes away must not cancel the load the others wait for
        return await asyncio.shield(loading)

    async def _load(self, key: tuple[str, str], folder: Path) -> Resident:
        try:
            log.info("loading %s for %s from %s", key[0], key[1], folder)
            value = await asyncio.to_thread(self.loader, folder, key[1])
            self.loads += 1
            resident = Resident(key[0], key[1], value)
            self.resident[key] = resident
            while len(self.resident) > self.max_models:
                old, _ = self.resident.popitem(last=False)
                self.evictions += 1
                log.info("evicted %s (%s): more than %d resident", old[0], old[1], self.max_models)
            return resident
        finally:
            self._loading.pop(key, None)
