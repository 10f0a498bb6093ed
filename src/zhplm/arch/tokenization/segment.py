"""Word segmentation for the jieba-based tokenizers (WoBERT, RoFormer-word, T5-PEGASUS, CPM, PanGu, EVA):
the same words as Python jieba 0.42, faster.

The original tokenizers cut text with Python jieba, and a model only reads text the way it was trained if the
words are the same — rjieba and jieba_fast segment some texts differently (other regexes, and ties between
equally likely segmentations broken the other way: jieba cuts "丽丽丽" as 丽丽/丽, jieba_fast as 丽/丽丽).
:class:`Segmenter` therefore IS Python jieba (a ``jieba.Tokenizer`` on jieba's own dictionary, clause regexes
and HMM model) with the same computation done with fewer Python objects:

* ``words`` in one function: jieba's clause regex splits the text (a captured group sits at every odd index,
  so no second ``match`` per block), the rest is jieba's character/whitespace rule; no generator chain;
* a clause of ASCII letters/digits/``+#&._%-`` in which no dictionary word of two or more characters occurs
  (jieba's dictionary has five: C++, c#, AT&T …) has a route of single characters whatever the
  probabilities, so its words follow from jieba's joining rules without the programme;
* the dictionary dynamic programme (``get_DAG`` + ``calc``) and the HMM's Viterbi (``finalseg``, for runs the
  dictionary does not join) — jieba's time on Chinese text, bound by dict lookups of fresh substrings, which no
  Python formulation gets much below — run in the optional C extension ``_jieba_route`` (compiled at install
  by setup.py where a C compiler is found): the dictionary copied once into a code-point hash table, the same
  float sums in the same order (``(log(freq) - log(total)) + best[x + 1]``; ``(V + trans) + emit``) and the
  same ties (the longer word; the later state letter, as ``max`` over tuples). Without it the pure-Python
  ``_route_python`` / ``_hmm_path_python`` compute the same numbers (1.5-2x jieba on Chinese text);
* a Chinese clause seen before is answered from a bounded cache (``cache_limit`` per mode, 0 turns it off).

``tests/test_segment.py`` proves the words equal on a large mixed corpus on both routes, with and without the
cache, and every route and Viterbi path equal to jieba's own functions (building the extension from source
when the install did not); ``bench/bench_segment.py`` measures the speed.
"""

from __future__ import annotations

import functools
import importlib
import logging
import math
import re
from types import ModuleType
from typing import Any

from zhplm.errors import MissingDependencyError

_compiled: ModuleType | None
try:  # the C route, compiled at install where a C compiler is found (setup.py); the same numbers, faster.
    # Imported by name, not by an import statement: a model folder's flattened tokenizer code (remote_code)
    # cannot carry a compiled module, and there it falls back to the pure-Python route.
    _compiled = importlib.import_module("zhplm.arch.tokenization._jieba_route")
except ImportError:  # pragma: no cover - depends on the install
    _compiled = None

log = logging.getLogger(__name__)

CACHE_LIMIT = 200_000  # clauses kept per mode (HMM on/off); the cache is emptied when full

_MISS = object()  # not looked at yet (the log-probability cache)
_ASCII_RUNS = re.compile(r"[a-zA-Z0-9]+|.")  # jieba without HMM joins single ASCII letters/digits only


