"""Layers shared by zhplm's own model implementations (NEZHA, RoFormerV2, GAU-α, ChineseBERT, ZEN, Lattice-BERT).

One copy of each piece of maths instead of one per model file: the parameter-free RMS norm of the
bert4keras family, interleaved rotary position embeddings (RoPE), NEZHA's functional relative position
table, key-padding masks and the attention kernels (PyTorch SDPA where the maths allows it).
"""

import math
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPooling, CausalLMOutputWithPast, MaskedLMOutput
from transformers.models.bert.modeling_bert import BertForPreTrainingOutput


class ScaleFreeRMSNorm(nn.Module):
    """``x / sqrt(mean(x²) + eps)`` over the last axis: no mean-centring, no gain, no bias.

    bert4keras builds it as ``LayerNormalization(zero_mean=False, scale=False, offset=False)`` with
    epsilon ``K.epsilon()`` = 1e-7; junnyu's ``roformer`` package uses ``layer_norm_eps`` (1e-12).
    """

    def __init__(self, eps: float) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        variance = x.pow(2).mean(-1, keepdim=True)
        return x * torch.rsqrt(variance + self.eps)

    def extra_repr(self) -> str:
        return f"eps={self.eps}"


def key_padding_bias(
    attention_mask: torch.Tensor | None, batch: int, seq_len: int, dtype: torch.dtype
) -> torch.Tensor | None:
    """A ``[B, L]`` 1/0 keep-mask as an additive ``[B, 1, 1, L]`` bias (0 where kept, very negative where not).

    ``None`` (nothing masked) stays ``None`` so that attention kernels can take their unmasked fast path.
    """
    if attention_mask is None:
        return None
    if attention_mask.dim() != 2 or tuple(attention_mask.shape) != (batch, seq_len):
        raise ValueError(
            f"attention_mask must have shape (batch, seq_len) = {(batch, seq_len)}, "
            f"got {tuple(attention_mask.shape)}"
        )
    keep = attention_mask.to(torch.bool)[:, None, None, :]
    bias = torch.zeros(keep.shape, dtype=dtype, device=attention_mask.device)
    return bias.masked_fill(~keep, torch.finfo(dtype).min)


# --- rotary position embeddings (RoFormer, RoFormerV2, GAU-α) --------------------------------------


