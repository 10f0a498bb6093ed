"""Hub copies end to end on loopback fakes of the Hugging Face Hub and ModelScope: the real catalog row
macbert-base goes to hfl/chinese-macbert-base, ``--source`` and ``ZHPLM_SOURCES`` / the config file pick
the order, ModelScope takes over when the hub fails, ``ZHPLM_OFFLINE=1`` uses the store, ``download --plan``
lists every way with why, a copy whose sizes disagree with the row is refused with nothing stored; and
``info``, ``list --downloadable`` and the planner agree for every catalog row."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fakes.hf_hub import FakeHub
from fakes.http_server import FakeServer
from fakes.modelscope import FakeModelScope
from fakes.records import link, make_record
from zhplm import config
from zhplm.catalog import get_catalog, list_models
from zhplm.catalog.schema import record_from_dict
from zhplm.cli.main import main
from zhplm.errors import CatalogError, ConfigError, UnexpectedContentError
from zhplm.formats.safetensors_write import TensorSpec, write_model
from zhplm.get import download
from zhplm.sources.plan import plan
from zhplm.sources.store import Store

HFL = "hfl/chinese-macbert-base"
MIRROR = "dienstag/chinese-macbert-base"


def hf_folder(tmp: Path, *, layers: int, hidden: int, vocab: int, tokenizer: bool = True) -> dict[str, bytes]:
    """The files of a BERT repo in HF layout (int8 weights: the check reads names and shapes only)."""
    specs = [TensorSpec("bert.embeddings.word_embeddings.weight", (vocab, hidden), "int8")]
    specs += [
        TensorSpec(f"bert.encoder.layer.{i}.output.LayerNorm.bias", (hidden,), "int8") for i in range(layers)
    ]
    out = tmp / f"st-{layers}-{hidden}-{vocab}"
    write_model(out, specs, lambda s: np.ones(s.shape, dtype=np.int8))
    cfg = {"model_type": "bert", "num_hidden_layers": layers, "hidden_size": hidden, "vocab_size": vocab}
    files = {
        "config.json": json.dumps(cfg).encode(),
        "model.safetensors": (out / "model.safetensors").read_bytes(),
    }
    if tokenizer:
        files["vocab.txt"] = b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n"
    return files


@dataclass
class Hubs:
    hub: FakeHub
    ms: FakeModelScope

    def requests(self) -> list[str]:
        return [r.path for r in self.hub.srv.requests] + [r.path for r in self.ms.srv.requests]


@pytest.fixture(scope="module")
def macbert_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return hf_folder(tmp_path_factory.mktemp("macbert"), layers=12, hidden=768, vocab=21128)


@pytest.fixture
def hubs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hubs]:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # conftest sets HF_HUB_OFFLINE=1 for safety
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.delenv("ZHPLM_SOURCES", raising=False)
    with FakeServer() as hub_srv, FakeServer() as ms_srv:
        monkeypatch.setenv("HF_ENDPOINT", hub_srv.base)
        monkeypatch.setenv("MODELSCOPE_ENDPOINT", ms_srv.base)
        yield Hubs(FakeHub(hub_srv), FakeModelScope(ms_srv))


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


# ---------------------------------------------------------------- the real macbert-base row


def test_download_macbert_base_goes_to_the_authors_hub_copy(
    hubs: Hubs, macbert_files: dict[str, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    hubs.hub.repo(HFL).add("main", macbert_files)
    hubs.ms.add(MIRROR, macbert_files)
    code, out = _cli(capsys, "download", "macbert-base", "--quiet")
    assert code == 0
    folder = Path(out.strip())
    entry = Store().get("macbert-base")
    assert entry is not None and entry.source == "hf" and entry.url == HFL
    assert folder == entry.converted  # kept as converted: no convert step ran
    prov = json.loads((folder / "zhplm.json").read_text(encoding="utf-8"))
    assert prov["hub_copy"]["repo"] == HFL and prov["hub_copy"]["publisher"] == "authors"
    assert prov["checked"]["layers"] == 12 and prov["checked"]["embedding_shape"] == [21128, 768]
    assert (folder / "model.safetensors").read_bytes() == macbert_files["model.safetensors"]
    assert hubs.ms.srv.requests == []  # the mirror was not needed
    assert not any("drive.google" in p for p in hubs.requests())


def test_source_flag_overrides_the_order(
    hubs: Hubs, macbert_files: dict[str, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    hubs.hub.repo(HFL).add("main", macbert_files)
    hubs.ms.add(MIRROR, macbert_files)
    code, _ = _cli(capsys, "download", "macbert-base", "--source", "modelscope", "--quiet")
    assert code == 0
    entry = Store().get("macbert-base")
    assert entry is not None and entry.source == "modelscope" and entry.url == f"{MIRROR}@master"
    assert hubs.hub.srv.requests == []
    prov = json.loads((entry.converted / "zhplm.json").read_text(encoding="utf-8"))  # type: ignore[operator]
    assert prov["hub_copy"] == {
        "hub": "modelscope",
        "repo": MIRROR,
        "revision": None,
        "publisher": "third-party",
        "weights": "hf",
        "framework": "pytorch",
        "note": "ModelScope mirror of the HF repo hfl/chinese-macbert-base",
    }


def test_modelscope_takes_over_when_the_hub_fails_then_offline_uses_the_store(
    hubs: Hubs, macbert_files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    hubs.ms.add(MIRROR, macbert_files)  # the hub fake has no such repo: 404
    path = download("macbert-base", quiet=True)
    entry = Store().get("macbert-base")
    assert entry is not None and entry.source == "modelscope" and path == entry.converted
    assert any(HFL in p for p in (r.path for r in hubs.hub.srv.requests))  # the hub was tried first
    before = len(hubs.requests())
    monkeypatch.setenv("ZHPLM_OFFLINE", "1")
    assert download("macbert-base", quiet=True) == path
    assert len(hubs.requests()) == before  # nothing went to the network


def test_env_order_is_honoured(
    hubs: Hubs, macbert_files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    hubs.hub.repo(HFL).add("main", macbert_files)
    hubs.ms.add(MIRROR, macbert_files)
    monkeypatch.setenv("ZHPLM_SOURCES", "modelscope,hf")
    p = plan(get_catalog().get("macbert-base"))
    assert [a.describe() for a in p.automatic] == [f"modelscope {MIRROR}@master", f"hf {HFL}"]
    assert [a.kind for a in p.skipped] == ["gdrive"] and p.order_from == "ZHPLM_SOURCES"
    download("macbert-base", quiet=True)
    assert Store().get("macbert-base").source == "modelscope"  # type: ignore[union-attr]
    assert hubs.hub.srv.requests == []


def test_config_file_order_and_a_bad_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZHPLM_SOURCES", raising=False)
    record = get_catalog().get("macbert-base")
    assert [a.kind for a in plan(record).automatic] == ["hf", "modelscope", "gdrive"]
    config.config_path().parent.mkdir(parents=True, exist_ok=True)
    config.config_path().write_text('sources = ["gdrive", "hf"]\n', encoding="utf-8")
    p = plan(record)
    assert [a.kind for a in p.automatic] == ["gdrive", "hf"] and p.order_from == str(config.config_path())
    monkeypatch.setenv("ZHPLM_SOURCES", "modelscope")  # the environment wins over the file
    assert [a.kind for a in plan(record).automatic] == ["modelscope"]
    monkeypatch.setenv("ZHPLM_SOURCES", "modelscope,huggingface")
    with pytest.raises(ConfigError, match=r"unknown source.*huggingface.*choose from hf, modelscope"):
        plan(record)
    monkeypatch.delenv("ZHPLM_SOURCES")
    config.config_path().write_text("sources = 'hf'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="non-empty list"):
        plan(record)


def test_download_plan_lists_every_way_in_order_with_why(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "https://hf-mirror.example")
    code, out = _cli(capsys, "download", "macbert-base", "--plan")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].startswith("macbert-base: 3 automatic way(s), 1 by hand (default order: hf, modelscope")
    assert lines[1] == (
        f"1. hf {HFL}: the authors' copy on the Hugging Face Hub via HF_ENDPOINT https://hf-mirror.example, "
        "already in HF layout"
    )
    assert lines[2].startswith(f"2. modelscope {MIRROR}@master: a third-party copy on ModelScope")
    assert (
        lines[3].startswith("3. gdrive https://drive.google.com/file/d/1aV69") and "Google Drive" in lines[3]
    )
    assert lines[4].startswith("4. manual http://pan.iflytek.com/") and "E2cP" in lines[4]
    code, out = _cli(capsys, "download", "macbert-base", "--plan", "--source", "gdrive", "--json")
    data = json.loads(out)
    assert data["order"] == ["gdrive"] and data["order_from"] == "--source"
    assert [w["kind"] for w in data["ways"] if w["tried"]] == ["gdrive"]
    assert {w["kind"] for w in data["ways"] if not w["tried"]} == {"hf", "modelscope"}  # skipped, listed
    assert Store().get("macbert-base") is None  # --plan fetches nothing


# ---------------------------------------------------------------- refusals


def test_a_copy_whose_shapes_disagree_is_refused_and_nothing_is_stored(hubs: Hubs, tmp_path: Path) -> None:
    hubs.hub.repo(HFL).add("main", hf_folder(tmp_path, layers=2, hidden=768, vocab=21128))
    with pytest.raises(UnexpectedContentError) as err:
        download("macbert-base", source="hf", quiet=True)
    msg = str(err.value)
    assert f"hf {HFL} does not match the catalog row macbert-base" in msg
    assert "config.json says layers 2, the catalog row says 12" in msg and "Nothing was stored" in msg
    store = Store()
    assert store.get("macbert-base") is None
    assert not (store.root / "models" / "macbert-base").exists()
    assert not (store.root / "converted" / "macbert-base").exists()
    staging = store.root / "staging"
    assert not staging.exists() or not any(staging.iterdir())


def test_weights_that_contradict_their_config_are_refused(hubs: Hubs, tmp_path: Path) -> None:
    files = hf_folder(tmp_path, layers=12, hidden=768, vocab=100)  # embedding rows 100
    files["config.json"] = json.dumps(
        {"num_hidden_layers": 12, "hidden_size": 768, "vocab_size": 21128}
    ).encode()
    hubs.hub.repo(HFL).add("main", files)
    with pytest.raises(UnexpectedContentError, match="word embedding has 100 rows, the vocabulary has 21128"):
        download("macbert-base", source="hf", quiet=True)
    assert Store().get("macbert-base") is None


def test_a_copy_without_tokenizer_falls_back_to_the_next_way(
    hubs: Hubs, macbert_files: dict[str, bytes], tmp_path: Path
) -> None:
    hubs.hub.repo(HFL).add("main", hf_folder(tmp_path, layers=12, hidden=768, vocab=21128, tokenizer=False))
    hubs.ms.add(MIRROR, macbert_files)
    download("macbert-base", quiet=True)
    assert Store().get("macbert-base").source == "modelscope"  # type: ignore[union-attr]


def test_an_own_architecture_copy_is_stored_for_the_convert_step(hubs: Hubs, tmp_path: Path) -> None:
    files = hf_folder(tmp_path, layers=2, hidden=8, vocab=20)
    hubs.hub.repo("org/nezha").add("main", files)
    record = make_record(
        [link("https://pan.baidu.com/s/1x", host="baidu-pan")],
        arch="nezha",
        layers=2,
        hidden=8,
        vocab_size=20,
        hub_copies=[
            {
                "hub": "hf",
                "repo": "org/nezha",
                "weights": "hf",
                "framework": "pytorch",
                "publisher": "third-party",
            }
        ],
    )
    path = download(record, convert=False, quiet=True)
    entry = Store().get("demo-model")
    assert entry is not None and entry.converted is None and path == entry.path  # zhplm converts it


# ---------------------------------------------------------------- catalog data


def _copy(**kw: Any) -> dict[str, Any]:
    base = {"hub": "hf", "repo": "org/a", "weights": "hf", "framework": "pytorch", "publisher": "authors"}
    return {**base, **kw}


@pytest.mark.parametrize(
    ("copy", "field", "message"),
    [
        (_copy(repo="no-slash"), "hub_copies[0].repo", "org/name"),
        (_copy(hub="github"), "hub_copies[0].hub", "not one of hf, modelscope"),
        (_copy(weights="original"), "hub_copies[0].format", "must say its checkpoint format"),
        (_copy(publisher="someone"), "hub_copies[0].publisher", "authors, third-party"),
        (_copy(colour="red"), "hub_copies[0]", "unknown field"),
    ],
)
def test_a_bad_hub_copy_names_its_field(copy: dict[str, Any], field: str, message: str) -> None:
    raw = make_record([link("https://example.org/w.bin")]).to_dict()
    raw["hub_copies"] = [copy]
    with pytest.raises(CatalogError, match=message) as err:
        record_from_dict(raw)
    assert err.value.field == field


def test_a_hub_copy_may_not_repeat_a_listed_repo_or_itself() -> None:
    raw = make_record([link("https://huggingface.co/org/a", host="huggingface", hf_repo="org/a")]).to_dict()
    raw["hub_copies"] = [_copy()]
    with pytest.raises(CatalogError, match="already a listed download"):
        record_from_dict(raw)
    raw = make_record([link("https://example.org/w.bin")]).to_dict()
    raw["hub_copies"] = [_copy(), _copy()]
    with pytest.raises(CatalogError, match="given twice"):
        record_from_dict(raw)


def test_the_catalog_carries_hub_copies_from_the_issue() -> None:
    catalog = get_catalog()
    copies = {(c.hub, c.repo): (r.id, c) for r in catalog for c in r.hub_copies}
    assert copies[("hf", HFL)][0] == "macbert-base"
    assert copies[("hf", "junnyu/roformer_chinese_base")][1].publisher == "third-party"
    assert copies[("hf", "google-bert/bert-base-chinese")][0] == "bert-base"
    assert copies[("hf", "TsinghuaAI/CPM-Generate")][0] == "cpm-generate"
    assert {r for r, _ in copies.values() if _.repo.startswith("nghuyong/")} >= {
        "ernie-1.0-base",
        "ernie-3.0-nano",
    }
    assert {r.id for r in list_models(downloadable=True)} >= {"macbert-base", "nezha-base", "wobert-base"}


# ---------------------------------------------------------------- info, list and planner agree


_CATALOG = get_catalog()
_DOWNLOADABLE = {r.id for r in list_models(downloadable=True)}


@pytest.mark.parametrize("model_id", [r.id for r in _CATALOG])
def test_info_list_and_planner_agree(model_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    record = _CATALOG.get(model_id)
    p = plan(record)
    code, out = _cli(capsys, "info", model_id, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["downloadable"] is p.downloadable is (model_id in _DOWNLOADABLE)
    assert data["how_to_get"]["automatic"] == [a.repo or a.download.url for a in p.automatic]
    assert data["how_to_get"]["lines"] == p.describe()
    keys = [(a.kind, a.repo or a.download.url, a.revision) for a in p.automatic]
    assert len(keys) == len(set(keys))  # no way twice (UER rows list one repo in two columns)
    code, text = _cli(capsys, "info", model_id)
    for a in p.automatic:  # every planned way is shown as planned, Google Drive included
        if a.copy is None:
            assert f"{a.download.url}\n        " in text and f"via {a.kind}" in text
    for a in p.manual:
        assert a.download.url in text
