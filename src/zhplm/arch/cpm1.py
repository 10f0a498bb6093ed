"""CPM-1 (TsinghuaAI CPM-Generate, 2.6B) Megatron model-parallel shards → transformers ``GPT2LMHeadModel``.

The release is ``80000/mp_rank_0{0,1}_model_states.pt`` + ``latest_checkpointed_iteration.txt``: the state
dict of CPM-Generate's ``model/gpt2_modeling.GPT2Model`` split over two model-parallel ranks.
:mod:`zhplm.formats.megatron` joins the ranks into the single-GPU layout (the vocab-parallel
``word_embeddings`` and column-parallel ``query_key_value``/``dense_h_to_4h`` along dim 0, the fused QKV
rank by rank as ``[q; k; v]`` blocks; the row-parallel ``dense``/``dense_4h_to_h`` along dim 1 — the
layout of the original ``change_mp.py``); this module then renames onto GPT-2, transposing every Linear
into GPT-2's Conv1D orientation.

The block is GPT-2's: pre-LN, fused QKV in q/k/v order, tanh-GELU (``gelu_new``), LayerNorm eps 1e-5,
attention scaled by 1/√d, a final LayerNorm, logits against the token embedding (the tied LM head).
The release carries no config: sizes come from the tensors, the head count (stored nowhere in the weights)
from a ``cpm_config.json``/``config.json`` with ``scripts/generate_text.sh``'s argument names, from the
shards' Megatron ``args`` when present, else from CPM-Large's 80-wide heads (2560 / 32).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from zhplm.arch._rules import TRANSPOSE as T
from zhplm.arch._rules import Rule, Rules, Shape
from zhplm.arch._spec import ArchSpec, Evidence, Head, count_layers, shape_of
from zhplm.errors import ConversionError

_P = r"(?:module\.)?(?:model\.)?"  # DDP / FP16_Module wrappers
_L = rf"{_P}transformer\.layers\.(\d+)\."
_H = r"transformer.h.\1."

MEGATRON = Rules(
    Rule(rf"{_P}word_embeddings\.weight", "transformer.wte.weight"),
    Rule(rf"{_P}position_embeddings\.weight", "transformer.wpe.weight"),
    Rule(rf"{_L}input_layernorm\.(weight|bias)", _H + r"ln_1.\2"),
    Rule(rf"{_L}attention\.query_key_value\.weight", _H + "attn.c_attn.weight", T),
    Rule(rf"{_L}attention\.query_key_value\.bias", _H + "attn.c_attn.bias"),
    Rule(rf"{_L}attention\.dense\.weight", _H + "attn.c_proj.weight", T),
    Rule(rf"{_L}attention\.dense\.bias", _H + "attn.c_proj.bias"),
    Rule(rf"{_L}post_attention_layernorm\.(weight|bias)", _H + r"ln_2.\2"),
    Rule(rf"{_L}mlp\.dense_h_to_4h\.weight", _H + "mlp.c_fc.weight", T),
    Rule(rf"{_L}mlp\.dense_h_to_4h\.bias", _H + "mlp.c_fc.bias"),
    Rule(rf"{_L}mlp\.dense_4h_to_h\.weight", _H + "mlp.c_proj.weight", T),
    Rule(rf"{_L}mlp\.dense_4h_to_h\.bias", _H + "mlp.c_proj.bias"),
    Rule(rf"{_P}transformer\.final_layernorm\.(weight|bias)", r"transformer.ln_f.\1"),
    name="megatron",
)

CPM_LARGE_HEAD_DIM = 80  # CPM-Large: hidden 2560, 32 heads (scripts/generate_text.sh)
# bpe_3w_new/vocab.json: <pad> is 5, <eod> (end of document) is 7
EOD_ID, PAD_ID = 7, 5


def _megatron_args(folder: Path) -> dict[str, Any] | None:
    """The ``args`` Megatron-LM saves beside the weights (DeepSpeed-era shards, CPM's among them, have none)."""
    from zhplm.formats import megatron, torch_pickle

    shards = megatron.find_shards(folder)
    if not shards:
        return None
    reader = torch_pickle.TorchReader(shards[0], lenient=True)
    try:
        args = reader.top_level("args")
    finally:
        reader.close()
    return args if isinstance(args, dict) and args else None


class Cpm1Spec(ArchSpec):
    def read_original_config(self, folder: Path | None) -> dict[str, Any] | None:
        found = super().read_original_config(folder)
        if found is None and folder is not None:
            found = _megatron_args(folder)
        return found

    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        original = original or {}
        vocab, hidden = shape_of(shapes, "transformer.wte.weight")
        positions = shape_of(shapes, "transformer.wpe.weight")[0]
        layers = count_layers(shapes, r"transformer\.h\.(\d+)\..*")
        said = {
            "hidden_size": hidden,
            "num_layers": layers,
            "max_position_embeddings": positions,
        }
        for key, actual in said.items():
            value = original.get(key)
            if value is not None and int(value) != actual:
                raise ConversionError(
                    f"the CPM config says {key}={value}, the weights say {actual}: is it another release's config?"
                )
        # the vocab-parallel embedding is padded up to a multiple of the model-parallel size: keep its rows
        heads = original.get("num_attention_heads")
        if heads is None:
            if hidden % CPM_LARGE_HEAD_DIM:
                raise ConversionError(
                    f"the head count of this CPM checkpoint (hidden {hidden}) is stored nowhere: put a "
                    'cpm_config.json with {"num_attention_heads": N} beside the shards'
                )
            heads = hidden // CPM_LARGE_HEAD_DIM
        if hidden % int(heads):
            raise ConversionError(f"hidden size {hidden} is not divisible by {heads} attention heads")
        eod = EOD_ID if vocab > EOD_ID else None
        pad = PAD_ID if vocab > PAD_ID else None
        return {
            "model_type": self.model_type,
            "vocab_size": vocab,
            "n_embd": hidden,
            "n_layer": layers,
            "n_head": int(heads),
            "n_positions": positions,
            "n_inner": None,  # 4 × hidden, as the original MLP
            "activation_function": "gelu_new",  # the original's tanh approximation
            "layer_norm_epsilon": 1e-5,
            "scale_attn_weights": True,
            "tie_word_embeddings": True,
            "bos_token_id": eod,
            "eos_token_id": eod,
            "pad_token_id": pad,
        }

    def write_tokenizer(self, vocab: Path | None, out: Path, config: Mapping[str, Any]) -> list[str]:
        if vocab is None:
            return [
                "no chinese_vocab.model found: the tokenizer was not written (copy CPM-Generate's bpe_3w_new/ "
                "beside the shards)"
            ]
        from zhplm.arch.tokenization.cpm import write_cpm_tokenizer

        return write_cpm_tokenizer(vocab, out)


SPEC = Cpm1Spec(
    name="cpm1",
    description="CPM-1 (CPM-Generate): Megatron model-parallel GPT-2 shards merged onto GPT2LMHeadModel",
    model_type="gpt2",
    full_class="GPT2LMHeadModel",
    schemes={"megatron": MEGATRON},
    heads=(Head("lm", (r"lm_head\..*",), "language-model head (tied to the token embedding)"),),
    config_names=("cpm_config.json", "config.json"),
    vocab_names=("chinese_vocab.model",),
    classes=(((), "GPT2LMHeadModel"),),
    evidence=Evidence(distinctive=(rf"{_L}attention\.query_key_value\.weight",), without_distinctive=0.0),
    tokenizers=("zhplm.arch.tokenization.cpm",),
)
