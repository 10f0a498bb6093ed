"""CogView (THUDM, 4B) Megatron shards → zhplm's own ``CogViewForCausalLM``.

The release is ``mp_rank_00_model_states.pt`` (DeepSpeed; ``module`` holds the state dict of the authors'
``model/gpt2_modeling.GPT2Model`` over ``mpu/sparse_transformer.py``); :mod:`zhplm.formats.megatron` joins
model-parallel ranks. Names: ``word_embeddings.weight``, ``transformer.position_embeddings.weight``,
``transformer.layers.N.*`` (four LayerNorms each: the sandwich), ``transformer.final_layernorm.*`` — the
model's own names below ``transformer.`` (:mod:`zhplm.arch.modeling.cogview` describes the model).

The head count is not in the weights: it comes from a ``config.json`` beside them, else it is the release's
40 (``scripts/text2image.sh``) when the width is 2560, else the width / 64. Images are 32×32 codes of the
authors' VQ-VAE (:mod:`zhplm.arch.modeling.cogview_vqvae` decodes them to pixels).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from zhplm.arch._rules import Rule, Rules, Shape
from zhplm.arch._spec import ArchSpec, Evidence, Head, check_config_sizes, count_layers, own_model, shape_of
from zhplm.errors import ConversionError

_P = r"(?:module\.)?(?:model\.)?"
_LEAF = (
    r"((?:input_layernorm|third_layernorm|post_attention_layernorm|fourth_layernorm"
    r"|attention\.(?:query_key_value|dense)|mlp\.(?:dense_h_to_4h|dense_4h_to_h))\.(?:weight|bias))"
)

MEGATRON = Rules(
    Rule(rf"{_P}word_embeddings\.weight", "cogview.word_embeddings.weight"),
    Rule(rf"{_P}transformer\.position_embeddings\.weight", "cogview.position_embeddings.weight"),
    Rule(rf"{_P}transformer\.layers\.(\d+)\.{_LEAF}", r"cogview.layers.\1.\2"),
    Rule(rf"{_P}transformer\.final_layernorm\.(weight|bias)", r"cogview.final_layernorm.\1"),
    name="megatron",
)

RELEASE_HEADS = {2560: 40}  # scripts/text2image.sh: --hidden-size 2560 --num-attention-heads 40


class CogViewSpec(ArchSpec):
    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        original = original or {}
        vocab, hidden = shape_of(shapes, "cogview.word_embeddings.weight")
        positions = shape_of(shapes, "cogview.position_embeddings.weight")[0]
        found = {
            "num_layers": count_layers(shapes, r"cogview\.layers\.(\d+)\..*"),
            "hidden_size": hidden,
            "vocab_size": vocab,
            "max_position_embeddings": positions,
        }
        said = {k: original.get(k) for k in found}
        check_config_sizes({k: v for k, v in said.items() if v is not None}, found)
        heads = int(original.get("num_attention_heads") or RELEASE_HEADS.get(hidden, max(hidden // 64, 1)))
        if heads <= 0 or hidden % heads:
            raise ConversionError(
                f"hidden size {hidden} is not divisible by {heads} attention heads: "
                "give num_attention_heads in a config.json beside the weights"
            )
        return {
            "model_type": self.model_type,
            **found,
            "num_attention_heads": heads,
            "layer_norm_eps": 1e-5,
            "tie_word_embeddings": True,
        }

    def write_tokenizer(self, vocab: Path | None, out: Path, config: Mapping[str, Any]) -> list[str]:
        return [
            "no tokenizer written: CogView's unified vocabulary (VQ-VAE image codes 0-8191, cog-pretrain text "
            "pieces from 8192, command tokens such as [BOI1] from 58192) has no zhplm tokenizer yet; "
            "feed token ids"
        ]


SPEC = CogViewSpec(
    name="cogview",
    description="CogView: Megatron GPT with sandwich (PB-relax) LayerNorm over text + VQ-VAE image codes",
    model_type="cogview",
    full_class="CogViewForCausalLM",
    schemes={"megatron": MEGATRON},
    heads=(Head("lm", (r"lm_head\..*",), "language-model head (tied to the token embedding)"),),
    config_names=("config.json",),
    vocab_names=(),
    classes=((("lm",), "CogViewForCausalLM"), ((), "CogViewModel")),
    evidence=Evidence(distinctive=(r".*layers\.\d+\.third_layernorm\.weight",), without_distinctive=0.0),
    own_model=own_model("cogview", "CogView", heads=("CausalLM",)),
)
