# mypy: disable-error-code="no-untyped-call,misc,untyped-decorator"
"""What SimBERT and RoFormer-sim add to a BERT-style encoder: the UniLM seq2seq mask and a *linear* pooler.

Both were trained with bert4keras ``build_transformer_model(..., application='unilm', with_pool='linear')``:

* **UniLM mask** (bert4keras ``UniLM_Mask``): ``idx = cumsum(token_type_ids)``; position ``i`` attends to
  ``j`` iff ``idx[j] <= idx[i]`` (and ``j`` is not padding). Segment 0 (the source) is bidirectional, each
  segment-1 token sees the source and the targets up to itself. With only segment 0 it is plain BERT.
* **Linear pooler**: ``Dense(hidden)`` on the ``[CLS]`` vector with *no* tanh; the sentence vector whose
  cosine the authors rank by.

Generation (bert4keras' seq2seq decoding, shift-by-one): generated tokens are segment 1. Source tokens never
attend to later positions, so cached keys and values are exact and a new token sees every cached one:
transformers' ``generate`` runs with a KV cache here.

Yunwen's UniLM (s2s-ft lineage) is the same model with two settings on its config, read here: its segments are
``unilm_source_type`` 4 / ``unilm_target_type`` 5 (the mask counts the target-type tokens), and
``unilm_decoding = "append-mask"``: each step appends ``[MASK]`` at the next position and predicts *it*
(``UnilmForSeq2SeqDecode``), instead of reading the prediction off the last real token. The cache then holds
only real tokens: a step feeds ``[last real token, [MASK]]`` and the ``[MASK]`` entry is dropped afterwards.
"""

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers.cache_utils import Cache, DynamicCache
from transformers.generation.utils import GenerationMixin
from transformers.utils.generic import ModelOutput

from zhplm.arch.modeling._layers import token_loss


