"""Lattice-BERT (alibaba/AliceMind ``LatticeBERT``, TF1 releases) → zhplm's own ``LatticeBertForPreTraining``.

The releases (``chinese_labert-{tiny,lite,base}-std-512.tar.gz``) hold ``model.ckpt.*`` (+ ``checkpoint``,
``model.ckpt.meta``), ``labert_config.json``, ``vocab.txt`` (characters) and ``lexicon.txt`` (words). The
checkpoint is the graph of ``modeling_labert.LaBertModel`` plus the heads of ``run_pretraining_labert.py``
(as ``slim_pretrain_checkpoint.py`` builds it)::

    bert/embeddings/{word_embeddings [V,E], word_embeddings_projection [E,H], token_type_embeddings, LayerNorm}
    bert/encoder/{start,end}_position_embeddings [P,E], bert/encoder/{query,key}_position/{kernel,bias} [2E,H]
    bert/encoder/relative_position_scores_{0..3} [2M+1, heads], bert/encoder/relative_type_embeddings_d1 [32, heads]
    bert/encoder/relative_att_reset_theta_{1,2} [1,1,1,2E]
    bert/encoder/layer_N/… (Google BERT layer names), or one bert/encoder/layer_shared/… (shared layers)
    bert/pooler/dense, cls/predictions/{transform/dense [H,E], transform/LayerNorm, output_bias},
    cls/seq_relationship/{output_weights [3,H], output_bias}

Our model keeps these names (``modeling/lattice_bert.py``); kernels are transposed, the reset vectors
flattened, a shared layer is unrolled ``num_hidden_layers`` times (the count comes from the config). The
pre-LN variant (``--transformer_model_type=pre-ln``) is refused. The config comes from
``labert_config.json`` checked against the shapes (the head count is the width of the relative tables);
``gelu`` becomes ``gelu_new`` (the original's gelu is the tanh approximation). The tokenizer is
:class:`zhplm.arch.tokenization.lattice.LatticeTokenizer` over the release's ``vocab.txt`` + ``lexicon.txt``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from math import prod
from pathlib import Path
from typing import Any

from zhplm.arch._rules import TRANSPOSE as T
from zhplm.arch._rules import Plan, Rule, Rules, Shape, reshape
from zhplm.arch._spec import (
    TRAINING_LEFTOVERS,
    ArchSpec,
    Evidence,
    copy_config,
    count_layers,
    dense,
    file_beside,
    layer_norm,
    own_model,
)
from zhplm.arch.bert import HEADS
from zhplm.errors import ConversionError

L = r"bert/encoder/layer_(\d+)"
HL = r"bert.encoder.layer.\1"
S = "bert/encoder/layer_shared"
HS = "bert.encoder.layer.{i}"

LEXICON_FILE = "lexicon.txt"
CONFIG_FILE = "labert_config.json"

_FLAT = reshape(lambda shape: (prod(shape),), name="flatten")


def _layer_rules(src: str, dst: str, repeat: str | None) -> tuple[Rule, ...]:
    """One post-LN BERT layer's variables (``src`` a TF scope, ``dst`` its torch prefix)."""
    which = src.count("(") + 1  # the group of (query|key|value), after the layer index if any
    rules = (
        *dense(rf"{src}/attention/self/(query|key|value)", f"{dst}.attention.self.\\{which}"),
        *dense(rf"{src}/attention/output/dense", f"{dst}.attention.output.dense"),
        *layer_norm(rf"{src}/attention/output/LayerNorm", f"{dst}.attention.output.LayerNorm"),
        *dense(rf"{src}/intermediate/dense", f"{dst}.intermediate.dense"),
        *dense(rf"{src}/output/dense", f"{dst}.output.dense"),
        *layer_norm(rf"{src}/output/LayerNorm", f"{dst}.output.LayerNorm"),
    )
    return tuple(Rule(r.source, r.target, r.transform, repeat=repeat) for r in rules)


