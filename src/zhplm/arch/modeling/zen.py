# mypy: disable-error-code="no-untyped-call,misc"
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
slot). :class:`zhplm.arch.tokenization.zen.ZenTokenizer` produces all of them.
"""

import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPooling, MaskedLMOutput
from transformers.models.bert.modeling_bert import (
    BertEmbeddings,
    BertForPreTrainingOutput,
    BertLayer,
    BertOnlyMLMHead,
    BertPooler,
    BertPreTrainedModel,
    BertPreTrainingHeads,
)

from zhplm.arch.modeling._layers import (
    WordEmbeddingAccess,
    check_ids_or_embeds,
    key_padding_bias,
    masked_lm_output,
    output_flags,
    pretraining_output,
    want_dict,
)
from zhplm.arch.modeling.configuration_zen import ZenConfig

log = logging.getLogger(__name__)

# the decoder is the word embedding transposed, its bias the head's bias (as transformers' BERT heads)
_TIED_DECODER = {
    "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
    "cls.predictions.decoder.bias": "cls.predictions.bias",
}


class ZenNgramEmbeddings(nn.Module):
    """n-gram embedding + n-gram type embedding → LayerNorm → dropout (no position embeddings)."""

    def __init__(self, config: ZenConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.word_size, config.hidden_size, padding_idx=0)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, ngram_ids: torch.Tensor, token_type_ids: torch.Tensor | None) -> torch.Tensor:
        x = self.word_embeddings(ngram_ids)
        if token_type_ids is None:
            x = x + self.token_type_embeddings.weight[0]
        else:
            x = x + self.token_type_embeddings(token_type_ids)
        out: torch.Tensor = self.dropout(self.LayerNorm(x))
        return out


class ZenEncoder(nn.Module):
    """The character layers and the n-gram layers (both transformers' :class:`BertLayer`)."""

    def __init__(self, config: ZenConfig) -> None:
        super().__init__()
        if config.num_hidden_word_layers > config.num_hidden_layers:
            raise ValueError(
                f"num_hidden_word_layers ({config.num_hidden_word_layers}) exceeds num_hidden_layers "
                f"({config.num_hidden_layers}): the extra n-gram layers would never run"
            )
        self.layer = nn.ModuleList(BertLayer(config, layer_idx=i) for i in range(config.num_hidden_layers))
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
    _can_record_outputs: dict[str, Any] = {}  # noqa: RUF012 (transformers declares it so)


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

    _no_split_modules = ["BertEmbeddings", "BertLayer"]  # noqa: RUF012

    def __init__(self, config: ZenConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = BertEmbeddings(config)
        self.word_embeddings = ZenNgramEmbeddings(config)
        self.encoder = ZenEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.post_init()

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
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutputWithPooling | tuple[torch.Tensor, ...]:
        check_ids_or_embeds(input_ids, inputs_embeds)
        want_attn, want_hidden = output_flags(self.config, output_attentions, output_hidden_states)
        if want_attn and self.config._attn_implementation != "eager":
            raise ValueError(
                "output_attentions needs the eager attention: load the model with attn_implementation='eager'"
            )
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
            ngram_hidden = self.word_embeddings(ngrams.ids, ngrams.token_types)
            ngram_bias = key_padding_bias(ngrams.mask, batch, ngrams.ids.shape[1], hidden.dtype)
            fuse = ngrams.matrix.to(hidden.dtype)

        all_hidden: list[torch.Tensor] = [hidden]
        all_attn: list[torch.Tensor] = []
        record: Callable[..., None] = lambda _m, _i, out: all_attn.append(out[1])  # noqa: E731
        layers: list[Any] = list(self.encoder.layer)
        hooks = [layer.attention.self.register_forward_hook(record) for layer in layers] if want_attn else []
        try:
            for i, layer in enumerate(self.encoder.layer):
                hidden = layer(hidden, bias)
                if ngram_hidden is not None and fuse is not None:
                    if i < len(self.encoder.word_layers):
                        ngram_hidden = self.encoder.word_layers[i](ngram_hidden, ngram_bias)
                    hidden = hidden + torch.bmm(fuse, ngram_hidden)
                all_hidden.append(hidden)
        finally:
            for hook in hooks:
                hook.remove()
        pooled = self.pooler(hidden) if self.pooler is not None else None
        out = BaseModelOutputWithPooling(
            last_hidden_state=hidden,
            pooler_output=pooled,
            hidden_states=tuple(all_hidden) if want_hidden else None,
            attentions=tuple(all_attn) if want_attn else None,
        )
        return out if want_dict(self.config, return_dict) else out.to_tuple()


class _ZenWithHeads(ZenPreTrainedModel):
    _tied_weights_keys = _TIED_DECODER

    bert: ZenModel
    cls: Any  # BertOnlyMLMHead or BertPreTrainingHeads

    def get_output_embeddings(self) -> nn.Linear:
        decoder: nn.Linear = self.cls.predictions.decoder
        return decoder

    def set_output_embeddings(self, value: nn.Module) -> None:
        if not isinstance(value, nn.Linear):
            raise TypeError(f"output embeddings must be an nn.Linear, got {type(value).__name__}")
        self.cls.predictions.decoder = value
        self.cls.predictions.bias = value.bias

    def _encode(self, **inputs: Any) -> BaseModelOutputWithPooling:
        out: BaseModelOutputWithPooling = self.bert(**inputs, return_dict=True)
        return out


class ZenForMaskedLM(_ZenWithHeads):
    """ZEN with BERT's MLM head (transform + tied decoder + bias): ``logits [B, T, vocab]``.

    The original ``ZenForMaskedLM`` passes ``attention_mask`` positionally into the n-gram token-type slot;
    this class wires the inputs as the original ``ZenForPreTraining`` (which trained the released weights).
    """

    def __init__(self, config: ZenConfig) -> None:
        super().__init__(config)
        self.bert = ZenModel(config, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config)
        self.post_init()

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
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> MaskedLMOutput | tuple[torch.Tensor, ...]:
        base = self._encode(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            input_ngram_ids=input_ngram_ids,
            ngram_position_matrix=ngram_position_matrix,
            ngram_token_type_ids=ngram_token_type_ids,
            ngram_attention_mask=ngram_attention_mask,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )
        logits = self.cls(base.last_hidden_state)
        return masked_lm_output(self.config, logits, labels, base, return_dict)


class ZenForPreTraining(_ZenWithHeads):
    """ZEN with both pre-training heads (the released checkpoint's class): MLM and next-sentence logits."""

    def __init__(self, config: ZenConfig) -> None:
        super().__init__(config)
        self.bert = ZenModel(config)
        self.cls = BertPreTrainingHeads(config)
        self.post_init()

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
        labels: torch.Tensor | None = None,
        next_sentence_label: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BertForPreTrainingOutput | tuple[torch.Tensor, ...]:
        base = self._encode(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            input_ngram_ids=input_ngram_ids,
            ngram_position_matrix=ngram_position_matrix,
            ngram_token_type_ids=ngram_token_type_ids,
            ngram_attention_mask=ngram_attention_mask,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )
        logits, nsp_logits = self.cls(base.last_hidden_state, base.pooler_output)
        return pretraining_output(
            self.config, logits, nsp_logits, labels, next_sentence_label, base, return_dict
        )


__all__ = ["ZenConfig", "ZenForMaskedLM", "ZenForPreTraining", "ZenModel", "ZenPreTrainedModel"]