@functools.lru_cache(maxsize=1)
def segmenter() -> Any:
    """The process's one :class:`Segmenter` (jieba's dictionary loads once, ~1 s)."""
    try:
        import jieba
        from jieba import finalseg
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MissingDependencyError("jieba", "torch", "segment Chinese words") from exc
    jieba.setLogLevel(logging.WARNING)  # "Building prefix dict from the default dictionary ..." is not news
    re_han, re_skip = jieba.re_han_default, jieba.re_skip_default
    hmm_han, hmm_skip = finalseg.re_han, finalseg.re_skip
    min_float = finalseg.MIN_FLOAT

    class Segmenter(jieba.Tokenizer):  # type: ignore[misc,name-defined]
        """``jieba.Tokenizer`` whose ``words`` is ``list(cut(text, HMM=hmm))`` computed alike, faster."""

        def __init__(self) -> None:
            super().__init__()
            self.cache_limit = CACHE_LIMIT
            # jieba's get_DAG + calc: the C extension where it was built, else _route_python (tests run both)
            self.compiled: ModuleType | None = _compiled
            self._table: Any = None  # the C extension's copy of the dictionary
            self._cache: dict[bool, dict[str, tuple[str, ...]]] = {False: {}, True: {}}
            self._logp: dict[str, float | None] = {}  # log(freq) - log(total); None: only a prefix
            self._ascii_words: re.Pattern[str] | None = None
            self._hmm: Any = None  # the C extension's copy of the HMM
            self._stale = True  # the dictionary changed since the derived tables were built
            tr, emit = finalseg.trans_P, finalseg.emit_P  # each .get(y, MIN_FLOAT) finalseg.viterbi takes
            self._trans: tuple[float, ...] = tuple(
                tr[a].get(b, min_float) for a, b in ("EB", "SB", "MM", "BM", "SS", "ES", "BE", "ME")
            )
            self._start = tuple(finalseg.start_P[y] for y in "BMES")
            known = sorted(set().union(*(emit[y] for y in "BMES")))
            self._emit = {c: tuple(emit[y].get(c, min_float) for y in "BMES") for c in known}

        def initialize(self, dictionary: Any = None) -> None:
            super().initialize(dictionary)
            self._forget()

        def add_word(self, word: str, freq: Any = None, tag: Any = None) -> None:
            super().add_word(word, freq, tag)
            self._forget()

        def _forget(self) -> None:
            """The dictionary changed: drop the cached words, rebuild the derived tables before the next cut
            (once, not per word of a user dictionary)."""
            for cache in self._cache.values():
                cache.clear()
            self._stale = True

        def _refresh(self) -> None:
            self._logtotal = math.log(self.total)
            self._logp.clear()
            long_ascii = sorted(
                (w for w, f in self.FREQ.items() if f and len(w) > 1 and w.isascii()), key=len, reverse=True
            )
            self._ascii_words = re.compile("|".join(map(re.escape, long_ascii))) if long_ascii else None
            self._table = self._hmm = None
            if self.compiled is not None:
                self._table = self.compiled.table(self.FREQ, self._logtotal)
                unknown = (min_float,) * 4  # every state's emission of a character the model never saw
                han = (self._emit.get(chr(c), unknown) for c in range(0x4E00, 0x9FD6))  # finalseg.re_han
                self._hmm = self.compiled.hmm(self._start, self._trans, [x for e in han for x in e])
            self._stale = False

        def use_compiled(self, module: ModuleType | None) -> None:
            """Route with this build of ``_jieba_route`` (None: the pure-Python route)."""
            self.compiled = module
            self._forget()
            self._refresh()

        def words(self, text: str, hmm: bool) -> list[str]:
            """``list(jieba.cut(text, HMM=hmm))``."""
            if not isinstance(text, str):  # bytes: jieba decodes them (strdecode)
                return list(self.cut(text, HMM=hmm))
            if self._stale:
                self._refresh()
            out: list[str] = []
            extend = out.extend
            cache = self._cache[hmm]
            limit = self.cache_limit
            ascii_words = self._ascii_words
            clause = False  # re_han has one group: the clauses are the odd pieces
            for block in re_han.split(text):
                if clause:
                    if block.isascii() and (ascii_words is None or not ascii_words.search(block)):
                        if block.isalnum() or len(block) == 1:  # a letter/digit run: one word either way
                            out.append(block)
                        else:
                            extend(self._cut_ascii(block, hmm))
                    else:  # the dictionary's route: cached (a lookup costs more than the ASCII rules)
                        found = cache.get(block) if limit else None
                        if found is None:
                            found = tuple(self._cut_clause(block, hmm))
                            if limit:
                                if len(cache) >= limit:
                                    cache.clear()
                                cache[block] = found
                        extend(found)
                elif block:
                    if "\r\n" in block:  # kept together; every other character is a word
                        skip = False
                        for piece in re_skip.split(block):
                            if skip:
                                out.append(piece)
                            else:
                                extend(piece)
                            skip = not skip
                    else:
                        extend(block)
                clause = not clause
            return out

        @staticmethod
        def _cut_ascii(clause: str, hmm: bool) -> list[str]:
            """An ASCII clause holding no dictionary word of two or more characters: every word of its route
            is one character, so jieba joins the letter/digit runs (no HMM) or hands the whole clause, which
            is no word, to finalseg.cut (HMM), which cuts it with its re_skip."""
            if not hmm:
                return _ASCII_RUNS.findall(clause)
            return [p for p in hmm_skip.split(clause) if p]

        def _cut_clause(self, clause: str, hmm: bool) -> list[str]:
            """jieba's ``__cut_DAG`` (hmm) / ``__cut_DAG_NO_HMM`` over the route: runs of single characters are
            joined (alphanumerics without HMM) or handed to the HMM when the dictionary does not know them."""
            ends = self._route(clause)
            out: list[str] = []
            x, n, buf = 0, len(clause), ""
            while x < n:
                y = ends[x] + 1
                word = clause[x:y]
                if y - x == 1 and (hmm or (word < "\x80" and word.isalnum())):
                    buf += word
                else:
                    if buf:
                        self._flush(buf, hmm, out)
                        buf = ""
                    out.append(word)
                x = y
            if buf:
                self._flush(buf, hmm, out)
            return out

        def _route(self, clause: str) -> list[int]:
            if self._stale:
                self._refresh()
            if self._table is not None:
                ends: list[int] = self.compiled.route(self._table, clause)  # type: ignore[union-attr]
                return ends
            return self._route_python(clause)

        def _route_python(self, clause: str) -> list[int]:
            """End index of the best word starting at each position: jieba's ``get_DAG`` then ``calc``
            (``max((log(freq or 1) - log(total) + best[x + 1], x) for x in DAG[i])``) computed alike."""
            freq, logp, logtotal, n = self.FREQ, self._logp, self._logtotal, len(clause)
            best = [0.0] * (n + 1)
            ends = [0] * n
            for i in range(n - 1, -1, -1):
                top, end, found = -math.inf, i, False
                for j in range(i, n):
                    frag = clause[i : j + 1]
                    p = logp.get(frag, _MISS)
                    if p is _MISS:
                        f = freq.get(frag)
                        if f is None:  # not even the prefix of a word: no longer word starts here
                            break
                        p = logp[frag] = math.log(f) - logtotal if f else None
                    if p is not None:  # a word of the dictionary (None: only a prefix of one)
                        found = True
                        score = p + best[j + 1]  # type: ignore[operator]
                        if score >= top:  # ties: the later (longer) word, as max() over (score, x)
                            top, end = score, j
                if not found:  # no dictionary word starts here: the single character, frequency taken as 1
                    top, end = (0.0 - logtotal) + best[i + 1], i
                best[i], ends[i] = top, end
            return ends

        def _flush(self, buf: str, hmm: bool, out: list[str]) -> None:
            if not hmm or len(buf) == 1:
                out.append(buf)
            elif self.FREQ.get(buf):
                out.extend(buf)
            elif finalseg.Force_Split_Words:  # words the user made the HMM split: jieba's own code
                out.extend(finalseg.cut(buf))
            else:  # finalseg.cut: Chinese runs through the Viterbi, the rest as re_skip cuts it
                chinese = False
                for block in hmm_han.split(buf):
                    if chinese:
                        self._viterbi_words(block, out)
                    elif block:
                        out.extend(p for p in hmm_skip.split(block) if p)
                    chinese = not chinese

        def _hmm_path(self, run: str) -> bytes | list[int]:
            """finalseg's ``viterbi(run, 'BMES', ...)`` state path as indices 0-3 (B M E S)."""
            if self._stale:
                self._refresh()
            if self._hmm is not None:
                path: bytes = self.compiled.hmm_path(self._hmm, run)  # type: ignore[union-attr]
                return path
            return self._hmm_path_python(run)

        def _hmm_path_python(self, run: str) -> list[int]:
            """The same sums as finalseg in the same order (``V[t-1][y0] + trans + emit``), a tie between
            (prob, state) tuples going to the later letter as ``max``; back-pointers, not path copies."""
            emit, unknown = self._emit, (min_float,) * 4
            eb_b, ee_b, em_m, eb_m, es_s, ee_s, eb_e, em_e = self._trans
            e0 = emit.get(run[0], unknown)
            b, m, e, s = (p + x for p, x in zip(self._start, e0, strict=True))
            back: list[tuple[int, int, int, int]] = []
            for ch in run[1:]:
                x_b, x_m, x_e, x_s = emit.get(ch, unknown)
                pe, ps = e + eb_b + x_b, s + ee_b + x_b  # B from E or S; a tie: S
                nb, fb = (ps, 3) if ps >= pe else (pe, 2)
                pm, pb = m + em_m + x_m, b + eb_m + x_m  # M from M or B; a tie: M
                nm, fm = (pb, 0) if pb > pm else (pm, 1)
                ps2, pe2 = s + es_s + x_s, e + ee_s + x_s  # S from S or E; a tie: S
                ns, fs = (pe2, 2) if pe2 > ps2 else (ps2, 3)
                pb2, pm2 = b + eb_e + x_e, m + em_e + x_e  # E from B or M; a tie: M
                ne, fe = (pm2, 1) if pm2 >= pb2 else (pb2, 0)
                b, m, e, s = nb, nm, ne, ns
                back.append((fb, fm, fe, fs))
            state = 3 if s >= e else 2  # max over (V, y) for y in "ES"
            path = [state]
            for pointers in reversed(back):
                state = pointers[state]
                path.append(state)
            path.reverse()
            return path

        def _viterbi_words(self, run: str, out: list[str]) -> None:
            """finalseg's ``__cut`` over the path (B opens a word, E closes it, S is one, M continues)."""
            path = self._hmm_path(run)
            begin = nexti = 0
            for i, pos in enumerate(path):
                if pos == 0:
                    begin = i
                elif pos == 2:
                    out.append(run[begin : i + 1])
                    nexti = i + 1
                elif pos == 3:
                    out.append(run[i])
                    nexti = i + 1
            if nexti < len(run):
                out.append(run[nexti:])

    found = Segmenter()
    found.initialize()
    return found


def cut(text: str, *, hmm: bool) -> list[str]:
    """``list(jieba.cut(text, HMM=hmm))``, faster."""
    words: list[str] = segmenter().words(text, hmm)
    return words
