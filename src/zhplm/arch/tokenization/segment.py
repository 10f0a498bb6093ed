"""Word segmentation for the jieba-based tokenizers (WoBERT, RoFormer-word, T5-PEGASUS, CPM, PanGu, EVA):
the same words as Python jieba 0.42, faster.

The original tokenizers cut text with Python jieba, and a model only reads text the way it was trained if the
words are the same — rjieba and jieba_fast segment some texts differently (other regexes, and ties between
equally likely segmentations broken the other way: jieba cuts "丽丽丽" as 丽丽/丽, jieba_fast as 丽/丽丽).
:class:`Segmenter` therefore IS Python jieba (a ``jieba.Tokenizer`` on jieba's own dictionary, sentence
splitting and HMM) with its per-clause work done with fewer Python objects:

* the dictionary dynamic programme (``get_DAG`` + ``calc``, most of jieba's time) in one pass with plain lists
  and a cache of each word's log-probability — the same float operations in the same order, ties broken the
  same way (the longer word wins), so the route is jieba's to the bit;
* a clause seen before (jieba cuts each run of Chinese/alphanumeric text separately) is answered from a
  bounded cache.

``tests/test_segment.py`` proves the words equal on a large mixed corpus; ``bench/bench_segment.py`` measures
the speed against Python jieba.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Iterator
from typing import Any

from zhplm.errors import MissingDependencyError

log = logging.getLogger(__name__)

CACHE_LIMIT = 200_000  # clauses kept per mode (HMM on/off); the cache is emptied when full


@functools.lru_cache(maxsize=1)
def segmenter() -> Any:
    """The process's one :class:`Segmenter` (jieba's dictionary loads once, ~1 s)."""
    try:
        import jieba
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MissingDependencyError("jieba", "torch", "segment Chinese words") from exc
    jieba.setLogLevel(logging.WARNING)  # "Building prefix dict from the default dictionary ..." is not news

    class Segmenter(jieba.Tokenizer):  # type: ignore[misc,name-defined]
        """``jieba.Tokenizer`` with jieba's clause functions replaced by cached, C-routed ones."""

        def __init__(self) -> None:
            super().__init__()
            self._cache: dict[bool, dict[str, tuple[str, ...]]] = {False: {}, True: {}}
            self._logp: dict[str, float] = {}  # log(frequency or 1) - log(total), per word looked at

        def initialize(self, dictionary: Any = None) -> None:
            super().initialize(dictionary)
            self._logtotal = math.log(self.total)
            self._logp.clear()

        def words(self, text: str, hmm: bool) -> list[str]:
            """``list(jieba.cut(text, HMM=hmm))``."""
            return list(self.cut(text, HMM=hmm))

        def _clause(self, clause: str, hmm: bool) -> tuple[str, ...]:
            cache = self._cache[hmm]
            found = cache.get(clause)
            if found is None:
                found = tuple(self._cut_clause(clause, hmm))
                if len(cache) >= CACHE_LIMIT:
                    cache.clear()
                cache[clause] = found
            return found

        def _route(self, clause: str) -> list[int]:
            """End index of the best word starting at each position: jieba's ``get_DAG`` then ``calc``
            (``max((log(freq or 1) - log(total) + best[x + 1], x) for x in DAG[i])``) computed alike."""
            freq, logp, logtotal, n = self.FREQ, self._logp, self._logtotal, len(clause)
            best = [0.0] * (n + 1)
            ends = [0] * n
            for i in range(n - 1, -1, -1):
                top, end = -math.inf, i
                j, frag, found = i, clause[i], False
                while j < n and frag in freq:
                    if freq[frag]:  # a word of the dictionary (a zero is only a prefix of one)
                        found = True
                        p = logp.get(frag)
                        if p is None:
                            p = logp[frag] = math.log(freq[frag]) - logtotal
                        score = p + best[j + 1]
                        if score >= top:  # ties: the later (longer) word, as max() over (score, x)
                            top, end = score, j
                    j += 1
                    frag = clause[i : j + 1]
                if not found:  # no dictionary word starts here: the single character, frequency taken as 1
                    top, end = -logtotal + best[i + 1], i
                best[i], ends[i] = top, end
            return ends

        def _cut_clause(self, clause: str, hmm: bool) -> Iterator[str]:
            """jieba's ``__cut_DAG`` (hmm) / ``__cut_DAG_NO_HMM`` over the route: runs of single characters are
            joined (alphanumerics without HMM) or handed to the HMM when the dictionary does not know them."""
            ends = self._route(clause)
            x, n, buf = 0, len(clause), ""
            while x < n:
                y = ends[x] + 1
                word = clause[x:y]
                if y - x == 1 and (hmm or (word < "\x80" and word.isalnum())):
                    buf += word
                else:
                    if buf:
                        yield from self._flush(buf, hmm)
                        buf = ""
                    yield word
                x = y
            if buf:
                yield from self._flush(buf, hmm)

        def _flush(self, buf: str, hmm: bool) -> Iterator[str]:
            if not hmm or len(buf) == 1:
                yield buf
            elif not self.FREQ.get(buf):
                from jieba import finalseg

                yield from finalseg.cut(buf)
            else:
                yield from buf

        # jieba's cut() calls these (name-mangled) for every clause
        def _Tokenizer__cut_DAG(self, clause: str) -> tuple[str, ...]:
            return self._clause(clause, True)

        def _Tokenizer__cut_DAG_NO_HMM(self, clause: str) -> tuple[str, ...]:
            return self._clause(clause, False)

    found = Segmenter()
    found.initialize()
    return found


def cut(text: str, *, hmm: bool) -> list[str]:
    """``list(jieba.cut(text, HMM=hmm))``, faster."""
    words: list[str] = segmenter().words(text, hmm)
    return words
