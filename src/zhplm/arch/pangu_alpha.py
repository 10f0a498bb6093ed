"""PanGu-α (PCL-Platform.Intelligence, 2.6B / 13B) → zhplm's own ``PanguAlphaForCausalLM``.

Two releases, two naming schemes (:mod:`zhplm.arch.modeling.pangu_alpha` describes the model):

* **MindSpore** (``PanGu-Alpha``): model-parallel ``.ckpt`` slices + the strategy file + the embedding tables as
  ``word_embedding.npy`` / ``position_embedding.npy`` / ``top_query_embedding.npy``;
  :mod:`zhplm.formats.mindspore_sliced` joins the slices by each parameter's tensor map. Names
  (``pangu_alpha.py``): ``backbone.blocks.N.{layernorm1,layernorm2}.{gamma,beta}``,
  ``backbone.blocks.N.attention.dense{1,2,3}`` (q, k, v: ``nn.Dense``, weight ``[out, in]`` like torch),
  ``attention.projection`` and ``output.{mapping,projection}`` (``Mapping``: weight ``[in, out]``, transposed
  here), ``backbone.layernorm``, ``backbone.top_query_layer.*``, ``backbone.*_embedding.embedding_table``.
* **PyTorch** (``PanGu-Alpha-GPU``, Megatron): ``mp_rank_XX_model_states.pt`` shards merged by
  :mod:`zhplm.formats.megatron` (q, k, v, ``dense_h_to_4h`` column-parallel; ``dense``, ``dense_4h_to_h``
  row-parallel; the word embedding vocab-parallel). Names: ``language_model.embedding.{word,position}_embeddings``,
  ``language_model.topQueryEmbedding.top_query_embeddings``, ``language_model.transformer.layers.N.*``,
  ``…transformer.topQueryLayer.*``, ``…transformer.final_layernorm`` — the model's own names below these levels.

Neither release carries a config: the sizes come from the tensors; the head count (in no tensor) from a
``config.json`` beside the weights (``num_heads`` / ``num_attention_heads``), else from the two released sizes
(hidden 2560: 32 heads; 5120: 40 heads). The tokenizer is jieba + the 40k sentencepiece ``vocab.model``.
13B (≈ 52 GB in float32, 26 GB in bf16) converts by streaming; loading it is refused where memory is short.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from zhplm.arch._rules import TRANSPOSE as T
from zhplm.arch._rules import Rule, Rules, Shape
from zhplm.arch._spec import ArchSpec, Evidence, Head, check_config_sizes, count_layers, own_model, shape_of
from zhplm.errors import ConversionError

_P = r"(?:module\.)?(?:model\.)?(?:language_model\.)?"
_LEAF = (
    r"((?:input_layernorm|post_attention_layernorm|attention\.(?:query|key|value|dense)"
    r"|mlp\.(?:dense_h_to_4h|dense_4h_to_h))\.(?:weight|bias))"
)

MEGATRON = Rules(
    Rule(rf"{_P}embedding\.word_embeddings\.weight", "pangu.word_embeddings.weight"),
    Rule(rf"{_P}embedding\.position_embeddings\.weight", "pangu.position_embeddings.weight"),
    Rule(rf"{_P}topQueryEmbedding\.top_query_embeddings\.weight", "pangu.top_query_embeddings.weight"),
    Rule(rf"{_P}transformer\.layers\.(\d+)\.{_LEAF}", r"pangu.layers.\1.\2"),
    Rule(rf"{_P}transformer\.topQueryLayer\.{_LEAF}", r"pangu.top_query_layer.\1"),
    Rule(rf"{_P}transformer\.final_layernorm\.(weight|bias)", r"pangu.final_layernorm.\1"),
    name="megatron",
)


def _mindspore_block(src: str, dst: str) -> tuple[Rule, ...]:
    """One MindSpore ``Block``/``QueryLayer`` onto one :class:`PanguAlphaLayer`."""
    rules = [
        Rule(rf"{src}\.layernorm1\.gamma", f"{dst}.input_layernorm.weight"),
        Rule(rf"{src}\.layernorm1\.beta", f"{dst}.input_layernorm.bias"),
        Rule(rf"{src}\.layernorm2\.gamma", f"{dst}.post_attention_layernorm.weight"),
        Rule(rf"{src}\.layernorm2\.beta", f"{dst}.post_attention_layernorm.bias"),
    ]
    for ms, ours in (("dense1", "query"), ("dense2", "key"), ("dense3", "value")):  # nn.Dense: [out, in]
        rules += [
            Rule(rf"{src}\.attention\.{ms}\.{leaf}", f"{dst}.attention.{ours}.{leaf}")
            for leaf in ("weight", "bias")
        ]
    for ms, ours in (  # Mapping: [in, out]
        ("attention.projection", "attention.dense"),
        ("output.mapping", "mlp.dense_h_to_4h"),
        ("output.projection", "mlp.dense_4h_to_h"),
    ):
        src_ms = ms.replace(".", r"\.")
        rules += [
            Rule(rf"{src}\.{src_ms}\.weight", f"{dst}.{ours}.weight", T),
            Rule(rf"{src}\.{src_ms}\.bias", f"{dst}.{ours}.bias"),
        ]
    return tuple(rules)


_B = r"(?:network\.)?backbone"
MINDSPORE = Rules(
    # the release keeps the replicated embedding tables in .npy files, named by their stems
    Rule(rf"(?:{_B}\.word_embedding\.embedding_table|word_embedding)", "pangu.word_embeddings.weight"),
    Rule(
        rf"(?:{_B}\.position_embedding\.embedding_table|position_embedding)",
        "pangu.position_embeddings.weight",
    ),
    Rule(
        rf"(?:{_B}\.top_query_embedding\.embedding_table|top_query_embedding)",
        "pangu.top_query_embeddings.weight",
    ),
    *_mindspore_block(rf"{_B}\.blocks\.(\d+)", r"pangu.layers.\1"),
    *_mindspore_block(rf"{_B}\.top_query_layer", "pangu.top_query_layer"),
    Rule(rf"{_B}\.layernorm\.gamma", "pangu.final_layernorm.weight"),
    Rule(rf"{_B}\.layernorm\.beta", "pangu.final_layernorm.bias"),
    ignore={
        r"(?:adam_[mv]|moment[12]|accu_grads)\..*": "optimizer slot",
        r"global_step|learning_rate|scale_sense|current_iterator_step|last_overflow_iterator_step|epoch_num|step_num": (
            "training counter"
        ),
    },
    name="mindspore",
)

# the released sizes: hidden → heads (the head count is stored in no tensor)
RELEASED_HEADS = {2560: 32, 5120: 40}


class PanguAlphaSpec(ArchSpec):
    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        original = original or {}
        vocab, hidden = shape_of(shapes, "pangu.word_embeddings.weight")
        positions = shape_of(shapes, "pangu.position_embeddings.weight")[0]
        inner = shape_of(shapes, "pangu.top_query_layer.mlp.dense_h_to_4h.weight")[0]
        layers = count_layers(shapes, r"pangu\.layers\.(\d+)\..*") + 1  # + the top query layer
        found = {
            "num_layers": layers,
            "hidden_size": hidden,
            "vocab_size": vocab,
            "max_position_embeddings": positions,
        }
        said = {
            "num_layers": original.get("num_layers"),
            "hidden_size": original.get("hidden_size", original.get("embedding_size")),
            "vocab_size": original.get("vocab_size"),
            "max_position_embeddings": original.get("max_position_embeddings", original.get("seq_length")),
        }
        check_config_sizes({k: v for k, v in said.items() if v is not None}, found)
        heads = original.get("num_attention_heads", original.get("num_heads", RELEASED_HEADS.get(hidden)))
        if heads is None:
            raise ConversionError(
                f"the head count of this PanGu-α checkpoint (hidden {hidden}) is stored nowhere: put a config.json "
                'with {"num_heads": N} beside the weights'
            )
        if hidden % int(heads):
            raise ConversionError(f"hidden size {hidden} is not divisible by {heads} attention heads")
        return {
            "model_type": self.model_type,
            **found,
            "num_attention_heads": int(heads),
            "intermediate_size": inner,
            "activation_function": str(original.get("activation_function", "gelu_new")),
            "layer_norm_eps": 1e-5,
            "tie_word_embeddings": True,
        }

    def write_tokenizer(self, vocab: Path | None, out: Path, config: Mapping[str, Any]) -> list[str]:
        if vocab is None:
            return [
                "no vocab.model found: the tokenizer was not written (copy PanGu-α's tokenizer/vocab.model beside "
                "the weights)"
            ]
        from zhplm.arch.tokenization.cpm import PanguJiebaTokenizer, write_cpm_tokenizer

        return write_cpm_tokenizer(vocab, out, PanguJiebaTokenizer)


SPEC = PanguAlphaSpec(
    name="pangu_alpha",
    description="PanGu-α: pre-LN GPT with a top query layer (MindSpore slices + strategy, or Megatron shards)",
    model_type="pangu_alpha",
    full_class="PanguAlphaForCausalLM",
    schemes={"megatron": MEGATRON, "mindspore": MINDSPORE},
    heads=(Head("lm", (r"lm_head\..*",), "language-model head (tied to the token embedding)"),),
    config_names=("config.json", "pangu_alpha_config.json"),
    vocab_names=("vocab.model",),
    classes=((("lm",), "PanguAlphaForCausalLM"), ((), "PanguAlphaModel")),
    evidence=Evidence(
        distinctive=(r".*topQueryLayer\..*", r".*top_query_layer\..*"), without_distinctive=0.0
    ),
    own_model=own_model("pangu_alpha", "PanguAlpha", heads=("CausalLM",)),
    tokenizers=("zhplm.arch.tokenization.cpm",),
)
