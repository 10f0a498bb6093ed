"""Typed catalog records: one :class:`ModelRecord` per row of the awesome list.

Records are plain frozen dataclasses built with the standard library only, so that reading the
catalog never imports torch or transformers. ``to_dict``/``from_dict`` give the JSON form that
``zhplm catalog export --format json`` writes and ``zhplm catalog add`` reads; ``from_dict`` validates
every field and names the offending one in its :class:`~zhplm.errors.CatalogError`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Literal, get_args

from zhplm.errors import CatalogError

Section = Literal["NLU", "NLG", "NLU-NLG", "Multi-Modal", "Table"]
SECTIONS: tuple[str, ...] = get_args(Section)

# The list's column a link sits in ("project" = a project page, not weights).
Framework = Literal["tensorflow", "pytorch", "paddlepaddle", "keras", "mindspore", "project"]
FRAMEWORKS: tuple[str, ...] = get_args(Framework)

HostKind = Literal[
    "huggingface",
    "google-drive",
    "google-storage",
    "baidu-pan",
    "iflytek",
    "aliyun-oss",
    "jdcloud",
    "bcebos",
    "wudao",
    "openi",
    "github-release",
    "modelscope",
    "other",
]
HOST_KINDS: tuple[str, ...] = get_args(HostKind)

# Hosts a program can fetch without a human (subject to the link being a file, not a folder page).
AUTOMATIC_HOSTS: frozenset[str] = frozenset(
    {
        "huggingface",
        "google-storage",
        "aliyun-oss",
        "jdcloud",
        "bcebos",
        "github-release",
        "modelscope",
        "other",
    }
)

# Checkpoint formats, as named by zhplm.formats readers.
CHECKPOINT_FORMATS: tuple[str, ...] = (
    "tf1",
    "pytorch",
    "paddle",
    "paddle-static",
    "keras-h5",
    "mindspore",
    "megatron",
    "safetensors",
    "hf",  # a Hugging Face model folder / hub repository (safetensors or pytorch inside)
    "unknown",
)

# "page": the link is a web page (a project, repository, release or download page), not a file.
DownloadNote = Literal[
    "application-required", "login-required", "folder", "page", "dead-link", "expired-signature"
]
DOWNLOAD_NOTES: tuple[str, ...] = get_args(DownloadNote)

# Where a copy of a row's weights lives besides the list's own links (see HubCopy).
Hub = Literal["hf", "modelscope"]
HUBS: tuple[str, ...] = get_args(Hub)
# "hf": a Hugging Face folder that loads as is (config.json, weights, tokenizer files);
# "original": the authors' checkpoint layout (or another library's), which goes through ``zhplm convert``.
CopyWeights = Literal["hf", "original"]
COPY_WEIGHTS: tuple[str, ...] = get_args(CopyWeights)
# Who put the copy there: the row's own authors, or someone else (a conversion, a mirror).
CopyPublisher = Literal["authors", "third-party"]
COPY_PUBLISHERS: tuple[str, ...] = get_args(CopyPublisher)
_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*[a-z0-9]$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class Link:
    """A labelled link, as the list writes it: ``[label](url)``."""

    label: str
    url: str


@dataclass(frozen=True, slots=True)
class Paper:
    """One paper line of a family: ``+ year | title | authors | venue | [`PDF`](url)``."""

    year: int
    title: str
    authors: str
    venue: str
    links: tuple[Link, ...] = ()


@dataclass(frozen=True, slots=True)
class Publisher:
    name: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class ListCell:
    """A cell of the list's row whose text cannot be regenerated from the record's fields.

    ``column`` is the table header of the cell (e.g. ``"TensorFlow"``, ``"模型"``); ``text`` is the cell as
    listed. Kept so that ``zhplm catalog export --format md`` reproduces the list exactly.
    """

    column: str
    text: str


@dataclass(frozen=True, slots=True)
class Correction:
    """A fact the list gets wrong: the corrected value is in the record, the list's text is kept here."""

    field: str
    listed: str
    corrected: str
    reason: str


