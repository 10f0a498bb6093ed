# mypy: disable-error-code="no-untyped-call,misc,untyped-decorator"
"""Lattice-BERT (Alibaba DAMO, AliceMind 2021): BERT over a word lattice, with lattice position attention.

transformers has no Lattice-BERT; this is zhplm's own implementation, written from the paper and the
original TensorFlow 1 code (``alibaba/AliceMind``, ``LatticeBERT/modeling_labert.py``). The input is a
lattice: every character of the text plus every lexicon word found in it, each token with the position of
its first character (``start_position_ids``) and of its last (``end_position_ids``);
:class:`zhplm.arch.tokenization.lattice.LatticeTokenizer` builds it.

* Embeddings (ALBERT-style factorised): ``word_embeddings [V, E]`` → ``word_embeddings_projection`` (E→H,
  no bias) + ``token_type_embeddings`` → LayerNorm → dropout. **No absolute position embedding.**
* One attention bias ``[B, heads, L, L]``, computed once per forward and added to the scores of every
  layer (the original computes it once, outside the layer loop):

  - disentangled position attention: ``p = [start_emb[start]; end_emb[end]]`` (2E wide) →
    ``query_position``/``key_position`` (2E→H) → per-head ``q_p·k_pᵀ/√d``;
  - four clipped relative-distance tables ``relative_position_scores_{0..3} [2M+1, heads]`` for the
    distances start→start, end→start, start→end, end→end: entry (i, j) reads row
    ``clip(from_j − to_i, −M, M) + M`` of table k for the pairs (from, to) = (s, s), (s, e), (e, s), (e, e);
  - a 32-way lattice relation ``relative_type_embeddings [32, heads]``: code(i, j) = ``1·[s_j ≥ s_i] +
    2·[s_j > e_i] + 4·[e_j ≥ s_i] + 8·[e_j ≥ e_i] + 16·[s_j = s_i ∧ e_j = e_i]``;
  - the [CLS] "reset": row 0 (from [CLS] to every other token) is replaced by a learned per-head score
    ``θ₁``, column 0 (from every token to [CLS]) by ``θ₂``, where ``θ = q_p(t)·k_p(t)/√d`` of a learned
    vector ``t`` (``relative_att_reset_theta_{1,2}``) through the same position projections.

  So token 0 must be ``[CLS]`` (the tokenizer pads on the right only).
* Encoder: post-LN BERT layers (transformers' :class:`BertLayer` and its parameter names; SDPA with the
  bias as an additive mask). ``hidden_act`` is ``gelu_new``: the original's ``gelu`` is the tanh
  approximation. When the batch has padding, the per-token work of every layer (the Q/K/V and output
  projections, the residual + LayerNorm and the FFN: ~90% of a forward pass) runs on the real tokens only,
  packed into ``[N_real, H]``; only the attention itself sees the ``[B, L]`` grid (Q/K/V scattered back,
  zeros at the padding, which the mask excludes). So the layer outputs (``last_hidden_state``,
  ``hidden_states[1:]``, put back on the grid by :class:`GridView`) are **zeros at padded positions**;
  real positions are as without packing.
* Heads (``run_pretraining_labert.py``): BERT pooler; MLM = dense H→**E** + act + LayerNorm(E), then the
  word embedding transposed + ``output_bias``; next-sentence classifier with **3** classes.

Parameter names (``P = "bert."`` in the head models, ``""`` in :class:`LatticeBertModel`)::

    P embeddings.{word_embeddings, word_embeddings_projection, token_type_embeddings, LayerNorm}
    P encoder.{start,end}_position_embeddings.weight [max_position_embeddings, E]
    P encoder.{query,key}_position.{weight,bias}      [H, 2E]
    P encoder.relative_position_scores.K.weight       [2M+1, heads]   (K = 0..3)
    P encoder.relative_type_embeddings.weight         [32, heads]
    P encoder.reset_theta_{1,2}                       [2E]
    P encoder.layer.N.*                               (BERT layer names)
    P pooler.dense.{weight,bias}
    cls.predictions.{transform.dense [E, H], transform.LayerNorm [E], bias [V]}, cls.predictions.decoder
    (tied), cls.seq_relationship.{weight,bias} [3, H]
"""

