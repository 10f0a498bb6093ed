"""Similar-sentence search over a corpus file: embed it once, keep the vectors on disk, answer top-k.

``zhplm.pipeline("sentence-similarity", ID).search("查询", corpus="lines.txt", k=10)`` or
``zhplm search-similar ID --corpus lines.txt "查询"``. The corpus's vectors (the model's own sentence
vector, L2-normalised) are cached under ``<ZHPLM_HOME>/search/``, keyed by the model's identity (the hash of
every file of its folder: zhplm.json, config, tokenizer, weights), the pooling, the length limit and the corpus
file's sha256: a changed file or model re-embeds. Every cache file carries its own header and a CRC32C of
its payload; a truncated or corrupt one is logged, deleted and rebuilt, never used.

Up to :data:`INDEX_THRESHOLD` vectors the search is exact (one matrix product). Above it, a faiss HNSW
index (``pip install 'zhplm[search]'``; built once, cached like the vectors) finds the candidates and their
scores are recomputed exactly; without faiss the search stays exact and says so in the log. faiss was
chosen over hnswlib and usearch (measurements in ``bench/results/similarity.txt``): it is what retrieval
code most often already uses and ships CPU wheels for Linux, macOS and Windows on PyPI, while hnswlib 0.8.0
is a source package that needs a C++ compiler and usearch 2.26.6's ``add`` did not return here. HNSW with
M=32, efConstruction=40 built 100k x 768 vectors in 20-70 s on 2 shared cores, recall@10 0.99-1.00.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zhplm.errors import ConversionError, MissingDependencyError

if TYPE_CHECKING:
    from zhplm.tasks.similarity import SentenceSimilarity

log = logging.getLogger(__name__)

INDEX_THRESHOLD = 100_000  # corpora with more lines than this are searched through the index library
CACHE_VERSION = 1
MAGIC = b"ZHPLMSEARCH\x00"
HNSW_M = 32  # graph degree, construction and search breadth of the HNSW index (bench/bench_similarity.py)
HNSW_EF_CONSTRUCTION = 40
HNSW_EF_SEARCH = 128
_HASHED_WHOLE = 1 << 20  # files up to this size are hashed on every call; larger ones once per (size, mtime)


@dataclass(frozen=True)
class Hit:
    """One corpus line found: its text, its 1-based line number in the file, and its cosine to the query."""

    text: str
    line: int
    score: float


@dataclass(frozen=True)
class QueryHits:
    query: str
    hits: list[Hit]


@dataclass
class Corpus:
    """The non-blank lines of a corpus file and their vectors (rows in file order)."""

    path: Path
    sha256: str
    texts: list[str]
    lines: list[int]
    vectors: np.ndarray[Any, Any]
    index: Any = None  # the index library's object, once built or read


@dataclass(frozen=True)
class Lines:
    """The non-blank lines of a UTF-8 file, their 1-based line numbers, and the file's bytes."""

    texts: list[str]
    numbers: list[int]
    data: bytes


def read_lines(path: str | Path, what: str = "corpus") -> Lines:
    """The non-blank lines of a UTF-8 file (with their line numbers and the bytes they came from)."""
    try:
        data = Path(path).read_bytes()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConversionError(f"cannot read the {what} {path}: {exc}") from exc
    texts, lines = [], []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            texts.append(line)
            lines.append(n)
    return Lines(texts, lines, data)


def top_k(scores: np.ndarray[Any, Any], k: int) -> np.ndarray[Any, Any]:
    """Row-wise indices of the ``k`` largest scores, best first; ties keep the lower index first."""
    n = scores.shape[1]
    k = min(k, n)
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n), scores.shape).copy()
    order = []
    for row, cand in zip(scores, part, strict=True):
        cand = np.sort(cand)
        order.append(cand[np.argsort(-row[cand], kind="stable")])
    return np.array(order, dtype=np.int64).reshape(scores.shape[0], k)


