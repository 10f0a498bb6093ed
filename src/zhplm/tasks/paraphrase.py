"""Similar-sentence generation with SimBERT / RoFormer-sim, the way their authors do it (``gen_synonyms`` in
ZhuiyiTechnology/simbert ``simbert.py`` and roformer-sim ``test/generate.py``): sample candidates from the
UniLM seq2seq head (``[CLS] text [SEP]`` as segment 0, the reply as segment 1), drop the input itself and
duplicates, rank the rest by the cosine of the model's own linear-pooled vector to the input's, keep the best.

Sampling runs through the shared :class:`~zhplm.tasks.generate.TextGeneration` (transformers' ``generate``
with ``num_return_sequences``), and the vectors come from the same loaded model (its MLM class also returns
the pooled vector), so one model serves both steps. Defaults are the authors': SimBERT samples from the top 5
tokens, at most 32 tokens; RoFormer-sim from the nucleus p=0.95, at most 64; both draw 100 candidates.
Empty candidates (``[SEP]`` first) are dropped too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zhplm.errors import ConversionError
from zhplm.tasks.embed import Embeddings
from zhplm.tasks.generate import Options, TextGeneration, make_options

# the authors' sampling per architecture (simbert.py: topk=5, maxlen=32; roformer-sim: topp=0.95, maxlen=64)
AUTHORS_SAMPLING: dict[str, dict[str, Any]] = {
    "simbert": {"top_k": 5, "max_new_tokens": 32},
    "roformer_sim": {"top_p": 0.95, "max_new_tokens": 64},
}
DEFAULT_SAMPLING: dict[str, Any] = {"top_k": 5, "max_new_tokens": 32}
CANDIDATES = 100  # gen_synonyms(text, n=100, k=20): candidates sampled, then ranked


@dataclass(frozen=True)
class Paraphrase:
    text: str
    score: float  # cosine of its sentence vector to the input's


class Paraphraser:
    """``para("句子", n=5) -> [Paraphrase]``: sampled, filtered and ranked like ``gen_synonyms``."""

    def __init__(self, generator: TextGeneration, embeddings: Embeddings, *, arch: str | None = None) -> None:
        if not embeddings.normalize:
            raise ConversionError("paraphrase ranking needs normalised embeddings (cosine)")
        self.generator = generator
        self.embeddings = embeddings
        self.sampling = dict(AUTHORS_SAMPLING.get(arch or "", DEFAULT_SAMPLING))

    @classmethod
    def from_model(cls, model: str | Path, *, batch_size: int = 32, **load_options: Any) -> Paraphraser:
        """One load: the MLM class writes and also gives the linear-pooled sentence vector."""
        from zhplm.loader import read_provenance, resolve_model_dir

        folder = resolve_model_dir(model)
        provenance = read_provenance(folder)
        pooler = (provenance.get("heads") or {}).get("pooler")
        if pooler != "trained":
            raise ConversionError(
                f"paraphrase ranks candidates by a trained sentence pooler, which is "
                f"{pooler or 'not recorded'} in {folder}: use a SimBERT or RoFormer-sim model"
            )
        generator = TextGeneration.from_model(
            folder, prompt_format=provenance.get("prompt_format") or "unilm", **load_options
        )
        if generator.format.name != "unilm":
            raise ConversionError(
                f"paraphrase needs a UniLM seq2seq model (SimBERT, RoFormer-sim); {folder} is prompted as "
                f"{generator.format.name!r}"
            )
        embed = Embeddings(generator.model, generator.tokenizer, pooling="pooler", batch_size=batch_size)
        return cls(generator, embed, arch=provenance.get("arch"))

    def options(self, **overrides: Any) -> Options:
        """The sampling options: the authors' for this architecture, then ``overrides``."""
        return make_options(self.generator.options, {**self.sampling, "sample": True, **overrides})

    def sample(self, text: str, candidates: int = CANDIDATES, **options: Any) -> list[str]:
        """Distinct sampled texts other than ``text`` itself and the empty text, in sampling order."""
        if not isinstance(text, str) or not text.strip():
            raise ConversionError("give a non-empty sentence to paraphrase")
        if candidates < 1:
            raise ConversionError(f"candidates must be at least 1, got {candidates}")
        gen = self.generator
        opts = self.options(**options)
        encoded = gen.format.encode(gen.tokenizer, text)
        rows = gen.run([encoded], [text], opts, num_return=candidates)[0]
        source = gen.format.tokens(gen.tokenizer, text)
        kept: dict[str, None] = {}
        for row in rows:
            if row.text.strip() and row.text != text and row.token_ids != source:
                kept.setdefault(row.text, None)
        return list(kept)

    def rank(self, text: str, candidates: Sequence[str]) -> list[Paraphrase]:
        """``candidates`` by the cosine of their sentence vector to ``text``'s, best first (ties: given order)."""
        if not candidates:
            return []
        vectors = self.embeddings([text, *candidates])
        scores = vectors[1:] @ vectors[0]
        order = np.argsort(-scores, kind="stable")
        return [Paraphrase(candidates[i], float(scores[i])) for i in order]

    def __call__(
        self, text: str, n: int = 5, *, candidates: int = CANDIDATES, **options: Any
    ) -> list[Paraphrase]:
        """The ``n`` best of ``candidates`` sampled paraphrases (``seed=`` makes them repeatable)."""
        if n < 1:
            raise ConversionError(f"n must be at least 1, got {n}")
        return self.rank(text, self.sample(text, candidates, **options))[:n]


__all__ = ["AUTHORS_SAMPLING", "CANDIDATES", "Paraphrase", "Paraphraser"]