import logging
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn
from transformers import BertConfig
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.bert.modeling_bert import (
    BertLayer,
    BertPooler,
    BertPreTrainedModel,
    eager_attention_forward,
)
from transformers.utils.output_capturing import OutputRecorder, capture_outputs

from zhplm.arch.modeling._encoder_heads import MaskedLMHeads, PreTrainingHeads, tied_decoder
from zhplm.arch.modeling._layers import (
    WordEmbeddingAccess,
    add_token_types,
    attention_head_size,
    check_eager_for_attentions,
    check_ids_or_embeds,
    pooled_output,
    wants,
)
from zhplm.arch.modeling.configuration_lattice_bert import LatticeBertConfig

log = logging.getLogger(__name__)

# the number of lattice relation codes (5 bits), fixed by the original
NUM_RELATION_TYPES = 32
# which position sequence is "from" (read at the key j) and which is "to" (read at the query i), per table
_DISTANCE_PAIRS = ((0, 0), (0, 1), (1, 0), (1, 1))  # 0 = start, 1 = end


def _activation(name: str) -> nn.Module:
    """``ACT2FN[name]``, except that ``gelu_new`` (the original's tanh GELU, six tensor ops in transformers)
    is torch's fused tanh GELU: the same function to float rounding (< 1e-6), and ~13% of a base forward
    pass less on CPU."""
    act: nn.Module = ACT2FN["gelu_pytorch_tanh" if name == "gelu_new" else name]
    return act


class LatticeBertEmbeddings(nn.Module):
    """word embedding (E) → projection to H (no bias) + token type → LayerNorm → dropout."""

    def __init__(self, config: LatticeBertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.embedding_size)
        self.word_embeddings_projection = nn.Linear(config.embedding_size, config.hidden_size, bias=False)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self,
        input_ids: torch.Tensor | None,
        token_type_ids: torch.Tensor | None,
        inputs_embeds: torch.Tensor | None,
    ) -> torch.Tensor:
        """``inputs_embeds`` (if given) are E wide, like rows of ``word_embeddings``."""
        if inputs_embeds is None:
            assert input_ids is not None
            inputs_embeds = self.word_embeddings(input_ids)
        x = self.word_embeddings_projection(inputs_embeds)
        x = add_token_types(x, self.token_type_embeddings, token_type_ids)
        out: torch.Tensor = self.dropout(self.LayerNorm(x))
        return out


@dataclass(frozen=True)
class Packing:
    """Where the real tokens of a padded ``[B, L]`` batch are: their flat indices in ``B * L``."""

    index: torch.Tensor
    batch: int
    length: int

    @classmethod
    def of(cls, attention_mask: torch.Tensor | None) -> "Packing | None":
        """``None`` when nothing is padded (then there is nothing to skip)."""
        if attention_mask is None or bool(attention_mask.all()):
            return None
        batch, length = attention_mask.shape
        return cls(attention_mask.reshape(-1).nonzero().squeeze(-1), batch, length)

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, L, ...]`` → ``[N_real, ...]``."""
        packed: torch.Tensor = x.flatten(0, 1).index_select(0, self.index)
        return packed

    def unpack(self, x: torch.Tensor) -> torch.Tensor:
        """``[N_real, ...]`` → ``[B, L, ...]``, zeros at the padding."""
        full = x.new_zeros((self.batch * self.length, *x.shape[1:])).index_copy_(0, self.index, x)
        grid: torch.Tensor = full.unflatten(0, (self.batch, self.length))
        return grid


class LatticeBertLayer(BertLayer):
    """A post-LN BERT layer (same parameters and maths) whose per-token work can skip the padding: with a
    :class:`Packing`, ``hidden`` is ``[N_real, H]`` and only the attention runs on the ``[B, L]`` grid.
    Returns the new hidden state and the attention probabilities (eager attention; else ``None``)."""

    def forward(  # type: ignore[override]
        self, hidden: torch.Tensor, bias: torch.Tensor, packing: Packing | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attention = self.attention.self
        batch, length = bias.shape[0], bias.shape[-1]

        def heads(x: torch.Tensor) -> torch.Tensor:  # → [B, heads, L, d]
            grid = x if packing is None else packing.unpack(x)
            return grid.view(batch, length, -1, attention.attention_head_size).transpose(1, 2)

        query, key, value = (
            heads(proj(hidden)) for proj in (attention.query, attention.key, attention.value)
        )
        config = cast(BertConfig, attention.config)
        attend = ALL_ATTENTION_FUNCTIONS.get_interface(config._attn_implementation, eager_attention_forward)
        context, probs = attend(
            attention,
            query,
            key,
            value,
            bias,
            dropout=attention.dropout.p if self.training else 0.0,
            scaling=attention.scaling,
        )
        context = context.reshape(batch, length, -1)  # the kernels return [B, L, heads, d]
        if packing is not None:
            context = packing.pack(context)
        attended = self.attention.output(context, hidden)
        out: torch.Tensor = self.output(self.intermediate(attended), attended)
        return out, probs


class GridView(nn.Module):
    """A layer's (packed) output put back on the ``[B, L]`` grid, zeros at the padding: what
    ``output_hidden_states`` records, called only when it is asked for (so the packed layers pay nothing
    otherwise). It takes the grid before the layer too, so that it is recorded as a layer is: the first
    call's ``previous`` is the embedding output, ``hidden_states[0]``."""

    def forward(self, previous: torch.Tensor, x: torch.Tensor, packing: Packing | None) -> torch.Tensor:
        return x if packing is None else packing.unpack(x)


