"""roformer-gpt (ZhuiyiTechnology, ``chinese_roformer-gpt-char_L-12_H-768_A-12``) → ``RoFormerForCausalLM``.

The weights are RoFormer v1's (bert4keras TF1, Google BERT names, no position table, ``cls/predictions/*``);
the model is the same network under a causal (``lm``) mask with the tied MLM head as next-token head: the
authors' ``test_roformer_gpt.py`` loads it with ``build_transformer_model(..., model="roformer",
application="lm")``. transformers' ``RoFormerForCausalLM`` with ``is_decoder=True`` is exactly that (rotary
positions offset by the KV cache), so a converted folder generates with plain transformers.

Names alone cannot tell it from a RoFormer MLM release: the catalog row names this architecture (or
``--arch roformer_gpt``); undirected detection prefers ``roformer``. LayerNorm epsilon: 1e-12, what
bert4keras used for RoFormer until 0.11 (and 0.11.5 still passes explicitly). Prompt format of the authors'
script: ``[CLS]`` + the text (``tokenizer.encode(text)[0][:-1]``), continued until ``。``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from zhplm.arch._rules import Shape
from zhplm.arch._spec import Evidence, Head
from zhplm.arch.roformer import BERT4KERAS_TF1, PYTORCH, RoFormerSpec

HEADS = (Head("lm", (r"cls\.predictions\..*",), "next-token head (MLM transform + tied decoder + bias)"),)


class RoFormerGPTSpec(RoFormerSpec):
    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        cfg = super().build_config(original, shapes, plan_targets)
        cfg["layer_norm_eps"] = float((original or {}).get("layer_norm_eps", 1e-12))
        cfg["is_decoder"] = True  # the causal mask, and a KV cache in generate
        return cfg


SPEC = RoFormerGPTSpec(
    name="roformer_gpt",
    description="roformer-gpt: RoFormer v1 weights as a causal LM (bert4keras application='lm')",
    model_type="roformer",
    full_class="RoFormerForCausalLM",
    schemes={"bert4keras-tf1": BERT4KERAS_TF1, "pytorch": PYTORCH},
    heads=HEADS,
    config_names=("bert_config.json", "config.json"),
    vocab_names=("vocab.txt",),
    classes=((("lm",), "RoFormerForCausalLM"),),
    # the same names as a RoFormer MLM release: only a catalog row or --arch chooses this reading
    evidence=Evidence(config=(("is_decoder", True),), without_config=0.98),
    tokenizers=("zhplm.arch.tokenization.word",),
)
