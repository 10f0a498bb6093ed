"""The catalog: one typed record per row of the awesome list, plus records the user added.

Public API (also reachable as ``zhplm.list_models`` / ``zhplm.search`` / ``zhplm.info`` /
``zhplm.get_catalog``)::

    get_catalog()             -> Catalog  (.get(id_or_alias), .records, iteration, len)
    list_models(**filters)    -> list[ModelRecord]
    search(query)             -> list[ModelRecord], best first
    info(id_or_alias)         -> ModelRecord (UnknownModelError with close ids otherwise)

Reading the catalog uses the standard library only (tomllib, json): it never imports torch.
"""

from __future__ import annotations

from zhplm.catalog import query as _query
from zhplm.catalog.archs import arch_names, vocabulary
from zhplm.catalog.overlay import merged_catalog, user_records
from zhplm.catalog.query import Acquisition, how_to_get
from zhplm.catalog.registry import Catalog, builtin_catalog
from zhplm.catalog.schema import Download, FamilyInfo, ModelRecord, Paper, Publisher


def get_catalog() -> Catalog:
    """The built-in catalog merged with the user's added records (re-read on every call)."""
    extra = user_records()
    builtin = builtin_catalog()
    return merged_catalog(builtin, extra) if extra else builtin


def list_models(
    *,
    section: str | None = None,
    family: str | None = None,
    arch: str | None = None,
    domain: str | None = None,
    framework: str | None = None,
    host: str | None = None,
    size: str | None = None,
    downloadable: bool | None = None,
) -> list[ModelRecord]:
    """Records passing every given filter, in the list's order (no filter: all of them)."""
    return _query.list_models(
        get_catalog(),
        section=section,
        family=family,
        arch=arch,
        domain=domain,
        framework=framework,
        host=host,
        size=size,
        downloadable=downloadable,
    )


def search(query: str) -> list[ModelRecord]:
    """Bilingual ranked search over ids, names, aliases, family, organisation, task, size, domain and papers."""
    return _query.search(get_catalog(), query)


def info(model_id: str) -> ModelRecord:
    """The record for an id or alias; raises UnknownModelError naming the closest ids."""
    return get_catalog().get(model_id)


__all__ = [
    "Acquisition",
    "Catalog",
    "Download",
    "FamilyInfo",
    "ModelRecord",
    "Paper",
    "Publisher",
    "arch_names",
    "get_catalog",
    "how_to_get",
    "info",
    "list_models",
    "search",
    "vocabulary",
]