class LatticeBertEncoder(nn.Module):
    """The lattice attention bias (computed once) and the BERT layers that share it."""

    def __init__(self, config: LatticeBertConfig) -> None:
        super().__init__()
        heads = config.num_attention_heads
        width = 2 * config.embedding_size
        self.num_heads = heads
        self.head_size = attention_head_size(config)
        self.max_relative_position = config.max_relative_position
        self.start_position_embeddings = nn.Embedding(config.max_position_embeddings, config.embedding_size)
        self.end_position_embeddings = nn.Embedding(config.max_position_embeddings, config.embedding_size)
        self.query_position = nn.Linear(width, config.hidden_size)
        self.key_position = nn.Linear(width, config.hidden_size)
        self.relative_position_scores = nn.ModuleList(
            nn.Embedding(2 * config.max_relative_position + 1, heads) for _ in _DISTANCE_PAIRS
        )
        self.relative_type_embeddings = nn.Embedding(NUM_RELATION_TYPES, heads)
        self.reset_theta_1 = nn.Parameter(torch.zeros(width))
        self.reset_theta_2 = nn.Parameter(torch.zeros(width))
        self.layer = nn.ModuleList(
            LatticeBertLayer(config, layer_idx=i) for i in range(config.num_hidden_layers)
        )
        self.grid = GridView()
        for layer in cast(list[LatticeBertLayer], list(self.layer)):
            layer.intermediate.intermediate_act_fn = _activation(config.hidden_act)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., L, H]`` → ``[..., heads, L, d]``."""
        out: torch.Tensor = x.unflatten(-1, (self.num_heads, self.head_size)).transpose(-2, -3)
        return out

    def _reset_score(self, theta: torch.Tensor) -> torch.Tensor:
        """Per-head score of a learned position vector with itself: ``[heads]``."""
        q = self.query_position(theta).view(self.num_heads, self.head_size)
        k = self.key_position(theta).view(self.num_heads, self.head_size)
        score: torch.Tensor = (q * k).sum(-1) * self.head_size**-0.5
        return score

    def attention_bias(
        self,
        start: torch.Tensor,
        end: torch.Tensor,
        attention_mask: torch.Tensor | None,
        dtype: torch.dtype,
    ) -> torch.Tensor:
        """The additive attention bias ``[B, heads, L, L]`` of a batch of lattices (padding masked out)."""
        batch, length = start.shape
        positions = torch.cat((self.start_position_embeddings(start), self.end_position_embeddings(end)), -1)
        q = self._split(self.query_position(positions))
        k = self._split(self.key_position(positions))
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.head_size**-0.5
        ends = (start, end)
        limit = self.max_relative_position
        for table, (frm, to) in zip(self.relative_position_scores, _DISTANCE_PAIRS, strict=True):
            distance = ends[frm][:, None, :] - ends[to][:, :, None]  # [B, i, j] = from_j - to_i
            index = distance.clamp(-limit, limit) + limit
            scores = scores + table(index).permute(0, 3, 1, 2)
        s_i, s_j = start[:, :, None], start[:, None, :]
        e_i, e_j = end[:, :, None], end[:, None, :]
        code = (
            (s_j >= s_i).long()
            + 2 * (s_j > e_i).long()
            + 4 * (e_j >= s_i).long()
            + 8 * (e_j >= e_i).long()
            + 16 * ((s_j == s_i) & (e_j == e_i)).long()
        )
        scores = scores + self.relative_type_embeddings(code).permute(0, 3, 1, 2)
        # the [CLS] reset: row 0 (to the other tokens) and column 0 (to [CLS]) are learned constants
        row = self._reset_score(self.reset_theta_1).view(1, -1, 1, 1).expand(batch, -1, 1, length - 1)
        col = self._reset_score(self.reset_theta_2).view(1, -1, 1, 1).expand(batch, -1, length, 1)
        bias = torch.cat((col, torch.cat((row, scores[:, :, 1:, 1:]), dim=2)), dim=3).to(dtype)
        if attention_mask is not None:
            keep = attention_mask.to(torch.bool)[:, None, None, :]
            bias = bias.masked_fill(~keep, torch.finfo(dtype).min)
        return bias


class LatticeBertPreTrainedModel(BertPreTrainedModel):
    config_class = LatticeBertConfig
    config: LatticeBertConfig
    base_model_prefix = "bert"
    supports_gradient_checkpointing = False
    _supports_flash_attn = False  # the bias is a dense per-head float mask
    _supports_flex_attn = False
    _can_record_outputs: dict[str, Any] = {  # noqa: RUF012 (transformers declares it so)
        "hidden_states": GridView,
        "attentions": OutputRecorder(LatticeBertLayer, index=1),
    }

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, LatticeBertEncoder):
            init.normal_(module.reset_theta_1, mean=0.0, std=self.config.initializer_range)
            init.normal_(module.reset_theta_2, mean=0.0, std=self.config.initializer_range)
        elif isinstance(module, LatticeBertLMPredictionHead):
            init.zeros_(module.bias)


_warned_no_positions = False


def _default_positions(input_shape: torch.Size, device: torch.device) -> torch.Tensor:
    """Every token its own character (a lattice without words), as a plain BERT tokenizer's output."""
    global _warned_no_positions
    if not _warned_no_positions:
        log.warning(
            "Lattice-BERT called without start_position_ids/end_position_ids: every token is taken as one "
            "character. Tokenize with zhplm's LatticeTokenizer to give the model its lexicon words."
        )
        _warned_no_positions = True
    return torch.arange(input_shape[1], device=device).expand(input_shape[0], -1)


