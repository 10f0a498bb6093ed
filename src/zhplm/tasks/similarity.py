"""Sentence similarity: each model's own sentence vector, then cosine.

SimBERT and RoFormer-sim were trained so that the cosine of their *linear* pooler's ``[CLS]`` vector ranks
paraphrases (the authors' ``gen_synonyms`` and ``retrieval`` scripts): those architectures use ``pooler``.
Every other model uses :data:`DEFAULT_POOLING` unless the caller names one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zhplm.errors import ConversionError
from zhplm.tasks.embed import Embeddings

if TYPE_CHECKING:
    from zhplm.tasks.search import Hit, QueryHits, SimilarSearch

# the pooling each architecture's authors rank by (architectures not listed: DEFAULT_POOLING)
AUTHORS_POOLING = {"simbert": "pooler", "roformer_sim": "pooler"}
DEFAULT_POOLING = "cls"


def authors_pooling(arch: str | None) -> str:
    return AUTHORS_POOLING.get(arch or "", DEFAULT_POOLING)


@dataclass(frozen=True)
class PairScore:
    a: str
    b: str
    score: float


class SentenceSimilarity:
    """``sim("句子A", "句子B") -> float``; ``sim.pairs([(a, b), ...]) -> [PairScore]`` (each text embedded once)."""

    def __init__(self, embeddings: Embeddings, *, folder: Path | None = None) -> None:
        if not embeddings.normalize:
            raise ConversionError("sentence similarity needs normalised embeddings (cosine)")
        self.embeddings = embeddings
        self.folder = folder  # the model's folder: its files key the search cache
        self._search: SimilarSearch | None = None

    @classmethod
    def from_model(
        cls,
        model: str | Path,
        *,
        pooling: str | None = None,
        batch_size: int = 32,
        max_length: int = 512,
        **load_options: Any,
    ) -> SentenceSimilarity:
        from zhplm.loader import load

        loaded = load(model, task="embeddings", **load_options)
        chosen = pooling or authors_pooling(loaded.provenance.get("arch"))
        if chosen == "pooler":
            from zhplm.tasks._heads import require_head

            require_head(loaded.provenance, "pooler", "pooler sentence vectors")
        embed = Embeddings(
            loaded.model, loaded.tokenizer, pooling=chosen, batch_size=batch_size, max_length=max_length
        )
        return cls(embed, folder=loaded.path)

    @property
    def pooling(self) -> str:
        return self.embeddings.pooling

    def __call__(self, a: str, b: str) -> float:
        return self.pairs([(a, b)])[0].score

    def pairs(self, pairs: Sequence[tuple[str, str]]) -> list[PairScore]:
        for n, pair in enumerate(pairs, 1):
            if len(pair) != 2 or not all(isinstance(t, str) for t in pair):
                raise ConversionError(f"pair {n} is not two texts: {pair!r}")
        texts = list(dict.fromkeys(t for pair in pairs for t in pair))
        vectors = self.embeddings(texts) if texts else np.zeros((0, 0), np.float32)
        row = {t: i for i, t in enumerate(texts)}
        return [PairScore(a, b, float(vectors[row[a]] @ vectors[row[b]])) for a, b in pairs]

    def search(self, query: str, corpus: str | Path, *, k: int = 10) -> list[Hit]:
        """The ``k`` corpus lines most similar to ``query`` (the corpus is embedded once, cached on disk)."""
        return self.searcher().search(query, corpus, k=k)

    def search_many(self, queries: Sequence[str], corpus: str | Path, *, k: int = 10) -> list[QueryHits]:
        return self.searcher().search_many(queries, corpus, k=k)

    def searcher(self, **options: Any) -> SimilarSearch:
        """The :class:`SimilarSearch` over this model (options: ``cache_dir``, ``index_threshold``)."""
        if self._search is None or options:
            from zhplm.tasks.search import SimilarSearch

            self._search = SimilarSearch(self, **options)
        return self._search


def read_pairs(path: str | Path) -> list[tuple[str, str]]:
    """Pairs from a UTF-8 file: one pair a line, the two texts separated by a tab; blank lines skipped."""
    pairs = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConversionError(f"cannot read pairs from {path}: {exc}") from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2:
            raise ConversionError(
                f"{path}:{n}: expected two texts separated by one tab, got {len(parts)} fields"
            )
        pairs.append((parts[0], parts[1]))
    return pairs
