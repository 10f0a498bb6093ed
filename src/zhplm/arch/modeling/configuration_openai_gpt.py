# mypy: disable-error-code="no-untyped-call,misc"
"""The configuration of zhplm's cached OpenAI-GPT, apart from the model code (torch-free, for ``AutoConfig``).

It is transformers' ``OpenAIGPTConfig`` (the same keys: ``n_embd``, ``n_head``, ``n_layer``, ``n_positions``,
``afn``, …) under its own ``model_type``, so that the Auto classes pick the class that keeps a KV cache."""

from __future__ import annotations

from transformers import OpenAIGPTConfig


class OpenAIGPTCachedConfig(OpenAIGPTConfig):
    """``OpenAIGPTConfig`` of a folder whose model generates with a KV cache (CDial-GPT LCCC base/large)."""

    model_type = "openai_gpt_cached"

    use_cache: bool = True
