"""gpt2-ml (imcaspar/gpt2-ml, TF1 ``newslm/...``) → zhplm's own ``GroverForCausalLM``.

gpt2-ml trains Zellers' Grover block, not GPT-2: embedding LayerNorm, no LayerNorm around the attention, a
post-MLP LayerNorm whose residual bypasses the pre-MLP one, no final LayerNorm, output tied to the word
embedding without bias (:mod:`zhplm.arch.modeling.grover`). Variable names (``train/modeling.py``)::

    newslm/embeddings/{word_embed [V, H], pos_embed [P, H], LayerNorm_embed_norm/{gamma,beta}}
    newslm/layerNN/{query_layer,key_layer,value_layer,context_projection_layer}/{kernel [H, H], bias}
    newslm/layerNN/{LayerNorm_mlp_ln0,LayerNorm_mlp_ln1}/{gamma,beta}
    newslm/layerNN/{intermediate,output}/{kernel,bias}

The release holds only the checkpoint: the hyper-parameters are in the authors' ``configs/*.json`` (the
``GroverConfig`` keys; ``mega.json`` for both released 1.5B models). A config beside the checkpoint wins;
without one the catalog row's sizes are used, and the tensors give the rest. The head count is in no tensor.
The vocabulary is not in the release either: the authors' ``tokenization/clue-vocab.txt`` (8021 tokens, the
30G-corpus model) or ``bert-base-chinese-vocab.txt`` (21128, the 15G model) put beside the checkpoint is
picked by its size; their tokenizer is Google BERT's ``FullTokenizer(do_lower_case=True)`` (their copy drops only ``Cc``/``Cf``
characters, so a private-use one becomes ``[UNK]``; :func:`~zhplm.arch.tokenization.wordpiece.write_bert_tokenizer`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from zhplm.arch._rules import Rule, Rules, Shape
from zhplm.arch._spec import (
    TRAINING_LEFTOVERS,
    ArchSpec,
    Evidence,
    Head,
    count_layers,
    dense,
    layer_norm,
    own_model,
    shape_of,
)
from zhplm.errors import ConversionError

L = r"newslm/layer0*(\d+)"  # layer00, layer01, … layer47
HL = r"grover.layer.\1"

NEWSLM_TF1 = Rules(
    Rule(r"newslm/embeddings/word_embed", "grover.embeddings.word_embeddings.weight"),
    Rule(r"newslm/embeddings/pos_embed", "grover.embeddings.position_embeddings.weight"),
    *layer_norm("newslm/embeddings/LayerNorm_embed_norm", "grover.embeddings.LayerNorm"),
    *dense(rf"{L}/query_layer", rf"{HL}.attention.query"),
    *dense(rf"{L}/key_layer", rf"{HL}.attention.key"),
    *dense(rf"{L}/value_layer", rf"{HL}.attention.value"),
    *dense(rf"{L}/context_projection_layer", rf"{HL}.attention.dense"),
    *layer_norm(rf"{L}/LayerNorm_mlp_ln0", rf"{HL}.mlp.ln0"),
    *dense(rf"{L}/intermediate", rf"{HL}.mlp.intermediate"),
    *dense(rf"{L}/output", rf"{HL}.mlp.output"),
    *layer_norm(rf"{L}/LayerNorm_mlp_ln1", rf"{HL}.mlp.ln1"),
    ignore={**TRAINING_LEFTOVERS, r"newslm/.*/(?:adafactor_v(?:r|c)?|adafactor_m)": "Adafactor slot"},
    name="newslm-tf1",
)

HEADS = (Head("lm", (r"lm_head\.weight",), "next-token head (tied to the word embedding, no bias)"),)

# gpt2-ml's GroverConfig keys; the target config takes them unchanged
GROVER_KEYS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "max_position_embeddings",
    "initializer_range",
)


class GroverSpec(ArchSpec):
    def catalog_config(self, record: Any) -> dict[str, Any] | None:
        """The sizes a catalog row states, as GroverConfig keys (used when the release ships no config)."""
        sizes = {
            "num_hidden_layers": record.layers,
            "hidden_size": record.hidden,
            "num_attention_heads": record.heads,
            "vocab_size": record.vocab_size,
        }
        found = {k: v for k, v in sizes.items() if v is not None}
        return found or None

    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        cfg = {k: original[k] for k in GROVER_KEYS if original and original.get(k) is not None}
        vocab, hidden = shape_of(shapes, "grover.embeddings.word_embeddings.weight")
        sizes = {
            "vocab_size": vocab,
            "hidden_size": hidden,
            "num_hidden_layers": count_layers(shapes, r"grover\.layer\.(\d+)\..*"),
            "max_position_embeddings": shape_of(shapes, "grover.embeddings.position_embeddings.weight")[0],
            "intermediate_size": shape_of(shapes, "grover.layer.0.mlp.intermediate.weight")[0],
        }
        for key, value in sizes.items():
            if cfg.setdefault(key, value) != value:
                raise ConversionError(
                    f"the config says {key}={cfg[key]} but the checkpoint's tensors say {value}: "
                    "is it the config of another gpt2-ml model?"
                )
        cfg.setdefault("num_attention_heads", max(1, hidden // 64))
        cfg["layer_norm_eps"] = 1e-5  # train/utils.py layer_norm
        cfg["model_type"] = self.model_type
        return cfg

    def write_tokenizer(self, vocab: Path | None, out: Path, config: Mapping[str, Any]) -> list[str]:
        if vocab is None:
            return [
                "gpt2-ml releases carry no vocabulary: the tokenizer was not written. Put the authors' "
                "tokenization/clue-vocab.txt (8021 tokens) or bert-base-chinese-vocab.txt (21128) beside the "
                "checkpoint and convert again"
            ]
        # both authors' vocabularies may lie there: the one as long as the embedding is the model's
        candidates = [vocab, *(vocab.parent / n for n in self.vocab_names)]
        sizes = {p: _lines(p) for p in dict.fromkeys(candidates) if p.is_file()}
        fitting = [p for p, n in sizes.items() if n == config.get("vocab_size")]
        if not fitting:
            raise ConversionError(
                f"{vocab.name} has {sizes[vocab]} tokens but the model has {config.get('vocab_size')}: use "
                "clue-vocab.txt for the 8021-token model, bert-base-chinese-vocab.txt for the 21128-token one"
            )
        from zhplm.arch.tokenization.wordpiece import write_bert_tokenizer

        # gpt2-ml's tokenization.py: Google's (words up to 200 characters) but drops only Cc/Cf characters
        return write_bert_tokenizer(fitting[0], out, do_lower_case=True, max_word_chars=200, controls="Cc,Cf")


def _lines(path: Path) -> int:
    with path.open(encoding="utf-8") as fh:
        return sum(1 for _ in fh)


SPEC = GroverSpec(
    name="grover",
    description="Grover-style GPT block of gpt2-ml (embedding LN, post-MLP LN, no final LN; zhplm's own model)",
    model_type="grover",
    full_class="GroverForCausalLM",
    schemes={"newslm-tf1": NEWSLM_TF1},
    heads=HEADS,
    config_names=("config.json", "mega.json", "large.json", "base.json"),
    vocab_names=("vocab.txt", "clue-vocab.txt", "bert-base-chinese-vocab.txt"),
    classes=((("lm",), "GroverForCausalLM"), ((), "GroverModel")),
    evidence=Evidence(distinctive=(r"newslm/.*",), without_distinctive=0.0),
    own_model=own_model("grover", "Grover", heads=("CausalLM",)),
)