def rotary_cos_sin(
    seq_len: int, dim: int, device: torch.device, dtype: torch.dtype, base: float = 10000.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``cos`` and ``sin`` tables ``[seq_len, dim]`` for interleaved RoPE (each frequency used twice).

    Frequency i is ``base^(-2i/dim)``, as bert4keras' ``sinusoidal_embeddings``; the pair
    (x[2i], x[2i+1]) is rotated by ``position * freq_i``.
    """
    if dim % 2:
        raise ValueError(f"rotary embeddings need an even size, got {dim}")
    inv_freq = base ** (-torch.arange(0, dim // 2, dtype=torch.float64, device=device) * 2.0 / dim)
    angles = torch.arange(seq_len, dtype=torch.float64, device=device)[:, None] * inv_freq[None, :]
    angles = angles.repeat_interleave(2, dim=-1)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each interleaved pair of the last axis of ``x [..., L, d]`` by its position's angle."""
    pairs = x.reshape(*x.shape[:-1], -1, 2)
    rotated = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
    return x * cos + rotated * sin


# --- NEZHA functional relative positions --------------------------------------------------------------


def relative_position_table(
    max_relative_position: int, depth: int, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """NEZHA's fixed sinusoidal table ``[2·M+1, depth]``: row r holds sin/cos (interleaved) of ``r``.

    Row r stands for the clipped distance ``r - M``; the sinusoid is taken of the shifted index r
    itself, exactly as NEZHA's TensorFlow code does (``pos / 10000^(2i/depth)``, even = sin, odd = cos).
    """
    if depth % 2:
        raise ValueError(f"the relative position table needs an even head size, got {depth}")
    rows = torch.arange(2 * max_relative_position + 1, dtype=torch.float64, device=device)
    inv_freq = 10000.0 ** (-torch.arange(0, depth, 2, dtype=torch.float64, device=device) / depth)
    angles = rows[:, None] * inv_freq[None, :]
    table = torch.empty(rows.numel(), depth, dtype=torch.float64, device=device)
    table[:, 0::2] = angles.sin()
    table[:, 1::2] = angles.cos()
    return table.to(dtype)


def relative_position_index(length: int, max_relative_position: int, device: torch.device) -> torch.Tensor:
    """``[L, L]`` row of the table for query i and key j: ``clip(j - i, -M, M) + M``."""
    pos = torch.arange(length, device=device)
    distance = pos[None, :] - pos[:, None]
    return distance.clamp(-max_relative_position, max_relative_position) + max_relative_position


# --- attention kernels -------------------------------------------------------------------------------


def dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    bias: torch.Tensor | None,
    dropout_p: float,
    scale: float,
    need_weights: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``softmax(q·kᵀ·scale + bias)·v`` for ``[B, H, L, d]`` tensors.

    Uses PyTorch's fused SDPA unless the probabilities are wanted (``output_attentions``), where the
    same maths runs eagerly and the probabilities are returned too.
    """
    if not need_weights:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout_p, scale=scale)
        return out, None
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    if bias is not None:
        scores = scores + bias
    probs = scores.softmax(dim=-1)
    dropped = F.dropout(probs, p=dropout_p) if dropout_p > 0 else probs
    return torch.matmul(dropped, v), probs


def attention_head_size(config: Any) -> int:
    """``hidden_size // num_attention_heads``, refusing sizes that do not divide (a clear error at build time,
    not a reshape error in the first forward pass)."""
    if config.hidden_size % config.num_attention_heads:
        raise ValueError(
            f"hidden_size {config.hidden_size} is not a multiple of num_attention_heads "
            f"{config.num_attention_heads}"
        )
    return int(config.hidden_size // config.num_attention_heads)


def default_scale(head_size: int) -> float:
    return 1.0 / math.sqrt(head_size)


# --- the plumbing every encoder and head model repeats ---------------------------------------------------


class WordEmbeddingAccess:
    """``get/set_input_embeddings`` for models whose token table is ``self.embeddings.word_embeddings``."""

    embeddings: Any

    def get_input_embeddings(self) -> nn.Embedding:
        table: nn.Embedding = self.embeddings.word_embeddings
        return table

    def set_input_embeddings(self, value: nn.Module) -> None:
        if not isinstance(value, nn.Embedding):
            raise TypeError(f"input embeddings must be an nn.Embedding, got {type(value).__name__}")
        self.embeddings.word_embeddings = value


class DecoderAccess:
    """``get/set_output_embeddings`` for heads whose decoder is ``self.cls.predictions.decoder``.

    Where the head keeps its own output bias (BERT's ``cls.predictions.bias``, tied to the decoder's), a new
    decoder's bias becomes that bias too, as transformers' BERT heads do."""

    cls: Any

    def get_output_embeddings(self) -> nn.Linear:
        decoder: nn.Linear = self.cls.predictions.decoder
        return decoder

    def set_output_embeddings(self, value: nn.Module) -> None:
        if not isinstance(value, nn.Linear):
            raise TypeError(f"output embeddings must be an nn.Linear, got {type(value).__name__}")
        predictions = self.cls.predictions
        predictions.decoder = value
        if isinstance(getattr(predictions, "bias", None), nn.Parameter):
            predictions.bias = value.bias


class LMHeadAccess:
    """``get/set_output_embeddings`` for causal LMs whose output projection is ``self.lm_head``."""

    lm_head: nn.Linear

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head = value


def causal_lm_output(
    model: Any,
    base: Any,
    labels: torch.Tensor | None,
    logits_to_keep: int | torch.Tensor,
    **kwargs: Any,
) -> CausalLMOutputWithPast:
    """Logits of ``model.lm_head`` over the positions ``logits_to_keep`` asks for (``generate`` keeps the last),
    transformers' shifted causal-LM loss, and ``base``'s cache and hidden states passed on."""
    hidden = base.last_hidden_state
    if isinstance(logits_to_keep, int):
        hidden = hidden[:, -logits_to_keep:] if logits_to_keep else hidden
    else:
        hidden = hidden[:, logits_to_keep]
    logits = model.lm_head(hidden)
    loss = None
    if labels is not None:
        loss = model.loss_function(logits=logits, labels=labels, vocab_size=model.config.vocab_size, **kwargs)
    return CausalLMOutputWithPast(
        loss=loss, logits=logits, cache=base.cache, hidden_states=base.hidden_states
    )


class DecoderInputs(NamedTuple):
    embeds: torch.Tensor
    cache: Any  # a transformers Cache, or None without use_cache
    position_ids: torch.Tensor
    mask: Any  # what create_causal_mask returns for the attention kernel
    use_cache: bool
    want_hidden: bool


def decoder_inputs(
    model: Any,
    embed: nn.Module,
    input_ids: torch.Tensor | None,
    inputs_embeds: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    position_ids: torch.Tensor | None,
    cache: Any,
    use_cache: bool | None,
    output_hidden_states: bool | None,
) -> DecoderInputs:
    """What a causal decoder's forward starts with: the token embeddings (``embed``), a ``DynamicCache`` when
    caching, positions continuing after the cached ones, and transformers' causal mask (padding included)."""
    from transformers.cache_utils import DynamicCache
    from transformers.masking_utils import create_causal_mask

    check_ids_or_embeds(input_ids, inputs_embeds)
    if inputs_embeds is None:
        assert input_ids is not None
        inputs_embeds = embed(input_ids)
    config = model.config
    use_cache = bool(config.use_cache if use_cache is None else use_cache)
    if use_cache and cache is None:
        cache = DynamicCache(config=config)
    if position_ids is None:
        seen = cache.get_seq_length() if cache is not None else 0
        position_ids = torch.arange(inputs_embeds.shape[1], device=inputs_embeds.device)[None] + seen
    mask = create_causal_mask(
        config=config,
        inputs_embeds=inputs_embeds,
        attention_mask=attention_mask,
        cache=cache,
        position_ids=position_ids,
    )
    want_hidden = bool(config.output_hidden_states if output_hidden_states is None else output_hidden_states)
    return DecoderInputs(inputs_embeds, cache, position_ids, mask, use_cache, want_hidden)


def check_ids_or_embeds(input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor | None) -> None:
    if (input_ids is None) == (inputs_embeds is None):
        raise ValueError("pass exactly one of input_ids and inputs_embeds")


def wants(config: Any, kwargs: dict[str, Any], what: str) -> bool:
    """Whether the call asks for ``output_<what>`` (its keyword, else the config's default).

    ``capture_outputs`` records the outputs; a model asks this only where it must compute something extra
    for them (attention probabilities beside a fused kernel)."""
    flag = kwargs.get(f"output_{what}")
    return bool(flag if flag is not None else getattr(config, f"output_{what}", False))


def check_eager_for_attentions(config: Any, kwargs: dict[str, Any]) -> None:
    """Models on transformers' attention kernels return probabilities only from the eager one."""
    if wants(config, kwargs, "attentions") and config._attn_implementation != "eager":
        raise ValueError(
            "output_attentions needs the eager attention: load the model with attn_implementation='eager'"
        )


def token_embeddings(
    table: nn.Embedding, input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor | None
) -> torch.Tensor:
    """``inputs_embeds`` as given, else the rows of ``table`` for ``input_ids`` (exactly one of the two)."""
    check_ids_or_embeds(input_ids, inputs_embeds)
    if inputs_embeds is not None:
        return inputs_embeds
    assert input_ids is not None
    rows: torch.Tensor = table(input_ids)
    return rows


# --- outputs (the forward methods are wrapped by transformers' capture_outputs / can_return_tuple) ------


def pooled_output(last: torch.Tensor, pooler: nn.Module | None) -> BaseModelOutputWithPooling:
    """An encoder's output: its last hidden states and, where the model has a pooler, the pooled ones."""
    pooled = pooler(last) if pooler is not None else None
    return BaseModelOutputWithPooling(last_hidden_state=last, pooler_output=pooled)


def token_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the last axis; label -100 is ignored (Hugging Face convention)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


def masked_lm_output(logits: torch.Tensor, labels: torch.Tensor | None, base: Any) -> MaskedLMOutput:
    """The ``MaskedLMOutput`` of a masked-LM head over ``base``'s encoder output."""
    loss = None if labels is None else token_loss(logits, labels)
    return MaskedLMOutput(
        loss=loss, logits=logits, hidden_states=base.hidden_states, attentions=base.attentions
    )


def pretraining_output(
    logits: torch.Tensor,
    nsp_logits: torch.Tensor,
    labels: torch.Tensor | None,
    next_sentence_label: torch.Tensor | None,
    base: Any,
) -> BertForPreTrainingOutput:
    """MLM + next-sentence logits (and their summed loss when both labels are given)."""
    loss = None
    if labels is not None and next_sentence_label is not None:
        loss = token_loss(logits, labels) + token_loss(nsp_logits, next_sentence_label)
    return BertForPreTrainingOutput(
        loss=loss,
        prediction_logits=logits,
        seq_relationship_logits=nsp_logits,
        hidden_states=base.hidden_states,
        attentions=base.attentions,
    )


# --- embeddings without absolute positions ------------------------------------------------------------


def add_token_types(
    x: torch.Tensor, table: nn.Embedding, token_type_ids: torch.Tensor | None
) -> torch.Tensor:
    """``x`` plus the token-type embedding; without ids every token is type 0 (no id tensor is built)."""
    if token_type_ids is None:
        return x + table.weight[0]
    typed: torch.Tensor = x + table(token_type_ids)
    return typed


class TokenTypeEmbeddings(nn.Module):
    """Token + token-type embeddings -> LayerNorm -> dropout, no position embeddings (NEZHA's input
    embedding; ZEN's n-gram embedding). Names: ``word_embeddings``, ``token_type_embeddings``,
    ``LayerNorm`` (BERT's)."""

    def __init__(
        self,
        vocab_size: int,
        type_vocab_size: int,
        hidden_size: int,
        *,
        eps: float,
        dropout: float,
        pad_token_id: int | None,
    ) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, hidden_size, padding_idx=pad_token_id)
        self.token_type_embeddings = nn.Embedding(type_vocab_size, hidden_size)
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, inputs_embeds: torch.Tensor, token_type_ids: torch.Tensor | None) -> torch.Tensor:
        x = add_token_types(inputs_embeds, self.token_type_embeddings, token_type_ids)
        out: torch.Tensor = self.dropout(self.LayerNorm(x))
        return out
