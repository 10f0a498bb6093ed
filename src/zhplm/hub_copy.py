"""A hub copy already in Hugging Face layout: check it against the catalog row, then keep it as converted.

A copy someone else converted can be the wrong model (another size, another vocabulary) or an incomplete
folder. Before it enters the store, :func:`check_folder` requires ``config.json``, weights and tokenizer
files, and compares the config's and the weights' layers, hidden size and vocabulary with the row (names
and shapes only: nothing is loaded, no torch). :func:`keep_as_converted` then writes the converted folder
(links to the stored files) with a ``zhplm.json`` naming the hub, repo, revision and publisher.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zhplm import __version__
from zhplm.catalog.schema import HubCopy, ModelRecord
from zhplm.errors import FormatError, UnexpectedContentError

WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")
TOKENIZER_FILES = (
    "vocab.txt",
    "tokenizer.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
    "vocab.json",
)
_LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers")
_HIDDEN_KEYS = ("hidden_size", "n_embd", "d_model")
_EMBEDDING_RE = re.compile(r"(word_embeddings?|wte|embed_tokens|shared)\.weight$|word_embedding\.weight$")
_LAYER_RE = re.compile(r"(?:^|\.)(?:layer|layers|h|block|blocks)\.(\d+)\.")


@dataclass
class CopyCheck:
    """What was checked in a copy: the files found and the sizes read from its config and weights."""

    config: str
    weights: list[str]
    tokenizer: list[str]
    layers: int | None = None
    hidden: int | None = None
    vocab_size: int | None = None
    weight_layers: int | None = None
    embedding_shape: list[int] | None = None
    notes: list[str] = field(default_factory=list)


def _first(config: dict[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _shapes(folder: Path, weights: list[str]) -> dict[str, tuple[int, ...]]:
    from zhplm.formats import open_checkpoint

    shapes: dict[str, tuple[int, ...]] = {}
    for name in weights:
        try:
            with open_checkpoint(folder / name) as reader:
                shapes.update({k: tuple(reader.shape(k)) for k in reader})
        except (FormatError, OSError) as exc:
            raise UnexpectedContentError(f"{name} in the hub copy cannot be read: {exc}") from exc
    return shapes


def check_folder(record: ModelRecord, folder: Path, where: str) -> CopyCheck:
    """Require config, weights and tokenizer files in ``folder`` and sizes that agree with ``record``;
    raise :class:`UnexpectedContentError` (naming ``where``, each disagreement and what to do) if not."""
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    top = {f for f in files if "/" not in f}
    weights = sorted(f for f in top if any(Path(f).match(p) for p in WEIGHT_PATTERNS))
    tokenizer = sorted(f for f in top if f in TOKENIZER_FILES)
    missing = []
    if "config.json" not in top:
        missing.append("config.json")
    if not weights:
        missing.append("weights (model.safetensors or pytorch_model.bin)")
    if not tokenizer:
        missing.append(f"tokenizer files (one of {', '.join(TOKENIZER_FILES)})")
    if missing:
        raise UnexpectedContentError(
            f"the hub copy {where} is not a complete Hugging Face folder for {record.id}: it lacks "
            f"{'; '.join(missing)} (it holds {', '.join(files[:10]) or 'nothing'}). "
            "Try another source with --source, or report the copy."
        )
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UnexpectedContentError(f"config.json of the hub copy {where} is not JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise UnexpectedContentError(f"config.json of the hub copy {where} is not a JSON object")
    check = CopyCheck(
        "config.json",
        weights,
        tokenizer,
        layers=_first(config, _LAYER_KEYS),
        hidden=_first(config, _HIDDEN_KEYS),
        vocab_size=_first(config, ("vocab_size",)),
    )
    shapes = _shapes(folder, weights)
    embeddings = [s for n, s in sorted(shapes.items()) if _EMBEDDING_RE.search(n) and len(s) == 2]
    if embeddings:
        check.embedding_shape = list(embeddings[0])
    indices = {m.group(1) for n in shapes for m in [_LAYER_RE.search(n)] if m}
    check.weight_layers = len(indices) or None

    problems = []
    for label, catalog, copy_value in (
        ("layers", record.layers, check.layers),
        ("hidden size", record.hidden, check.hidden),
        ("vocabulary size", record.vocab_size, check.vocab_size),
    ):
        if catalog is not None and copy_value is not None and catalog != copy_value:
            problems.append(f"config.json says {label} {copy_value}, the catalog row says {catalog}")
    if check.layers is not None and check.weight_layers is not None and check.layers != check.weight_layers:
        problems.append(f"the weights hold {check.weight_layers} layers, config.json says {check.layers}")
    vocab = check.vocab_size or record.vocab_size
    if check.embedding_shape is not None and vocab is not None and check.embedding_shape[0] != vocab:
        problems.append(
            f"the word embedding has {check.embedding_shape[0]} rows, the vocabulary has {vocab} entries"
        )
    if not embeddings:
        check.notes.append("no word-embedding tensor recognised by name: vocabulary checked from config only")
    if problems:
        raise UnexpectedContentError(
            f"the hub copy {where} does not match the catalog row {record.id} "
            f"(layers {record.layers}, hidden {record.hidden}, vocab {record.vocab_size}): "
            + "; ".join(problems)
            + ". Nothing was stored; try another source with --source, or fix the row if the catalog is wrong."
        )
    return check


def keep_as_converted(
    record: ModelRecord, copy: HubCopy, stored: Path, staged: Path, check: CopyCheck, url: str | None
) -> Path:
    """Fill ``staged`` with the stored files (hard links where possible) and a ``zhplm.json`` that names
    the copy; the caller records it as the converted folder."""
    for src in sorted(stored.rglob("*")):
        if not src.is_file():
            continue
        target = staged / src.relative_to(stored)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, target)
        except OSError:
            shutil.copyfile(src, target)
    provenance = {
        "zhplm_version": __version__,
        "model_id": record.id,
        "source": f"{copy.hub} {url or copy.repo}",
        "hub_copy": {
            "hub": copy.hub,
            "repo": copy.repo,
            "revision": copy.revision,
            "publisher": copy.publisher,
            "weights": copy.weights,
            "framework": copy.framework,
            "note": copy.note,
        },
        "reader": "hf",
        "arch": record.arch,
        "converted_by": "the copy's publisher (kept as is after the checks below)",
        "checked": asdict(check),
        # heads are not inspected here; the catalog's known-untrained ones still refuse their task
        "heads": {head: "untrained" for head in record.untrained_heads},
        "notes": ["kept as published on the hub: not converted by zhplm", *check.notes],
        "parity": None,
    }
    (staged / "zhplm.json").unlink(missing_ok=True)  # never write through a link into the stored file
    (staged / "zhplm.json").write_text(
        json.dumps(provenance, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return staged


__all__ = ["CopyCheck", "check_folder", "keep_as_converted"]
