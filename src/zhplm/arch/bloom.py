"""BLOOM decoders published in Hugging Face layout (Langboat bloom-6b4-zh, a vocabulary-pruned BLOOM)
→ transformers ``BloomForCausalLM``.

The release is already in transformers' names; conversion is a checked rename (``transformer.`` prefix
added to bare ``BloomModel`` state dicts, ``module.`` stripped, the tied ``lm_head`` left to the model),
resharded into safetensors, with the original config and the BPE tokenizer files carried over.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from zhplm.arch._rules import Rule, Rules, Shape
from zhplm.arch._spec import ArchSpec, Evidence, Head
from zhplm.errors import ConversionError

_PREFIX = r"(?:module\.)?"
PYTORCH = Rules(
    Rule(rf"{_PREFIX}(transformer\..*)", r"\1"),
    Rule(rf"{_PREFIX}((?:word_embeddings|word_embeddings_layernorm|h|ln_f)\..*)", r"transformer.\1"),
    ignore={rf"{_PREFIX}lm_head\.weight": "tied to transformer.word_embeddings.weight"},
    name="hf",
)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


class BloomSpec(ArchSpec):
    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        if not original:
            raise ConversionError(
                "a BLOOM release needs its config.json (head count and norms are not in the weights)"
            )
        cfg = {
            k: v
            for k, v in original.items()
            if k not in ("architectures", "transformers_version", "_name_or_path")
        }
        vocab, hidden = shapes["transformer.word_embeddings.weight"]
        if (
            cfg.get("vocab_size", vocab) != vocab
            or cfg.get("hidden_size", cfg.get("n_embed", hidden)) != hidden
        ):
            raise ConversionError(
                f"config.json says vocab {cfg.get('vocab_size')} / hidden {cfg.get('hidden_size')}, "
                f"the weights are {vocab} × {hidden}"
            )
        cfg["model_type"] = self.model_type
        return cfg

    def write_tokenizer(self, vocab: Path | None, out: Path, config: Mapping[str, Any]) -> list[str]:
        if vocab is None:
            return ["no tokenizer.json found: the tokenizer was not written"]
        for name in TOKENIZER_FILES:
            src = vocab.parent / name
            if src.exists():
                shutil.copyfile(src, out / name)
        json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))  # must be valid JSON
        return []


SPEC = BloomSpec(
    name="bloom",
    description="BLOOM decoder (HF layout; Langboat's Chinese-pruned bloom-6b4-zh)",
    model_type="bloom",
    full_class="BloomForCausalLM",
    schemes={"hf": PYTORCH},
    heads=(Head("lm", (r"lm_head\..*",), "language-model head (tied to the embeddings)"),),
    config_names=("config.json",),
    vocab_names=("tokenizer.json",),
    classes=(((), "BloomForCausalLM"),),
    evidence=Evidence(distinctive=(r".*word_embeddings_layernorm.*",), without_distinctive=0.0),
)
