"""Text generation on transformers' ``generate`` (KV cache where the class has one): greedy, sampling
(temperature, top-k, top-p, repetition penalty, seed), beam search, stop strings, streaming, batches.

``zhplm.pipeline("text-generation", ID_OR_DIR)`` builds a :class:`TextGeneration`. The model's prompt
format (:mod:`zhplm.tasks.prompting`: leading ``[CLS]``, speaker tokens, ``[SEP]`` between turns …) comes
from the folder's ``zhplm.json`` (recorded from the catalog row at conversion) unless one is given.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from zhplm.errors import ConversionError
from zhplm.tasks._heads import require_head
from zhplm.tasks._inference import fuse_activations
from zhplm.tasks.prompting import Encoded, PromptFormat, get_format

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Options:
    """How to generate. ``sample`` off is greedy (or beam search with ``num_beams`` > 1)."""

    max_new_tokens: int = 50
    sample: bool = False
    temperature: float = 1.0
    top_k: int = 0  # 0: no top-k filter
    top_p: float = 1.0  # 1.0: no nucleus filter
    repetition_penalty: float = 1.0
    num_beams: int = 1
    seed: int | None = None
    stop: tuple[str, ...] = ()  # the text ends before the first of these

    def __post_init__(self) -> None:
        problems = []
        if self.max_new_tokens < 1:
            problems.append(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if self.temperature <= 0:
            problems.append(
                f"temperature must be > 0 (use greedy decoding instead of 0), got {self.temperature}"
            )
        if self.top_k < 0:
            problems.append(f"top_k must be >= 0, got {self.top_k}")
        if not 0 < self.top_p <= 1:
            problems.append(f"top_p must be in (0, 1], got {self.top_p}")
        if self.repetition_penalty <= 0:
            problems.append(f"repetition_penalty must be > 0, got {self.repetition_penalty}")
        if self.num_beams < 1:
            problems.append(f"num_beams must be at least 1, got {self.num_beams}")
        if any(not s for s in self.stop):
            problems.append("a stop string cannot be empty")
        if problems:
            raise ConversionError("; ".join(problems))

    def generate_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": self.sample}
        if self.sample:
            kwargs.update(temperature=self.temperature, top_k=self.top_k or None, top_p=self.top_p)
        if self.repetition_penalty != 1.0:
            kwargs["repetition_penalty"] = self.repetition_penalty
        if self.num_beams > 1:
            kwargs["num_beams"] = self.num_beams
        return kwargs


@dataclass
class Generation:
    """One generated continuation."""

    prompt: str
    text: str
    token_ids: list[int]
    finish_reason: str  # "stop" (a stop token or string), "length" (max_new_tokens reached)
    candidates: list[str] = field(default_factory=list)  # chat: the replies a reranker chose among


def make_options(options: Options | None, overrides: dict[str, Any]) -> Options:
    base = options or Options()
    if "stop" in overrides and isinstance(overrides["stop"], str):
        overrides["stop"] = (overrides["stop"],)
    elif "stop" in overrides:
        overrides["stop"] = tuple(overrides["stop"])
    unknown = set(overrides) - set(Options.__dataclass_fields__)
    if unknown:
        raise ConversionError(
            f"unknown generation option(s) {', '.join(sorted(unknown))}; known: {', '.join(Options.__dataclass_fields__)}"
        )
    return replace(base, **overrides)


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to the first stop string, and whether one was found."""
    cut = min((i for s in stop if (i := text.find(s)) >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def held_back(text: str, stop: Sequence[str]) -> int:
    """How many characters at the end of ``text`` could be the start of a stop string (not shown yet)."""
    longest = 0
    for s in stop:
        for n in range(min(len(s) - 1, len(text)), 0, -1):
            if text.endswith(s[:n]):
                longest = max(longest, n)
                break
    return longest


class TextGeneration:
    """Generate text with a causal LM and its tokenizer, in the model's own prompt format."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        prompt_format: PromptFormat | str | None = None,
        *,
        options: Options | None = None,
        provenance: dict[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.format = prompt_format if isinstance(prompt_format, PromptFormat) else get_format(prompt_format)
        self.options = options or Options()
        self.provenance = provenance or {}

    @classmethod
    def from_model(
        cls,
        model: str | Path,
        *,
        prompt_format: str | None = None,
        options: Options | None = None,
        **load_options: Any,
    ) -> TextGeneration:
        """Refuse from ``zhplm.json`` before any weight is read when the LM head is absent or untrained."""
        from zhplm.loader import load, read_provenance, resolve_model_dir

        folder = resolve_model_dir(model)
        provenance = read_provenance(folder)
        # UniLM-style models (SimBERT, RoFormer-sim) write with their masked-LM head under a seq2seq mask
        head = (
            "mlm"
            if "lm" not in (provenance.get("heads") or {}) and "mlm" in (provenance.get("heads") or {})
            else "lm"
        )
        require_head(provenance, head, "text generation", hint="This model cannot write text.")
        seq2seq = _is_encoder_decoder(folder)
        fmt = get_format(prompt_format or provenance.get("prompt_format") or ("seq2seq" if seq2seq else None))
        loaded = load(folder, task="text2text-generation" if seq2seq else "text-generation", **load_options)
        fuse_activations(loaded.model)  # our own copy: same formula, one kernel (see _inference)
        return cls(loaded.model, loaded.tokenizer, fmt, options=options, provenance=loaded.provenance)

    # -- public ---------------------------------------------------------------------------------
    def __call__(
        self, prompt: str, *, on_text: Callable[[str], None] | None = None, **options: Any
    ) -> Generation:
        """Continue ``prompt``; ``on_text`` receives the text as it is produced, piece by piece."""
        opts = make_options(self.options, options)
        return self.run([self.format.encode(self.tokenizer, prompt)], [prompt], opts, on_text=on_text)[0][0]

    def batch(self, prompts: Sequence[str], *, batch_size: int = 8, **options: Any) -> list[Generation]:
        """Continue many prompts, ``batch_size`` at a time (left-padded)."""
        opts = make_options(self.options, options)
        out: list[Generation] = []
        for start in range(0, len(prompts), batch_size):
            chunk = list(prompts[start : start + batch_size])
            encoded = [self.format.encode(self.tokenizer, p) for p in chunk]
            out += [rows[0] for rows in self.run(encoded, chunk, opts)]
        return out

    def stream(self, prompt: str, **options: Any) -> Iterator[str]:
        """The text of ``prompt``'s continuation, piece by piece, while the model produces it."""
        pieces: queue.Queue[str | BaseException | None] = queue.Queue()

        def work() -> None:
            try:
                self(prompt, on_text=pieces.put, **options)
                pieces.put(None)
            except BaseException as exc:  # handed to the reading thread
                pieces.put(exc)

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        while (item := pieces.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
        thread.join()

    # -- the one path to generate ------------------------------------------------------------------
    def run(
        self,
        encoded: Sequence[Encoded],
        prompts: Sequence[str],
        opts: Options,
        *,
        num_return: int = 1,
        on_text: Callable[[str], None] | None = None,
    ) -> list[list[Generation]]:
        """Generate ``num_return`` continuations for each encoded prompt (one ``generate`` call)."""
        import torch

        tokenizer = self.tokenizer
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        width = max(len(e.input_ids) for e in encoded)
        # an encoder-decoder reads the prompt in its encoder (padded on the right: absolute positions stay put);
        # its output starts with the decoder's start token, not the prompt
        seq2seq = bool(getattr(self.model.config, "is_encoder_decoder", False))
        skip = 1 if seq2seq else width
        limit = None if seq2seq else _max_positions(self.model.config)
        if limit is not None and width + opts.max_new_tokens > limit:
            raise ConversionError(
                f"prompt ({width} tokens) + max_new_tokens ({opts.max_new_tokens}) exceed the model's "
                f"{limit} positions: shorten the prompt or ask for fewer tokens"
            )
        ids = torch.full((len(encoded), width), pad, dtype=torch.long)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        types = torch.full((len(encoded), width), pad, dtype=torch.long)
        for row, e in enumerate(encoded):
            n = len(e.input_ids)
            cols = slice(0, n) if seq2seq else slice(width - n, width)
            ids[row, cols] = torch.tensor(e.input_ids)
            mask[row, cols] = 1
            if e.token_type_ids is not None:
                types[row, cols] = torch.tensor(e.token_type_ids)
        kwargs = opts.generate_kwargs()
        stop_ids = self.format.stop_ids(tokenizer)
        kwargs["eos_token_id"] = stop_ids or None
        kwargs["pad_token_id"] = pad
        banned = [[b] for b in self.format.banned_ids(tokenizer) if b is not None]
        if banned:
            kwargs["bad_words_ids"] = banned
        if any(e.token_type_ids is not None for e in encoded):
            kwargs["token_type_ids"] = types
        if num_return > 1:
            kwargs["num_return_sequences"] = num_return
            if opts.num_beams > 1 and opts.num_beams < num_return:
                kwargs["num_beams"] = num_return
        streamer = None
        if on_text is not None:
            if len(encoded) != 1 or num_return != 1 or opts.num_beams > 1:
                raise ConversionError("streaming needs one prompt, one sequence and no beam search")
            streamer = _TextStreamer(self.format, tokenizer, opts.stop, on_text)
            kwargs["streamer"] = streamer
        if opts.stop:
            kwargs["stopping_criteria"] = _stopping(self.format, tokenizer, opts.stop, skip)
        if opts.seed is not None:
            torch.manual_seed(opts.seed)
        from zhplm._quiet import quietly

        with torch.inference_mode():
            out = quietly(self.model.generate, input_ids=ids, attention_mask=mask, **kwargs)
        results: list[list[Generation]] = []
        for row in range(out.shape[0]):
            new = out[row, skip:].tolist()
            if row % num_return == 0:
                results.append([])
            results[-1].append(self._finish(prompts[row // num_return], new, stop_ids, pad, opts))
        if streamer is not None:
            streamer.close()
        return results

    def _finish(
        self, prompt: str, new: list[int], stop_ids: Sequence[int], pad: int, opts: Options
    ) -> Generation:
        reason = "length"
        for n, tid in enumerate(new):
            if tid in stop_ids:
                new, reason = new[:n], "stop"
                break
        else:
            while new and new[-1] == pad and pad not in stop_ids:
                new = new[:-1]  # a row that stopped early in a batch is padded
        text, stopped = cut_at_stop(self.format.render(self.tokenizer, new), opts.stop)
        return Generation(prompt, text, new, "stop" if stopped else reason)


def _is_encoder_decoder(folder: Path) -> bool:
    import json

    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(isinstance(config, dict) and config.get("is_encoder_decoder"))


def _max_positions(config: Any) -> int | None:
    for key in ("n_positions", "max_position_embeddings"):
        value = getattr(config, key, None)
        if isinstance(value, int):
            return value
    return None


def _stopping(fmt: PromptFormat, tokenizer: Any, stop: Sequence[str], width: int) -> Any:
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class StopStrings(StoppingCriteria):  # type: ignore[misc]
        """Ends a row once its generated text holds a stop string (rendered as zhplm shows it, so a
        WordPiece vocabulary's ``##`` and spaces do not hide a match)."""

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            done = [cut_at_stop(fmt.render(tokenizer, row[width:].tolist()), stop)[1] for row in input_ids]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([StopStrings()])


class _TextStreamer:
    """A transformers streamer (``put``/``end``) that hands over text as soon as it is final: the new part
    of the rendered continuation, minus what could still become a stop string."""

    def __init__(
        self, fmt: PromptFormat, tokenizer: Any, stop: Sequence[str], on_text: Callable[[str], None]
    ) -> None:
        self.fmt, self.tokenizer, self.stop, self.on_text = fmt, tokenizer, stop, on_text
        self.ids: list[int] = []
        self.shown = 0
        self.prompt_seen = False
        self.stop_ids = set(fmt.stop_ids(tokenizer))
        self.finished = False

    def put(self, value: Any) -> None:
        if not self.prompt_seen:  # generate first hands over the prompt
            self.prompt_seen = True
            return
        if self.finished:
            return
        for tid in value.reshape(-1).tolist():
            if tid in self.stop_ids:
                self.finished = True
                break
            self.ids.append(int(tid))
        self._flush(final=self.finished)

    def end(self) -> None:
        self._flush(final=True)

    def close(self) -> None:
        self.end()

    def _flush(self, final: bool) -> None:
        text, stopped = cut_at_stop(self.fmt.render(self.tokenizer, self.ids), self.stop)
        if stopped:
            self.finished = True
        end = len(text) if (final or stopped) else len(text) - held_back(text, self.stop)
        if end > self.shown:
            self.on_text(text[self.shown : end])
            self.shown = end


__all__ = ["Generation", "Options", "TextGeneration", "cut_at_stop"]
