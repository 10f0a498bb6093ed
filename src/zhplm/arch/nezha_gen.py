"""NEZHA-Gen (huawei-noah, TF1: the general Chinese GPT and Yuefu 乐府 poetry) → ``BertLMHeadModel``.

Despite the name, the released generation code (``NEZHA-Gen-TensorFlow/interactive_conditional_generation.py``,
``poetry.py``) runs a Google-BERT network, not NEZHA: learned absolute position embeddings (sliced at the
cached length while decoding), standard scaled dot-product attention with no relative-position terms,
post-LN, erf GELU, TF LayerNorm epsilon 1e-12, under a lower-triangular (causal) mask; the next-token head is
BERT's MLM head (transform + LayerNorm, tied word embedding, ``output_bias``). zhplm's NEZHA classes (relative
positions, no position table) would compute something else; transformers' ``BertLMHeadModel`` with
``is_decoder=True`` computes exactly this, with a KV cache, and loads without zhplm.

One difference is data: ``GenerativeModel`` never adds a token-type embedding (``token_type_ids`` is None, so
``use_token_type = False``), while ``BertModel`` always adds row 0 of its table. The conversion writes a
one-row table of zeros (computed, like RoFormer's sinusoid) and ignores a trained table a checkpoint may
carry; the pooler and NSP head, if present, are unused by generation and ignored too.

Prompt formats (the authors' scripts): general model ``[CLS]`` + the last 100 tokens of the text, BERT
tokenizer with ``do_lower_case=False``; Yuefu ``[CLS]`` + ``{体裁}(格式){标题}(诗歌标题)`` (体裁 one of 五言绝句,
七言绝句, 五言律诗, 七言律诗), ``do_lower_case=True``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from zhplm.arch._rules import Plan, Rules, Shape, Step, Transform
from zhplm.arch._spec import Evidence, Head
from zhplm.arch.bert import GOOGLE_TF1, BertSpec

TOKEN_TYPES = "bert.embeddings.token_type_embeddings.weight"
_UNUSED = {
    r"bert/embeddings/token_type_embeddings": "NEZHA-Gen's generation graph adds no token-type embedding",
    r"bert/pooler/.*|cls/seq_relationship/.*": "pooler / next-sentence head: unused by generation",
}


class _RulesWithZeroTypes(Rules):
    """Rules plus one computed step: a single all-zero token-type row (what the original adds: nothing)."""

    def plan(
        self, shapes: Mapping[str, Shape], dtypes: Mapping[str, str], config: Mapping[str, Any] | None = None
    ) -> Plan:
        plan = super().plan(shapes, dtypes, config)
        word = plan.targets.get("bert.embeddings.word_embeddings.weight")
        if word is not None:
            hidden = word.shape[1]
            zeros = Transform(
                "zeros (computed)", lambda _xs: np.zeros((1, hidden), np.float32), lambda _ss: (1, hidden)
            )
            plan.steps.append(Step(TOKEN_TYPES, (), zeros, (1, hidden), "float32"))
        return plan


NEZHA_GEN_TF1 = _RulesWithZeroTypes(
    *(
        r
        for r in GOOGLE_TF1.rules
        if "token_type" not in r.source and "pooler" not in r.source and "seq_rel" not in r.source
    ),
    ignore={**GOOGLE_TF1.ignore, **_UNUSED},
    name="nezha-gen-tf1",
)

HEADS = (Head("lm", (r"cls\.predictions\..*",), "next-token head (MLM transform + tied decoder + bias)"),)


class NezhaGenSpec(BertSpec):
    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        cfg = super().build_config(original, shapes, plan_targets)
        cfg["type_vocab_size"] = 1  # the zero row above
        cfg["is_decoder"] = True  # the causal mask, and a KV cache in generate
        cfg.setdefault("num_attention_heads", int(cfg["hidden_size"]) // 64)
        return cfg

    def write_tokenizer(self, vocab: Path | None, out: Path, config: Mapping[str, Any]) -> list[str]:
        """Google's ``tokenization.py`` (words up to 200 characters), lower-casing as Yuefu's ``poetry.py``; the
        general model's row names the cased kind (``bert-wordpiece-cased``), which the converter applies."""
        if vocab is None:
            return super().write_tokenizer(vocab, out, config)
        from zhplm.arch.tokenization.wordpiece import write_bert_tokenizer

        return write_bert_tokenizer(vocab, out, do_lower_case=True, max_word_chars=200)


SPEC = NezhaGenSpec(
    name="nezha_gen",
    description="NEZHA-Gen: a BERT network (absolute positions) as a causal LM with the tied MLM head",
    model_type="bert",
    full_class="BertLMHeadModel",
    schemes={"nezha-gen-tf1": NEZHA_GEN_TF1},
    heads=HEADS,
    config_names=("bert_config.json", "config.json"),
    vocab_names=("vocab.txt",),
    classes=((("lm",), "BertLMHeadModel"),),
    # Google BERT names: only a catalog row or --arch chooses this reading
    evidence=Evidence(config=(("is_decoder", True),), without_config=0.98),
    tokenizers=("zhplm.arch.tokenization.word",),
)
