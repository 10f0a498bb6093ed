"""Catalog records for the source tests, built through the real schema validator."""

from __future__ import annotations

from typing import Any

from zhplm.catalog.schema import ModelRecord, record_from_dict


def link(url: str, **kw: Any) -> dict[str, Any]:
    """A download cell: defaults to a PyTorch file on a plain host."""
    out: dict[str, Any] = {
        "url": url,
        "text": kw.pop("text", "PyTorch"),
        "column": "pytorch",
        "host": "other",
    }
    out.update(kw)
    return out


def make_record(downloads: list[dict[str, Any]], model_id: str = "demo-model", **kw: Any) -> ModelRecord:
    raw: dict[str, Any] = {
        "id": model_id,
        "name": "Demo",
        "section": "NLU",
        "family": "BERT",
        "size": "base",
        "size_label": "base",
        "arch": "bert",
        "domain_zh": "通用",
        "domain_en": "general",
        "publisher": {"name": "Test"},
        "papers": [],
        "downloads": downloads,
    }
    raw.update(kw)
    return record_from_dict(raw)
