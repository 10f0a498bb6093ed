"""ChineseBERT (ShannonAI) → zhplm's own ``ChineseBertForMaskedLM`` / ``ChineseBertModel``.

The release (``ShannonAI/ChineseBERT-{base,large}``) is a Hugging Face–style folder: ``pytorch_model.bin``
(a ``torch.save``d state dict of ``GlyceBertForMaskedLM``), a BERT ``config.json`` (``model_type: bert``,
no ChineseBERT keys), ``vocab.txt`` (23236 entries) and ``config/`` with the pinyin tables
(``pinyin_map.json``, ``pinyin2tensor.json``, ``id2pinyin.json``) and three font bitmaps (``*.npy``).
The state dict already holds the glyph table built from the fonts
(``bert.embeddings.glyph_embeddings.embedding.weight``), so the fonts are not needed after conversion;
the pinyin tables are, by the tokenizer, and are copied next to it. Names are BERT's plus
``bert.embeddings.{pinyin_embeddings.{embedding,conv}, glyph_embeddings.embedding, glyph_map, map_fc}``;
the sizes of those tables (glyph width 1728, 32 pinyin symbols, pinyin width 128) come from their shapes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from zhplm.arch._rules import Shape
from zhplm.arch._spec import Evidence, own_model
from zhplm.arch.bert import HEADS, PYTORCH, BertSpec

_DISTINCTIVE = ("embeddings.pinyin_embeddings.", "embeddings.glyph_embeddings.", "embeddings.glyph_map.")
_E = "bert.embeddings."


class ChineseBertSpec(BertSpec):
    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        cfg = super().build_config(original, shapes, plan_targets)
        glyph = shapes.get(_E + "glyph_embeddings.embedding.weight")
        pinyin = shapes.get(_E + "pinyin_embeddings.embedding.weight")
        if glyph:
            cfg["glyph_embedding_dim"] = int(glyph[1])
        if pinyin:
            cfg["pinyin_map_len"], cfg["pinyin_embedding_size"] = int(pinyin[0]), int(pinyin[1])
        cfg.setdefault("max_position_embeddings", 512)
        cfg["model_type"] = self.model_type
        return cfg

    def write_tokenizer(self, vocab: Path | None, out: Path, config: Mapping[str, Any]) -> list[str]:
        if vocab is None:
            return super().write_tokenizer(vocab, out, config)
        from zhplm.arch.tokenization.chinesebert import write_chinesebert_tokenizer

        return write_chinesebert_tokenizer(vocab, out)


SPEC = ChineseBertSpec(
    name="chinesebert",
    description="ChineseBERT: BERT with pinyin (Conv1d) and glyph embeddings fused into the input (zhplm's own model)",
    model_type="chinesebert",
    full_class="ChineseBertForMaskedLM",
    schemes={"pytorch": PYTORCH},
    heads=tuple(h for h in HEADS if h.name in ("pooler", "mlm")),
    config_names=("config.json", "bert_config.json"),
    vocab_names=("vocab.txt",),
    classes=((("mlm",), "ChineseBertForMaskedLM"), ((), "ChineseBertModel")),
    evidence=Evidence(
        distinctive=(r".*embeddings\.(?:pinyin_embeddings|glyph_embeddings|glyph_map)\..*",),
        without_distinctive=0.0,
    ),
    tokenizers=("zhplm.arch.tokenization.chinesebert",),
    own_model=own_model("chinesebert", "ChineseBert"),
)
