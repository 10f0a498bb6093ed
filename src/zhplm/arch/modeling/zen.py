# mypy: disable-error-code="no-untyped-call,misc,untyped-decorator"
"""ZEN (Sinovation Ventures, 2019): a BERT character encoder fused with an n-gram encoder.

transformers has no ZEN; this is zhplm's own implementation, written from the paper and the original
PyTorch code (``sinovation/ZEN``, ``ZEN/modeling.py``). The character encoder is BERT; beside it runs an
n-gram encoder: the n-grams of a lexicon (``ngram.txt``) that occur in the sentence are embedded (n-gram
embedding + n-gram type embedding + LayerNorm, no positions) and encoded by ``num_hidden_word_layers``
BERT layers of their own. After **every** character layer ``i`` the n-gram states (the output of n-gram
layer ``i``, or of the last n-gram layer once ``i`` passes them) are added to the characters they cover::

    h_i = BertLayer_i(h_{i-1}) + ngram_position_matrix @ g_min(i, W-1)

``ngram_position_matrix[b, t, n]`` is 1 where n-gram ``n`` covers character ``t``. (The research note
said "after the first W layers"; the original adds the last n-gram states after the deeper layers too.)

The character and n-gram layers are transformers' own :class:`BertLayer` (attention through transformers'
eager/SDPA kernels), the heads are transformers' BERT heads. Parameter names follow the original, with
``P = "bert."`` inside the head models and ``P = ""`` in :class:`ZenModel`::

    P embeddings.{word,position,token_type}_embeddings.weight, P embeddings.LayerNorm.{weight,bias}
    P word_embeddings.word_embeddings.weight       [word_size, H]   (n-gram embeddings; row 0 = padding)
    P word_embeddings.token_type_embeddings.weight [type_vocab, H]
    P word_embeddings.LayerNorm.{weight,bias}
    P encoder.layer.N.*                            (BERT layer names)
    P encoder.word_layers.N.*                      (the same names; N < num_hidden_word_layers)
    P pooler.dense.{weight,bias}
    cls.predictions.{transform.dense, transform.LayerNorm, bias}, cls.predictions.decoder (tied)
    cls.seq_relationship.{weight,bias}             (ZenForPreTraining)

Inputs beside BERT's: ``input_ngram_ids [B, N]``, ``ngram_position_matrix [B, T, N]``, optional
``ngram_token_type_ids [B, N]`` and ``ngram_attention_mask [B, N]`` (1 = a real n-gram, 0 = a padding
slot). :class:`zhplm.arch.zen_tokenizer.ZenTokenizer` produces all of them.
"""

import logging
from typing import Any

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.models.bert.modeling_bert import (
    BertEmbeddings,
    BertLayer,
    BertOnlyMLMHead,
    BertPooler,
    BertPreTrainedModel,
    BertPreTrainingHeads,
    BertSelfAttention,
)
from transformers.utils.output_capturing import OutputRecorder, capture_outputs

from zhplm.arch.modeling._encoder_heads import MaskedLMHeads, PreTrainingHeads, tied_decoder
from zhplm.arch.modeling._layers import (
    TokenTypeEmbeddings,
    WordEmbeddingAccess,
    check_eager_for_attentions,
    check_ids_or_embeds,
    key_padding_bias,
    pooled_output,
)
from zhplm.arch.modeling.configuration_zen import ZenConfig

log = logging.getLogger(__name__)


class ZenLayer(BertLayer):  # type: ignore[misc]
    """A character layer: transformers' :class:`BertLayer` (same parameters), then the n-gram states of
    this depth added to the characters they cover (``fuse [B, T, N] @ ngram_hidden [B, N, H]``)."""

    def forward(  # type: ignore[override]
        self,
        hidden: torch.Tensor,
        bias: torch.Tensor | None,
        ngram_hidden: torch.Tensor | None = None,
        fuse: torch.Tensor | None = None,
    ) -> torch.Tensor:
        out: torch.Tensor = super().forward(hidden, bias)
        if ngram_hidden is not None and fuse is not None:
            out = out + torch.bmm(fuse, ngram_hidden)
        return out


class ZenEncoder(nn.Module):
    """The character layers (:class:`ZenLayer`) and the n-gram layers (transformers' :class:`BertLayer`)."""

    def __init__(self, config: ZenConfig) -> None:
        super().__init__()
        if config.num_hidden_word_layers > config.num_hidden_layers:
            raise ValueError(
                f"num_hidden_word_layers ({config.num_hidden_word_layers}) exceeds num_hidden_layers "
                f"({config.num_hidden_layers}): the extra n-gram layers would never run"
            )
        self.layer = nn.ModuleList(ZenLayer(config, layer_idx=i) for i in range(config.num_hidden_layers))
        self.word_layers = nn.ModuleList(
            BertLayer(config, layer_idx=i) for i in range(config.num_hidden_word_layers)
        )


class ZenPreTrainedModel(BertPreTrainedModel):  # type: ignore[misc]
    config_class = ZenConfig
    config: ZenConfig
    base_model_prefix = "bert"
    supports_gradient_checkpointing = False
    _supports_flash_attn = False  # the masks are additive float biases
    _supports_flex_attn = False
    # the character side only: the fused states after each character layer, its attention probabilities
    _can_record_outputs: dict[str, Any] = {  # noqa: RUF012 (transformers declares it so)
        "hidden_states": ZenLayer,
        "attentions": OutputRecorder(BertSelfAttention, index=1, layer_name="encoder.layer"),
    }


