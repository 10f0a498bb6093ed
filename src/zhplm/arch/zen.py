"""ZEN (sinovation/ZEN, 2019 PyTorch release) → zhplm's own ``ZenForPreTraining`` / ``ZenForMaskedLM``.

The release (``ZEN_pretrain_base_v0.1.0.zip``) is a pytorch-pretrained-BERT-era state dict of the
original ``ZenForPreTraining`` (a pre-1.6 legacy pickle): BERT names under ``bert.``/``cls.`` plus the
n-gram side, ``bert.word_embeddings.{word_embeddings,token_type_embeddings,LayerNorm}`` and
``bert.encoder.word_layers.N.*``; LayerNorms may be spelled ``gamma``/``beta`` (the original loader
renames them); a ``module.`` prefix (DataParallel) may lead. Our model keeps the original names, so the
mapping is a rename of LayerNorm parameters only. The decoder weight (tied to the word embedding) is
dropped; a fine-tuned release's task head (``classifier.*``) is not converted.

The config comes from ``bert_config.json`` / ``config.json`` (the ZenConfig fields, incl. ``word_size``
and ``num_hidden_word_layers``), completed from the shapes. The n-gram lexicon ``ngram.txt`` is copied
to the output with the tokenizer (:mod:`zhplm.arch.tokenization.zen`), which produces the n-gram inputs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from zhplm.arch._rules import Rule, Rules, Shape
from zhplm.arch._spec import Evidence, count_layers, file_beside, own_model
from zhplm.arch.bert import HEADS, BertSpec
from zhplm.errors import ConversionError

_PREFIX = r"(?:module\.)?"
PYTORCH = Rules(
    Rule(rf"{_PREFIX}((?:bert|cls)\..*LayerNorm)\.(?:gamma|weight)", r"\1.weight"),
    Rule(rf"{_PREFIX}((?:bert|cls)\..*LayerNorm)\.(?:beta|bias)", r"\1.bias"),
    Rule(rf"{_PREFIX}((?:bert|cls)\.(?!predictions\.decoder).*)", r"\1"),
    ignore={
        rf"{_PREFIX}bert\.embeddings\.position_ids": "buffer, recomputed by the model",
        rf"{_PREFIX}cls\.predictions\.decoder\.weight": "tied to bert.embeddings.word_embeddings.weight",
        rf"{_PREFIX}cls\.predictions\.decoder\.bias": "tied to cls.predictions.bias",
        rf"{_PREFIX}classifier\..*": "task head of a fine-tuned ZEN model (not converted)",
    },
    name="zen-pytorch",
)

# names only ZEN has: the n-gram embeddings and the n-gram layers
_ZEN_ONLY = re.compile(rf"{_PREFIX}bert\.(?:word_embeddings\.|encoder\.word_layers\.\d+\.).*")

NGRAM_FILE = "ngram.txt"


class ZenSpec(BertSpec):
    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        targets = set(plan_targets)
        cfg = super().build_config(original, shapes, targets)
        ngram = shapes.get("bert.word_embeddings.word_embeddings.weight")
        if not ngram:
            raise ConversionError(
                "the checkpoint has no n-gram embedding (bert.word_embeddings.word_embeddings)"
            )
        word_layers = count_layers(targets, r".*\.word_layers\.(\d+)\..*")
        for key, found in (("word_size", ngram[0]), ("num_hidden_word_layers", word_layers)):
            declared = (original or {}).get(key)
            if declared is not None and int(declared) != found:
                raise ConversionError(
                    f"the config says {key}={declared} but the checkpoint has {found}: wrong config file?"
                )
            cfg[key] = found
        cfg["model_type"] = self.model_type
        return cfg

    def write_tokenizer(self, vocab: Path | None, out: Path, config: Mapping[str, Any]) -> list[str]:
        if vocab is None:
            return super().write_tokenizer(vocab, out, config)
        from zhplm.arch.tokenization.zen import ZenTokenizer, read_ngram_lines, write_zen_tokenizer

        ngram = file_beside(vocab, NGRAM_FILE)
        if ngram is not None:
            rows = len(read_ngram_lines(ngram)) + 1
            if rows > int(config["word_size"]):
                raise ConversionError(
                    f"{ngram} lists {rows - 1} n-grams but the model's n-gram embedding has only "
                    f"{config['word_size']} rows (incl. padding): this lexicon belongs to another model"
                )
        notes = write_zen_tokenizer(vocab, ngram, out)
        if ngram is not None:
            tok = ZenTokenizer.from_pretrained(str(out))
            tok.model_max_length = int(config.get("max_position_embeddings", 512))
            tok.save_pretrained(str(out))
            if tok.ngram_vocab_size < int(config["word_size"]):
                notes.append(
                    f"ngram.txt has {tok.ngram_vocab_size - 1} n-grams for {config['word_size'] - 1} "
                    "embedding rows: the rest are never matched"
                )
        return notes


SPEC = ZenSpec(
    name="zen",
    description="ZEN: BERT characters + an n-gram encoder fused into every layer (zhplm's own model)",
    model_type="zen",
    full_class="ZenForPreTraining",
    schemes={"pytorch": PYTORCH},
    heads=HEADS,
    config_names=("bert_config.json", "config.json"),
    vocab_names=("vocab.txt",),
    classes=((("mlm", "nsp"), "ZenForPreTraining"), (("mlm",), "ZenForMaskedLM"), ((), "ZenModel")),
    # only checkpoints with ZEN's n-gram names (a BERT reading places the rest and fails on these)
    evidence=Evidence(distinctive=(_ZEN_ONLY.pattern,), without_distinctive=0.0),
    tokenizers=("zhplm.arch.tokenization.zen",),
    own_model=own_model("zen", "Zen", heads=("MaskedLM", "PreTraining")),
)