class _LatticeRules(Rules):
    """The TF1 rules, with the two layouts that need more than a rename refused or completed clearly."""

    def plan(
        self,
        shapes: Mapping[str, Shape],
        dtypes: Mapping[str, str],
        config: Mapping[str, Any] | None = None,
    ) -> Plan:
        names = list(shapes)
        if any(n.endswith(("attention/self/LayerNorm/gamma", "intermediate/LayerNorm/gamma")) for n in names):
            raise ConversionError(
                "this Lattice-BERT checkpoint was trained with --transformer_model_type=pre-ln (LayerNorm "
                "before attention and feed-forward); zhplm's Lattice-BERT implements the post-LN model of "
                "the released checkpoints only"
            )
        if any(n.startswith(f"{S}/") for n in names) and not (config or {}).get("num_hidden_layers"):
            raise ConversionError(
                "this Lattice-BERT checkpoint shares one layer across the stack (layer_shared), so it does not "
                f"tell how many layers to run: its {CONFIG_FILE} (num_hidden_layers) is needed"
            )
        return super().plan(shapes, dtypes, config)


LABERT_TF1 = _LatticeRules(
    Rule(r"bert/embeddings/word_embeddings", "bert.embeddings.word_embeddings.weight"),
    Rule(
        r"bert/embeddings/word_embeddings_projection", "bert.embeddings.word_embeddings_projection.weight", T
    ),
    Rule(r"bert/embeddings/token_type_embeddings", "bert.embeddings.token_type_embeddings.weight"),
    *layer_norm("bert/embeddings/LayerNorm", "bert.embeddings.LayerNorm"),
    Rule(r"bert/encoder/(start|end)_position_embeddings", r"bert.encoder.\1_position_embeddings.weight"),
    *dense(r"bert/encoder/(query|key)_position", r"bert.encoder.\1_position"),
    Rule(
        r"bert/encoder/relative_position_scores_([0-3])", r"bert.encoder.relative_position_scores.\1.weight"
    ),
    Rule(r"bert/encoder/relative_type_embeddings_d1", "bert.encoder.relative_type_embeddings.weight"),
    Rule(r"bert/encoder/relative_att_reset_theta_([12])", r"bert.encoder.reset_theta_\1", _FLAT),
    *_layer_rules(L, HL, None),
    *_layer_rules(S, HS, "num_hidden_layers"),
    *dense(r"bert/pooler/dense", "bert.pooler.dense"),
    *dense(r"cls/predictions/transform/dense", "cls.predictions.transform.dense"),
    *layer_norm(r"cls/predictions/transform/LayerNorm", "cls.predictions.transform.LayerNorm"),
    Rule(r"cls/predictions/output_bias", "cls.predictions.bias"),
    # stored as [classes, hidden] already: no transpose
    Rule(r"cls/seq_relationship/output_weights", "cls.seq_relationship.weight"),
    Rule(r"cls/seq_relationship/output_bias", "cls.seq_relationship.bias"),
    ignore=TRAINING_LEFTOVERS,
    name="labert-tf1",
)

# names only Lattice-BERT has
_DISTINCTIVE = (
    "bert/encoder/relative_att_reset_theta_1",
    "bert/encoder/start_position_embeddings",
    "bert/encoder/relative_type_embeddings_d1",
)

# the original's activation names → transformers' (its "gelu" is the tanh approximation)
_ACTIVATIONS = {"gelu": "gelu_new", "relu": "relu", "tanh": "tanh", "linear": "linear"}


def _size(shapes: Mapping[str, Shape], name: str, axis: int) -> int:
    if name not in shapes:
        raise ConversionError(f"the checkpoint has no tensor for {name}: cannot size the Lattice-BERT model")
    return int(shapes[name][axis])