class _NgramInputs:
    """The n-gram side of one forward pass, checked against the character side."""

    def __init__(
        self,
        ids: torch.Tensor | None,
        matrix: torch.Tensor | None,
        token_types: torch.Tensor | None,
        mask: torch.Tensor | None,
        batch: int,
        length: int,
    ) -> None:
        self.ids = ids
        self.matrix = matrix
        self.token_types = token_types
        self.mask = mask
        if (ids is None) != (matrix is None):
            raise ValueError("pass both input_ngram_ids and ngram_position_matrix, or neither")
        if ids is None or matrix is None:
            return
        if ids.dim() != 2 or ids.shape[0] != batch:
            raise ValueError(
                f"input_ngram_ids must be [batch, n_ngrams] with batch {batch}, got {tuple(ids.shape)}"
            )
        count = ids.shape[1]
        if tuple(matrix.shape) != (batch, length, count):
            raise ValueError(
                f"ngram_position_matrix must be [batch, seq_len, n_ngrams] = {(batch, length, count)}, "
                f"got {tuple(matrix.shape)}"
            )
        for name, t in (("ngram_token_type_ids", token_types), ("ngram_attention_mask", mask)):
            if t is not None and tuple(t.shape) != tuple(ids.shape):
                raise ValueError(f"{name} must have the shape of input_ngram_ids {tuple(ids.shape)}")

    @property
    def active(self) -> bool:
        return self.ids is not None and self.ids.shape[1] > 0


_warned_no_ngrams = False


def _warn_no_ngrams() -> None:
    global _warned_no_ngrams
    if not _warned_no_ngrams:
        log.warning(
            "ZEN called without n-gram inputs: only the character encoder runs. Tokenize with zhplm's "
            "ZenTokenizer (it adds input_ngram_ids and ngram_position_matrix) to use the n-gram encoder."
        )
        _warned_no_ngrams = True


class ZenModel(WordEmbeddingAccess, ZenPreTrainedModel):
    """The ZEN encoder (+ BERT pooler): ``last_hidden_state``, ``pooler_output``."""

    _no_split_modules = ["BertEmbeddings", "ZenLayer", "BertLayer"]  # noqa: RUF012

    def __init__(self, config: ZenConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = BertEmbeddings(config)
        self.word_embeddings = TokenTypeEmbeddings(  # the n-gram embeddings (row 0 = padding)
            config.word_size,
            config.type_vocab_size,
            config.hidden_size,
            eps=config.layer_norm_eps,
            dropout=config.hidden_dropout_prob,
            pad_token_id=0,
        )
        self.encoder = ZenEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.post_init()

    @capture_outputs
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        input_ngram_ids: torch.Tensor | None = None,
        ngram_position_matrix: torch.Tensor | None = None,
        ngram_token_type_ids: torch.Tensor | None = None,
        ngram_attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> BaseModelOutputWithPooling:
        check_ids_or_embeds(input_ids, inputs_embeds)
        check_eager_for_attentions(self.config, kwargs)
        hidden = self.embeddings(
            input_ids=input_ids, token_type_ids=token_type_ids, inputs_embeds=inputs_embeds
        )
        batch, length, _ = hidden.shape
        bias = key_padding_bias(attention_mask, batch, length, hidden.dtype)
        ngrams = _NgramInputs(
            input_ngram_ids, ngram_position_matrix, ngram_token_type_ids, ngram_attention_mask, batch, length
        )
        if input_ngram_ids is None:
            _warn_no_ngrams()
        ngram_hidden = fuse = ngram_bias = None
        if ngrams.active:
            assert ngrams.ids is not None and ngrams.matrix is not None
            ngram_ids = ngrams.ids
            ngram_hidden = self.word_embeddings(
                self.word_embeddings.word_embeddings(ngram_ids), ngrams.token_types
            )
            ngram_bias = key_padding_bias(ngrams.mask, batch, ngram_ids.shape[1], hidden.dtype)
            fuse = ngrams.matrix.to(hidden.dtype)

        for i, layer in enumerate(self.encoder.layer):
            if ngram_hidden is not None and i < len(self.encoder.word_layers):
                ngram_hidden = self.encoder.word_layers[i](ngram_hidden, ngram_bias)
            hidden = layer(hidden, bias, ngram_hidden, fuse)
        return pooled_output(hidden, self.pooler)


class ZenForMaskedLM(MaskedLMHeads, ZenPreTrainedModel):
    """ZEN with BERT's MLM head (transform + tied decoder + bias): ``logits [B, T, vocab]``.

    The original ``ZenForMaskedLM`` passes ``attention_mask`` positionally into the n-gram token-type slot;
    this class wires the inputs as the original ``ZenForPreTraining`` (which trained the released weights).
    """

    _tied_weights_keys = tied_decoder("bert")
    model_class = ZenModel
    head_class = BertOnlyMLMHead


class ZenForPreTraining(PreTrainingHeads, ZenPreTrainedModel):
    """ZEN with both pre-training heads (the released checkpoint's class): MLM and next-sentence logits."""

    _tied_weights_keys = tied_decoder("bert")
    model_class = ZenModel
    head_class = BertPreTrainingHeads


__all__ = ["ZenConfig", "ZenForMaskedLM", "ZenForPreTraining", "ZenModel", "ZenPreTrainedModel"]
