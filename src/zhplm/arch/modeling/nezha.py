# mypy: disable-error-code="no-untyped-call,misc,untyped-decorator"
"""NEZHA (Huawei Noah's Ark, TF1) and WoNEZHA: BERT with functional relative positions.

transformers 5 dropped NEZHA; this is zhplm's own implementation, written from the paper and the
original TensorFlow code. Differences from BERT: no absolute position embeddings; each self-attention
adds a fixed sinusoidal relative-position term on the key side (``q·R_ijᵀ`` in the scores) and on the
value side (``Σ_j p_ij·R_ij`` in the context), with ``R_ij = table[clip(j-i, ±M) + M]``, M =
``max_relative_position`` (64). ``R [L, L, d]`` is gathered once per forward and shared by all layers;
each term is then one matmul batched over the query position (exact; as fast as or faster than
gathering/scattering over the (2M+1)-row table in our measurements).

Everything else is BERT's maths, so it is transformers' own ``Bert*`` modules: the layers
(:class:`BertLayer`, with :class:`NezhaSelfAttention` in place of BERT's self-attention), the pooler and
the pre-training heads. Only the relative-position attention and the position-free embedding are NEZHA's.

Parameter names (BERT's Hugging Face naming, so a Google-BERT name mapping applies), with
``P = "bert."`` inside the head models and ``P = ""`` in :class:`NezhaModel`::

    P embeddings.word_embeddings.weight            [vocab, H]
    P embeddings.token_type_embeddings.weight      [type_vocab, H]
    P embeddings.LayerNorm.{weight,bias}           [H]
    P encoder.layer.N.attention.self.{query,key,value}.{weight [H, H], bias [H]}
    P encoder.layer.N.attention.output.dense.{weight [H, H], bias}
    P encoder.layer.N.attention.output.LayerNorm.{weight,bias}
    P encoder.layer.N.intermediate.dense.{weight [I, H], bias [I]}
    P encoder.layer.N.output.dense.{weight [H, I], bias [H]}
    P encoder.layer.N.output.LayerNorm.{weight,bias}
    P pooler.dense.{weight,bias}                   (NezhaModel, NezhaForPreTraining)
    cls.predictions.transform.dense.{weight,bias}  (NezhaForMaskedLM, NezhaForPreTraining)
    cls.predictions.transform.LayerNorm.{weight,bias}
    cls.predictions.bias                           [vocab]
    cls.predictions.decoder.{weight,bias}          tied to bert.embeddings.word_embeddings.weight and
                                                   cls.predictions.bias (BERT's head)
    cls.seq_relationship.{weight [2, H], bias [2]} (NezhaForPreTraining)

A checkpoint's ``position_embeddings`` (if any) has no place here: NEZHA uses relative positions only.
Linear weights are ``[out, in]`` (TF kernels transposed). NEZHA's TF ``gelu`` is the tanh approximation
(Google BERT's), which transformers calls ``gelu_new``; ``"gelu"`` here is the exact erf form, as in
transformers 4.x NEZHA, so a converter that wants the TF numbers sets ``hidden_act="gelu_new"``.
"""

from typing import Any

import torch
import torch.nn.functional as F
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.models.bert.modeling_bert import (
    BertEncoder,
    BertOnlyMLMHead,
    BertPooler,
    BertPreTrainedModel,
    BertPreTrainingHeads,
    BertSelfAttention,
)
from transformers.utils.output_capturing import capture_outputs

from zhplm.arch.modeling._encoder_heads import MaskedLMHeads, PreTrainingHeads, tied_decoder
from zhplm.arch.modeling._layers import (
    TokenTypeEmbeddings,
    WordEmbeddingAccess,
    key_padding_bias,
    pooled_output,
    relative_position_index,
    relative_position_table,
    token_embeddings,
)
from zhplm.arch.modeling.configuration_nezha import NezhaConfig


