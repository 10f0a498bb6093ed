"""Refuse a task whose head the checkpoint lacks or never trained (read from ``zhplm.json``)."""

from __future__ import annotations

from typing import Any

from zhplm.errors import ConversionError


def require_head(provenance: dict[str, Any], head: str, task: str, *, hint: str | None = None) -> None:
    status = (provenance.get("heads") or {}).get(head)
    if status in ("absent", "untrained"):
        model = provenance.get("model_id") or provenance.get("source") or "this model"
        raise ConversionError(
            f"{task} needs the {head} head, which is {status} in {model}: its output would be noise. "
            + (hint or ("Use embeddings instead." if head == "mlm" else "Use another pooling strategy."))
        )