class SimilarSearch:
    """Top-k search of a corpus file with a :class:`SentenceSimilarity` model's own vectors."""

    def __init__(
        self,
        similarity: SentenceSimilarity,
        *,
        cache_dir: str | Path | None = None,
        index_threshold: int = INDEX_THRESHOLD,
        model_key: str | None = None,
    ) -> None:
        from zhplm import config

        self.similarity = similarity
        self.cache_dir = Path(cache_dir) if cache_dir is not None else config.home() / "search"
        self.index_threshold = index_threshold
        self._model_key = model_key
        self._corpora: dict[Path, Corpus] = {}
        self.last_backend = "exact"  # what the last search used ("exact" or "faiss")

    # -- public --------------------------------------------------------------------------------
    def search(self, query: str, corpus: str | Path, *, k: int = 10) -> list[Hit]:
        return self.search_many([query], corpus, k=k)[0].hits

    def search_many(self, queries: Sequence[str], corpus: str | Path, *, k: int = 10) -> list[QueryHits]:
        """The ``k`` most similar corpus lines of each query (queries embedded in one batch)."""
        if isinstance(queries, str):
            queries = [queries]
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ConversionError(f"k must be a positive integer, got {k!r}")
        if not queries:
            return []
        for n, q in enumerate(queries, 1):
            if not isinstance(q, str) or not q.strip():
                raise ConversionError(f"query {n} is empty: give a text to search for")
        found = self.corpus(corpus)
        qv = self.similarity.embeddings(list(queries))
        rows = self._candidates(found, qv, k)
        out = []
        for query, vec, idx in zip(queries, qv, rows, strict=True):
            scores = found.vectors[idx] @ vec
            order = np.argsort(-scores, kind="stable")
            hits = [
                Hit(found.texts[i], found.lines[i], float(scores[j])) for j, i in ((j, idx[j]) for j in order)
            ]
            out.append(QueryHits(query, hits))
        return out

    def corpus(self, path: str | Path) -> Corpus:
        """The corpus file's lines and vectors: from this process, else the disk cache, else the model."""
        path = Path(path)
        read = read_lines(path)
        texts, lines, data = read.texts, read.numbers, read.data
        if not texts:
            raise ConversionError(f"the corpus {path} has no non-blank line: nothing to search")
        digest = hashlib.sha256(data).hexdigest()
        held = self._corpora.get(path.resolve())
        if held is not None and held.sha256 == digest:
            return held
        key = self.cache_key(digest)
        vectors = self._read_cache(key, "vectors", expect={"rows": len(texts)})
        if vectors is not None:
            vectors = vectors.reshape(len(texts), -1)
            log.debug("corpus %s: %d vectors read from the cache", path, len(texts))
        else:
            log.info("embedding %d lines of %s (once: the vectors are cached)", len(texts), path)
            vectors = np.ascontiguousarray(self.similarity.embeddings(texts), dtype=np.float32)
            self._write_cache(key, "vectors", vectors, {"rows": len(texts), "dim": int(vectors.shape[1])})
        found = Corpus(path, digest, texts, lines, vectors)
        self._corpora[path.resolve()] = found
        return found

    def cache_key(self, corpus_sha256: str) -> str:
        emb = self.similarity.embeddings
        dtype = str(getattr(emb.model, "dtype", ""))
        parts = [
            f"v{CACHE_VERSION}",
            self.model_key(),
            emb.pooling,
            str(emb.max_length),
            dtype,
            corpus_sha256,
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:40]

    def model_key(self) -> str:
        """The model's identity: its folder's files (zhplm.json, config, tokenizer, weights), else its
        parameters and config."""
        if self._model_key is None:
            folder = getattr(self.similarity, "folder", None)
            if folder is not None:
                self._model_key = folder_identity(Path(folder), self.cache_dir / "file-hashes.json")
            else:
                self._model_key = parameters_identity(self.similarity.embeddings.model)
        return self._model_key

    # -- exact or index ------------------------------------------------------------------------
    def _candidates(self, found: Corpus, q: np.ndarray[Any, Any], k: int) -> np.ndarray[Any, Any]:
        k = min(k, len(found.texts))
        if len(found.texts) > self.index_threshold:
            index = self._index(found)
            if index is not None:
                self.last_backend = "faiss"
                index.hnsw.efSearch = max(HNSW_EF_SEARCH, k)
                _, ids = index.search(np.ascontiguousarray(q, dtype=np.float32), k)
                rows = [row[row >= 0] for row in ids]
                if all(len(r) == k for r in rows):
                    return np.stack(rows)
                log.info("the index returned fewer than %d hits: exact search instead", k)
        self.last_backend = "exact"
        return top_k(q @ found.vectors.T, k)

    def _index(self, found: Corpus) -> Any:
        if found.index is not None:
            return found.index
        try:
            faiss = _import_faiss()
        except MissingDependencyError as exc:
            log.warning(
                "%d lines: exact search (faiss is not installed; for an HNSW index: pip install 'zhplm[%s]')",
                len(found.texts),
                exc.extra,
            )
            return None
        key = self.cache_key(found.sha256)
        blob = self._read_cache(key, "faiss-hnsw", expect={"rows": len(found.texts)})
        if blob is not None:
            found.index = faiss.deserialize_index(blob)
            return found.index
        log.info("building an HNSW index over %d vectors (once: it is cached)", len(found.texts))
        index = faiss.IndexHNSWFlat(found.vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.add(found.vectors)
        self._write_cache(key, "faiss-hnsw", faiss.serialize_index(index), {"rows": len(found.texts)})
        found.index = index
        return index

    # -- the cache files -----------------------------------------------------------------------
    def _path(self, key: str, kind: str) -> Path:
        return self.cache_dir / f"{key}.{kind}"

    def _read_cache(self, key: str, kind: str, expect: dict[str, Any]) -> np.ndarray[Any, Any] | None:
        path = self._path(key, kind)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("cannot read the cache file %s (%s): rebuilding it", path, exc)
            return None
        header, payload, problem = _unpack(raw)
        if problem is None and header is not None:
            wanted = {"key": key, "kind": kind, **expect}
            wrong = [f for f, v in wanted.items() if header.get(f) != v]
            if wrong:
                problem = f"its header does not match ({', '.join(wrong)})"
        if problem is not None or header is None:
            log.warning("the cache file %s is unusable (%s): deleting and rebuilding it", path, problem)
            path.unlink(missing_ok=True)
            return None
        dtype = np.dtype(header["dtype"])
        return np.frombuffer(payload, dtype=dtype).copy()

    def _write_cache(self, key: str, kind: str, array: np.ndarray[Any, Any], header: dict[str, Any]) -> None:
        array = np.ascontiguousarray(array)
        blob = _pack({"key": key, "kind": kind, "dtype": array.dtype.str, **header}, array.tobytes())
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.cache_dir, prefix=f".{key}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(blob)
                os.replace(tmp, self._path(key, kind))
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:  # the search still answers; only the next run embeds again
            log.warning(
                "cannot write the cache file in %s (%s): the vectors are not kept", self.cache_dir, exc
            )


def _pack(header: dict[str, Any], payload: bytes) -> bytes:
    import google_crc32c

    head = json.dumps({**header, "bytes": len(payload), "crc32c": int(google_crc32c.value(payload))}).encode()
    return MAGIC + struct.pack("<Q", len(head)) + head + payload


def _unpack(raw: bytes) -> tuple[dict[str, Any] | None, bytes, str | None]:
    """(header, payload, None) for a sound cache file, else (None, b"", what is wrong)."""
    import google_crc32c

    start = len(MAGIC) + 8
    if len(raw) < start or not raw.startswith(MAGIC):
        return None, b"", "not a zhplm search cache file"
    (size,) = struct.unpack("<Q", raw[len(MAGIC) : start])
    try:
        header = json.loads(raw[start : start + size])
    except ValueError:
        return None, b"", "its header is damaged"
    if not isinstance(header, dict):
        return None, b"", "its header is damaged"
    payload = raw[start + size :]
    if len(payload) != header.get("bytes"):
        return None, b"", f"truncated: {len(payload)} of {header.get('bytes')} bytes"
    if int(google_crc32c.value(payload)) != header.get("crc32c"):
        return None, b"", "its checksum does not match"
    return header, payload, None


def folder_identity(folder: Path, memo_path: Path) -> str:
    """sha256 over the names and contents of every file of a model folder; a large file's sha256 is
    remembered in ``memo_path`` per (path, size, mtime) so the weights are read once, not per search."""
    try:
        memo = json.loads(memo_path.read_text(encoding="utf-8"))
        if not isinstance(memo, dict):
            memo = {}
    except (OSError, ValueError):
        memo = {}
    changed = False
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        if stat.st_size <= _HASHED_WHOLE:
            digest = _file_sha256(path)
        else:
            stamp = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
            known = memo.get(stamp)
            if isinstance(known, str):
                digest = known
            else:
                digest = memo[stamp] = _file_sha256(path)
                changed = True
        h.update(f"{path.relative_to(folder).as_posix()}\0{digest}\n".encode())
    if changed:
        try:
            memo_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = memo_path.with_name(f".{memo_path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(memo), encoding="utf-8")
            os.replace(tmp, memo_path)
        except OSError as exc:
            log.debug("cannot remember file hashes in %s: %s", memo_path, exc)
    return h.hexdigest()


def parameters_identity(model: Any) -> str:
    """sha256 of a model's config and parameters (a model given without its folder)."""
    h = hashlib.sha256(str(getattr(model, "config", "")).encode())
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _import_faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise MissingDependencyError("faiss-cpu", "search", "index large corpora") from exc
    return faiss


__all__ = ["INDEX_THRESHOLD", "Corpus", "Hit", "Lines", "QueryHits", "SimilarSearch", "read_lines", "top_k"]
