"""The one seam between the server and text generation.

The server only needs *a function that takes the loaded model, the prompt (or chat messages) and the
sampling parameters and yields text pieces* (:data:`GenerateFn`). :func:`transformers_stream` implements
it today with transformers' ``generate`` + ``TextIteratorStreamer`` on a model from ``zhplm.load``; the
shared ``zhplm.pipeline("text-generation", …)`` can replace it without touching the routes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from zhplm.errors import RequestError


@dataclass
class GenerationRequest:
    """What one completion asks for. ``messages`` (chat) or ``prompt`` (completion) is set."""

    prompt: str | None = None
    messages: list[dict[str, str]] | None = None
    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)  # set when the client goes away
    prompt_tokens: int = 0  # filled in by the generate function
    completion_tokens: int = 0


# (the object the server loaded for the model, the request) -> text pieces, in order
GenerateFn = Callable[[Any, GenerationRequest], Iterator[str]]


def chat_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The tokenizer's chat template when it has one; else ``role: content`` lines and an open
    ``assistant:`` turn (what a base model without a template can continue)."""
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return str(text)
    lines = [f"{m['role']}: {m['content']}" for m in messages]
    return "\n".join([*lines, "assistant:"])


def transformers_stream(loaded: Any, req: GenerationRequest) -> Iterator[str]:
    """Stream a completion with ``model.generate`` in a worker thread (greedy when temperature is 0)."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

    model, tokenizer = loaded.model, loaded.tokenizer
    text = chat_prompt(tokenizer, req.messages) if req.messages is not None else req.prompt or ""
    enc = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    if enc["input_ids"].shape[1] == 0:  # an empty prompt: start from the model's first token
        start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.cls_token_id
        enc = {
            "input_ids": torch.tensor([[start or 0]]),
            "attention_mask": torch.ones(1, 1, dtype=torch.long),
        }
    enc.pop("token_type_ids", None)
    req.prompt_tokens = int(enc["input_ids"].shape[1])
    window = getattr(model.config, "max_position_embeddings", None) or getattr(
        model.config, "n_positions", None
    )
    if window and req.prompt_tokens + req.max_tokens > window:
        raise RequestError(
            422,
            f"{req.prompt_tokens} prompt tokens + max_tokens {req.max_tokens} exceed this model's "
            f"{window} positions; shorten the prompt or lower max_tokens",
        )

    class _Cancelled(StoppingCriteria):  # type: ignore[misc]
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return torch.full((input_ids.shape[0],), req.cancel.is_set(), dtype=torch.bool)

    class _Count(StoppingCriteria):  # type: ignore[misc]
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            req.completion_tokens = int(input_ids.shape[1]) - req.prompt_tokens
            return torch.zeros((input_ids.shape[0],), dtype=torch.bool)

    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
    sampling = req.temperature > 0
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    kwargs: dict[str, Any] = dict(
        **enc,
        max_new_tokens=req.max_tokens,
        do_sample=sampling,
        streamer=streamer,
        pad_token_id=pad if pad is not None else 0,
        stopping_criteria=StoppingCriteriaList([_Count(), _Cancelled()]),
    )
    if sampling:
        kwargs.update(temperature=req.temperature, top_p=req.top_p)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            if req.seed is not None:
                torch.manual_seed(req.seed)
            with torch.inference_mode():
                model.generate(**kwargs)
        except BaseException as exc:  # surfaced to the consumer below
            errors.append(exc)
            streamer.end()  # type: ignore[no-untyped-call]

    worker = threading.Thread(target=run, name="zhplm-generate", daemon=True)
    worker.start()
    try:
        for piece in streamer:
            if piece:
                yield piece.replace(" ", "") if _char_tokenizer(tokenizer) else piece
    finally:
        req.cancel.set()  # the consumer stopped early: let generate return
        worker.join()
    if errors:
        raise errors[0]


def _char_tokenizer(tokenizer: Any) -> bool:
    """BERT-style Chinese vocabularies decode with a space between characters; drop them like fill-mask does."""
    return "Bert" in type(tokenizer).__name__
