"""Finding the checkpoint inside a folder someone downloaded or extracted: the folder itself when a reader
claims it (a Hugging Face folder, a TF1 prefix, Megatron shards …), else the one file a reader claims, by
format priority when there are several. ``zhplm convert`` and ``zhplm inspect`` share it, so a folder one
accepts the other reads too."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from zhplm.errors import FormatError, UnsupportedFormatError
from zhplm.formats import sniff

_SIDE_SUFFIXES = {".json", ".txt", ".model", ".md", ".npy", ".vocab", ".meta", ".py", ".cfg", ".yaml", ".yml"}
_FORMAT_PRIORITY = (
    "safetensors",
    "pytorch",
    "tf1",
    "paddle",
    "paddle-static",
    "megatron",
    "mindspore",
    "keras-h5",
)


@dataclass(frozen=True)
class Located:
    """The checkpoint found in a folder: where, in which format, and what the choice should say."""

    path: Path
    format: str
    notes: list[str] = field(default_factory=list)


def locate_checkpoint(folder: Path) -> Located:
    """Find the checkpoint inside an extracted folder."""
    notes: list[str] = []
    try:
        return Located(folder, sniff(folder), notes)
    except (UnsupportedFormatError, FormatError, FileNotFoundError):
        pass
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.suffix.lower() in _SIDE_SUFFIXES or path.name == "checkpoint":
            continue
        if path.name.endswith(".index") or ".data-" in path.name:
            candidate = path.with_name(path.name.split(".index")[0].split(".data-")[0])
        else:
            candidate = path
        try:
            fmt = sniff(candidate)
        except (UnsupportedFormatError, FormatError, FileNotFoundError):
            continue
        if fmt == "paddle-static" and _is_paddle_static_folder(candidate.parent):
            candidate = candidate.parent  # one variable per file: the checkpoint is the folder (params/)
        found.setdefault(fmt, candidate)
    if not found:
        raise UnsupportedFormatError(f"no checkpoint zhplm can read was found under {folder}")
    fmt = next(f for f in (*_FORMAT_PRIORITY, *found) if f in found)
    if len(found) > 1:
        notes.append(f"several checkpoints found ({', '.join(sorted(found))}); converted the {fmt} one")
    return Located(found[fmt], fmt, notes)


def _is_paddle_static_folder(folder: Path) -> bool:
    try:
        return sniff(folder) == "paddle-static"
    except (UnsupportedFormatError, FormatError, FileNotFoundError):
        return False
