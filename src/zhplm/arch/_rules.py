"""Declarative weight mappings: rules that turn a source checkpoint's names into a target model's.

A :class:`Rules` set maps each source tensor name (a regex, full match) to a target name (a template
expanded from the match), through a named :class:`Transform`. Planning uses only names and shapes, so
a :class:`Plan` can be printed (``zhplm convert --dry-run``) and checked against the target model
before a single tensor is read; executing it then streams one tensor at a time.

Rules can also read several source tensors for one target (``extra`` templates: e.g. folding an
embedding projection into the embedding) and write one source to several targets (``repeat``: e.g.
unrolling ALBERT's shared layer).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zhplm.errors import MappingError

Shape = tuple[int, ...]
Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class Transform:
    """A named tensor transform: ``fn`` on the arrays, ``shape`` on their shapes (for planning)."""

    name: str
    fn: Callable[[Sequence[Array]], Array]
    shape: Callable[[Sequence[Shape]], Shape]


def _transpose_shape(shapes: Sequence[Shape]) -> Shape:
    if len(shapes[0]) != 2:
        raise ValueError(f"transpose needs a 2-D tensor, got shape {shapes[0]}")
    return (shapes[0][1], shapes[0][0])


COPY = Transform("copy", lambda xs: xs[0], lambda ss: ss[0])
TRANSPOSE = Transform("transpose", lambda xs: np.ascontiguousarray(xs[0].T), _transpose_shape)


def squeeze(name: str = "squeeze") -> Transform:
    """Drop size-1 dimensions (e.g. Conv1D kernels stored as [1, in, out])."""
    return Transform(name, lambda xs: np.squeeze(xs[0]), lambda ss: tuple(d for d in ss[0] if d != 1))


def reshape(shape_of: Callable[[Shape], Shape], name: str = "reshape") -> Transform:
    return Transform(name, lambda xs: xs[0].reshape(shape_of(xs[0].shape)), lambda ss: shape_of(ss[0]))


def drop_rows(n: int) -> Transform:
    """Keep rows ``n:`` (UER's segment table has an unused first row)."""
    return Transform(f"rows[{n}:]", lambda xs: xs[0][n:], lambda ss: (ss[0][0] - n, *ss[0][1:]))


@dataclass(frozen=True)
class Rule:
    """Map sources whose name fully matches ``source`` to ``target`` (``\\1``-style template).

    ``extra``: further source names (templates on the same match) passed to the transform after the
    matched one. ``repeat``: expand ``{i}`` in ``target`` for each index (one source, many targets).
    """

    source: str
    target: str
    transform: Transform = COPY
    extra: tuple[str, ...] = ()
    repeat: int | str | None = None  # an int, or the name of a config value giving the count

    def compiled(self) -> re.Pattern[str]:
        return _compile(self.source)


_CACHE: dict[str, re.Pattern[str]] = {}


def _compile(pattern: str) -> re.Pattern[str]:
    compiled = _CACHE.get(pattern)
    if compiled is None:
        compiled = _CACHE[pattern] = re.compile(pattern)
    return compiled


@dataclass(frozen=True)
class Step:
    """One target tensor: which sources it is made from, how, and its final shape and dtype."""

    target: str
    sources: tuple[str, ...]
    transform: Transform
    shape: Shape
    dtype: str

    def run(self, read: Callable[[str], Array]) -> Array:
        out = self.transform.fn([read(s) for s in self.sources])
        if tuple(out.shape) != self.shape:
            raise MappingError(
                f"{self.target}: transform {self.transform.name} gave shape {tuple(out.shape)}, "
                f"planned {self.shape}"
            )
        return out


@dataclass
class Plan:
    """The result of matching a checkpoint against a rule set."""

    steps: list[Step]
    ignored: list[tuple[str, str]]  # (source name, why)
    unmatched: list[str]
    scheme: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def targets(self) -> dict[str, Step]:
        return {s.target: s for s in self.steps}

    def used_sources(self) -> set[str]:
        return {src for step in self.steps for src in step.sources}

    def check(
        self,
        target_shapes: Mapping[str, Shape],
        *,
        optional: Iterable[str] = (),
        tied: Iterable[str] = (),
    ) -> None:
        """Raise :class:`MappingError` unless every required target is filled with the right shape and
        every source is used or explicitly ignored. ``optional`` targets (heads a checkpoint may lack)
        and ``tied`` targets (shared with another parameter) may stay unfilled."""
        produced = self.targets
        skip = set(optional) | set(tied)
        missing = [t for t in target_shapes if t not in produced and t not in skip]
        unexpected = list(self.unmatched) + [
            f"{s.target} (from {', '.join(s.sources)})" for s in self.steps if s.target not in target_shapes
        ]
        mismatched = [
            f"{s.target}: source gives {s.shape}, model expects {target_shapes[s.target]}"
            for s in self.steps
            if s.target in target_shapes and tuple(target_shapes[s.target]) != s.shape
        ]
        if missing or unexpected or mismatched:
            raise MappingError(
                f"the checkpoint does not fit the target model ({self.scheme or 'rules'})",
                missing=missing,
                unexpected=unexpected,
                shape_mismatch=mismatched,
            )

    def render(self) -> str:
        """A human-readable table: source → target, transform, shape (for ``--dry-run``)."""
        rows = [("source", "target", "transform", "shape")]
        for s in self.steps:
            rows.append(
                (" + ".join(s.sources), s.target, s.transform.name, "×".join(map(str, s.shape)) or "scalar")
            )
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = [f"{r[0]:<{widths[0]}}  →  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}" for r in rows]
        if self.ignored:
            lines.append("")
            lines.append(f"ignored ({len(self.ignored)}):")
            lines.extend(f"  {name}  ({why})" for name, why in self.ignored)
        if self.unmatched:
            lines.append("")
            lines.append(f"UNMATCHED ({len(self.unmatched)}):")
            lines.extend(f"  {name}" for name in self.unmatched)
        return "\n".join(lines)


class Rules:
    """An ordered rule set plus ignore patterns (optimizer slots, teacher variables, …)."""

    def __init__(
        self,
        *rules: Rule,
        ignore: Mapping[str, str] | None = None,
        name: str = "",
    ) -> None:
        self.rules = rules
        self.ignore = dict(ignore or {})  # regex -> reason
        self.name = name

    def __add__(self, other: Rules) -> Rules:
        return Rules(
            *self.rules, *other.rules, ignore={**self.ignore, **other.ignore}, name=self.name or other.name
        )

    def render(self) -> str:
        """The rules as a table (source pattern → target template, transform), then what is ignored and why:
        ``zhplm catalog archs --rules NAME`` prints it, so a mapping can be read without running it."""
        rows = [("source", "target", "transform")]
        for r in self.rules:
            via = r.transform.name + (f" (+ {', '.join(r.extra)})" if r.extra else "")
            target = r.target + (f" × {r.repeat}" if r.repeat is not None else "")
            rows.append((r.source, target, via))
        widths = [max(len(row[i]) for row in rows) for i in range(2)]
        lines = [f"{a:<{widths[0]}}  →  {b:<{widths[1]}}  {c}" for a, b, c in rows]
        if self.ignore:
            lines.append("ignored:")
            lines.extend(f"  {pattern}  ({why})" for pattern, why in self.ignore.items())
        return "\n".join(lines)

    def ignored_reason(self, name: str) -> str | None:
        for pattern, why in self.ignore.items():
            if _compile(pattern).fullmatch(name):
                return why
        return None

    def plan(
        self,
        shapes: Mapping[str, Shape],
        dtypes: Mapping[str, str],
        config: Mapping[str, Any] | None = None,
    ) -> Plan:
        """Match every source name; the first rule that matches wins."""
        steps: list[Step] = []
        ignored: list[tuple[str, str]] = []
        unmatched: list[str] = []
        consumed: set[str] = set()
        for name in sorted(shapes):
            if name in consumed:
                continue
            why = self.ignored_reason(name)
            if why is not None:
                ignored.append((name, why))
                continue
            for rule in self.rules:
                match = rule.compiled().fullmatch(name)
                if match is None:
                    continue
                extra = tuple(match.expand(e) for e in rule.extra)
                absent = [e for e in extra if e not in shapes]
                if absent:
                    raise MappingError(f"{name} needs {', '.join(absent)}, which the checkpoint lacks")
                sources = (name, *extra)
                try:
                    shape = tuple(rule.transform.shape([tuple(shapes[s]) for s in sources]))
                except (ValueError, IndexError, KeyError, TypeError, ZeroDivisionError) as exc:
                    # this reading of the names does not fit the shapes: a mapping error, so detection
                    # moves on to the next candidate architecture
                    raise MappingError(
                        f"{name}: transform {rule.transform.name} does not fit shape "
                        f"{' + '.join(str(tuple(shapes[s])) for s in sources)} ({exc})"
                    ) from exc
                target = match.expand(rule.target)
                for t in _repeat(target, rule.repeat, config):
                    steps.append(Step(t, sources, rule.transform, shape, dtypes[name]))
                consumed.update(extra)
                break
            else:
                unmatched.append(name)
        # a source consumed as an "extra" by a later rule must not also be reported unmatched
        unmatched = [n for n in unmatched if n not in consumed]
        dup = _duplicates(s.target for s in steps)
        if dup:
            raise MappingError(f"several sources map to the same target: {', '.join(dup)}")
        return Plan(steps=steps, ignored=ignored, unmatched=unmatched, scheme=self.name)


# More layers than any model of the list has by two orders of magnitude: a config asking for more is hostile
# or broken, and unrolling it would hang planning.
MAX_REPEAT = 256


def _repeat(target: str, repeat: int | str | None, config: Mapping[str, Any] | None) -> list[str]:
    if repeat is None:
        return [target]
    try:
        count = repeat if isinstance(repeat, int) else int((config or {})[repeat])
    except (KeyError, TypeError, ValueError) as exc:
        raise MappingError(
            f"{target}: the config gives no usable {repeat!r} to unroll shared layers"
        ) from exc
    if not 0 < count <= MAX_REPEAT:
        raise MappingError(f"{target}: cannot unroll a shared layer {count} times (1..{MAX_REPEAT})")
    return [target.replace("{i}", str(i)) for i in range(count)]


def _duplicates(names: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    dup: list[str] = []
    for n in names:
        if n in seen:
            dup.append(n)
        seen.add(n)
    return sorted(set(dup))