class LatticeBertSpec(ArchSpec):
    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        targets = set(plan_targets)
        cfg = copy_config(original)
        found = {
            "vocab_size": _size(shapes, "bert.embeddings.word_embeddings.weight", 0),
            "embedding_size": _size(shapes, "bert.embeddings.word_embeddings.weight", 1),
            "hidden_size": _size(shapes, "bert.embeddings.word_embeddings_projection.weight", 0),
            "type_vocab_size": _size(shapes, "bert.embeddings.token_type_embeddings.weight", 0),
            "max_position_embeddings": _size(shapes, "bert.encoder.start_position_embeddings.weight", 0),
            "num_attention_heads": _size(shapes, "bert.encoder.relative_type_embeddings.weight", 1),
            "num_hidden_layers": count_layers(targets),
            "intermediate_size": _size(shapes, "bert.encoder.layer.0.intermediate.dense.weight", 0),
        }
        for key, value in found.items():
            declared = (original or {}).get(key)
            if declared is not None and int(declared) != value:
                raise ConversionError(
                    f"{CONFIG_FILE} says {key}={declared} but the checkpoint has {value}: wrong config file?"
                )
            cfg[key] = value
        cfg["max_relative_position"] = (
            _size(shapes, "bert.encoder.relative_position_scores.0.weight", 0) - 1
        ) // 2
        if "cls.seq_relationship.weight" in shapes:
            cfg["num_next_sentence_labels"] = int(shapes["cls.seq_relationship.weight"][0])
        act = str((original or {}).get("hidden_act", "gelu"))
        if act not in _ACTIVATIONS:
            raise ConversionError(
                f"{CONFIG_FILE} has hidden_act={act!r}, which the original code does not know"
            )
        cfg["hidden_act"] = _ACTIVATIONS[act]
        cfg["layer_norm_eps"] = 1e-12  # tf.contrib.layers.layer_norm
        cfg["model_type"] = self.model_type
        return cfg

    def write_tokenizer(self, vocab: Path | None, out: Path, config: Mapping[str, Any]) -> list[str]:
        if vocab is None:
            return ["no vocab.txt found: the Lattice-BERT tokenizer was not written"]
        from zhplm.arch.tokenization.lattice import LatticeTokenizer, write_lattice_tokenizer

        lexicon = file_beside(vocab, LEXICON_FILE)
        if lexicon is not None:
            tok = LatticeTokenizer(vocab_file=str(vocab), lexicon_file=str(lexicon))
            rows = int(config["vocab_size"])
            if tok.vocab_size > rows:
                shared = sum(1 for name in tok.cluster_ids if name in tok.vocab)
                why = (
                    f"; {shared} cluster names are also character tokens, which the original's len(vocab) "
                    "counts once, so its labert_config.json may be short by that many rows and the last "
                    "word ids point past the table"
                    if tok.vocab_size - rows == shared
                    else ": this vocabulary/lexicon belongs to another model"
                )
                raise ConversionError(
                    f"{vocab.name} + {lexicon} give ids up to {tok.vocab_size - 1} ({tok.char_vocab_size} "
                    f"characters + {len(tok.cluster_ids)} word clusters) but the model's embedding has only "
                    f"{rows} rows{why}"
                )
        notes = write_lattice_tokenizer(
            vocab, lexicon, out, max_length=int(config.get("max_position_embeddings", 512))
        )
        if lexicon is not None and tok.vocab_size < int(config["vocab_size"]):
            notes.append(
                f"the tokenizer uses {tok.vocab_size} of the embedding's {config['vocab_size']} rows: "
                "the rest are never produced"
            )
        return notes


SPEC = LatticeBertSpec(
    name="lattice_bert",
    description="Lattice-BERT: characters + lexicon words with lattice position attention (zhplm's own model)",
    model_type="lattice_bert",
    full_class="LatticeBertForPreTraining",
    schemes={"labert-tf1": LABERT_TF1},
    heads=HEADS,
    config_names=(CONFIG_FILE, "config.json"),
    vocab_names=("vocab.txt",),
    classes=(
        (("mlm", "nsp"), "LatticeBertForPreTraining"),
        (("mlm",), "LatticeBertForMaskedLM"),
        ((), "LatticeBertModel"),
    ),
    evidence=Evidence(distinctive=_DISTINCTIVE, without_distinctive=0.0),
    tokenizers=("zhplm.arch.tokenization.lattice",),
    own_model=own_model("lattice_bert", "LatticeBert", heads=("MaskedLM", "PreTraining")),
)