class NezhaSelfAttention(BertSelfAttention):  # type: ignore[misc]
    """BERT's self-attention (same ``query``/``key``/``value``) plus NEZHA's relative-position terms.

    Always eager: the relative terms enter the scores and the context, which no fused kernel takes."""

    def forward(  # type: ignore[override]
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        *,
        relative: torch.Tensor,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``relative`` is ``R [L, L, d]``: row ``clip(j-i, ±M) + M`` of the sinusoidal table for (i, j);
        ``attention_mask`` an additive ``[B, 1, 1, L]`` bias."""
        batch, length, _ = hidden_states.shape
        n_heads, size = self.num_attention_heads, self.attention_head_size
        heads = (batch, length, n_heads, size)
        # contiguous once, so that the matmuls below copy nothing; the scale rides on q (smaller than scores)
        q = self.query(hidden_states).view(heads).transpose(1, 2).contiguous() * self.scaling
        k = self.key(hidden_states).view(heads).transpose(1, 2).contiguous()
        v = self.value(hidden_states).view(heads).transpose(1, 2).contiguous()
        by_query = (length, batch * n_heads)  # batched over the query position i: [L, B·H, ·]

        # key side: q_i·(k_j + R_ij) = q_i·k_j + (q_i·R_iᵀ)_j
        scores = torch.matmul(q, k.transpose(-1, -2))
        q_i = q.permute(2, 0, 1, 3).reshape(*by_query, size)
        key_rel = torch.matmul(q_i, relative.transpose(1, 2))
        scores += key_rel.view(length, batch, n_heads, length).permute(1, 2, 0, 3)
        if attention_mask is not None:
            scores += attention_mask
        probs = scores.softmax(dim=-1)
        dropped = F.dropout(probs, p=self.dropout.p, training=self.training)

        # value side: Σ_j p_ij·(v_j + R_ij) = p·v + p_i·R_i
        context = torch.matmul(dropped, v)
        p_i = dropped.permute(2, 0, 1, 3).reshape(*by_query, length)
        value_rel = torch.matmul(p_i, relative)
        context += value_rel.view(length, batch, n_heads, size).permute(1, 2, 0, 3)
        return context.transpose(1, 2).reshape(batch, length, -1), probs


class NezhaEncoder(BertEncoder):  # type: ignore[misc]
    """BERT's encoder whose layers attend with :class:`NezhaSelfAttention` (same parameter names)."""

    def __init__(self, config: NezhaConfig) -> None:
        super().__init__(config)
        for i, layer in enumerate(list[Any](self.layer)):
            layer.attention.self = NezhaSelfAttention(config, layer_idx=i)


class NezhaPreTrainedModel(BertPreTrainedModel):  # type: ignore[misc]
    config_class = NezhaConfig
    config: NezhaConfig
    base_model_prefix = "bert"
    supports_gradient_checkpointing = False
    _supports_flash_attn = False  # NEZHA's attention is its own (eager) kernel
    _supports_flex_attn = False
    _supports_sdpa = False
    _supports_attention_backend = False


class NezhaModel(WordEmbeddingAccess, NezhaPreTrainedModel):
    """The NEZHA encoder (+ BERT pooler): ``last_hidden_state``, ``pooler_output``."""

    _no_split_modules = ["TokenTypeEmbeddings", "BertLayer"]  # noqa: RUF012 (transformers declares it so)

    def __init__(self, config: NezhaConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = TokenTypeEmbeddings(
            config.vocab_size,
            config.type_vocab_size,
            config.hidden_size,
            eps=config.layer_norm_eps,
            dropout=config.hidden_dropout_prob,
            pad_token_id=config.pad_token_id,
        )
        self.encoder = NezhaEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.post_init()

    @capture_outputs
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> BaseModelOutputWithPooling:
        inputs_embeds = token_embeddings(self.embeddings.word_embeddings, input_ids, inputs_embeds)
        batch, length, _ = inputs_embeds.shape

        hidden = self.embeddings(inputs_embeds, token_type_ids)
        bias = key_padding_bias(attention_mask, batch, length, hidden.dtype)
        head_size = self.config.hidden_size // self.config.num_attention_heads
        table = relative_position_table(
            self.config.max_relative_position, head_size, hidden.device, hidden.dtype
        )
        relative = table[relative_position_index(length, self.config.max_relative_position, hidden.device)]
        last = self.encoder(hidden, bias, relative=relative, **kwargs).last_hidden_state
        return pooled_output(last, self.pooler)


class NezhaForMaskedLM(MaskedLMHeads, NezhaPreTrainedModel):
    """NEZHA with BERT's MLM head (transform + tied decoder + bias): ``logits [B, L, vocab]``."""

    _tied_weights_keys = tied_decoder("bert")
    model_class = NezhaModel
    head_class = BertOnlyMLMHead


class NezhaForPreTraining(PreTrainingHeads, NezhaPreTrainedModel):
    """NEZHA with both pre-training heads: MLM logits and next-sentence (NSP) logits."""

    _tied_weights_keys = tied_decoder("bert")
    model_class = NezhaModel
    head_class = BertPreTrainingHeads


__all__ = ["NezhaConfig", "NezhaForMaskedLM", "NezhaForPreTraining", "NezhaModel", "NezhaPreTrainedModel"]
