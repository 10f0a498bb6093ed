# mypy: disable-error-code="no-untyped-call,misc"
"""NEZHA (Huawei Noah's Ark, TF1) and WoNEZHA: BERT with functional relative positions.

transformers 5 dropped NEZHA; this is zhplm's own implementation, written from the paper and the
original TensorFlow code. Differences from BERT: no absolute position embeddings; each self-attention
adds a fixed sinusoidal relative-position term on the key side (``q·R_ijᵀ`` in the scores) and on the
value side (``Σ_j p_ij·R_ij`` in the context), with ``R_ij = table[clip(j-i, ±M) + M]``, M =
``max_relative_position`` (64). ``R [L, L, d]`` is gathered once per forward and shared by all layers;
each term is then one matmul batched over the query position (exact; as fast as or faster than
gathering/scattering over the (2M+1)-row table in our measurements).

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
    cls.predictions.decoder.weight                 tied to bert.embeddings.word_embeddings.weight
    cls.seq_relationship.{weight [2, H], bias [2]} (NezhaForPreTraining)

A checkpoint's ``position_embeddings`` (if any) has no place here: NEZHA uses relative positions only.
Linear weights are ``[out, in]`` (TF kernels transposed). NEZHA's TF ``gelu`` is the tanh approximation
(Google BERT's), which transformers calls ``gelu_new``; ``"gelu"`` here is the exact erf form, as in
transformers 4.x NEZHA, so a converter that wants the TF numbers sets ``hidden_act="gelu_new"``.
"""

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_outputs import BaseModelOutputWithPooling, MaskedLMOutput
from transformers.models.bert.modeling_bert import BertForPreTrainingOutput

from zhplm.arch.modeling._layers import (
    DecoderAccess,
    WordEmbeddingAccess,
    check_ids_or_embeds,
    default_scale,
    key_padding_bias,
    masked_lm_output,
    output_flags,
    pretraining_output,
    relative_position_index,
    relative_position_table,
    want_dict,
)
from zhplm.arch.modeling.configuration_nezha import NezhaConfig

# our decoder weight is the word embedding (transformers 5 ties what this names)
_TIED_DECODER = {"cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight"}


class NezhaEmbeddings(nn.Module):
    def __init__(self, config: NezhaConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(
            config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id
        )
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, inputs_embeds: torch.Tensor, token_type_ids: torch.Tensor | None) -> torch.Tensor:
        if token_type_ids is None:
            x = inputs_embeds + self.token_type_embeddings.weight[0]
        else:
            x = inputs_embeds + self.token_type_embeddings(token_type_ids)
        out: torch.Tensor = self.dropout(self.LayerNorm(x))
        return out


