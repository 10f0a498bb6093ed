"""What the HF-era GPT releases (OpenAI-GPT and GPT-2 layouts) share: checked renames of transformers'
own names, the old persistent attention-mask buffers to drop, the tied LM head, the original config read
with the keys of its era, and the tokenizer (a BERT WordPiece vocabulary for every Chinese release of
this era; GPT-2 byte-level BPE files are carried over as they are).

CDial-GPT, GPT2-chitchat and GPT2-Chinese saved ``pytorch_model.bin`` with transformers 2.x–4.2: the
state dict holds ``h.N.attn.bias`` (the causal mask, a persistent buffer then) and, from 2.9 on,
``h.N.attn.masked_bias``; ``lm_head.weight`` is stored although it is the token embedding.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from zhplm.arch._rules import Rule, Rules, Shape
from zhplm.arch._spec import ArchSpec, Head, count_layers, shape_of
from zhplm.errors import ConversionError

PREFIX = r"(?:module\.)?"
# buffers older transformers saved with the weights: computed, never learnt
OLD_BUFFERS = {
    rf"{PREFIX}(?:transformer\.)?h\.\d+\.attn\.bias": "causal mask buffer (persistent in transformers < 4.x)",
    rf"{PREFIX}(?:transformer\.)?h\.\d+\.attn\.masked_bias": "mask fill value buffer (transformers 2.9–4.x)",
}
LM_HEAD = Head("lm", (r"lm_head\..*",), "language-model head (tied to the token embedding)")
# tokens of the dialogue releases' vocabularies that must stay whole (CDial-GPT's speaker tokens)
DIALOGUE_TOKENS = ("[speaker1]", "[speaker2]")
BPE_FILES = (
    "vocab.json",
    "merges.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
)


def hf_rules(modules: str, name: str) -> Rules:
    """transformers' names for a GPT body whose top-level modules are ``modules`` (a regex alternation):
    as saved from the LM-head class (``transformer.…``), from a bare body (no prefix) or a DataParallel
    wrapper (``module.``)."""
    body = rf"(?:{modules})\..*"
    return Rules(
        Rule(rf"{PREFIX}(transformer\.{body})", r"\1"),
        Rule(rf"{PREFIX}({body})", r"transformer.\1"),
        ignore={**OLD_BUFFERS, rf"{PREFIX}lm_head\.weight": "tied to the token embedding"},
        name=name,
    )


def era_value(original: Mapping[str, Any] | None, *keys: str) -> Any:
    """The first of ``keys`` the original config gives (configs of that era name a few things twice:
    ``n_ctx`` and ``n_positions``)."""
    for key in keys:
        if original and original.get(key) is not None:
            return original[key]
    return None


class GptSpec(ArchSpec):
    """A GPT release in transformers' names. Subclasses name the config keys and the embedding tables."""

    config_keys: tuple[str, ...] = ()
    token_table = ""
    position_table = ""

    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        vocab, hidden = shape_of(shapes, self.token_table)
        positions = shape_of(shapes, self.position_table)[0]
        cfg: dict[str, Any] = {k: original[k] for k in self.config_keys if original and k in original}
        for key, actual in (("vocab_size", vocab), ("n_embd", hidden), ("n_positions", positions)):
            said = era_value(original, key, "n_ctx") if key == "n_positions" else cfg.get(key)
            if key == "vocab_size" and said is not None and original and original.get("n_special"):
                said = int(said) + int(original["n_special"])  # OpenAI-GPT's extra rows
            if said is not None and int(said) != actual:
                raise ConversionError(
                    f"the original config says {key}={said}, the weights say {actual}: "
                    "is this config from another release?"
                )
            cfg[key] = actual
        cfg["n_layer"] = count_layers(shapes, r"transformer\.h\.(\d+)\..*")
        cfg.setdefault("n_head", max(1, hidden // 64))
        for key in ("bos_token_id", "eos_token_id"):  # GPT-2's 50256 is outside a BERT vocabulary
            if not isinstance(cfg.get(key), int) or not 0 <= cfg[key] < vocab:
                cfg[key] = None
        cfg["model_type"] = self.model_type
        return cfg

    def write_tokenizer(self, vocab: Path | None, out: Path, config: Mapping[str, Any]) -> list[str]:
        if vocab is None:
            return ["no vocabulary file found: the tokenizer was not written"]
        if vocab.name == "vocab.json":  # GPT-2 byte-level BPE (Wenzhong, Yuyuan): carried over as it is
            for name in BPE_FILES:
                if (vocab.parent / name).exists():
                    shutil.copyfile(vocab.parent / name, out / name)
            return []
        from zhplm.arch.tokenization.wordpiece import read_vocab, write_bert_tokenizer

        notes = write_bert_tokenizer(vocab, out, do_lower_case=True, extra_special=DIALOGUE_TOKENS)
        ids = {tok: i for i, tok in reversed(list(enumerate(read_vocab(vocab))))}
        special_ids(out, ids)
        return notes


def special_ids(out: Path, ids: Mapping[str, int]) -> None:
    """Name the BERT vocabulary's [CLS]/[SEP]/[PAD] as the model config's bos/eos/pad ids: GPT-2's defaults
    (50256) lie outside these vocabularies, and ``generate`` would pad with an id that has no embedding."""
    path = out / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    for key, token in (("bos_token_id", "[CLS]"), ("eos_token_id", "[SEP]"), ("pad_token_id", "[PAD]")):
        if token in ids:
            config[key] = ids[token]
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
