"""Megatron-LM / DeepSpeed model-parallel shards, merged into one logical checkpoint.

Shards are ``mp_rank_XX_model_states.pt`` (DeepSpeed) or ``mp_rank_XX/model_optim_rng.pt`` (Megatron),
one per tensor-parallel rank. Each is read by the torch reader in *lenient* mode: their pickles carry
``argparse.Namespace`` args, optimizer state and enums, which become inert records, never imported.
The model state dict is found under ``module`` / ``model`` (see
:func:`zhplm.formats._unpickler.select_root`); names keep what lies below it
(``language_model.transformer.layers.0…``).

Merging follows a small declarative table, :data:`DEFAULT_RULES` — the first regex that matches a name
decides. ``Split(dim, parts)`` concatenates the ranks along ``dim``; with ``parts > 1`` each rank's
slice is itself ``parts`` blocks (fused QKV in the original Megatron/CPM/GLM code holds
``[q_r; k_r; v_r]`` per rank), so block ``p`` of every rank is gathered before block ``p + 1`` — the
result equals the single-GPU layout ``[Q; K; V]``. ``REPLICATED`` tensors (LayerNorm, row-parallel
biases, position embeddings) must be bit-identical on every rank; ``check_replicated=False`` takes
rank 0 without comparing. Callers pass ``rules=`` to override (their rules are tried first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zhplm.errors import CorruptCheckpointError, UnsupportedFormatError
from zhplm.formats import torch_pickle
from zhplm.formats.base import Reader


@dataclass(frozen=True)
class Split:
    """Model-parallel partition along ``dim``; each rank's slice holds ``parts`` interleaved blocks."""

    dim: int
    parts: int = 1


REPLICATED: None = None
Rule = tuple[str, Split | None]

DEFAULT_RULES: tuple[Rule, ...] = (
    # column-parallel: output features split across ranks (dim 0 of torch Linear weights)
    (r"(^|\.)query_key_value\.(weight|bias)$", Split(0, parts=3)),
    (r"(^|\.)project\.(weight|bias)$", Split(0, parts=3)),  # CPM-2 / EVA fused QKV
    (r"(^|\.)project_kv\.(weight|bias)$", Split(0, parts=2)),
    (r"(^|\.)(project_q|query|key|value|key_value)\.(weight|bias)$", Split(0)),  # PanGu-α: separate q, k, v
    (r"(^|\.)dense_h_to_4h\.(weight|bias)$", Split(0)),
    (r"(^|\.)attention\.relative\.(weight|bias)$", Split(0)),  # Chinese-Transformer-XL
    (r"(^|\.)r_[wr]_bias$", Split(0)),  # per-head relative biases [heads / ranks, head_dim]
    (r"(^|\.)wi(_0|_1)?\.(weight|bias)$", Split(0)),
    (r"(^|\.)(word_embeddings|word_embeds|lm_head)\.weight$", Split(0)),  # vocab-parallel
    # CPM-2 / EVA: each rank holds the bias of its own heads ([buckets, heads / ranks])
    (r"(^|\.)relative_attention_bias\.weight$", Split(1)),
    # row-parallel: input features split (dim 1); their biases are replicated
    (r"(^|\.)(dense_4h_to_h|wo)\.weight$", Split(1)),
    (r"(^|\.)(attention|attn|self_attn|cross_attn|inter_attention)\.dense\.weight$", Split(1)),
    # everything else (LayerNorm, position embeddings, row-parallel biases …) is replicated
    (r".*", REPLICATED),
)

_SHARD_FILE = re.compile(r"^mp_rank_(\d+)(?:_(\d+))?_model_states\.pt$")
_SHARD_DIR = re.compile(r"^mp_rank_(\d+)(?:_(\d+))?$")
_SHARD_IN_DIR = "model_optim_rng.pt"


def _shard_rank(path: Path) -> tuple[int, int | None] | None:
    m = _SHARD_FILE.match(path.name)
    if m is None and path.name == _SHARD_IN_DIR:
        m = _SHARD_DIR.match(path.parent.name)
    if m is None:
        return None
    return int(m.group(1)), (int(m.group(2)) if m.group(2) else None)


def find_shards(path: Path) -> list[Path]:
    """The shard files of the checkpoint that ``path`` (a folder or one shard) belongs to, by rank."""
    if path.is_file():
        if _shard_rank(path) is None:
            return []
        folder = path.parent.parent if path.name == _SHARD_IN_DIR else path.parent
    else:
        folder = path
        for pointer in ("latest_checkpointed_iteration.txt", "latest"):
            p = folder / pointer
            if p.is_file() and not any(folder.glob("mp_rank_*")):
                tag = p.read_text(encoding="utf-8", errors="replace").strip()[:64]
                # Megatron-LM names the folder iter_0080000; the DeepSpeed-era releases (CPM-Generate's
                # 80000/mp_rank_00_model_states.pt, CPM-2) name it by the bare tag
                subs = [f"iter_{int(tag):07d}", tag] if tag.isdigit() and pointer.endswith(".txt") else [tag]
                for name in subs:
                    sub = folder / name
                    if name and sub.is_dir() and sub.parent == folder:
                        folder = sub
                        break
                break
    found: dict[tuple[int, int | None], Path] = {}
    for child in folder.iterdir():
        cand = child / _SHARD_IN_DIR if child.is_dir() else child
        rank = _shard_rank(cand) if cand.is_file() else None
        if rank is not None:
            found[rank] = cand
    return [found[k] for k in sorted(found, key=lambda r: (r[1] or 0, r[0]))]


