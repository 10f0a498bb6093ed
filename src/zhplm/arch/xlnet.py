"""XLNet (zihangdai/xlnet TF1 names; HFL Chinese-XLNet) → transformers ``XLNetLMHeadModel`` / ``XLNetModel``.

The original stores the relative-attention biases and segment embeddings of all layers in single
tensors (``model/transformer/r_w_bias`` is ``[n_layer, n_head, d_head]`` when ``untie_r``), which
transformers keeps per layer: those are split by :class:`XLNetRules` (a per-layer slice each). The
attention projections keep their ``[d_model, n_head, d_head]`` layout; only the feed-forward kernels
are transposed. HFL's Chinese configs use ``ff_activation: relu`` and ``untie_r: true``.

Tokenizer: the SentencePiece ``spiece.model`` becomes a fast ``tokenizer.json`` (Unigram) through
transformers' own converter (needs ``sentencepiece`` and ``protobuf`` at conversion time only).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from zhplm.arch._rules import TRANSPOSE, Plan, Rule, Rules, Shape, Step, Transform
from zhplm.arch._spec import TRAINING_LEFTOVERS, ArchSpec, Evidence, Head, check_config_sizes, layer_norm
from zhplm.errors import ConversionError, MappingError, MissingDependencyError

T = "model/transformer"
L = rf"{T}/layer_(\d+)"
HL = r"transformer.layer.\1"

# Tensors holding every layer at once (when untie_r) or one value shared by all layers.
_STACKED = {
    f"{T}/r_w_bias": "r_w_bias",
    f"{T}/r_r_bias": "r_r_bias",
    f"{T}/r_s_bias": "r_s_bias",
    f"{T}/seg_embed": "seg_embed",
}
_UNSTACKED_RANK = {"r_w_bias": 2, "r_r_bias": 2, "r_s_bias": 2, "seg_embed": 3}


def _layer(i: int) -> Transform:
    return Transform(f"[{i}]", lambda xs: xs[0][i], lambda ss: tuple(ss[0][1:]))


def _shared(name: str) -> Transform:
    return Transform(f"shared {name}", lambda xs: xs[0], lambda ss: tuple(ss[0]))


class XLNetRules(Rules):
    """Plain rules plus the per-layer split of the stacked bias / segment tensors."""

    def plan(
        self,
        shapes: Mapping[str, Shape],
        dtypes: Mapping[str, str],
        config: Mapping[str, Any] | None = None,
    ) -> Plan:
        stacked = {k: tuple(v) for k, v in shapes.items() if k in _STACKED}
        plan = super().plan({k: v for k, v in shapes.items() if k not in stacked}, dtypes, config)
        layers = _count_layers(shapes)
        for name, shape in sorted(stacked.items()):
            leaf = _STACKED[name]
            if len(shape) == _UNSTACKED_RANK[leaf] + 1:
                if shape[0] != layers:
                    raise MappingError(f"{name} holds {shape[0]} layers, the checkpoint has {layers}")
                for i in range(layers):
                    plan.steps.append(
                        Step(
                            f"transformer.layer.{i}.rel_attn.{leaf}",
                            (name,),
                            _layer(i),
                            shape[1:],
                            dtypes[name],
                        )
                    )
            elif len(shape) == _UNSTACKED_RANK[leaf]:  # untie_r = false: one value for every layer
                for i in range(layers):
                    plan.steps.append(
                        Step(
                            f"transformer.layer.{i}.rel_attn.{leaf}",
                            (name,),
                            _shared(leaf),
                            shape,
                            dtypes[name],
                        )
                    )
            else:
                raise MappingError(
                    f"{name} has shape {shape}, expected rank {_UNSTACKED_RANK[leaf]} (+1 if stacked)"
                )
        return plan


def _count_layers(names: Iterable[str]) -> int:
    rx = re.compile(rf"{L}/.*")
    found = {int(m.group(1)) for n in names if (m := rx.fullmatch(n))}
    return max(found) + 1 if found else 0


TF1 = XLNetRules(
    Rule(rf"{T}/word_embedding/lookup_table", "transformer.word_embedding.weight"),
    Rule(rf"{T}/mask_emb/mask_emb", "transformer.mask_emb"),
    Rule(rf"{L}/rel_attn/(q|k|v|o|r)/kernel", rf"{HL}.rel_attn.\2"),
    *layer_norm(rf"{L}/rel_attn/LayerNorm", rf"{HL}.rel_attn.layer_norm"),
    Rule(rf"{L}/ff/(layer_[12])/kernel", rf"{HL}.ff.\2.weight", TRANSPOSE),
    Rule(rf"{L}/ff/(layer_[12])/bias", rf"{HL}.ff.\2.bias"),
    *layer_norm(rf"{L}/ff/LayerNorm", rf"{HL}.ff.layer_norm"),
    Rule(r"model/lm_loss/bias", "lm_loss.bias"),
    # never reached by planning (XLNetRules.plan splits these first); listed so detection counts them
    Rule(rf"{T}/(r_[wrs]_bias|seg_embed)", r"transformer.layer.*.rel_attn.\1"),
    ignore=TRAINING_LEFTOVERS,
    name="xlnet-tf1",
)

HEADS = (Head("lm", (r"lm_loss\..*",), "language-model head (tied to the word embedding, own bias)"),)


class XLNetSpec(ArchSpec):
    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        targets = set(plan_targets)
        orig = dict(original or {})
        word = shapes.get("transformer.word_embedding.weight")
        q = shapes.get("transformer.layer.0.rel_attn.q")
        ff = shapes.get("transformer.layer.0.ff.layer_1.weight")
        if word is None or q is None or ff is None:
            raise ConversionError(
                "the checkpoint lacks the XLNet embedding or first layer: cannot size the model"
            )
        layers = len({t.split(".")[2] for t in targets if t.startswith("transformer.layer.")})
        cfg: dict[str, Any] = {
            "vocab_size": word[0],
            "d_model": word[1],
            "n_layer": layers,
            "n_head": q[1],
            "d_inner": ff[0],
            "ff_activation": orig.get("ff_activation", "gelu"),
            "untie_r": orig.get("untie_r", True),
            "attn_type": "bi",
            "layer_norm_eps": orig.get("layer_norm_eps", 1e-12),  # tf.contrib.layers.layer_norm
            "model_type": self.model_type,
        }
        if orig:
            declared = {
                "n_token": cfg["vocab_size"],
                "d_model": cfg["d_model"],
                "n_layer": layers,
                "n_head": q[1],
                "d_head": q[2],
            }
            check_config_sizes(orig, declared, source="xlnet_config.json")
        if q[1] * q[2] != word[1]:
            raise ConversionError(
                f"n_head × d_head = {q[1] * q[2]} ≠ d_model {word[1]}: transformers needs equality"
            )
        return cfg

    def write_tokenizer(self, vocab: Path | None, out: Path, config: Mapping[str, Any]) -> list[str]:
        if vocab is None:
            return ["no spiece.model found: the tokenizer was not written"]
        try:
            from transformers import XLNetTokenizer
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise MissingDependencyError("transformers", "torch", "write the tokenizer") from exc
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(vocab, out / "spiece.model")
        try:
            tok = XLNetTokenizer.from_pretrained(str(out))
        except (ImportError, ValueError) as exc:
            raise MissingDependencyError(
                "sentencepiece and protobuf", "sentencepiece", "convert spiece.model"
            ) from exc
        tok.save_pretrained(str(out))
        notes = []
        if len(tok) > int(config.get("vocab_size", len(tok))):
            notes.append(f"tokenizer has {len(tok)} tokens, the model {config['vocab_size']}")
        return notes


SPEC = XLNetSpec(
    name="xlnet",
    description="XLNet (zihangdai/xlnet TF1 checkpoints; HFL Chinese-XLNet)",
    model_type="xlnet",
    full_class="XLNetLMHeadModel",
    schemes={"xlnet-tf1": TF1},
    heads=HEADS,
    config_names=("xlnet_config.json", "config.json"),
    vocab_names=("spiece.model", "*.model"),
    classes=((("lm",), "XLNetLMHeadModel"), ((), "XLNetModel")),
    evidence=Evidence(distinctive=(rf"{T}/r_w_bias",)),
)
