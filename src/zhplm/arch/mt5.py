"""T5-PEGASUS (ZhuiyiTechnology; bert4keras ``model='mt5.1.1'``) TF1 checkpoints → zhplm's
``T5PegasusForConditionalGeneration``: transformers' mT5 plus bert4keras' cross-attention position bias
(:mod:`zhplm.arch.modeling.mt5`; no extra weights).

bert4keras saves T5 with the mesh-TF names of Google's releases (its ``T5_Base.variable_mapping``):
``shared/embedding``, ``{encoder,decoder}/block_NNN/layer_MMM/{SelfAttention,EncDecAttention}/{q,k,v,o}``
(kernels ``[in, out]``, no ``/kernel`` suffix), ``…/relative_attention_bias`` (``[heads, buckets]``: bert4keras
transposes it on save), ``…/DenseReluDense/{wi_0,wi_1,wo}/kernel``, ``…/rms_norm/scale`` (``layer_norm`` in
t5.1.1 names), ``{encoder,decoder}/rms_norm/scale`` (the final norms) and the untied ``decoder/logits/kernel``.

Two more things differ from transformers' mT5 and are folded in here:

* bert4keras scales the decoder output by ``d_model**-0.5`` before the LM head for every T5 version
  (``Decoder-Output-Scale``); transformers' mT5 never scales, so ``lm_head.weight`` = kernelᵀ · d_model⁻⁰·⁵.
* ``hidden_act: ["gelu", "linear"]`` is bert4keras' erf GELU; transformers' ``gated-gelu`` is the tanh
  approximation, so the config says ``gated-gelu_python`` (the erf formula).

Decoding starts from ``[CLS]`` and ends at ``[SEP]`` (the authors' ``AutoRegressiveDecoder(start_id=
tokenizer._token_start_id, end_id=tokenizer._token_end_id)``): both ids are read from the vocab.txt next to
the checkpoint into ``decoder_start_token_id`` / ``eos_token_id``. The tokenizer is the jieba (HMM off) +
WordPiece one the authors built (``Tokenizer(vocab, do_lower_case=True, pre_tokenize=jieba.cut(HMM=False))``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from zhplm.arch._rules import TRANSPOSE as T
from zhplm.arch._rules import Rule, Rules, Shape, Transform
from zhplm.arch._spec import TRAINING_LEFTOVERS, ArchSpec, Evidence, Head, OwnModel, count_layers
from zhplm.errors import ConversionError

BUCKETS = 32  # bert4keras fixes RelativePositionEmbeddingT5(input_dim=32, max_distance=128)
MAX_DISTANCE = 128
START, END, PAD = "[CLS]", "[SEP]", "[PAD]"


def _scaled_logits(xs: Any) -> Any:
    kernel = xs[0]
    return np.ascontiguousarray(kernel.T * np.asarray(kernel.shape[0] ** -0.5, dtype=kernel.dtype))


LOGITS = Transform("transpose × d_model^-0.5", _scaled_logits, lambda ss: (ss[0][1], ss[0][0]))

_B = r"(encoder|decoder)/block_0*(\d+)"
_H = r"\1.block.\2.layer"
_NORM = r"(?:rms_norm|layer_norm)/scale"
BERT4KERAS_TF1 = Rules(
    Rule(r"shared/embedding", "shared.weight"),
    Rule(rf"{_B}/layer_000/SelfAttention/(q|k|v|o)", rf"{_H}.0.SelfAttention.\3.weight", T),
    Rule(
        rf"{_B}/layer_000/SelfAttention/relative_attention_bias",
        rf"{_H}.0.SelfAttention.relative_attention_bias.weight",
        T,
    ),
    Rule(rf"{_B}/layer_000/{_NORM}", rf"{_H}.0.layer_norm.weight"),
    Rule(
        r"encoder/block_0*(\d+)/layer_001/DenseReluDense/(wi_0|wi_1|wo)/kernel",
        r"encoder.block.\1.layer.1.DenseReluDense.\2.weight",
        T,
    ),
    Rule(r"encoder/block_0*(\d+)/layer_001/" + _NORM, r"encoder.block.\1.layer.1.layer_norm.weight"),
    Rule(
        r"decoder/block_0*(\d+)/layer_001/EncDecAttention/(q|k|v|o)",
        r"decoder.block.\1.layer.1.EncDecAttention.\2.weight",
        T,
    ),
    Rule(r"decoder/block_0*(\d+)/layer_001/" + _NORM, r"decoder.block.\1.layer.1.layer_norm.weight"),
    Rule(
        r"decoder/block_0*(\d+)/layer_002/DenseReluDense/(wi_0|wi_1|wo)/kernel",
        r"decoder.block.\1.layer.2.DenseReluDense.\2.weight",
        T,
    ),
    Rule(r"decoder/block_0*(\d+)/layer_002/" + _NORM, r"decoder.block.\1.layer.2.layer_norm.weight"),
    Rule(r"(encoder|decoder)/(?:rms_norm|final_layer_norm)/scale", r"\1.final_layer_norm.weight"),
    Rule(r"decoder/logits/kernel", "lm_head.weight", LOGITS),
    ignore=dict(TRAINING_LEFTOVERS),
    name="bert4keras-tf1",
)


def special_ids(vocab: Path) -> dict[str, int]:
    """Ids of ``[PAD]``, ``[CLS]``, ``[SEP]`` in a BERT vocabulary (line numbers, first occurrence)."""
    from zhplm.arch.tokenization.wordpiece import read_vocab

    ids: dict[str, int] = {}
    for i, token in enumerate(read_vocab(vocab)):
        if token in (START, END, PAD):
            ids.setdefault(token, i)
    return ids


class MT5Spec(ArchSpec):
    def read_original_config(self, folder: Path | None) -> dict[str, Any] | None:
        """The bert4keras config.json, plus the ``[CLS]``/``[SEP]``/``[PAD]`` ids of the vocab.txt beside it
        (decoding needs them; ``zhplm.*`` keys, read by :meth:`build_config`)."""
        cfg = super().read_original_config(folder)
        vocab = self.find_vocab(folder)
        if cfg is not None and vocab is not None:
            cfg = {**cfg, **{f"zhplm.{k}": v for k, v in special_ids(vocab).items()}}
        return cfg

    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        if not original:
            raise ConversionError(
                "a T5-PEGASUS checkpoint needs its bert4keras config.json (the head count is not in the weights)"
            )
        vocab, d_model = shapes["shared.weight"]
        heads = int(original["num_attention_heads"])
        d_kv = int(original.get("attention_head_size") or d_model // heads)
        act = original.get("hidden_act", ["gelu", "linear"])
        if act not in (["gelu", "linear"], "gelu"):
            raise ConversionError(
                f"hidden_act {act!r}: only bert4keras' gated GELU (['gelu', 'linear']) is known"
            )
        missing = [t for t in (START, END) if f"zhplm.{t}" not in original]
        if missing:
            raise ConversionError(
                f"the vocab.txt beside the checkpoint lacks {', '.join(missing)} (or there is none): T5-PEGASUS "
                "decoding starts at [CLS] and ends at [SEP]; put the release's vocab.txt next to it"
            )
        if "lm_head.weight" not in shapes:
            raise ConversionError(
                "the checkpoint has no decoder/logits/kernel: T5-PEGASUS' LM head is untied and cannot be "
                "recovered from the embedding; convert the complete release"
            )
        if int(original.get("vocab_size", vocab)) != vocab:
            raise ConversionError(
                f"config.json says vocab {original['vocab_size']}, the weights have {vocab}"
            )
        return {
            "model_type": self.model_type,
            "vocab_size": vocab,
            "d_model": d_model,
            "d_kv": d_kv,
            "d_ff": shapes["encoder.block.0.layer.1.DenseReluDense.wi_0.weight"][0],
            "num_layers": count_layers(shapes, r"encoder\.block\.(\d+)\..*"),
            "num_heads": heads,
            "relative_attention_num_buckets": BUCKETS,
            "relative_attention_max_distance": MAX_DISTANCE,
            "dropout_rate": float(original.get("hidden_dropout_prob", 0.1)),
            "layer_norm_epsilon": 1e-6,
            "feed_forward_proj": "gated-gelu_python",  # bert4keras' gelu is the erf one
            "pad_token_id": int(original.get(f"zhplm.{PAD}", 0)),
            "decoder_start_token_id": int(original[f"zhplm.{START}"]),
            "eos_token_id": int(original[f"zhplm.{END}"]),
            "tie_word_embeddings": False,
        }

    def write_tokenizer(self, vocab: Path | None, out: Path, config: Mapping[str, Any]) -> list[str]:
        if vocab is None:
            return ["no vocab.txt found: the tokenizer was not written"]
        from zhplm.arch.tokenization.word import write_word_tokenizer

        return write_word_tokenizer(vocab, out)


SPEC = MT5Spec(
    name="mt5",
    description="mT5 / T5 v1.1 with an untied head, bert4keras TF1 checkpoints: T5-PEGASUS",
    model_type="t5_pegasus",
    full_class="T5PegasusForConditionalGeneration",
    schemes={"bert4keras-tf1": BERT4KERAS_TF1},
    heads=(Head("lm", (r"lm_head\.weight",), "untied LM head (decoder/logits)"),),
    config_names=("config.json", "bert_config.json"),
    vocab_names=("vocab.txt",),
    classes=(((), "T5PegasusForConditionalGeneration"),),
    own_model=OwnModel(
        module="zhplm.arch.modeling.mt5",
        config="zhplm.arch.modeling.configuration_mt5:T5PegasusConfig",
        auto=(
            ("AutoModel", "T5PegasusModel"),
            ("AutoModelForSeq2SeqLM", "T5PegasusForConditionalGeneration"),
        ),
    ),
    evidence=Evidence(distinctive=(r"shared/embedding", r"decoder/logits/kernel"), without_distinctive=0.0),
    tokenizers=("zhplm.arch.tokenization.word",),
)
