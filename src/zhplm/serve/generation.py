"""The one seam between the server and text generation.

The server only needs *a function that takes the loaded generator, the prompt (or chat messages) and the
sampling parameters and yields text pieces* (:data:`GenerateFn`). :func:`pipeline_stream` is it: zhplm's
own :class:`~zhplm.tasks.generate.TextGeneration` (and :class:`~zhplm.tasks.chat.Chat` for dialogue
models), so a served model is prompted, stopped and decoded exactly as by ``zhplm generate`` / ``zhplm
chat``: its prompt format, stop tokens, banned tokens, and text rendering.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zhplm.errors import RequestError


@dataclass
class GenerationRequest:
    """What one completion asks for. ``messages`` (chat) or ``prompt`` (completion) is set;
    ``options`` are :class:`~zhplm.tasks.generate.Options` fields the client chose."""

    prompt: str | None = None
    messages: list[dict[str, str]] | None = None
    max_tokens: int = 16
    options: dict[str, Any] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)  # set when the client goes away
    prompt_tokens: int = 0  # filled in by the generate function
    completion_tokens: int = 0
    finish_reason: str = "length"


# (the object the server loaded for the model, the request) -> text pieces, in order
GenerateFn = Callable[[Any, GenerationRequest], Iterator[str]]


@dataclass
class Generator:
    """A served generative model: the shared pipeline, and its chat when its prompt format is a dialogue."""

    pipeline: Any  # TextGeneration
    chat: Any = None  # Chat, for dialogue formats

    @classmethod
    def load(cls, folder: Path, **load_options: Any) -> Generator:
        from zhplm.tasks.chat import Chat
        from zhplm.tasks.generate import TextGeneration

        gen = TextGeneration.from_model(folder, **load_options)
        return cls(gen, Chat(gen) if gen.format.dialogue else None)


class _Cancelled(Exception):
    """Raised inside ``generate`` (through the streamer) once the client went away."""


def dialogue_turns(messages: list[dict[str, str]]) -> list[str]:
    """OpenAI messages → the alternating turns a dialogue format reads (system messages have no place in
    these models' formats and are left out)."""
    turns = [m for m in messages if m["role"] != "system"]
    for n, m in enumerate(turns):
        want = "user" if n % 2 == 0 else "assistant"
        if m["role"] != want:
            raise RequestError(
                422,
                f"message {n} (not counting system messages) has role {m['role']!r}; this model's "
                "dialogue alternates user and assistant turns, starting and ending with the user",
            )
    if not turns or len(turns) % 2 == 0:
        raise RequestError(422, "the messages must end with a user message for the model to reply to")
    return [m["content"] for m in turns]


def _encode(generator: Generator, req: GenerationRequest) -> tuple[Any, dict[str, Any]]:
    """The encoded prompt and the base options: a chat uses the format's own chat defaults (``zhplm
    chat``'s), a completion the pipeline's (``zhplm generate``'s)."""
    gen = generator.pipeline
    if req.messages is None:
        return gen.format.encode(gen.tokenizer, req.prompt or ""), {}
    if generator.chat is not None:
        return generator.chat.prompt(dialogue_turns(req.messages)), dict(gen.format.chat_defaults)
    turns = [m for m in req.messages if m["role"] != "system"]
    if len(turns) != 1 or turns[0]["role"] != "user":
        raise RequestError(
            400,
            f"this model's prompt format {gen.format.name!r} is not a dialogue format: send one user "
            "message (continued as a prompt) or use /v1/completions",
            kind="wrong_task",
        )
    return gen.format.encode(gen.tokenizer, turns[0]["content"]), {}


def pipeline_stream(generator: Generator, req: GenerationRequest) -> Iterator[str]:
    """Stream a completion through the shared pipeline in a worker thread; greedy unless ``sample``."""
    from zhplm.tasks.generate import make_options

    gen = generator.pipeline
    encoded, base = _encode(generator, req)
    if not encoded.input_ids:  # an empty prompt: start from the model's first token
        from zhplm.tasks.prompting import Encoded

        tok = gen.tokenizer
        start = tok.bos_token_id if tok.bos_token_id is not None else tok.cls_token_id
        encoded = Encoded([start or 0])
    req.prompt_tokens = len(encoded.input_ids)
    opts = make_options(
        make_options(None, base), {**req.options, "max_new_tokens": req.max_tokens, "num_beams": 1}
    )
    pieces: queue.Queue[str | BaseException | None] = queue.Queue()

    def on_text(text: str) -> None:
        if req.cancel.is_set():
            raise _Cancelled
        pieces.put(text)

    def work() -> None:
        try:
            result = gen.run([encoded], [req.prompt or ""], opts, on_text=on_text)[0][0]
            req.completion_tokens = len(result.token_ids)
            req.finish_reason = result.finish_reason
            pieces.put(None)
        except BaseException as exc:  # handed to the reading side
            pieces.put(exc)

    worker = threading.Thread(target=work, name="zhplm-generate", daemon=True)
    worker.start()
    try:
        while (item := pieces.get()) is not None:
            if isinstance(item, _Cancelled):
                return
            if isinstance(item, BaseException):
                raise item
            if item:
                yield item
    finally:
        req.cancel.set()  # the consumer stopped early: the next piece ends generate
        worker.join()
