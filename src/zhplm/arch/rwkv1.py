"""RWKV-1 (BlinkDL AI-Writer, ``wangwen-2022-02-15.pth``) → zhplm's own ``Rwkv1ForCausalLM``.

The release is a whole model pickled with ``torch.save(model)`` by RWKV-LM's ``RWKV-v1`` trainer: a graph of
``src.model.GPT``, ``Block``, ``RWKV_TimeMix``, ``RWKV_ChannelMix`` (and a ``GPTConfig``) objects holding torch
layers. The torch reader reads those objects as inert records (:data:`PICKLED`; nothing of the authors' code
is imported or run) and names the tensors as ``state_dict()`` would::

    tok_emb.weight, ln_f.*, head.weight, head_q.*, head_k.*, time_out, copy_mask (a constant tril buffer)
    blocks.N.{ln1,ln2}.*
    blocks.N.attn.{key,value,receptance,output}.*, blocks.N.attn.{time_w,time_alpha,time_beta,time_gamma}
    blocks.N.mlp.{key,value,weight,receptance}.*

The authors' ``run.py`` folds ``time_w``/``time_alpha``/``time_beta`` into the Toeplitz ``time_ww`` before
loading; the three small tensors are kept here and the matrix is built at run time. Releases before
2022-02-15 have no copy head (``head_q``/``head_k``) and a ``mask`` buffer per layer. Every size is in the
tensors (``time_w`` is ``[heads, ctx_len]``). The character table ``<model>.json`` (UTF-16) lies beside it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from zhplm.arch._rules import Rule, Rules, Shape
from zhplm.arch._spec import ArchSpec, Evidence, Head, count_layers, own_model, shape_of
from zhplm.errors import ConversionError

PICKLED = tuple(
    f"src.model.{name}" for name in ("GPT", "GPTConfig", "Block", "RWKV_TimeMix", "RWKV_ChannelMix")
)
_L = r"blocks\.(\d+)\."

AI_WRITER = Rules(
    Rule(r"tok_emb\.weight", "rwkv.tok_emb.weight"),
    Rule(rf"{_L}(ln1|ln2)\.(weight|bias)", r"rwkv.blocks.\1.\2.\3"),
    Rule(rf"{_L}attn\.(key|value|receptance|output)\.(weight|bias)", r"rwkv.blocks.\1.attn.\2.\3"),
    Rule(rf"{_L}attn\.(time_w|time_alpha|time_beta|time_gamma)", r"rwkv.blocks.\1.attn.\2"),
    Rule(rf"{_L}mlp\.(key|value|weight|receptance)\.(weight|bias)", r"rwkv.blocks.\1.mlp.\2.\3"),
    Rule(r"ln_f\.(weight|bias)", r"rwkv.ln_f.\1"),
    Rule(r"head\.weight", "head.weight"),
    Rule(r"(head_q|head_k)\.(weight|bias)", r"\1.\2"),
    Rule(r"time_out", "time_out"),
    ignore={
        r"copy_mask": "the copy head's causal mask (a constant lower triangle, rebuilt at run time)",
        rf"{_L}attn\.mask": "causal mask of releases before 2022-02-15 (the Toeplitz matrix is causal already)",
    },
    name="ai-writer",
)

HEADS = (
    Head("lm", (r"head\.weight", r"time_out"), "next-character head (with time_out)"),
    Head(
        "copy", (r"head_[qk]\..*",), "copy head: attention over the window's characters, added to the logits"
    ),
)


class Rwkv1Spec(ArchSpec):
    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        vocab, hidden = shape_of(shapes, "rwkv.tok_emb.weight")
        heads, window = shape_of(shapes, "rwkv.blocks.0.attn.time_w")
        width = shape_of(shapes, "rwkv.blocks.0.attn.key.weight")[0]
        inner = shape_of(shapes, "rwkv.blocks.0.mlp.key.weight")[0]
        if width % heads:
            raise ConversionError(f"attention width {width} is not a multiple of the {heads} heads of time_w")
        copy = shapes.get("head_q.weight")
        return {
            "model_type": self.model_type,
            "vocab_size": vocab,
            "context_length": window,
            "hidden_size": hidden,
            "num_hidden_layers": count_layers(shapes, r"rwkv\.blocks\.(\d+)\..*"),
            "num_attention_heads": heads,
            "attention_hidden_size": width,
            "intermediate_size": inner,
            "copy_size": copy[0] if copy else None,
        }

    def find_vocab(self, folder: Path | None) -> Path | None:
        if folder is None:
            return None
        from zhplm.arch.tokenization.rwkv1 import is_char_table

        return next((p for p in sorted(folder.rglob("*.json")) if is_char_table(p)), None)

    def write_tokenizer(self, vocab: Path | None, out: Path, config: Mapping[str, Any]) -> list[str]:
        if vocab is None:
            return [
                "no character table found: the tokenizer was not written (put the release's UTF-16 "
                "<model>.json, e.g. wangwen-2022-02-15.json, beside the .pth)"
            ]
        from zhplm.arch.tokenization.rwkv1 import read_table, write_rwkv1_tokenizer

        size = len(read_table(vocab))
        if size != config.get("vocab_size"):
            raise ConversionError(
                f"{vocab.name} has {size} characters but the model has {config.get('vocab_size')}: it is the "
                "table of another release"
            )
        return write_rwkv1_tokenizer(vocab, out)


SPEC = Rwkv1Spec(
    name="rwkv1",
    description="RWKV-1 (AI-Writer): Toeplitz time mixing, channel mixing, copy head (zhplm's own model)",
    model_type="rwkv1",
    full_class="Rwkv1ForCausalLM",
    schemes={"ai-writer": AI_WRITER},
    heads=HEADS,
    config_names=(),
    vocab_names=(),
    classes=((("lm",), "Rwkv1ForCausalLM"), ((), "Rwkv1Model")),
    evidence=Evidence(distinctive=(rf"{_L}attn\.time_w",), without_distinctive=0.0),
    own_model=own_model("rwkv1", "Rwkv1", heads=("CausalLM",)),
    tokenizers=("zhplm.arch.tokenization.rwkv1",),
    pickled_classes=PICKLED,
)