def sniff(path: Path) -> bool:
    try:
        shards = find_shards(path)
        return bool(shards) and torch_pickle.sniff(shards[0])
    except OSError:
        return False


class MegatronReader(Reader):
    """The merged, logical view of a model-parallel Megatron/DeepSpeed checkpoint (lazy)."""

    format = "megatron"

    def __init__(
        self,
        path: Path,
        *,
        rules: tuple[Rule, ...] | list[Rule] = (),
        check_replicated: bool = True,
        root: str | None = None,
    ) -> None:
        super().__init__(path)
        shards = find_shards(path)
        if not shards:
            raise UnsupportedFormatError(f"{path}: no mp_rank_XX shard files found")
        ranks = [_shard_rank(s) for s in shards]
        if any(r is not None and r[1] is not None and r[1] != 0 for r in ranks):
            raise UnsupportedFormatError(
                f"{path}: pipeline-parallel shards (mp_rank_XX_YYY) are not supported yet"
            )
        tp = [r[0] for r in ranks if r is not None]
        if tp != list(range(len(tp))):
            raise CorruptCheckpointError(f"{path}: model-parallel ranks {tp} are not 0..{len(tp) - 1}")
        self.shards = shards
        self.check_replicated = check_replicated
        self.rules: list[tuple[re.Pattern[str], Split | None]] = [
            (re.compile(p), s) for p, s in (*rules, *DEFAULT_RULES)
        ]
        self._readers: list[torch_pickle.TorchReader] = []
        try:
            for shard in shards:
                self._readers.append(torch_pickle.TorchReader(shard, root=root, lenient=True))
            first = self._readers[0].keys()
            for r in self._readers[1:]:
                if r.keys() != first:
                    diff = sorted(set(first) ^ set(r.keys()))[:5]
                    raise CorruptCheckpointError(f"{r.path}: tensor names differ from rank 0 ({diff})")
            self._shapes = {name: self._merged_shape(name) for name in first}
        except BaseException:
            self.close()
            raise

    def rule(self, name: str) -> Split | None:
        for pattern, split in self.rules:
            if pattern.search(name):
                return split
        return REPLICATED

    def _merged_shape(self, name: str) -> tuple[int, ...]:
        shapes = [r.shape(name) for r in self._readers]
        dtypes = {r.dtype(name).str for r in self._readers}
        if len(dtypes) != 1:
            raise CorruptCheckpointError(f"{self.path}: tensor {name!r} has different dtypes across ranks")
        split = self.rule(name) if len(self._readers) > 1 else REPLICATED
        if split is REPLICATED:
            if any(s != shapes[0] for s in shapes):
                raise CorruptCheckpointError(
                    f"{self.path}: tensor {name!r} is treated as replicated but its shapes differ across ranks "
                    f"{shapes}; pass rules=[(regex, Split(dim))] to say how it is partitioned"
                )
            return shapes[0]
        d = split.dim
        for s in shapes:
            if len(s) <= d or s[:d] + s[d + 1 :] != shapes[0][:d] + shapes[0][d + 1 :]:
                raise CorruptCheckpointError(
                    f"{self.path}: tensor {name!r} shards {shapes} cannot be joined on dim {d}"
                )
            if s[d] % split.parts:
                raise CorruptCheckpointError(
                    f"{self.path}: tensor {name!r} dim {d} ({s[d]}) is not {split.parts} blocks"
                )
        merged = list(shapes[0])
        merged[d] = sum(s[d] for s in shapes)
        return tuple(merged)

    def keys(self) -> list[str]:
        return list(self._shapes)

    def shape(self, name: str) -> tuple[int, ...]:
        try:
            return self._shapes[name]
        except KeyError:
            raise KeyError(f"no tensor {name!r} in {self.path}") from None

    def dtype(self, name: str) -> np.dtype[Any]:
        self.shape(name)
        return self._readers[0].dtype(name)

    def get(self, name: str) -> np.ndarray[Any, Any]:
        self.shape(name)
        split = self.rule(name) if len(self._readers) > 1 else REPLICATED
        if split is REPLICATED:
            first = self._readers[0].get(name)
            if self.check_replicated:
                for r in self._readers[1:]:
                    if r.get(name).tobytes() != first.tobytes():
                        raise CorruptCheckpointError(
                            f"{r.path}: replicated tensor {name!r} differs from rank 0; if it is partitioned, "
                            "pass rules=[(regex, Split(dim))]; to take rank 0 anyway, check_replicated=False"
                        )
            return first
        pieces = [r.get(name) for r in self._readers]
        if split.parts == 1:
            return np.concatenate(pieces, axis=split.dim)
        blocks = [np.split(p, split.parts, axis=split.dim) for p in pieces]
        return np.concatenate([b[i] for i in range(split.parts) for b in blocks], axis=split.dim)

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        r0 = self._readers[0]
        meta.update(
            shards=[str(s) for s in self.shards],
            model_parallel_size=len(self.shards),
            root=r0.root,
            replicated_policy="checked equal across ranks"
            if self.check_replicated
            else "rank 0 taken unchecked",
            args=r0.top_level("args"),
            iteration=r0.top_level("iteration"),
            checkpoint_version=r0.top_level("checkpoint_version"),
            opaque_globals=r0.metadata().get("opaque_globals", []),
        )
        return meta

    def close(self) -> None:
        for r in self._readers:
            r.close()


def open(path: Path, **kw: Any) -> MegatronReader:
    return MegatronReader(path, **kw)
