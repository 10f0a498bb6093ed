"""GLM (THUDM/GLM: ``GLM-large-chinese``, ``GLM-10B-chinese``) → zhplm's own ``GLMForCausalLM``.

The release is the DeepSpeed checkpoint of the original ``model/modeling_glm.GLMModel``
(``--block-lm``): ``mp_rank_XX_model_states.pt`` with ``{"module": state_dict, …}``, one file per model-parallel
rank (:mod:`zhplm.formats.megatron` joins them: the fused ``query_key_value`` rank by rank as ``[q; k; v]``
blocks, ``dense_h_to_4h`` and the vocab-parallel ``word_embeddings`` along dim 0, the row-parallel ``dense``/
``dense_4h_to_h`` along dim 1). Names: ``word_embeddings.weight``, ``transformer.{position,block_position}_
embeddings.weight``, ``transformer.layers.N.*``, ``transformer.final_layernorm.*`` (the Hugging Face copies
prefix them with ``glm.``). The model is described in :mod:`zhplm.arch.modeling.glm`.

No config travels with the weights: sizes come from the tensors; the head count from a ``config.json`` beside
them (``num_attention_heads``), else from the released sizes (hidden 1024: 16 heads, 4096: 64). The special
ids depend on ``--fix-command-token`` (large-chinese: yes, 10B-chinese: no): a ``config.json`` may say
``fix_command_token``; otherwise the released sizes decide. 10B-chinese (≈ 40 GB in float32, 20 GB in bf16)
converts by streaming; loading it is refused where memory is short.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from zhplm.arch._rules import Rule, Rules, Shape
from zhplm.arch._spec import ArchSpec, Evidence, Head, check_config_sizes, count_layers, own_model, shape_of
from zhplm.errors import ConversionError

_P = r"(?:module\.)?(?:model\.)?(?:glm\.)?"
_LEAF = (
    r"((?:input_layernorm|post_attention_layernorm|attention\.(?:query_key_value|dense)"
    r"|mlp\.(?:dense_h_to_4h|dense_4h_to_h))\.(?:weight|bias))"
)

MEGATRON = Rules(
    Rule(rf"{_P}word_embeddings\.weight", "glm.word_embeddings.weight"),
    Rule(rf"{_P}transformer\.position_embeddings\.weight", "glm.position_embeddings.weight"),
    Rule(rf"{_P}transformer\.block_position_embeddings\.weight", "glm.block_position_embeddings.weight"),
    Rule(rf"{_P}transformer\.layers\.(\d+)\.{_LEAF}", r"glm.layers.\1.\2"),
    Rule(rf"{_P}transformer\.final_layernorm\.(weight|bias)", r"glm.final_layernorm.\1"),
    name="megatron",
)

RELEASED_HEADS = {1024: 16, 4096: 64}
# hidden size → whether that release was trained with --fix-command-token (config_tasks/model_blocklm_*.sh)
RELEASED_FIX = {1024: True, 4096: False}
TEXT_PIECES = 50000  # cog-pretrain.model


def special_ids(fix_command_token: bool, pieces: int = TEXT_PIECES) -> dict[str, int]:
    """The ids ``ChineseSPTokenizer(add_block_symbols=True, add_task_mask=True)`` gives its command tokens."""
    n = pieces
    ids = {
        "pad": n,
        "eos": n,
        "sep": n + 1,
        "cls": n + 2,
        "mask": n + 3,
        "unk": n + 4,
        "sop": n + 6,
        "eop": n + 7,
    }
    if fix_command_token:
        ids.update(smask=n + 8, gmask=n + 9)
    else:
        ids.update(gmask=n + 7, smask=n + 8)
    return ids


class GLMSpec(ArchSpec):
    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        original = original or {}
        vocab, hidden = shape_of(shapes, "glm.word_embeddings.weight")
        rows = shape_of(shapes, "glm.position_embeddings.weight")[0]
        if "glm.block_position_embeddings.weight" not in shapes:
            raise ConversionError(
                "this GLM checkpoint has no block_position_embeddings: only the blank-infilling (--block-lm) "
                "models with 2-D positions are supported"
            )
        found = {
            "num_layers": count_layers(shapes, r"glm\.layers\.(\d+)\..*"),
            "hidden_size": hidden,
            "vocab_size": vocab,
            "max_position_embeddings": rows - 1,
        }
        said = {k: original.get(k) for k in found}
        said["max_position_embeddings"] = original.get(
            "max_position_embeddings", original.get("max_sequence_length")
        )
        check_config_sizes({k: v for k, v in said.items() if v is not None}, found)
        heads = original.get("num_attention_heads", RELEASED_HEADS.get(hidden))
        if heads is None:
            raise ConversionError(
                f"the head count of this GLM checkpoint (hidden {hidden}) is stored nowhere: put a config.json "
                'with {"num_attention_heads": N} beside the weights'
            )
        if hidden % int(heads):
            raise ConversionError(f"hidden size {hidden} is not divisible by {heads} attention heads")
        fix = bool(original.get("fix_command_token", RELEASED_FIX.get(hidden, True)))
        ids = special_ids(fix)
        if vocab <= max(ids.values()):
            raise ConversionError(
                f"the embedding has {vocab} rows, fewer than the cog-pretrain vocabulary and GLM's special tokens "
                f"({max(ids.values()) + 1}): is this a Chinese GLM?"
            )
        return {
            "model_type": self.model_type,
            **found,
            "num_attention_heads": int(heads),
            "layer_norm_eps": 1e-5,
            "mask_token_id": ids["mask"],
            "smask_token_id": ids["smask"],
            "gmask_token_id": ids["gmask"],
            "sop_token_id": ids["sop"],
            "eop_token_id": ids["eop"],
            "pad_token_id": ids["pad"],
            "eos_token_id": ids["eop"],
            "fix_command_token": fix,
            "tie_word_embeddings": True,
        }

    def write_tokenizer(self, vocab: Path | None, out: Path, config: Mapping[str, Any]) -> list[str]:
        if vocab is None:
            return [
                "no cog-pretrain.model found: the tokenizer was not written (copy GLM's "
                "chinese_sentencepiece/cog-pretrain.model beside the weights)"
            ]
        from zhplm.arch.tokenization.glm import write_glm_tokenizer

        return write_glm_tokenizer(vocab, out, fix_command_token=bool(config.get("fix_command_token", True)))


SPEC = GLMSpec(
    name="glm",
    description="GLM: pre-LN GPT with 2-D (position, block position) embeddings and the blank-infilling mask",
    model_type="glm_blocklm",  # transformers' "glm" is GLM-4
    full_class="GLMForCausalLM",
    schemes={"megatron": MEGATRON},
    heads=(Head("lm", (r"lm_head\..*",), "language-model head (tied to the token embedding)"),),
    config_names=("config.json", "glm_config.json"),
    vocab_names=("cog-pretrain.model",),
    classes=((("lm",), "GLMForCausalLM"), ((), "GLMModel")),
    evidence=Evidence(distinctive=(r".*block_position_embeddings\.weight",), without_distinctive=0.0),
    own_model=own_model("glm", "GLM", heads=("CausalLM",)),
    tokenizers=("zhplm.arch.tokenization.glm",),
)