class NezhaSelfAttention(nn.Module):
    def __init__(self, config: NezhaConfig) -> None:
        super().__init__()
        if config.hidden_size % config.num_attention_heads:
            raise ValueError(
                f"hidden_size {config.hidden_size} is not a multiple of num_attention_heads "
                f"{config.num_attention_heads}"
            )
        self.num_heads = config.num_attention_heads
        self.head_size = config.hidden_size // config.num_attention_heads
        self.scale = default_scale(self.head_size)
        self.dropout_p = config.attention_probs_dropout_prob
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(
        self, hidden: torch.Tensor, bias: torch.Tensor | None, relative: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``relative`` is ``R [L, L, d]``: row ``clip(j-i, ±M) + M`` of the sinusoidal table for (i, j)."""
        batch, length, _ = hidden.shape
        heads = (batch, length, self.num_heads, self.head_size)
        # contiguous once, so that the matmuls below copy nothing; the scale rides on q (smaller than scores)
        q = self.query(hidden).view(heads).transpose(1, 2).contiguous() * self.scale
        k = self.key(hidden).view(heads).transpose(1, 2).contiguous()
        v = self.value(hidden).view(heads).transpose(1, 2).contiguous()
        by_query = (length, batch * self.num_heads)  # batched over the query position i: [L, B·H, ·]

        # key side: q_i·(k_j + R_ij) = q_i·k_j + (q_i·R_iᵀ)_j
        scores = torch.matmul(q, k.transpose(-1, -2))
        q_i = q.permute(2, 0, 1, 3).reshape(*by_query, self.head_size)
        key_rel = torch.matmul(q_i, relative.transpose(1, 2))
        scores += key_rel.view(length, batch, self.num_heads, length).permute(1, 2, 0, 3)
        if bias is not None:
            scores += bias
        probs = scores.softmax(dim=-1)
        dropped = F.dropout(probs, p=self.dropout_p, training=self.training)

        # value side: Σ_j p_ij·(v_j + R_ij) = p·v + p_i·R_i
        context = torch.matmul(dropped, v)
        p_i = dropped.permute(2, 0, 1, 3).reshape(*by_query, length)
        value_rel = torch.matmul(p_i, relative)
        context += value_rel.view(length, batch, self.num_heads, self.head_size).permute(1, 2, 0, 3)
        return context.transpose(1, 2).reshape(batch, length, -1), probs


class NezhaSelfOutput(nn.Module):
    def __init__(self, config: NezhaConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.LayerNorm(self.dropout(self.dense(hidden)) + residual)
        return out


class NezhaAttention(nn.Module):
    def __init__(self, config: NezhaConfig) -> None:
        super().__init__()
        self.self = NezhaSelfAttention(config)
        self.output = NezhaSelfOutput(config)


class NezhaIntermediate(nn.Module):
    def __init__(self, config: NezhaConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = ACT2FN[config.hidden_act]

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.act(self.dense(hidden))
        return out


class NezhaOutput(NezhaSelfOutput):
    def __init__(self, config: NezhaConfig) -> None:
        super().__init__(config)
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)


class NezhaLayer(nn.Module):
    def __init__(self, config: NezhaConfig) -> None:
        super().__init__()
        self.attention = NezhaAttention(config)
        self.intermediate = NezhaIntermediate(config)
        self.output = NezhaOutput(config)

    def forward(
        self, hidden: torch.Tensor, bias: torch.Tensor | None, relative: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        context, probs = self.attention.self(hidden, bias, relative)
        hidden = self.attention.output(context, hidden)
        return self.output(self.intermediate(hidden), hidden), probs


class NezhaEncoder(nn.Module):
    def __init__(self, config: NezhaConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(NezhaLayer(config) for _ in range(config.num_hidden_layers))


class NezhaPooler(nn.Module):
    def __init__(self, config: NezhaConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden[:, 0]))


class NezhaPredictionHeadTransform(nn.Module):
    def __init__(self, config: NezhaConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.act = ACT2FN[config.hidden_act]
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.LayerNorm(self.act(self.dense(hidden)))
        return out


class NezhaLMPredictionHead(nn.Module):
    """Transform, then the (tied) token embedding transposed plus a per-token bias."""

    def __init__(self, config: NezhaConfig) -> None:
        super().__init__()
        self.transform = NezhaPredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return F.linear(self.transform(hidden), self.decoder.weight, self.bias)


class NezhaOnlyMLMHead(nn.Module):
    def __init__(self, config: NezhaConfig) -> None:
        super().__init__()
        self.predictions = NezhaLMPredictionHead(config)


class NezhaPreTrainingHeads(NezhaOnlyMLMHead):
    def __init__(self, config: NezhaConfig) -> None:
        super().__init__(config)
        self.seq_relationship = nn.Linear(config.hidden_size, 2)


class NezhaPreTrainedModel(PreTrainedModel):  # type: ignore[misc]
    config_class = NezhaConfig
    config: NezhaConfig
    base_model_prefix = "bert"
    supports_gradient_checkpointing = False

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, NezhaLMPredictionHead):
            init.zeros_(module.bias)


class NezhaModel(WordEmbeddingAccess, NezhaPreTrainedModel):
    """The NEZHA encoder (+ BERT pooler): ``last_hidden_state``, ``pooler_output``."""

    def __init__(self, config: NezhaConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = NezhaEmbeddings(config)
        self.encoder = NezhaEncoder(config)
        self.pooler = NezhaPooler(config) if add_pooling_layer else None
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutputWithPooling | tuple[torch.Tensor, ...]:
        check_ids_or_embeds(input_ids, inputs_embeds)
        if inputs_embeds is None:
            assert input_ids is not None
            inputs_embeds = self.embeddings.word_embeddings(input_ids)
        batch, length, _ = inputs_embeds.shape
        want_attn, want_hidden = output_flags(self.config, output_attentions, output_hidden_states)

        hidden = self.embeddings(inputs_embeds, token_type_ids)
        bias = key_padding_bias(attention_mask, batch, length, hidden.dtype)
        head_size = self.config.hidden_size // self.config.num_attention_heads
        table = relative_position_table(
            self.config.max_relative_position, head_size, hidden.device, hidden.dtype
        )
        relative = table[relative_position_index(length, self.config.max_relative_position, hidden.device)]

        all_hidden: list[torch.Tensor] = [hidden]
        all_attn: list[torch.Tensor] = []
        for layer in self.encoder.layer:
            hidden, probs = layer(hidden, bias, relative)
            all_hidden.append(hidden)
            all_attn.append(probs)
        pooled = self.pooler(hidden) if self.pooler is not None else None
        out = BaseModelOutputWithPooling(
            last_hidden_state=hidden,
            pooler_output=pooled,
            hidden_states=tuple(all_hidden) if want_hidden else None,
            attentions=tuple(all_attn) if want_attn else None,
        )
        return out if want_dict(self.config, return_dict) else out.to_tuple()


class NezhaForMaskedLM(DecoderAccess, NezhaPreTrainedModel):
    """NEZHA with BERT's MLM head (transform + tied decoder + bias): ``logits [B, L, vocab]``."""

    _tied_weights_keys = _TIED_DECODER

    def __init__(self, config: NezhaConfig) -> None:
        super().__init__(config)
        self.bert = NezhaModel(config, add_pooling_layer=False)
        self.cls = NezhaOnlyMLMHead(config)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> MaskedLMOutput | tuple[torch.Tensor, ...]:
        base = self.bert(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.cls.predictions(base.last_hidden_state)
        return masked_lm_output(self.config, logits, labels, base, return_dict)


class NezhaForPreTraining(DecoderAccess, NezhaPreTrainedModel):
    """NEZHA with both pre-training heads: MLM logits and next-sentence (NSP) logits."""

    _tied_weights_keys = _TIED_DECODER

    def __init__(self, config: NezhaConfig) -> None:
        super().__init__(config)
        self.bert = NezhaModel(config)
        self.cls = NezhaPreTrainingHeads(config)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        next_sentence_label: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BertForPreTrainingOutput | tuple[torch.Tensor, ...]:
        base = self.bert(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.cls.predictions(base.last_hidden_state)
        nsp_logits = self.cls.seq_relationship(base.pooler_output)
        return pretraining_output(
            self.config, logits, nsp_logits, labels, next_sentence_label, base, return_dict
        )


__all__ = ["NezhaConfig", "NezhaForMaskedLM", "NezhaForPreTraining", "NezhaModel", "NezhaPreTrainedModel"]
