"""What CogView's tasks share: opening a converted folder, loading it, and several samples per call drawn as
the original draws them (``generation/sampling.py``).

``generate_images_once`` marks the positions to fill with ``-nb`` (``nb = min(num, 12)``,
``--max-inference-batch-size``) and calls ``filling_sequence`` ``max(num // 12, 1)`` times. There the first
position is drawn once for the whole batch, ``torch.multinomial(probs[1, V], nb, replacement=True)``, and the
prompt's cache is expanded to ``nb`` rows; every later position is ``torch.multinomial(probs[nb, V], 1)``, one
draw per row. transformers' ``generate`` with ``num_return_sequences`` draws the first position row by row
(other random numbers), so :func:`sample` draws that one position itself, with the processors ``generate``
would apply (temperature, the task's id mask, top-k — the original's order), and hands the expanded cache to
``generate`` for the rest. One sample (``nb = 1``) is ``generate`` alone, as there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zhplm.errors import ConversionError

MAX_BATCH = 12  # arguments.py --max-inference-batch-size


def open_folder(model: str | Path, task: str) -> tuple[Path, dict[str, Any]]:
    """The converted folder and its ``config.json``, refusing another architecture before any weight is read."""
    from zhplm.loader import read_provenance, resolve_model_dir

    folder = resolve_model_dir(model)
    arch = read_provenance(folder).get("arch")
    if arch not in (None, "cogview"):
        raise ConversionError(f"{task} needs a CogView model; {folder} holds {arch!r}")
    config: dict[str, Any] = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return folder, config


def load_model(folder: Path, **load_options: Any) -> Any:
    """``zhplm.load`` of the folder (model in eval mode + its ``CogViewTokenizer``)."""
    from zhplm.loader import load

    loaded = load(folder, task="text-generation", **load_options)
    if loaded.tokenizer is None:
        raise ConversionError(
            f"{folder} has no tokenizer: copy cog-pretrain.model beside the weights and convert again"
        )
    loaded.model.eval()
    return loaded


def sample(
    model: Any,
    ids: Any,
    mask: Callable[[Any, Any], Any],
    steps: int,
    num: int,
    *,
    top_k: int,
    temperature: float,
    pad_token_id: int | None,
    extra: list[Any] | None = None,
) -> Any:
    """``num`` rows of ``steps`` sampled tokens after ``ids`` (``[1, L]``); ``mask`` is the task's id constraint."""
    import torch
    from transformers import LogitsProcessorList

    def generate(inputs: Any, new: int, cache: Any = None) -> Any:
        processors = LogitsProcessorList([mask, *(extra or [])])
        options: dict[str, Any] = {} if cache is None else {"cache": cache}
        out = model.generate(
            inputs,
            attention_mask=torch.ones_like(inputs),
            do_sample=True,
            top_k=top_k or None,
            top_p=None,
            temperature=temperature,
            max_new_tokens=new,
            min_new_tokens=new,
            logits_processor=processors,
            eos_token_id=None,
            pad_token_id=pad_token_id,
            **options,
        )
        return out[:, ids.shape[1] :]

    if num == 1:
        return generate(ids, steps)
    nb = min(num, MAX_BATCH)
    # a remainder (num > 12, not a multiple: the original refuses it) is one more, smaller batch
    chunks = [nb] * (num // nb) + ([num % nb] if num % nb else [])
    out = []
    for rows in chunks:
        if rows == 1:
            out.append(generate(ids, steps))
            continue
        first = model(ids, attention_mask=torch.ones_like(ids), use_cache=True, logits_to_keep=1)
        scores = first.logits[:, -1, :].to(dtype=torch.float32) / temperature
        scores = mask(ids, scores)
        if top_k:
            kth = torch.topk(scores, min(top_k, scores.shape[-1]))[0][..., -1, None]
            scores = scores.masked_fill(scores < kth, -float("inf"))
        for p in extra or []:
            scores = p(ids, scores)
        token = torch.multinomial(torch.softmax(scores, dim=-1), num_samples=rows, replacement=True)
        inputs = torch.cat([ids.expand(rows, -1), token.view(rows, 1)], dim=1)
        if steps == 1:
            out.append(inputs[:, ids.shape[1] :])
            continue
        cache = first.cache
        cache.keys = [k.expand(rows, -1, -1, -1) for k in cache.keys]
        cache.values = [v.expand(rows, -1, -1, -1) for v in cache.values]
        out.append(generate(inputs, steps - 1, cache))
    return torch.cat(out)


__all__ = ["MAX_BATCH", "load_model", "open_folder", "sample"]