def _check_positions(name: str, value: torch.Tensor, shape: tuple[int, int], limit: int) -> torch.Tensor:
    if tuple(value.shape) != shape:
        raise ValueError(f"{name} must have the shape of input_ids {shape}, got {tuple(value.shape)}")
    if value.numel() and (int(value.min()) < 0 or int(value.max()) >= limit):
        raise ValueError(
            f"{name} must lie in [0, {limit}) (max_position_embeddings), got "
            f"{int(value.min())}..{int(value.max())}: the text is longer than the model's positions"
        )
    return value


class LatticeBertModel(WordEmbeddingAccess, LatticeBertPreTrainedModel):
    """The Lattice-BERT encoder (+ BERT pooler): ``last_hidden_state``, ``pooler_output``."""

    _no_split_modules = ["LatticeBertEmbeddings", "LatticeBertLayer"]  # noqa: RUF012

    def __init__(self, config: LatticeBertConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = LatticeBertEmbeddings(config)
        self.encoder = LatticeBertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.post_init()

    @capture_outputs
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        start_position_ids: torch.Tensor | None = None,
        end_position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> BaseModelOutputWithPooling:
        check_ids_or_embeds(input_ids, inputs_embeds)
        check_eager_for_attentions(self.config, kwargs)
        hidden = self.embeddings(input_ids, token_type_ids, inputs_embeds)
        batch, length, _ = hidden.shape
        if (start_position_ids is None) != (end_position_ids is None):
            raise ValueError("pass both start_position_ids and end_position_ids, or neither")
        if start_position_ids is None or end_position_ids is None:
            start_position_ids = end_position_ids = _default_positions(hidden.shape[:2], hidden.device)
        limit = self.config.max_position_embeddings
        start = _check_positions("start_position_ids", start_position_ids, (batch, length), limit)
        end = _check_positions("end_position_ids", end_position_ids, (batch, length), limit)
        if attention_mask is not None and tuple(attention_mask.shape) != (batch, length):
            raise ValueError(
                f"attention_mask must have shape (batch, seq_len) = {(batch, length)}, "
                f"got {tuple(attention_mask.shape)}"
            )
        bias = self.encoder.attention_bias(start, end, attention_mask, hidden.dtype)

        # the layers run on the real tokens only (packed) when there is padding; see the module docstring
        packing = Packing.of(attention_mask)
        record = wants(self.config, kwargs, "hidden_states")
        grid, x = hidden, (hidden if packing is None else packing.pack(hidden))
        for layer in self.encoder.layer:
            x, _ = layer(x, bias, packing)
            if record:
                grid = self.encoder.grid(grid, x, packing)
        hidden = x if packing is None else packing.unpack(x)
        return pooled_output(hidden, self.pooler)


class LatticeBertPredictionHeadTransform(nn.Module):
    """dense H→E, activation, LayerNorm(E) (``cls/predictions/transform``)."""

    def __init__(self, config: LatticeBertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.embedding_size)
        self.act = _activation(config.hidden_act)
        self.LayerNorm = nn.LayerNorm(config.embedding_size, eps=config.layer_norm_eps)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.LayerNorm(self.act(self.dense(hidden)))
        return out


class LatticeBertLMPredictionHead(nn.Module):
    """The transform, then the tied word embedding (E→V) + ``bias``."""

    def __init__(self, config: LatticeBertConfig) -> None:
        super().__init__()
        self.transform = LatticeBertPredictionHeadTransform(config)
        self.decoder = nn.Linear(config.embedding_size, config.vocab_size, bias=True)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.decoder.bias = self.bias

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.decoder(self.transform(hidden))
        return out


class LatticeBertOnlyMLMHead(nn.Module):
    def __init__(self, config: LatticeBertConfig) -> None:
        super().__init__()
        self.predictions = LatticeBertLMPredictionHead(config)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.predictions(hidden)
        return out


class LatticeBertPreTrainingHeads(nn.Module):
    def __init__(self, config: LatticeBertConfig) -> None:
        super().__init__()
        self.predictions = LatticeBertLMPredictionHead(config)
        self.seq_relationship = nn.Linear(config.hidden_size, config.num_next_sentence_labels)

    def forward(self, hidden: torch.Tensor, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.predictions(hidden), self.seq_relationship(pooled)


class LatticeBertForMaskedLM(MaskedLMHeads, LatticeBertPreTrainedModel):
    """Lattice-BERT with its MLM head: ``logits [B, L, vocab]`` (characters and lexicon words)."""

    _tied_weights_keys = tied_decoder("bert")
    model_class = LatticeBertModel
    head_class = LatticeBertOnlyMLMHead


class LatticeBertForPreTraining(PreTrainingHeads, LatticeBertPreTrainedModel):
    """Lattice-BERT with both pre-training heads (the released checkpoints' graph): MLM and the 3-way
    next-sentence logits."""

    _tied_weights_keys = tied_decoder("bert")
    model_class = LatticeBertModel
    head_class = LatticeBertPreTrainingHeads


__all__ = [
    "LatticeBertConfig",
    "LatticeBertForMaskedLM",
    "LatticeBertForPreTraining",
    "LatticeBertModel",
    "LatticeBertPreTrainedModel",
]