class LinearPooler(nn.Module):
    """``dense(h[:, 0])``: bert4keras ``with_pool='linear'`` (BERT's pooler without its tanh)."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        pooled: torch.Tensor = self.dense(hidden_states[:, 0])
        return pooled


def unilm_bias(
    token_type_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    cache_length: int,
    dtype: torch.dtype,
    target_type: int = 1,
) -> torch.Tensor:
    """The additive ``[B, 1, Q, cache_length + Q]`` mask of the queries ``token_type_ids`` (``[B, Q]``).

    ``idx`` counts the ``target_type`` tokens (for 0/1 segments that is bert4keras' cumsum of the segment ids).
    Cached keys are always visible to new queries (the count never decreases); among the new positions the
    rule applies. ``attention_mask`` (``[B, cache_length + Q]``, 1 = real token) masks padded keys."""
    batch, queries = token_type_ids.shape
    idx = torch.cumsum((token_type_ids == target_type).to(torch.long), dim=1)
    allowed = idx[:, None, :] <= idx[:, :, None]  # [B, Q, Q]
    if cache_length:
        seen = torch.ones((batch, queries, cache_length), dtype=torch.bool, device=allowed.device)
        allowed = torch.cat([seen, allowed], dim=-1)
    if attention_mask is not None:
        keys = cache_length + queries
        if attention_mask.dim() != 2 or tuple(attention_mask.shape) != (batch, keys):
            raise ValueError(
                f"attention_mask must have shape (batch, cached + new tokens) = {(batch, keys)}, "
                f"got {tuple(attention_mask.shape)}"
            )
        allowed = allowed & attention_mask.to(torch.bool)[:, None, :]
    bias = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
    return bias.masked_fill(~allowed, torch.finfo(dtype).min)[:, None]


@dataclass
class UniLMOutput(ModelOutput):
    """MLM logits under the UniLM mask, the linear-pooled sentence vector, and the cache for ``generate``."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    pooler_output: torch.Tensor | None = None
    last_hidden_state: torch.Tensor | None = None
    cache: Cache | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


def unilm_inputs(
    input_ids: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    token_type_ids: torch.Tensor | None,
    cache: Cache | None,
    use_cache: bool | None,
    dtype: torch.dtype,
    target_type: int = 1,
    padding_mask_ok: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, Cache | None]:
    """(token types, UniLM bias, cache) for one forward pass of a transformers BERT/RoFormer encoder: the
    4-D bias goes in as its ``attention_mask`` (transformers passes such masks through untouched).
    ``padding_mask_ok``: the encoder also takes a 2-D padding mask, given where it means the same."""
    if input_ids is None:
        raise ValueError("input_ids is required")
    if token_type_ids is None:
        token_type_ids = torch.zeros_like(input_ids)
    if tuple(token_type_ids.shape) != tuple(input_ids.shape):
        raise ValueError(
            f"token_type_ids must have the shape of input_ids {tuple(input_ids.shape)}, "
            f"got {tuple(token_type_ids.shape)}"
        )
    if use_cache and cache is None:
        cache = DynamicCache()
    cache_length = cache.get_seq_length() if cache is not None else 0
    if padding_mask_ok and not cache_length and not bool((token_type_ids == target_type).any()):
        # no target token (a sentence to embed, a prompt's first pass): the UniLM rule lets every token see
        # every other, so the padding mask alone says the same — and lets SDPA take its fast path
        return token_type_ids, _padding_mask(attention_mask, input_ids), cache
    bias = unilm_bias(token_type_ids, attention_mask, cache_length, dtype, target_type)
    return token_type_ids, bias, cache


def _padding_mask(attention_mask: torch.Tensor | None, input_ids: torch.Tensor) -> torch.Tensor:
    if attention_mask is None:
        return torch.ones_like(input_ids)
    if attention_mask.dim() != 2 or tuple(attention_mask.shape) != tuple(input_ids.shape):
        raise ValueError(
            f"attention_mask must have shape (batch, tokens) = {tuple(input_ids.shape)}, "
            f"got {tuple(attention_mask.shape)}"
        )
    return attention_mask


class UniLMEncoderMixin:
    """``forward`` of a UniLM encoder (put before transformers' BERT/RoFormer model class): the UniLM mask
    built from ``token_type_ids``, the cache, and the linear pooler's sentence vector."""

    pooler: nn.Module
    dtype: torch.dtype
    config: Any

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        cache: Cache | None = None,
        use_cache: bool | None = None,
        **kwargs: Any,
    ) -> UniLMOutput:
        kwargs.pop("return_dict", None)  # always a dict inside; the output below is a ModelOutput
        target = getattr(self.config, "unilm_target_type", 1)
        types, bias, cache = unilm_inputs(
            input_ids,
            attention_mask,
            token_type_ids,
            cache,
            use_cache,
            self.dtype,
            target,
            padding_mask_ok=True,
        )
        out = super().forward(  # type: ignore[misc]
            input_ids=input_ids,
            attention_mask=bias,
            token_type_ids=types,
            cache=cache,
            return_dict=True,
            **kwargs,
        )
        hidden = out.last_hidden_state
        pooled = getattr(out, "pooler_output", None)  # BERT runs its pooler slot itself; RoFormer has none
        return UniLMOutput(
            pooler_output=self.pooler(hidden) if pooled is None else pooled,
            last_hidden_state=hidden,
            cache=cache,
            hidden_states=out.hidden_states,
            attentions=out.attentions,
        )


class UniLMHeadMixin:
    """The MLM head over a UniLM encoder (``self.<base_model_prefix>`` returns :class:`UniLMOutput`), shared by
    SimBERT and RoFormer-sim: logits for fill-mask and seq2seq decoding, plus the pooled sentence vector."""

    base_model_prefix: str
    cls: nn.Module
    config: Any

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """The logits of ``hidden`` (the MLM head; a subclass may read them off another head)."""
        logits: torch.Tensor = self.cls(hidden)
        return logits

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        cache: Cache | None = None,
        use_cache: bool | None = None,
        labels: torch.Tensor | None = None,
        logits_to_keep: int = 0,
        **kwargs: Any,
    ) -> UniLMOutput:
        encoder = getattr(self, self.base_model_prefix)
        out = encoder(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            cache=cache,
            use_cache=use_cache,
            **kwargs,
        )
        hidden = out.last_hidden_state
        logits = self.head(hidden[:, -logits_to_keep:] if logits_to_keep else hidden)
        loss = None if labels is None else token_loss(logits, labels)
        return UniLMOutput(
            loss=loss,
            logits=logits,
            pooler_output=out.pooler_output,
            last_hidden_state=hidden,
            cache=out.cache,
            hidden_states=out.hidden_states,
            attentions=out.attentions,
        )


