"""Chinese-Transformer-XL (THUDM, 2.9B) Megatron shards → zhplm's own ``TransfoXLMegatronForCausalLM``.

The release is ``mp_rank_00_model_states.pt`` (DeepSpeed; ``module`` holds the state dict of the authors'
``model/gpt2_modeling.GPT2Model(relative_encoding=True)``); :mod:`zhplm.formats.megatron` joins
model-parallel ranks (the fused ``query_key_value`` rank by rank as ``[q; k; v]``, ``relative`` and the
per-head ``r_w_bias``/``r_r_bias`` along dim 0). Names: ``word_embeddings.weight``,
``transformer.{r_w_bias,r_r_bias}``, ``transformer.layers.N.*``, ``transformer.final_layernorm.*`` — the model's
own names below ``transformer.`` (:mod:`zhplm.arch.modeling.transfo_xl_megatron` describes the model). The
sinusoid buffer ``transformer.position_embeddings.inv_freq`` is recomputed, not read.

The head count is the first dimension of ``r_w_bias``; ``mem_length`` comes from a ``config.json`` beside
the weights, else it is what ``scripts/generate_text.sh`` runs (512 + 256 - 1).
The tokenizer is the plain sentencepiece ``cog-pretrain.model`` (50000 pieces) + ``<|endoftext|>`` (50000).
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
    r"((?:input_layernorm|post_attention_layernorm|attention\.(?:query_key_value|relative|dense)"
    r"|mlp\.(?:dense_h_to_4h|dense_4h_to_h))\.(?:weight|bias))"
)

MEGATRON = Rules(
    Rule(rf"{_P}word_embeddings\.weight", "txl.word_embeddings.weight"),
    Rule(rf"{_P}transformer\.(r_w_bias|r_r_bias)", r"txl.\1"),
    Rule(rf"{_P}transformer\.layers\.(\d+)\.{_LEAF}", r"txl.layers.\1.\2"),
    Rule(rf"{_P}transformer\.final_layernorm\.(weight|bias)", r"txl.final_layernorm.\1"),
    ignore={rf"{_P}transformer\.position_embeddings\.inv_freq": "recomputed sinusoid frequencies"},
    name="megatron",
)

RELEASE_MEM_LENGTH = 512 + 256 - 1  # generate_samples.py: seq_length + mem_length - 1
EOS_ID = 50000  # <|endoftext|>, right after cog-pretrain's 50000 pieces


class TransfoXLMegatronSpec(ArchSpec):
    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        original = original or {}
        vocab, hidden = shape_of(shapes, "txl.word_embeddings.weight")
        heads_in_bias = shape_of(shapes, "txl.r_w_bias")[0]
        found = {
            "num_layers": count_layers(shapes, r"txl\.layers\.(\d+)\..*"),
            "hidden_size": hidden,
            "vocab_size": vocab,
            "num_attention_heads": heads_in_bias,
        }
        said = {k: original.get(k) for k in found}
        check_config_sizes({k: v for k, v in said.items() if v is not None}, found)
        if hidden % heads_in_bias:
            raise ConversionError(f"hidden size {hidden} is not divisible by {heads_in_bias} attention heads")
        mem = int(original.get("mem_length", RELEASE_MEM_LENGTH))
        if mem < 0:
            raise ConversionError(f"mem_length {mem} is negative: give a memory length of 0 or more")
        return {
            "model_type": self.model_type,
            **found,
            "mem_length": mem,
            "layer_norm_eps": 1e-5,
            "eos_token_id": EOS_ID if vocab > EOS_ID else None,
            "pad_token_id": EOS_ID if vocab > EOS_ID else None,
            "tie_word_embeddings": True,
        }

    def write_tokenizer(self, vocab: Path | None, out: Path, config: Mapping[str, Any]) -> list[str]:
        if vocab is None:
            return [
                "no cog-pretrain.model found: the tokenizer was not written (copy the authors' "
                "chinese_sentencepiece/cog-pretrain.model beside the weights)"
            ]
        from zhplm.arch.tokenization.cog import write_cog_tokenizer

        return write_cog_tokenizer(vocab, out)


SPEC = TransfoXLMegatronSpec(
    name="transfo_xl_megatron",
    description="Megatron GPT-2 with Transformer-XL relative attention and memory: Chinese-Transformer-XL",
    model_type="transfo_xl_megatron",
    full_class="TransfoXLMegatronForCausalLM",
    schemes={"megatron": MEGATRON},
    heads=(Head("lm", (r"lm_head\..*",), "language-model head (tied to the token embedding)"),),
    config_names=("config.json",),
    vocab_names=("cog-pretrain.model",),
    classes=((("lm",), "TransfoXLMegatronForCausalLM"), ((), "TransfoXLMegatronModel")),
    evidence=Evidence(
        distinctive=(r".*transformer\.r_w_bias", r".*attention\.relative\.weight"), without_distinctive=0.0
    ),
    own_model=own_model("transfo_xl_megatron", "TransfoXLMegatron", heads=("CausalLM",)),
    tokenizers=("zhplm.arch.tokenization.cog",),
)