@dataclass(frozen=True, slots=True)
class Download:
    """One link in a row's download cells.

    ``column`` is the list column the link sits in; ``framework`` is what the file really is (they
    differ only where a :class:`Correction` says so). ``text`` is the link text exactly as listed.
    The fields after ``notes`` are for automatic fetching and are filled by curation where known.
    """

    url: str
    text: str
    column: Framework
    framework: Framework
    host: HostKind
    code: str | None = None
    notes: tuple[str, ...] = ()
    format: str | None = None  # expected checkpoint format inside (see CHECKPOINT_FORMATS)
    hf_repo: str | None = None  # "org/name" for huggingface links
    revision: str | None = None  # pinned hub revision (fnlp BART/CPT: v1.0)
    sha256: str | None = None
    size: int | None = None
    filename: str | None = None  # expected file name of a manual download

    @property
    def automatic(self) -> bool:
        """True when a program can fetch this link without a human in the loop."""
        if "application-required" in self.notes or "login-required" in self.notes or "folder" in self.notes:
            return False
        if "dead-link" in self.notes or "page" in self.notes or self.column == "project":
            return False
        return self.host in AUTOMATIC_HOSTS


@dataclass(frozen=True, slots=True)
class HubCopy:
    """A copy of the row's weights in a model hub that the list does not link (curated, typed).

    The planner tries it like a listed link (:mod:`zhplm.sources.plan`); ``weights`` says whether it can be
    stored as converted after a check (``"hf"``) or needs the convert step (``"original"``, with ``format``).
    """

    hub: Hub
    repo: str  # org/name on that hub
    weights: CopyWeights
    framework: Framework
    publisher: CopyPublisher
    revision: str | None = None  # a pinned branch, tag or commit
    format: str | None = None  # the checkpoint format inside when weights == "original"
    note: str | None = None  # e.g. who converted it, with what

    @property
    def url(self) -> str:
        if self.hub == "hf":
            return f"https://huggingface.co/{self.repo}"
        return f"https://modelscope.cn/models/{self.repo}"

    def as_download(self) -> Download:
        """The copy as a link, so that the sources route it like any other (never shown as listed)."""
        return Download(
            url=self.url,
            text=f"{self.hub} copy",
            column=self.framework,
            framework=self.framework,
            host="huggingface" if self.hub == "hf" else "modelscope",
            format="hf" if self.weights == "hf" else self.format,
            hf_repo=self.repo,
            revision=self.revision,
        )


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """Everything zhplm knows about one row of the list."""

    id: str
    name: str  # display name (the list's 模型 cell, markup removed)
    section: Section
    family: str  # the list's family heading, e.g. "RoBERTa"
    size: str  # the list's 版本 cell, e.g. "base", "3层large", "12-layer, 768-hidden, 12-heads"
    size_label: str  # normalised: tiny/mini/small/medium/base/large/xlarge/xxlarge or e.g. "6b"
    arch: str  # the zhplm architecture it converts with: bert, albert, nezha, roformer_v2, gpt2, t5, …
    domain_zh: str
    domain_en: str
    publisher: Publisher
    source_repo: str | None
    papers: tuple[Paper, ...]
    downloads: tuple[Download, ...]
    aliases: tuple[str, ...] = ()
    layers: int | None = None
    hidden: int | None = None
    heads: int | None = None
    parameters: int | None = None
    vocab_size: int | None = None
    tokenizer: str | None = None  # e.g. "bert-char", "wobert-jieba", "sentencepiece", "chinesebert-pinyin"
    model_type: str | None = None  # the 类型 column where the list has one (二郎神)
    corrections: tuple[Correction, ...] = ()
    notes: tuple[str, ...] = ()
    order: int = 0  # position of the row in the list (for stable export)
    source_label: str | None = None  # the text of the 源地址 link, e.g. "github", "UER"
    remark: str | None = None  # the 备注 column where the list has one, verbatim
    list_cells: tuple[ListCell, ...] = ()  # raw cells the md export cannot regenerate (see ListCell)
    untrained_heads: tuple[str, ...] = ()  # heads shipped in the release but never trained (e.g. "mlm")
    hub_copies: tuple[HubCopy, ...] = ()  # copies on the HF hub / ModelScope the list does not link
    # how the model is prompted for generation and chat (zhplm.tasks.prompting: "cdial", "chitchat", …)
    prompt_format: str | None = None
    reranker: str | None = None  # catalog id of a model that reranks its chat replies (GPT2-chitchat's MMI)

    @property
    def hf_ids(self) -> tuple[str, ...]:
        return tuple(a for a in self.aliases if "/" in a)

    @property
    def frameworks(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d.framework for d in self.downloads))

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d.host for d in self.downloads))

    def to_dict(self) -> dict[str, Any]:
        pruned: dict[str, Any] = _as_plain(self)
        return pruned


