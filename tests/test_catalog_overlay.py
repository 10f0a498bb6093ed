"""User catalog (catalog add/remove): validated whole, atomic, no id clashes, built-ins protected."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import zhplm
from zhplm import config
from zhplm.catalog.overlay import add_records, remove_record
from zhplm.errors import CatalogError, UnknownModelError


def _record(mid: str, **changes: object) -> dict[str, object]:
    raw = zhplm.info("macbert-base").to_dict()
    raw.update(id=mid, aliases=[f"me/{mid}"], order=1000, **changes)
    return raw


def _write(tmp_path: Path, records: list[dict[str, object]], name: str = "new.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return p


def test_add_then_remove(tmp_path: Path) -> None:
    add_records(_write(tmp_path, [_record("my-bert"), _record("my-bert-2")]))
    assert zhplm.info("my-bert").family == "MacBERT"
    assert zhplm.info("me/my-bert-2").id == "my-bert-2"
    assert len(zhplm.get_catalog()) == 152
    assert not zhplm.get_catalog().is_builtin("my-bert")
    saved = json.loads(config.user_catalog_path().read_text(encoding="utf-8"))
    assert [r["id"] for r in saved] == ["my-bert", "my-bert-2"]
    assert remove_record("my-bert").id == "my-bert"
    with pytest.raises(UnknownModelError):
        zhplm.info("my-bert")
    assert len(zhplm.get_catalog()) == 151


def test_builtin_records_cannot_be_removed() -> None:
    with pytest.raises(CatalogError, match="built-in"):
        remove_record("macbert-base")
    with pytest.raises(UnknownModelError):
        remove_record("never-added")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id": "macbert-base"}, "macbert-base"),  # reuses a built-in id
        ({"aliases": ["hfl/chinese-macbert-base"]}, "hfl/chinese-macbert-base"),  # reuses an alias
        ({"arch": "no_such_arch"}, "[1].arch"),
        (
            {"downloads": [{"url": "u", "text": "t", "column": "torch", "host": "other"}]},
            "[1].downloads[0].column",
        ),
        ({"layers": -1}, "[1].layers"),
        ({"colour": "red"}, "unknown field(s): colour"),
    ],
)
def test_a_bad_file_is_rejected_whole(tmp_path: Path, changes: dict[str, object], field: str) -> None:
    good = _record("fine-one")
    bad = _record("bad-one")
    bad.update(changes)
    with pytest.raises(CatalogError, match=re.escape(field)):
        add_records(_write(tmp_path, [good, bad]))
    assert not config.user_catalog_path().exists()  # nothing written, not even the good record
    assert "fine-one" not in zhplm.get_catalog()


def test_bad_json_and_duplicates_across_adds(tmp_path: Path) -> None:
    p = tmp_path / "broken.json"
    p.write_text("[{", encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid JSON"):
        add_records(p)
    add_records(_write(tmp_path, [_record("once")]))
    before = config.user_catalog_path().read_bytes()
    with pytest.raises(CatalogError, match="once"):
        add_records(_write(tmp_path, [_record("once")], "again.json"))
    assert config.user_catalog_path().read_bytes() == before
    assert not list(config.user_catalog_path().parent.glob(".user-records-*"))  # no temp file left