class UniLMGenerationMixin(GenerationMixin):
    """UniLM seq2seq decoding through ``generate``: the prompt is the source segment, every generated token
    the target segment; ``config.unilm_decoding`` picks bert4keras' shift-by-one (``"shift"``, the default)
    or Yunwen's append-``[MASK]`` (``"append-mask"``, ``config.mask_token_id``). ``"recompute"`` (Zhouwenwang's
    model card) keeps every token in the source segment and reads the whole text again at each step: earlier
    tokens see later ones, so no cache can be exact and none is kept."""

    config: Any

    def _unilm_types(self) -> tuple[int, int]:
        return getattr(self.config, "unilm_source_type", 0), getattr(self.config, "unilm_target_type", 1)

    def _appends_mask(self) -> bool:
        return bool(getattr(self.config, "unilm_decoding", "shift") == "append-mask")

    def _recomputes(self) -> bool:
        return bool(getattr(self.config, "unilm_decoding", "shift") == "recompute")

    def _update_model_kwargs_for_generation(
        self,
        outputs: ModelOutput,
        model_kwargs: dict[str, Any],
        is_encoder_decoder: bool = False,
        num_new_tokens: int = 1,
    ) -> dict[str, Any]:
        if self._recomputes():  # every token stays a source token (see prepare_inputs_for_generation)
            kept: dict[str, Any] = super()._update_model_kwargs_for_generation(
                outputs, model_kwargs, is_encoder_decoder=is_encoder_decoder, num_new_tokens=num_new_tokens
            )
            kept.pop("cache", None)
            return kept
        source, target = self._unilm_types()
        cache = outputs.get("cache")
        if cache is not None and self._appends_mask():
            cache.crop(-1)  # the [MASK] was only asked; the cache keeps real tokens
        types = model_kwargs.get("token_type_ids")
        if types is None:  # the prompt had none: it was the source (see prepare_inputs_for_generation)
            logits = outputs.get("logits")
            mask = model_kwargs.get("attention_mask")
            if mask is not None:  # the prompt's length (the logits may be the last position's only)
                length = mask.shape[1]
            else:
                length = cache.get_seq_length() if cache is not None else logits.shape[1]
            types = torch.full((logits.shape[0], length), source, dtype=torch.long, device=logits.device)
            model_kwargs["token_type_ids"] = types
        updated: dict[str, Any] = super()._update_model_kwargs_for_generation(
            outputs, model_kwargs, is_encoder_decoder=is_encoder_decoder, num_new_tokens=num_new_tokens
        )
        generated = source if self._recomputes() else target
        new = torch.full((types.shape[0], num_new_tokens), generated, dtype=types.dtype, device=types.device)
        updated["token_type_ids"] = torch.cat([types, new], dim=-1)
        if cache is not None:
            updated["cache"] = cache
        return updated

    def prepare_inputs_for_generation(self, input_ids: torch.Tensor, **kwargs: Any) -> dict[str, Any]:
        source, target = self._unilm_types()
        types = kwargs.get("token_type_ids")
        if types is None:  # a bare prompt is the source segment
            kwargs["token_type_ids"] = torch.full_like(input_ids, source)
        elif types.shape[1] < input_ids.shape[1]:  # a prompt whose types were not known: the source, in front
            front = torch.full_like(input_ids[:, : input_ids.shape[1] - types.shape[1]], source)
            kwargs["token_type_ids"] = torch.cat([front, types], dim=-1)
        if self._recomputes():  # the whole text every step, no cache
            kwargs.update(next_sequence_length=None, cache=None, use_cache=False)
        inputs: dict[str, Any] = super().prepare_inputs_for_generation(input_ids, **kwargs)
        if self._appends_mask():  # the real tokens not yet cached, then [MASK] at the next position
            ids = inputs["input_ids"]
            column = ids.new_full((ids.shape[0], 1), self.config.mask_token_id)
            inputs["input_ids"] = torch.cat([ids, column], dim=-1)
            types = inputs["token_type_ids"]
            inputs["token_type_ids"] = torch.cat([types, torch.full_like(column, target)], dim=-1)
            mask = inputs.get("attention_mask")
            if mask is not None:
                inputs["attention_mask"] = torch.cat([mask, torch.ones_like(column, dtype=mask.dtype)], -1)
        return inputs
