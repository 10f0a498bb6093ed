# mypy: disable-error-code="no-untyped-call,misc"
"""RWKV-1, the model of BlinkDL's AI-Writer (``src/model.py`` at 7e145b1, trained with RWKV-LM's ``RWKV-v1``):
a causal LM with no attention and no position embedding. Per block, with ``ln1``/``ln2`` pre-norms::

    time mix:    xs = [x_{t-1}[:C/2], x_t[C/2:]]                (half the channels shifted one step)
                 k = exp(clamp(K xs, -60, 30)), v = V xs, r = R xs
                 wkv_t = Σ_{u≤t} W[t, u] · k_u v_u               (per head)
                 out_t = γ_t · O(σ(r_t) · wkv_t / Σ_{u≤t} k_u)
    channel mix: out_t = σ(R' xs) · W'(mish(K' xs) · V' xs)

``W[h, t, u] = time_w[h, T-1-(t-u)] · time_alpha[h, u] · time_beta[h, t]`` for ``u ≤ t`` (0 above the
diagonal) is the Toeplitz matrix the authors' ``run.py`` materialises as ``time_ww``; it is built here at run
time from the three small tensors. ``T`` is the trained window (``context_length``) and ``t``, ``u`` are absolute
positions inside the window, as are ``time_gamma[t]`` and the output's ``time_out[t]``. The LM head adds a
copy head: ``logits_t = head(ln_f(x_t) · time_out_t) + Σ_{u≤t} (q_t · k_u / 256) · onehot(id_u)`` with
``q = head_q(ln_f(x))``, ``k = head_k(ln_f(x))``.

Generation is recurrent: :class:`Rwkv1Cache` keeps, per layer, ``k·v`` of every position so far, the running
``Σ k``, the last normed inputs of both mixes (the time shift), and the copy head's keys and the ids — each
new token costs O(t) instead of the parallel form's O(T²). A text longer than the window is read as
``run.py`` reads it: the logits of a position are those of the window of the ``T`` characters ending there
(every position moves, so the window is recomputed in parallel from then on).

Parameter names (``P = "rwkv."`` inside :class:`Rwkv1ForCausalLM`) keep the original's::

    P tok_emb.weight                          [vocab, C]
    P blocks.N.ln1 / ln2                      LayerNorm(C)
    P blocks.N.attn.{key,value,receptance}    Linear(C → A)
    P blocks.N.attn.output                    Linear(A → C)
    P blocks.N.attn.time_w [H, T], time_alpha [H, 1, T], time_beta [H, T, 1], time_gamma [T, 1]
    P blocks.N.mlp.{key,value}                Linear(C → I);  mlp.weight Linear(I → C);  mlp.receptance Linear(C → C)
    P ln_f                                    LayerNorm(C)
    head.weight [vocab, C] (no bias), head_q / head_k Linear(C → 256), time_out [1, T, 1]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast

from zhplm.arch.modeling._causal_lm import TokenTableAccess, logits_output, stack_output
from zhplm.arch.modeling.configuration_rwkv1 import Rwkv1Config


class Rwkv1Cache:
    """The recurrent state of a batch: what the next token's step needs (see the module docstring).

    ``seen`` counts the tokens of the current window (at most ``context_length``); once the window is full
    only ``ids`` (the window) is kept up to date and every further token recomputes its window."""

    def __init__(self, config: Rwkv1Config, batch: int, device: torch.device, dtype: torch.dtype) -> None:
        n, t = config.num_hidden_layers, config.context_length
        self.context_length = t
        self.total = 0
        self.seen = 0
        self.ids = torch.zeros(batch, t, dtype=torch.long, device=device)
        self.kv = torch.zeros(n, batch, t, config.attention_hidden_size, device=device, dtype=dtype)
        self.sum_k = torch.zeros(n, batch, config.attention_hidden_size, device=device, dtype=dtype)
        self.att_x = torch.zeros(n, batch, config.hidden_size, device=device, dtype=dtype)
        self.ffn_x = torch.zeros(n, batch, config.hidden_size, device=device, dtype=dtype)
        size = config.copy_size or 0
        self.copy_k = torch.zeros(batch, t, size, device=device, dtype=dtype)

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.total

    def reorder_cache(self, beam_idx: torch.Tensor) -> None:
        """Beam search: keep the rows of the beams chosen."""
        self.ids = self.ids.index_select(0, beam_idx.to(self.ids.device))
        self.copy_k = self.copy_k.index_select(0, beam_idx.to(self.copy_k.device))
        for name in ("kv", "sum_k", "att_x", "ffn_x"):
            value = getattr(self, name)
            setattr(self, name, value.index_select(1, beam_idx.to(value.device)))


def _shift(x: torch.Tensor, previous: torch.Tensor | None = None) -> torch.Tensor:
    """The first half of the channels one step back (zeros, or ``previous``, before the first position)."""
    half = x.shape[-1] // 2
    before = torch.zeros_like(x[:, :1, :half]) if previous is None else previous[:, None, :half]
    shifted = torch.cat([before, x[:, :-1, :half]], dim=1)
    return torch.cat([shifted, x[..., half:]], dim=-1)


class Rwkv1TimeMix(nn.Module):
    def __init__(self, config: Rwkv1Config) -> None:
        super().__init__()
        if config.attention_hidden_size % config.num_attention_heads:
            raise ValueError(
                f"attention_hidden_size {config.attention_hidden_size} is not a multiple of "
                f"num_attention_heads {config.num_attention_heads}"
            )
        heads, t = config.num_attention_heads, config.context_length
        self.heads = heads
        self.context_length = t
        self.time_w = nn.Parameter(torch.ones(heads, t))
        self.time_alpha = nn.Parameter(torch.ones(heads, 1, t))
        self.time_beta = nn.Parameter(torch.ones(heads, t, 1))
        self.time_gamma = nn.Parameter(torch.ones(t, 1))
        width = config.attention_hidden_size
        self.key = nn.Linear(config.hidden_size, width)
        self.value = nn.Linear(config.hidden_size, width)
        self.receptance = nn.Linear(config.hidden_size, width)
        self.output = nn.Linear(width, config.hidden_size)

    def toeplitz(self, n: int) -> torch.Tensor:
        """``W[h, t, u]`` for the first ``n`` positions of the window (``run.py``'s ``time_ww[:, :n, :n]``)."""
        pos = torch.arange(n, device=self.time_w.device)
        back = pos[:, None] - pos[None, :]  # t - u
        w = self.time_w[:, (self.context_length - 1 - back).clamp(0, self.context_length - 1)]
        w = w.masked_fill(back < 0, 0.0)
        return w * self.time_alpha[:, :, :n] * self.time_beta[:, :n, :]

    def _kvr(self, xs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        k = torch.exp(torch.clamp(self.key(xs), max=30, min=-60))
        return k, self.value(xs), self.receptance(xs)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The parallel form over a window ``x [B, n, C]``; also ``k·v`` and ``Σ k`` for the cache."""
        b, n, _ = x.shape
        k, v, r = self._kvr(_shift(x))
        sum_k = torch.cumsum(k, dim=1)
        kv = k * v
        wkv = torch.einsum("htu,buhc->bthc", self.toeplitz(n), kv.view(b, n, self.heads, -1))
        out = self.output(torch.sigmoid(r) * wkv.reshape(b, n, -1) / sum_k)
        return out * self.time_gamma[:n], kv, sum_k[:, -1]

    def step(self, x: torch.Tensor, t: int, cache: Rwkv1Cache, layer: int) -> torch.Tensor:
        """Position ``t`` of the window from the cache: O(t)."""
        b = x.shape[0]
        k, v, r = self._kvr(_shift(x, cache.att_x[layer]))
        cache.sum_k[layer] += k[:, 0]
        cache.kv[layer, :, t] = (k * v)[:, 0]
        span = self.context_length - 1 - t
        coef = self.time_w[:, span:] * self.time_alpha[:, 0, : t + 1] * self.time_beta[:, t]
        past = cache.kv[layer, :, : t + 1].view(b, t + 1, self.heads, -1)
        wkv = torch.einsum("hu,buhc->bhc", coef, past).reshape(b, 1, -1)
        out: torch.Tensor = self.output(torch.sigmoid(r) * wkv / cache.sum_k[layer][:, None])
        return out * self.time_gamma[t]


class Rwkv1ChannelMix(nn.Module):
    def __init__(self, config: Rwkv1Config) -> None:
        super().__init__()
        self.key = nn.Linear(config.hidden_size, config.intermediate_size)
        self.value = nn.Linear(config.hidden_size, config.intermediate_size)
        self.weight = nn.Linear(config.intermediate_size, config.hidden_size)
        self.receptance = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, xs: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = torch.sigmoid(self.receptance(xs)) * self.weight(
            F.mish(self.key(xs)) * self.value(xs)
        )
        return out


class Rwkv1Block(nn.Module):
    def __init__(self, config: Rwkv1Config) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.ln2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attn = Rwkv1TimeMix(config)
        self.mlp = Rwkv1ChannelMix(config)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        a = self.ln1(x)
        mixed, kv, sum_k = self.attn(a)
        x = x + mixed
        f = self.ln2(x)
        x = x + self.mlp(_shift(f))
        return x, (kv, sum_k, a[:, -1], f[:, -1])

    def step(self, x: torch.Tensor, t: int, cache: Rwkv1Cache, layer: int) -> torch.Tensor:
        a = self.ln1(x)
        mixed = self.attn.step(a, t, cache, layer)
        cache.att_x[layer] = a[:, 0]
        x = x + mixed
        f = self.ln2(x)
        x = x + self.mlp(_shift(f, cache.ffn_x[layer]))
        cache.ffn_x[layer] = f[:, 0]
        return x


def _check_mask(attention_mask: torch.Tensor | None) -> None:
    """RWKV-1 has no attention mask: padding on the right leaves the real positions as they are; padding on
    the left would shift every position, which this model cannot undo."""
    if attention_mask is None or attention_mask.dim() != 2 or bool(attention_mask.all()):
        return
    if bool((attention_mask[:, 1:] > attention_mask[:, :-1]).any()):
        raise ValueError(
            "RWKV-1 reads no attention mask, and a left-padded (or gapped) batch would move every token's "
            "position: give prompts one at a time, or texts of one length"
        )


def _start(
    config: Rwkv1Config,
    input_ids: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    cache: Rwkv1Cache | None,
    use_cache: bool | None,
    dtype: torch.dtype,
) -> tuple[torch.Tensor, Rwkv1Cache | None]:
    """The ids and the cache to run with: a new one when caching without one, ``None`` when not caching."""
    if input_ids is None:
        raise ValueError("RWKV-1 takes input_ids (it has no inputs_embeds path)")
    _check_mask(attention_mask)
    if not (config.use_cache if use_cache is None else use_cache):
        return input_ids, None
    if cache is None:
        cache = Rwkv1Cache(config, input_ids.shape[0], input_ids.device, dtype)
    return input_ids, cache


# the outputs are transformers' own (the names stay importable)
Rwkv1Output = BaseModelOutputWithPast
Rwkv1CausalLMOutput = CausalLMOutputWithPast


class Rwkv1PreTrainedModel(PreTrainedModel):
    config_class = Rwkv1Config
    config: Rwkv1Config
    base_model_prefix = "rwkv"
    supports_gradient_checkpointing = False
    _no_split_modules = ["Rwkv1Block"]  # noqa: RUF012 (transformers declares it so)

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, Rwkv1TimeMix):  # the original's neutral start: no decay, unit scales
            for p in (module.time_w, module.time_alpha, module.time_beta, module.time_gamma):
                init.ones_(p)
        elif isinstance(module, Rwkv1ForCausalLM):
            init.ones_(module.time_out)


# what a window pass or a step hands to the reader of the hidden states (the base model or the LM head)
WindowReader = Callable[[torch.Tensor, torch.Tensor, int, Rwkv1Cache | None], torch.Tensor]
StepReader = Callable[[torch.Tensor, Rwkv1Cache], torch.Tensor]


class Rwkv1Model(TokenTableAccess, Rwkv1PreTrainedModel):
    """The RWKV-1 stack: ``last_hidden_state`` (after ``ln_f``) and the recurrent cache."""

    _token_table = "tok_emb"

    def __init__(self, config: Rwkv1Config) -> None:
        super().__init__(config)
        self.tok_emb = nn.Embedding(config.vocab_size, config.hidden_size)
        self.blocks = nn.ModuleList(Rwkv1Block(config) for _ in range(config.num_hidden_layers))
        self.ln_f = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    def window(self, ids: torch.Tensor, cache: Rwkv1Cache | None = None) -> torch.Tensor:
        """The parallel form over one window (at most ``context_length`` ids, position 0 first); with a
        fresh ``cache``, it is filled for the steps that follow."""
        x = self.tok_emb(ids)
        n = ids.shape[1]
        for i, block in enumerate(self.blocks):
            x, (kv, sum_k, att_x, ffn_x) = block(x)
            if cache is not None:
                cache.kv[i, :, :n] = kv
                cache.sum_k[i], cache.att_x[i], cache.ffn_x[i] = sum_k, att_x, ffn_x
        if cache is not None:
            cache.ids[:, :n] = ids
            cache.seen = n
        out: torch.Tensor = self.ln_f(x)
        return out

    def step(self, ids: torch.Tensor, cache: Rwkv1Cache) -> torch.Tensor:
        """One token ``ids [B, 1]`` at the next position of a window that is not full."""
        t = cache.seen
        cache.ids[:, t] = ids[:, 0]
        x = self.tok_emb(ids)
        for i, block in enumerate(self.blocks):
            assert isinstance(block, Rwkv1Block)
            x = block.step(x, t, cache, i)
        out: torch.Tensor = self.ln_f(x)
        return out

    def drive(
        self,
        input_ids: torch.Tensor,
        cache: Rwkv1Cache | None,
        read_window: WindowReader,
        read_step: StepReader,
    ) -> torch.Tensor:
        """Every position of ``input_ids`` (after what ``cache`` has seen), as ``run.py`` would compute it: the
        first window in parallel, then one step per token while the window has room, then the window of the
        last ``context_length`` ids per token. ``read_*`` turn hidden states into outputs."""
        window = self.config.context_length
        n = input_ids.shape[1]
        outs: list[torch.Tensor] = []
        j = 0
        if cache is None or cache.total == 0:
            m = min(n, window)
            hidden = self.window(input_ids[:, :m], cache)
            outs.append(read_window(hidden, input_ids[:, :m], 0, cache))
            j = m
            if cache is not None:
                cache.total = m
        while j < n:
            token = input_ids[:, j : j + 1]
            if cache is not None and cache.seen < window:
                outs.append(read_step(self.step(token, cache), cache))
                cache.seen += 1
            else:
                ids = (
                    torch.cat([cache.ids[:, 1:], token], dim=1)
                    if cache is not None
                    else input_ids[:, j - window + 1 : j + 1]
                )
                outs.append(read_window(self.window(ids), ids, window - 1, None))
                if cache is not None:
                    cache.ids = ids
            if cache is not None:
                cache.total += 1
            j += 1
        return torch.cat(outs, dim=1)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: Rwkv1Cache | None = None,
        use_cache: bool | None = None,
        **kwargs: Any,
    ) -> Rwkv1Output:
        ids, cache = _start(
            self.config, input_ids, attention_mask, cache, use_cache, self.tok_emb.weight.dtype
        )
        hidden = self.drive(ids, cache, lambda h, ids, start, c: h[:, start:], lambda h, c: h)
        return stack_output(hidden, None, cache, cache is not None, False)


class Rwkv1ForCausalLM(Rwkv1PreTrainedModel, GenerationMixin):
    """RWKV-1 with its LM head, ``time_out`` and the copy head: next-character ``logits [B, L, vocab]``."""

    def __init__(self, config: Rwkv1Config) -> None:
        super().__init__(config)
        self.rwkv = Rwkv1Model(config)
        self.time_out = nn.Parameter(torch.ones(1, config.context_length, 1))
        self.head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        size = config.copy_size
        self.copy = size is not None
        if size is not None:
            self.head_q = nn.Linear(config.hidden_size, size)
            self.head_k = nn.Linear(config.hidden_size, size)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        head: nn.Linear = self.head
        return head

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.head = value

    def _read_window(
        self, hidden: torch.Tensor, ids: torch.Tensor, start: int, cache: Rwkv1Cache | None
    ) -> torch.Tensor:
        """Logits of window positions ``start:`` (``hidden`` is the whole window, position 0 first)."""
        rows = hidden[:, start:]
        n = hidden.shape[1]
        logits: torch.Tensor = self.head(rows * self.time_out[:, start:n])
        if not self.copy:
            return logits
        keys = self.head_k(hidden)
        if cache is not None:
            cache.copy_k[:, :n] = keys
        score = (self.head_q(rows) @ keys.transpose(-2, -1)) / self.config.copy_size
        pos = torch.arange(n, device=hidden.device)
        score = score.masked_fill(pos[None, :] > pos[start:, None], 0.0)
        where = ids[:, None, :].expand(-1, n - start, -1)
        return logits.scatter_add(2, where, score.to(logits.dtype))

    def _read_step(self, hidden: torch.Tensor, cache: Rwkv1Cache) -> torch.Tensor:
        t = cache.seen
        logits: torch.Tensor = self.head(hidden * self.time_out[:, t : t + 1])
        if not self.copy:
            return logits
        cache.copy_k[:, t] = self.head_k(hidden)[:, 0]
        score = (self.head_q(hidden) @ cache.copy_k[:, : t + 1].transpose(-2, -1)) / self.config.copy_size
        return logits.scatter_add(2, cache.ids[:, None, : t + 1], score.to(logits.dtype))

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: Rwkv1Cache | None = None,
        labels: torch.Tensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs: Any,
    ) -> Rwkv1CausalLMOutput:
        weight = self.rwkv.tok_emb.weight
        ids, cache = _start(self.config, input_ids, attention_mask, cache, use_cache, weight.dtype)
        logits = self.rwkv.drive(ids, cache, self._read_window, self._read_step)
        return logits_output(self, logits, labels, logits_to_keep, cache, **kwargs)


__all__ = ["Rwkv1Cache", "Rwkv1Config", "Rwkv1ForCausalLM", "Rwkv1Model", "Rwkv1PreTrainedModel"]
