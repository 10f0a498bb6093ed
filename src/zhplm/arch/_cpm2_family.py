"""The CPM-2 code lineage (TsinghuaAI CPM-2, thu-coai EVA): Megatron/DeepSpeed model-parallel shards of a
T5-style encoder-decoder → transformers ``T5ForConditionalGeneration``. One naming scheme and one config
translation for both architectures (:mod:`zhplm.arch.eva`, :mod:`zhplm.arch.cpm2`).

The original model (``mpu/transformer_enc_dec.py``, EVA's ``mpu/transformer.py``) is T5 v1.1 in all but names:

* RMS LayerNorm without bias (eps 1e-6) before each sub-layer, a final one per stack;
* the FFN is **gated** ``gelu(wi_0 x) * wi_1 x`` with OpenAI's tanh GELU (``gelu_impl``) — not the ReLU the
  configs' ``feed_forward_proj: "relu"`` says (the key is never read) — i.e. transformers' ``gated-gelu``;
* relative position buckets (32, max distance 128) in layer 0 of each stack, shared by the others;
* no attention scaling (EVA 1.0, CPM-2); EVA 2.0's ``attn_scale: true`` divides scores by √d_kv, folded
  here into the query weights (the bias is added after the scaling, so the fold is exact);
* an untied ``lm_head`` (a second vocab-parallel embedding) and no decoder-output scaling.

Names below the DeepSpeed/DDP/FP16 ``module.`` wrappers: ``word_embeds``, ``lm_head``, EVA's ``role_embeds``,
``{encoder,decoder}.blocks.N.self_attn.{layer_norm, self_attn.{project, dense, relative_attention_bias}}``,
``decoder.blocks.N.cross_attn.{layer_norm, cross_attn.{project_q, project_kv, dense}}``,
``….ff.{layer_norm, dense_relu_dense.{wi_0, wi_1, wo}}``, ``{encoder,decoder}.final_layernorm``. The fused
``project`` ([Q; K; V] after :mod:`zhplm.formats.megatron` joined the ranks) and ``project_kv`` ([K; V]) are
cut into T5's ``q``/``k``/``v``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from zhplm.arch._rules import Plan, Rule, Rules, Shape, Step, Transform
from zhplm.arch._spec import TRAINING_LEFTOVERS, ArchSpec, Evidence, Head, count_layers, shape_of
from zhplm.errors import ConversionError, MappingError

_P = r"(?:module\.)*"  # DeepSpeed engine / DDP / FP16_Module wrappers
_SELF = rf"{_P}(encoder|decoder)\.blocks\.(\d+)\.self_attn\."
_CROSS = rf"{_P}decoder\.blocks\.(\d+)\.cross_attn\."
_FF = rf"{_P}(encoder|decoder)\.blocks\.(\d+)\.ff\."
ROLE_EMBEDS = rf"{_P}role_embeds\.weight"
ROLE_WHY = (
    "EVA's optional role embeddings (2 speaker roles): the original interactive and static scripts never pass "
    "role ids, so the model runs without them; kept out of the converted model"
)


def _part(index: int, parts: int, scale: float | None = None) -> Transform:
    """Rows ``index``/``parts`` of a fused projection (optionally × ``scale``: EVA 2.0's 1/√d_kv query scaling)."""

    def fn(xs: Any) -> Any:
        rows = xs[0].shape[0] // parts
        out = xs[0][index * rows : (index + 1) * rows]
        return out if scale is None else out * np.asarray(scale, dtype=out.dtype)

    def shape(ss: Any) -> Shape:
        if ss[0][0] % parts:
            raise ValueError(f"{ss[0][0]} rows are not {parts} equal blocks")
        return (ss[0][0] // parts, *ss[0][1:])

    return Transform(f"rows {index + 1}/{parts}" + (" × d_kv^-0.5" if scale else ""), fn, shape)


class Cpm2LineageRules(Rules):
    """The renames, plus the fused projections cut into T5's q/k/v (one source, several targets)."""

    FUSED: tuple[tuple[str, tuple[str, ...]], ...] = (
        (rf"{_SELF}self_attn\.project\.weight", tuple(rf"\1.block.\2.layer.0.SelfAttention.{x}.weight" for x in "qkv")),
        (rf"{_CROSS}cross_attn\.project_kv\.weight", tuple(rf"decoder.block.\1.layer.1.EncDecAttention.{x}.weight" for x in "kv")),
    )  # fmt: skip

    def __init__(self, *rules: Rule, ignore: Mapping[str, str] | None = None, name: str = "") -> None:
        # the fused sources are rules too (for detection scores and ``--rules`` tables); plan() cuts them
        fused = tuple(Rule(src, " + ".join(targets), _part(0, len(targets))) for src, targets in self.FUSED)
        super().__init__(*fused, *rules, ignore=ignore, name=name)

    def plan(
        self, shapes: Mapping[str, Shape], dtypes: Mapping[str, str], config: Mapping[str, Any] | None = None
    ) -> Plan:
        # EVA 2.0 (attn_scale) divides the scores by sqrt(d_kv): folded into the queries
        scale = (
            1.0 / math.sqrt(int(config.get("d_kv") or 64)) if config and config.get("attn_scale") else None
        )
        fused: list[Step] = []
        rest: dict[str, Shape] = {}
        for name, shape in shapes.items():
            for pattern, targets in self.FUSED:
                m = re.fullmatch(pattern, name)
                if m is None:
                    continue
                for i, target in enumerate(targets):
                    tf = _part(i, len(targets), scale if target.endswith(".q.weight") else None)
                    try:
                        out_shape = tf.shape([tuple(shape)])
                    except ValueError as exc:
                        raise MappingError(f"{name}: {exc}") from exc
                    fused.append(Step(m.expand(target), (name,), tf, out_shape, dtypes[name]))
                break
            else:
                rest[name] = shape
        rules = self.rules
        if scale is not None:  # the cross-attention query is a projection of its own: scale it whole
            q = _part(0, 1, scale)
            rules = tuple(Rule(r.source, r.target, q) if "project_q" in r.source else r for r in rules)
        plan = Rules(*rules, ignore=self.ignore, name=self.name).plan(rest, dtypes, config)
        plan.steps = fused + plan.steps
        return plan


MEGATRON_T5 = Cpm2LineageRules(
    Rule(rf"{_P}word_embeds\.weight", "shared.weight"),
    Rule(rf"{_P}lm_head\.weight", "lm_head.weight"),
    Rule(rf"{_SELF}layer_norm\.weight", r"\1.block.\2.layer.0.layer_norm.weight"),
    Rule(rf"{_SELF}self_attn\.dense\.weight", r"\1.block.\2.layer.0.SelfAttention.o.weight"),
    Rule(
        rf"{_SELF}self_attn\.relative_attention_bias\.weight",
        r"\1.block.\2.layer.0.SelfAttention.relative_attention_bias.weight",
    ),
    Rule(rf"{_CROSS}layer_norm\.weight", r"decoder.block.\1.layer.1.layer_norm.weight"),
    Rule(rf"{_CROSS}cross_attn\.project_q\.weight", r"decoder.block.\1.layer.1.EncDecAttention.q.weight"),
    Rule(rf"{_CROSS}cross_attn\.dense\.weight", r"decoder.block.\1.layer.1.EncDecAttention.o.weight"),
    Rule(
        rf"{_P}encoder\.blocks\.(\d+)\.ff\.layer_norm\.weight", r"encoder.block.\1.layer.1.layer_norm.weight"
    ),
    Rule(
        rf"{_P}decoder\.blocks\.(\d+)\.ff\.layer_norm\.weight", r"decoder.block.\1.layer.2.layer_norm.weight"
    ),
    Rule(
        rf"{_P}encoder\.blocks\.(\d+)\.ff\.dense_relu_dense\.(wi_0|wi_1|wo)\.weight",
        r"encoder.block.\1.layer.1.DenseReluDense.\2.weight",
    ),
    Rule(
        rf"{_P}decoder\.blocks\.(\d+)\.ff\.dense_relu_dense\.(wi_0|wi_1|wo)\.weight",
        r"decoder.block.\1.layer.2.DenseReluDense.\2.weight",
    ),
    Rule(rf"{_P}(encoder|decoder)\.final_layernorm\.weight", r"\1.final_layer_norm.weight"),
    ignore={
        **TRAINING_LEFTOVERS,
        ROLE_EMBEDS: ROLE_WHY,
        # the stacks hold the model's own embedding modules: state_dict() saves them again under each stack
        rf"{_P}(?:encoder|decoder)\.(?:word_embeds|role_embeds)\.weight": "the shared embedding, saved again per stack",
    },
    name="megatron",
)

EVIDENCE_NAMES = (rf"{_SELF}self_attn\.project\.weight", rf"{_CROSS}cross_attn\.project_kv\.weight")

# the original config's keys that size the model (eva1.0_model_config.json, cpm2_config.json)
_SIZES = ("d_model", "d_ff", "d_kv", "num_heads", "num_layers", "num_decoder_layers")
BUCKETS, MAX_DISTANCE = 32, 128  # ParallelAttention._relative_position_bucket's defaults


def _vocab_ids(vocab: Path) -> dict[str, int]:
    from zhplm.arch.tokenization.eva import load_vocab

    return load_vocab(vocab)


class Cpm2LineageSpec(ArchSpec):
    """Sizes from the tensors (the head count from layer 0's relative-bias table, which holds one column per
    head), checked against the release's model config json when it lies beside the shards (it also gives the
    LayerNorm eps and EVA 2.0's ``attn_scale``); the special ids from the vocab.txt beside them."""

    decoder_start: str = "<s_0>"
    end: str = "<sep>"
    tokenizer_class: str = "EvaTokenizer"

    def read_original_config(self, folder: Path | None) -> dict[str, Any] | None:
        cfg = super().read_original_config(folder)
        vocab = self.find_vocab(folder)
        if vocab is not None:
            ids = _vocab_ids(vocab)
            cfg = {
                **(cfg or {}),
                **{f"zhplm.{k}": ids[k] for k in (self.decoder_start, self.end, "<pad>") if k in ids},
            }
        return cfg

    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        original = original or {}
        vocab, d_model = shape_of(shapes, "shared.weight")
        d_ff = shape_of(shapes, "encoder.block.0.layer.1.DenseReluDense.wi_0.weight")[0]
        heads_total = shape_of(shapes, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight")
        found = {
            "d_model": d_model,
            "d_ff": d_ff,
            "num_heads": heads_total[1],
            "num_layers": count_layers(shapes, r"encoder\.block\.(\d+)\..*"),
            "num_decoder_layers": count_layers(shapes, r"decoder\.block\.(\d+)\..*"),
        }
        wrong = [
            f"{k}={original[k]} but the weights have {v}"
            for k, v in found.items()
            if k in original and int(original[k]) != v
        ]
        if wrong:
            raise ConversionError(
                f"the {self.name} model config does not describe these weights: {', '.join(wrong)}"
            )
        attn = shape_of(shapes, "encoder.block.0.layer.0.SelfAttention.q.weight")[0]
        d_kv = int(original.get("d_kv") or attn // found["num_heads"])
        if d_kv * found["num_heads"] != attn:
            raise ConversionError(f"d_kv {d_kv} × {found['num_heads']} heads ≠ the attention width {attn}")
        if "lm_head.weight" not in shapes:
            raise ConversionError(
                f"the checkpoint has no lm_head.weight: the {self.name} head is untied and cannot be recovered "
                "from the embedding; convert the complete release"
            )
        start, end = original.get(f"zhplm.{self.decoder_start}"), original.get(f"zhplm.{self.end}")
        if start is None or end is None:
            raise ConversionError(
                f"no vocab.txt with {self.decoder_start} and {self.end} beside the shards: decoding starts at "
                f"{self.decoder_start} and ends at {self.end}; put the release's vocab.txt next to them"
            )
        return {
            "model_type": self.model_type,
            "vocab_size": vocab,
            **found,
            "d_kv": d_kv,
            "relative_attention_num_buckets": BUCKETS,
            "relative_attention_max_distance": MAX_DISTANCE,
            "dropout_rate": 0.0,
            "layer_norm_epsilon": float(original.get("layer_norm_epsilon", 1e-6)),
            "feed_forward_proj": "gated-gelu",  # gelu_new: the original's tanh gelu_impl
            "tie_word_embeddings": False,  # T5Config reads it as scale_decoder_outputs=False
            "pad_token_id": int(original.get("zhplm.<pad>", 0)),
            "decoder_start_token_id": int(start),
            "eos_token_id": int(end),
        }

    def config_notes(self, config: Mapping[str, Any]) -> list[str]:
        return [
            "gated tanh-GELU FFN (wi_0/wi_1), as the original code computes (its config's 'relu' is never read)"
        ]

    def write_tokenizer(self, vocab: Path | None, out: Path, config: Mapping[str, Any]) -> list[str]:
        if vocab is None:
            return ["no vocab.txt found beside the shards: the tokenizer was not written"]
        from zhplm.arch.tokenization.eva import cpm2_class_for, write_tokenizer

        cls = cpm2_class_for(vocab) if self.tokenizer_class == "Cpm2Tokenizer" else self.tokenizer_class
        return write_tokenizer(vocab, out, cls)


def lineage_spec(cls: type[Cpm2LineageSpec], name: str, description: str, **kw: Any) -> Cpm2LineageSpec:
    """A spec of this lineage: same scheme, target, heads and evidence; ``kw`` adds the config file names."""
    return cls(
        name=name,
        description=description,
        model_type="t5",
        full_class="T5ForConditionalGeneration",
        schemes={"megatron": MEGATRON_T5},
        heads=(Head("lm", (r"lm_head\.weight",), "untied LM head (lm_head)"),),
        vocab_names=("vocab.txt",),
        classes=(((), "T5ForConditionalGeneration"),),
        evidence=kw.pop("evidence", Evidence(distinctive=EVIDENCE_NAMES, without_distinctive=0.0)),
        tokenizers=("zhplm.arch.tokenization.eva",),
        **kw,
    )