@dataclass(frozen=True, slots=True)
class FamilyInfo:
    """A family of the list (its ``###`` heading) and what the md export needs to regenerate it."""

    title: str  # the heading, e.g. "RoBERTa", "二郎神"
    section: Section
    order: int  # position of the family in the list
    header: tuple[str, ...]  # the table header cells
    papers: tuple[Paper, ...] = ()
    notes_label: bool = False  # a "备注:" line introduces the notes
    notes: tuple[str, ...] = ()  # the family's ``>`` notes, markdown as listed
    file: str | None = None  # the data file it was loaded from


def _as_plain(value: Any) -> Any:
    """dataclasses.asdict + _prune in one pass (several times faster: no deep copies of strings)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if v is None or v == ():
                continue
            out[f.name] = _as_plain(v)
        return out
    if isinstance(value, tuple | list):
        return [_as_plain(v) for v in value]
    return value


def _prune(value: Any) -> Any:
    """Drop None and empty tuples so JSON exports stay readable; from_dict restores defaults."""
    if isinstance(value, dict):
        return {k: _prune(v) for k, v in value.items() if v is not None and v != () and v != []}
    if isinstance(value, list | tuple):
        return [_prune(v) for v in value]
    return value


# --------------------------------------------------------------------------- validation


class _Fields:
    """Typed access to a raw mapping that reports errors with the record's file and field path."""

    def __init__(self, raw: Any, *, file: str | None, path: str) -> None:
        if not isinstance(raw, dict):
            raise CatalogError(f"expected a table/object, got {type(raw).__name__}", file=file, field=path)
        self.raw: dict[str, Any] = raw
        self.file = file
        self.path = path
        self.used: set[str] = set()

    def _err(self, name: str, message: str) -> CatalogError:
        return CatalogError(message, file=self.file, field=f"{self.path}.{name}" if self.path else name)

    def text(self, name: str, *, optional: bool = False, choices: tuple[str, ...] | None = None) -> Any:
        self.used.add(name)
        value = self.raw.get(name)
        if value is None:
            if optional:
                return None
            raise self._err(name, "is required")
        if not isinstance(value, str):
            raise self._err(name, f"must be a string, got {type(value).__name__}")
        if choices is not None and value not in choices:
            raise self._err(name, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def integer(self, name: str, *, optional: bool = False) -> Any:
        self.used.add(name)
        value = self.raw.get(name)
        if value is None:
            if optional:
                return None
            raise self._err(name, "is required")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self._err(name, f"must be a non-negative integer, got {value!r}")
        return value

    def seq(self, name: str) -> list[Any]:
        self.used.add(name)
        value = self.raw.get(name, [])
        if not isinstance(value, list | tuple):
            raise self._err(name, f"must be a list, got {type(value).__name__}")
        return list(value)

    def strs(self, name: str, *, choices: tuple[str, ...] | None = None) -> tuple[str, ...]:
        out = []
        for i, v in enumerate(self.seq(name)):
            if not isinstance(v, str):
                raise self._err(f"{name}[{i}]", f"must be a string, got {type(v).__name__}")
            if choices is not None and v not in choices:
                raise self._err(f"{name}[{i}]", f"{v!r} is not one of {', '.join(choices)}")
            out.append(v)
        return tuple(out)

    def sub(self, name: str, index: int | None = None, raw: Any = None) -> _Fields:
        path = f"{self.path}.{name}" if self.path else name
        if index is not None:
            path += f"[{index}]"
        self.used.add(name)
        return _Fields(self.raw.get(name) if raw is None else raw, file=self.file, path=path)

    def done(self) -> None:
        extra = sorted(set(self.raw) - self.used)
        if extra:
            raise CatalogError(
                f"unknown field(s): {', '.join(extra)}", file=self.file, field=self.path or None
            )


def _link(f: _Fields) -> Link:
    link = Link(label=f.text("label"), url=f.text("url"))
    f.done()
    return link


def _list_cell(f: _Fields) -> ListCell:
    cell = ListCell(column=f.text("column"), text=f.text("text"))
    f.done()
    return cell


def paper_from_dict(raw: Any, *, file: str | None = None, path: str = "paper") -> Paper:
    f = _Fields(raw, file=file, path=path)
    paper = Paper(
        year=f.integer("year"),
        title=f.text("title"),
        authors=f.text("authors"),
        venue=f.text("venue"),
        links=tuple(_link(f.sub("links", i, r)) for i, r in enumerate(f.seq("links"))),
    )
    f.done()
    return paper


def download_from_dict(raw: Any, *, file: str | None = None, path: str = "download") -> Download:
    f = _Fields(raw, file=file, path=path)
    column = f.text("column", choices=FRAMEWORKS)
    d = Download(
        url=f.text("url"),
        text=f.text("text"),
        column=column,
        framework=f.text("framework", optional=True, choices=FRAMEWORKS) or column,
        host=f.text("host", choices=HOST_KINDS),
        code=f.text("code", optional=True),
        notes=f.strs("notes", choices=DOWNLOAD_NOTES),
        format=f.text("format", optional=True, choices=CHECKPOINT_FORMATS),
        hf_repo=f.text("hf_repo", optional=True),
        revision=f.text("revision", optional=True),
        sha256=f.text("sha256", optional=True),
        size=f.integer("size", optional=True),
        filename=f.text("filename", optional=True),
    )
    if d.sha256 is not None and not _SHA256_RE.match(d.sha256):
        raise f._err("sha256", f"{d.sha256!r} is not 64 lowercase hex digits")
    if d.host == "huggingface" and d.hf_repo is not None and d.hf_repo.count("/") != 1:
        raise f._err("hf_repo", f"{d.hf_repo!r} is not of the form org/name")
    f.done()
    return d


def hub_copy_from_dict(raw: Any, *, file: str | None = None, path: str = "hub_copy") -> HubCopy:
    f = _Fields(raw, file=file, path=path)
    copy = HubCopy(
        hub=f.text("hub", choices=HUBS),
        repo=f.text("repo"),
        weights=f.text("weights", choices=COPY_WEIGHTS),
        framework=f.text("framework", choices=FRAMEWORKS),
        publisher=f.text("publisher", choices=COPY_PUBLISHERS),
        revision=f.text("revision", optional=True),
        format=f.text("format", optional=True, choices=CHECKPOINT_FORMATS),
        note=f.text("note", optional=True),
    )
    if not _REPO_RE.match(copy.repo):
        raise f._err("repo", f"{copy.repo!r} is not of the form org/name")
    if copy.framework == "project":
        raise f._err("framework", "a hub copy holds weights, not a project page")
    if copy.weights == "original" and copy.format in (None, "hf", "unknown"):
        raise f._err("format", "a copy in the original layout must say its checkpoint format")
    if copy.weights == "hf" and copy.format not in (None, "hf"):
        raise f._err("format", f"a copy in HF layout has format 'hf', not {copy.format!r}")
    f.done()
    return copy


def record_from_dict(raw: Any, *, file: str | None = None, path: str = "") -> ModelRecord:
    """Build and validate a record from its dict form (TOML table or JSON object)."""
    f = _Fields(raw, file=file, path=path)
    model_id = f.text("id")
    if not _ID_RE.match(model_id):
        raise f._err("id", f"{model_id!r} must be lowercase letters, digits, '.', '-' or '_'")
    pub = f.sub("publisher")
    publisher = Publisher(name=pub.text("name"), url=pub.text("url", optional=True))
    pub.done()
    corrections = []
    for i, r in enumerate(f.seq("corrections")):
        c = f.sub("corrections", i, r)
        corrections.append(
            Correction(
                field=c.text("field"),
                listed=c.text("listed"),
                corrected=c.text("corrected"),
                reason=c.text("reason"),
            )
        )
        c.done()
    record = ModelRecord(
        id=model_id,
        name=f.text("name"),
        section=f.text("section", choices=SECTIONS),
        family=f.text("family"),
        size=f.text("size"),
        size_label=f.text("size_label"),
        arch=f.text("arch"),
        domain_zh=f.text("domain_zh"),
        domain_en=f.text("domain_en"),
        publisher=publisher,
        source_repo=f.text("source_repo", optional=True),
        papers=tuple(
            paper_from_dict(r, file=file, path=f"{path}.papers[{i}]") for i, r in enumerate(f.seq("papers"))
        ),
        downloads=tuple(
            download_from_dict(r, file=file, path=f"{path}.downloads[{i}]")
            for i, r in enumerate(f.seq("downloads"))
        ),
        aliases=f.strs("aliases"),
        layers=f.integer("layers", optional=True),
        hidden=f.integer("hidden", optional=True),
        heads=f.integer("heads", optional=True),
        parameters=f.integer("parameters", optional=True),
        vocab_size=f.integer("vocab_size", optional=True),
        tokenizer=f.text("tokenizer", optional=True),
        model_type=f.text("model_type", optional=True),
        corrections=tuple(corrections),
        notes=f.strs("notes"),
        order=f.integer("order", optional=True) or 0,
        source_label=f.text("source_label", optional=True),
        remark=f.text("remark", optional=True),
        list_cells=tuple(_list_cell(f.sub("list_cells", i, r)) for i, r in enumerate(f.seq("list_cells"))),
        untrained_heads=f.strs("untrained_heads"),
        hub_copies=tuple(
            hub_copy_from_dict(r, file=file, path=f"{path}.hub_copies[{i}]" if path else f"hub_copies[{i}]")
            for i, r in enumerate(f.seq("hub_copies"))
        ),
        prompt_format=f.text("prompt_format", optional=True),
        reranker=f.text("reranker", optional=True),
    )
    seen: set[tuple[str, str]] = set()
    listed = {d.hf_repo for d in record.downloads if d.hf_repo}
    for i, hub_copy in enumerate(record.hub_copies):
        where = f"{path}.hub_copies[{i}].repo" if path else f"hub_copies[{i}].repo"
        key = (hub_copy.hub, hub_copy.repo)
        if key in seen:
            raise CatalogError(f"{hub_copy.hub} {hub_copy.repo} is given twice", file=file, field=where)
        if hub_copy.hub == "hf" and hub_copy.repo in listed:
            raise CatalogError(
                f"{hub_copy.repo} is already a listed download of this row; "
                "a hub copy is for repos the list lacks",
                file=file,
                field=where,
            )
        seen.add(key)
    f.done()
    return record


__all__ = [
    "AUTOMATIC_HOSTS",
    "CHECKPOINT_FORMATS",
    "COPY_PUBLISHERS",
    "COPY_WEIGHTS",
    "DOWNLOAD_NOTES",
    "FRAMEWORKS",
    "HOST_KINDS",
    "HUBS",
    "SECTIONS",
    "Correction",
    "Download",
    "FamilyInfo",
    "Framework",
    "HostKind",
    "Hub",
    "HubCopy",
    "Link",
    "ListCell",
    "ModelRecord",
    "Paper",
    "Publisher",
    "Section",
    "download_from_dict",
    "hub_copy_from_dict",
    "paper_from_dict",
    "record_from_dict",
]
