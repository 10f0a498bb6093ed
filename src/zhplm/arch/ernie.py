"""ERNIE 1.0 / SKEP / ERNIE-Gram / ERNIE 3.0 (Paddle) → transformers ``ErnieForPreTraining`` /
``ErnieForMaskedLM`` / ``ErnieModel``.

All four are post-LN BERT; ERNIE 3.0 adds a task-type embedding (``use_task_id``). Paddle ``Linear``
weights are stored ``[in, out]`` (transposed here). Naming schemes:

* ``paddlenlp``: PaddleNLP dygraph ``.pdparams`` (ERNIE 3.0): ``ernie.embeddings.…``,
  ``ernie.encoder.layers.N.self_attn.{q,k,v,out}_proj``, ``norm1``, ``linear1``, ``linear2``, ``norm2``,
  ``ernie.pooler.dense``; PaddleNLP's pretraining heads ``cls.predictions.{transform,layer_norm,
  decoder_bias}``, ``cls.seq_relationship``.
* ``ernie-dygraph``: the ERNIE repository's dygraph ``saved_weights.pdparams`` (ERNIE 1.0, ERNIE-Gram):
  ``word_emb``, ``pos_emb``, ``sent_emb``, ``ln``, ``encoder_stack.block.N.{attn.{q,k,v,o},ln1,ffn.{i,o},ln2}``,
  ``pooler``; MLM head ``mlm``, ``mlm_ln``, ``mlm_bias``.
* ``paddle-static``: Paddle 1.x static persistables (SKEP, old ERNIE 1.0): ``word_embedding``,
  ``encoder_layer_N_multi_head_att_query_fc.w_0``, ``pre_encoder_layer_norm_scale``, ``pooled_fc``,
  ``mask_lm_*``, ``next_sent_fc``.

Activation: ERNIE 1.0 and SKEP use relu, Gram and 3.0 gelu (the original config's ``hidden_act`` wins).
LayerNorm epsilon: 1e-12 for ERNIE 3.0 (PaddleNLP sets it at init), 1e-5 (Paddle's default, used by the
ERNIE repository and Senta) for the others unless the config says otherwise. PaddleNLP's ``ErnieModel`` runs
ERNIE 1.0 with 1e-12 too; zhplm keeps the repository's 1e-5, the eps the release was trained with
(tests/test_parity_ernie.py measures both).

ERNIE 3.0 ``.pdparams`` come without config or vocabulary: the five PaddleNLP configs ship in
``assets/ernie3`` and are chosen by tensor shapes. The 40000-token ``vocab.txt`` is not shipped
(PaddleNLP downloads it at run time): put it next to the checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from zhplm.arch._rules import TRANSPOSE as T
from zhplm.arch._rules import Rule, Rules, Shape
from zhplm.arch._spec import (
    ENCODER_CONFIG_KEYS,
    TRAINING_LEFTOVERS,
    ArchSpec,
    Evidence,
    Head,
    check_config_sizes,
    copy_config,
    count_layers,
)
from zhplm.errors import ConversionError

E = "ernie.embeddings"
HL = r"ernie.encoder.layer.\1"


def _linear(
    src: str, dst: str, *, weight: str = "weight", bias: str = "bias", sep: str = r"\."
) -> tuple[Rule, Rule]:
    """A Paddle Linear ``src{sep}{weight,bias}`` ([in, out]) → torch ``dst.{weight,bias}``."""
    return (Rule(f"{src}{sep}{weight}", f"{dst}.weight", T), Rule(f"{src}{sep}{bias}", f"{dst}.bias"))


def _norm(
    src: str, dst: str, *, weight: str = "weight", bias: str = "bias", sep: str = r"\."
) -> tuple[Rule, Rule]:
    return (Rule(f"{src}{sep}{weight}", f"{dst}.weight"), Rule(f"{src}{sep}{bias}", f"{dst}.bias"))


_NLP = r"ernie\.encoder\.layers\.(\d+)"
PADDLENLP = Rules(
    Rule(
        r"ernie\.embeddings\.(word|position|token_type|task_type)_embeddings\.weight",
        rf"{E}.\1_embeddings.weight",
    ),
    *_norm(r"ernie\.embeddings\.layer_norm", f"{E}.LayerNorm"),
    *_linear(rf"{_NLP}\.self_attn\.q_proj", rf"{HL}.attention.self.query"),
    *_linear(rf"{_NLP}\.self_attn\.k_proj", rf"{HL}.attention.self.key"),
    *_linear(rf"{_NLP}\.self_attn\.v_proj", rf"{HL}.attention.self.value"),
    *_linear(rf"{_NLP}\.self_attn\.out_proj", rf"{HL}.attention.output.dense"),
    *_norm(rf"{_NLP}\.norm1", rf"{HL}.attention.output.LayerNorm"),
    *_linear(rf"{_NLP}\.linear1", rf"{HL}.intermediate.dense"),
    *_linear(rf"{_NLP}\.linear2", rf"{HL}.output.dense"),
    *_norm(rf"{_NLP}\.norm2", rf"{HL}.output.LayerNorm"),
    *_linear(r"ernie\.pooler\.dense", "ernie.pooler.dense"),
    *_linear(r"cls\.predictions\.transform", "cls.predictions.transform.dense"),
    *_norm(r"cls\.predictions\.layer_norm", "cls.predictions.transform.LayerNorm"),
    Rule(r"cls\.predictions\.decoder_bias", "cls.predictions.bias"),
    *_linear(r"cls\.seq_relationship", "cls.seq_relationship"),
    ignore={
        r"cls\.predictions\.decoder_weight": "tied to the word embedding",
        r"ernie\.embeddings\.position_ids": "buffer",
    },
    name="paddlenlp",
)

_DY = r"encoder_stack\.block\.(\d+)"
ERNIE_DYGRAPH = Rules(
    Rule(r"word_emb\.weight", f"{E}.word_embeddings.weight"),
    Rule(r"pos_emb\.weight", f"{E}.position_embeddings.weight"),
    Rule(r"sent_emb\.weight", f"{E}.token_type_embeddings.weight"),
    *_norm(r"ln", f"{E}.LayerNorm"),
    *_linear(rf"{_DY}\.attn\.q", rf"{HL}.attention.self.query"),
    *_linear(rf"{_DY}\.attn\.k", rf"{HL}.attention.self.key"),
    *_linear(rf"{_DY}\.attn\.v", rf"{HL}.attention.self.value"),
    *_linear(rf"{_DY}\.attn\.o", rf"{HL}.attention.output.dense"),
    *_norm(rf"{_DY}\.ln1", rf"{HL}.attention.output.LayerNorm"),
    *_linear(rf"{_DY}\.ffn\.i", rf"{HL}.intermediate.dense"),
    *_linear(rf"{_DY}\.ffn\.o", rf"{HL}.output.dense"),
    *_norm(rf"{_DY}\.ln2", rf"{HL}.output.LayerNorm"),
    *_linear(r"pooler", "ernie.pooler.dense"),
    *_linear(r"mlm", "cls.predictions.transform.dense"),
    *_norm(r"mlm_ln", "cls.predictions.transform.LayerNorm"),
    Rule(r"mlm_bias", "cls.predictions.bias"),
    ignore=TRAINING_LEFTOVERS,
    name="ernie-dygraph",
)

_ST = r"encoder_layer_(\d+)"
PADDLE_STATIC = Rules(
    Rule(r"word_embedding", f"{E}.word_embeddings.weight"),
    Rule(r"pos_embedding", f"{E}.position_embeddings.weight"),
    Rule(r"sent_embedding", f"{E}.token_type_embeddings.weight"),
    Rule(r"task_embedding", f"{E}.task_type_embeddings.weight"),
    *_norm(r"pre_encoder_layer_norm", f"{E}.LayerNorm", weight="scale", sep="_"),
    *_linear(rf"{_ST}_multi_head_att_query_fc", rf"{HL}.attention.self.query", weight="w_0", bias="b_0"),
    *_linear(rf"{_ST}_multi_head_att_key_fc", rf"{HL}.attention.self.key", weight="w_0", bias="b_0"),
    *_linear(rf"{_ST}_multi_head_att_value_fc", rf"{HL}.attention.self.value", weight="w_0", bias="b_0"),
    *_linear(rf"{_ST}_multi_head_att_output_fc", rf"{HL}.attention.output.dense", weight="w_0", bias="b_0"),
    *_norm(rf"{_ST}_post_att_layer_norm", rf"{HL}.attention.output.LayerNorm", weight="scale", sep="_"),
    *_linear(rf"{_ST}_ffn_fc_0", rf"{HL}.intermediate.dense", weight="w_0", bias="b_0"),
    *_linear(rf"{_ST}_ffn_fc_1", rf"{HL}.output.dense", weight="w_0", bias="b_0"),
    *_norm(rf"{_ST}_post_ffn_layer_norm", rf"{HL}.output.LayerNorm", weight="scale", sep="_"),
    *_linear(r"pooled_fc", "ernie.pooler.dense", weight="w_0", bias="b_0"),
    *_linear(r"mask_lm_trans_fc", "cls.predictions.transform.dense", weight="w_0", bias="b_0"),
    *_norm(r"mask_lm_trans_layer_norm", "cls.predictions.transform.LayerNorm", weight="scale", sep="_"),
    Rule(r"mask_lm_out_fc\.b_0", "cls.predictions.bias"),
    *_linear(r"next_sent_fc", "cls.seq_relationship", weight="w_0", bias="b_0"),
    ignore={
        **TRAINING_LEFTOVERS,
        r".*_moment[12]_0|.*_beta[12]_pow_acc_0|learning_rate_0|@LR_DECAY_COUNTER@": "optimizer state",
    },
    name="paddle-static",
)

HEADS = (
    Head("pooler", (r"ernie\.pooler\..*",), "pooler dense + tanh over [CLS]"),
    Head("mlm", (r"cls\.predictions\..*",), "masked-LM head (transform + tied decoder)"),
    Head("nsp", (r"cls\.seq_relationship\..*",), "next-sentence head"),
)

_CONFIG_KEYS = (*ENCODER_CONFIG_KEYS, "task_type_vocab_size", "use_task_id")


def ernie3_configs() -> dict[str, dict[str, Any]]:
    """The five PaddleNLP ERNIE 3.0 configs shipped with zhplm, by model name."""
    folder = resources.files("zhplm.arch").joinpath("assets", "ernie3")
    out = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            cfg = json.loads(entry.read_text(encoding="utf-8"))
            cfg.pop("_source", None)
            out[entry.name[: -len(".json")]] = cfg
    return out


def _ernie3_by_shape(size: Mapping[str, int]) -> tuple[str, dict[str, Any]] | None:
    for name, cfg in sorted(ernie3_configs().items()):
        if all(cfg[k] == v for k, v in size.items()):
            return name, cfg
    return None


class ErnieSpec(ArchSpec):
    def read_original_config(self, folder: Path | None) -> dict[str, Any] | None:
        cfg = super().read_original_config(folder)
        if cfg is None:
            return None
        cfg = dict(cfg)
        if "sent_type_vocab_size" in cfg:  # the ERNIE repository's name
            cfg.setdefault("type_vocab_size", cfg.pop("sent_type_vocab_size"))
        return cfg

    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        targets = set(plan_targets)
        word = shapes.get(f"{E}.word_embeddings.weight")
        if word is None:
            raise ConversionError("the checkpoint has no word embedding: cannot size the ERNIE model")
        inter = shapes.get("ernie.encoder.layer.0.intermediate.dense.weight")
        task = shapes.get(f"{E}.task_type_embeddings.weight")
        size = {
            "vocab_size": word[0],
            "hidden_size": word[1],
            "num_hidden_layers": count_layers(targets),
            **({"intermediate_size": inter[0]} if inter else {}),
        }
        cfg = copy_config(original, _CONFIG_KEYS)
        if task is not None:
            size["task_type_vocab_size"] = task[0]
            if not original:
                found = _ernie3_by_shape(size)
                if found is None:
                    raise ConversionError(
                        f"no config came with this ERNIE 3.0 checkpoint and its shapes {size} match none of the "
                        f"shipped ones ({', '.join(sorted(ernie3_configs()))}): put its config.json next to it"
                    )
                cfg = dict(found[1])
            cfg["use_task_id"] = True
        for key, value in size.items():
            cfg.setdefault(key, value)
        check_config_sizes(cfg, size, source="the config")
        pos = shapes.get(f"{E}.position_embeddings.weight")
        types = shapes.get(f"{E}.token_type_embeddings.weight")
        if pos:
            cfg["max_position_embeddings"] = pos[0]
        if types:
            cfg["type_vocab_size"] = types[0]
        cfg.setdefault("num_attention_heads", max(1, cfg["hidden_size"] // 64))
        # ERNIE 1.0 and SKEP: relu; ERNIE-Gram (vocab 18018) and 3.0: gelu
        cfg.setdefault("hidden_act", "gelu" if task is not None or word[0] == 18018 else "relu")
        cfg.setdefault("layer_norm_eps", 1e-12 if task is not None else 1e-5)
        cfg.setdefault("pad_token_id", 0)
        cfg["model_type"] = self.model_type
        return cfg

    def write_tokenizer(self, vocab: Path | None, out: Path, config: Mapping[str, Any]) -> list[str]:
        if vocab is None:
            note = "no vocab.txt found: the tokenizer was not written"
            if config.get("use_task_id"):
                note += (
                    " (ERNIE 3.0 .pdparams come without one: put PaddleNLP's 40000-token ernie_3.0 vocab.txt, "
                    "from bj.bcebos.com/paddlenlp/models/transformers/ernie_3.0/ernie_3.0_base_zh_vocab.txt, "
                    "next to the checkpoint and convert again)"
                )
            return [note]
        return super().write_tokenizer(vocab, out, config)


SPEC = ErnieSpec(
    name="ernie",
    description="ERNIE 1.0 / SKEP / ERNIE-Gram / ERNIE 3.0 (Paddle dygraph and static checkpoints)",
    model_type="ernie",
    full_class="ErnieForPreTraining",
    schemes={"paddlenlp": PADDLENLP, "ernie-dygraph": ERNIE_DYGRAPH, "paddle-static": PADDLE_STATIC},
    heads=HEADS,
    config_names=("ernie_config.json", "config.json", "ernie_1.0_large_ch.config.json", "model_config.json"),
    vocab_names=("vocab.txt", "*vocab*.txt"),
    classes=(
        (("mlm", "nsp"), "ErnieForPreTraining"),
        (("mlm",), "ErnieForMaskedLM"),
        ((), "ErnieModel"),
    ),
    evidence=Evidence(
        distinctive=(
            r"ernie\.encoder\.layers\..*",
            r"encoder_stack\.block\..*",
            r"encoder_layer_0_multi_head_att_query_fc\.w_0.*",
        )
    ),
)
