"""Progress bars for long work, on stderr: tqdm when installed, else nothing (never required)."""

from __future__ import annotations

import logging
import sys
from typing import Any

log = logging.getLogger("zhplm.sources")


class Progress:
    """A byte counter shown as a tqdm bar on stderr when ``enabled`` and tqdm is importable."""

    def __init__(self, desc: str, total: int | None, *, enabled: bool = True) -> None:
        self.desc = desc
        self.total = total
        self.n = 0
        self._bar: Any = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self._bar = tqdm(
                total=total,
                desc=desc[-40:],
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=sys.stderr,
                leave=False,
                mininterval=0.5,
            )

    def update(self, n: int) -> None:
        self.n += n
        if self._bar is not None and n:
            self._bar.update(n)

    def reset(self) -> None:
        self.n = 0
        if self._bar is not None:
            self._bar.reset(total=self.total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def note(message: str, *, quiet: bool = False) -> None:
    """A one-line status message, logged at INFO on ``zhplm.sources`` (the CLI shows it on stderr as
    ``zhplm: message``); ``quiet`` drops it. Logged, not printed: a library leaves the terminal to its host."""
    if not quiet:
        log.info(message, stacklevel=2)


__all__ = ["Progress", "note"]
