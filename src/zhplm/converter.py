"""Convert an original checkpoint into a Hugging Face folder: reader → plan → checks → streamed
safetensors → config, tokenizer and a ``zhplm.json`` provenance record.

The plan is built from names and shapes only and checked against the target model (built on the
``meta`` device, so no memory is spent) before any tensor is read: every source tensor is used or
explicitly ignored, every target parameter is filled, heads are reported as trained, absent or
known-untrained. Tensors are then streamed one at a time, so peak memory is about the largest tensor.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zhplm import __version__
from zhplm._quiet import quiet_libraries
from zhplm.arch import ArchSpec, get_arch, rank_archs, reader_options
from zhplm.arch._rules import Plan, Shape
from zhplm.arch.tokenization.wordpiece import is_word_vocab
from zhplm.errors import (
    ConversionError,
    CorruptCheckpointError,
    MappingError,
)
from zhplm.formats import open_checkpoint, sniff
from zhplm.formats.base import Reader
from zhplm.formats.locate import locate_checkpoint
from zhplm.formats.safetensors_write import TensorSpec, write_model

log = logging.getLogger(__name__)

PROVENANCE = "zhplm.json"
# catalog tokenizer kinds that pre-segment words with jieba (HMM off) before WordPiece
WORD_TOKENIZERS = frozenset({"wobert-jieba", "roformer-jieba", "jieba-wordpiece", "t5-pegasus-jieba"})
# the architecture's BERT WordPiece tokenizer, kept cased (the original ran with do_lower_case=False)
CASED_TOKENIZERS = frozenset({"bert-wordpiece-cased"})


@dataclass
class ConversionResult:
    """What a conversion did (also written, in JSON form, to ``zhplm.json``)."""

    out: Path | None
    arch: str
    scheme: str
    format: str
    architectures: list[str]
    heads: dict[str, str]
    plan: Plan
    config: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    prompt_format: str | None = None


# --------------------------------------------------------------------------- locating the checkpoint


def _is_archive(path: Path) -> bool:
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            # an end-of-central-directory record in front of garbage (an HTML page, a truncated download)
            raise CorruptCheckpointError(
                f"{path}: looks like a zip archive but cannot be read ({exc})"
            ) from exc
        # a torch zip checkpoint is also a zip: it holds <name>/data.pkl
        return not any(n.endswith("/data.pkl") or n == "data.pkl" for n in names)
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


@contextmanager
def _materialised(src: Path) -> Iterator[tuple[Path, Path | None]]:
    """Yield ``(checkpoint_or_folder, side_file_folder)``, extracting archives to a temporary folder."""
    if src.is_file() and _is_archive(src):
        from zhplm.formats import extract_archive

        with tempfile.TemporaryDirectory(prefix="zhplm-convert-") as tmp:
            dest = Path(tmp) / "x"
            extract_archive(src, dest)
            yield dest, dest
        return
    if src.is_dir():
        yield src, src
    else:
        yield src, src.parent


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _input_files(src: Path) -> list[dict[str, Any]]:
    files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
    if not src.is_file() and not src.exists():  # a TF prefix
        files = sorted(src.parent.glob(src.name + ".*"))
    return [{"path": str(p), "size": p.stat().st_size, "sha256": _sha256(p)} for p in files]


# --------------------------------------------------------------------------- the target model


def target_parameters(spec: ArchSpec, config: Mapping[str, Any]) -> tuple[dict[str, Shape], set[str], Any]:
    """Shapes of every parameter of ``spec.full_class`` for ``config`` (built on the meta device),
    the names tied to another parameter, and the transformers config object."""
    try:
        import torch
        import transformers
    except ImportError as exc:
        from zhplm.errors import MissingDependencyError

        raise MissingDependencyError("torch and transformers", "torch", "convert checkpoints") from exc
    from zhplm.loader import register_architectures

    kwargs = dict(config)
    model_type = kwargs.pop("model_type")
    register_architectures(model_type)  # only our own types need it; others are a no-op
    cfg = transformers.AutoConfig.for_model(model_type, **kwargs)
    cls = _model_class(spec.full_class)
    # a candidate that does not fit can ask for a zero-sized layer: torch's "zero-element tensors" warning
    # (moot on meta) reached `zhplm inspect`'s output; --verbose still shows it
    with torch.device("meta"), quiet_libraries():
        model = cls(cfg)
    # BatchNorm's running statistics are buffers but learnt state: a checkpoint carries them (EfficientNet)
    stats = {
        f"{prefix}.{stat}" if prefix else stat
        for prefix, module in model.named_modules()
        if isinstance(module, torch.nn.modules.batchnorm._NormBase) and module.track_running_stats
        for stat in ("running_mean", "running_var")
    }
    buffers = {name for name, _ in model.named_buffers()} - stats
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items() if k not in buffers}
    # transformers 5 gathers the ties of nested models (BART's encoder/decoder embeddings) in ``all_tied_weights_keys``
    tied = set(
        getattr(model, "all_tied_weights_keys", None) or getattr(model, "_tied_weights_keys", None) or {}
    )
    return shapes, tied, cfg


def _model_class(name: str) -> Any:
    import transformers

    cls = getattr(transformers, name, None)
    if cls is None:
        from zhplm.loader import own_model_class

        cls = own_model_class(name)
    if cls is None:
        raise ConversionError(f"model class {name} is not available")
    return cls


# --------------------------------------------------------------------------- convert


@dataclass
class PlannedConversion:
    """A checked plan: what will be written, the target config, the heads' status, the tied names and the
    transformers config object (built on the meta device with the target model)."""

    plan: Plan
    config: dict[str, Any]
    heads: dict[str, str]
    tied: set[str]
    config_object: Any


# config keys that give a layer count: each layer has at least one tensor of its own in the plan
_LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "num_hidden_word_layers")


def check_sizes(config: Mapping[str, Any], plan: Plan) -> None:
    """Refuse a config whose layer counts the checkpoint's tensors cannot hold, before the target model is
    built from it: names or a config can claim any size (``layer_10000000`` in a 22 KB file), and building
    such a model would hang."""
    steps = len(plan.steps)
    for key in _LAYER_KEYS:
        value = config.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= steps:
            raise MappingError(
                f"{key}={value!r} does not fit a checkpoint of {steps} mapped tensors "
                "(the names or the config claim more layers than the checkpoint holds)"
            )


def _build_config(
    spec: ArchSpec, original: Mapping[str, Any] | None, target_shapes: Mapping[str, Shape]
) -> dict[str, Any]:
    try:
        return spec.build_config(original, target_shapes, target_shapes)
    except ConversionError:
        raise
    except (KeyError, ValueError, TypeError, IndexError, ZeroDivisionError) as exc:
        # a candidate whose config cannot be built from these tensors is not this architecture
        raise ConversionError(f"{spec.name}: cannot build a config from this checkpoint ({exc!r})") from exc


def plan_conversion(
    reader: Reader, spec: ArchSpec, original_config: Mapping[str, Any] | None
) -> PlannedConversion:
    """Match the checkpoint against ``spec`` and check it fits; nothing is read but names and shapes."""
    plan, config = _plan_only(reader, spec, original_config)
    target_shapes = {s.target: s.shape for s in plan.steps}
    model_shapes, tied, cfg_obj = target_parameters(spec, config)
    heads: dict[str, str] = {}
    optional: set[str] = set()
    for head in spec.heads:
        owned = [t for t in model_shapes if head.owns(t) and t not in tied]
        if not owned and any(head.owns(t) for t in tied):
            heads[head.name] = "trained"  # entirely tied to trained parameters (e.g. an LM head)
        elif not any(t in target_shapes for t in owned):
            heads[head.name] = "absent"
            optional.update(owned)
        else:
            heads[head.name] = "trained"
    plan.check(model_shapes, optional=optional, tied=tied)
    return PlannedConversion(plan, config, heads, tied, cfg_obj)


def convert(
    src: str | Path,
    out: str | Path | None = None,
    *,
    arch: str | None = None,
    model_id: str | None = None,
    dry_run: bool = False,
    untrained_heads: Iterable[str] = (),
    tokenizer: str | None = None,
    max_shard_bytes: int | None = None,
    overwrite: bool = False,
    remote_code: bool = False,
    prompt_format: str | None = None,
) -> ConversionResult:
    """Convert ``src`` (a checkpoint file, TF prefix, folder or archive) into ``out``.

    ``arch`` names the architecture (detected from names and shapes when omitted); ``untrained_heads``
    marks heads known to be random in the release (e.g. RoBERTa-wwm-ext-large's MLM head).
    ``tokenizer`` names the catalog's tokenizer kind (``wobert-jieba`` → the jieba word tokenizer).
    With ``model_id`` (or a catalog id as ``src``), the catalog row supplies the defaults: its arch,
    tokenizer kind and known-untrained heads. With ``dry_run`` nothing is written: the plan is returned.
    With ``remote_code``, a folder of zhplm's own architecture also carries the code that loads it where zhplm
    is not installed (``auto_map`` + ``trust_remote_code=True``; :mod:`zhplm.remote_code`).
    ``prompt_format`` (default: the catalog row's) records how the model is prompted for generation
    (:mod:`zhplm.tasks.prompting`).
    """
    src_path = Path(src)
    if not src_path.exists() and not Path(str(src_path) + ".index").exists():
        _refuse(_catalog_record(str(src)), arch)  # before "not in the store": downloading would not help
        src_path = _resolve_catalog_source(str(src), model_id)
        model_id = model_id or str(src)
    record = _catalog_record(model_id)
    _refuse(record, arch)
    if record is not None:
        from zhplm.arch import arch_names

        if arch is None and record.arch in arch_names():
            arch = record.arch
        tokenizer = tokenizer or record.tokenizer
        untrained_heads = (*untrained_heads, *record.untrained_heads)
        prompt_format = prompt_format or record.prompt_format
    if prompt_format is not None:
        from zhplm.tasks.prompting import get_format

        get_format(prompt_format)  # an unknown name fails before anything is read
    with ExitStack() as stack:
        root, side = stack.enter_context(_materialised(src_path))
        notes: list[str] = []
        if root.is_dir():
            located = locate_checkpoint(root)
            ckpt, fmt, found_notes = located.path, located.format, located.notes
            notes += found_notes
        else:
            ckpt, fmt = root, sniff(root)
        reader = stack.enter_context(open_checkpoint(ckpt, format=fmt, **reader_options(fmt)))
        if arch is None:
            from zhplm.catalog.archs import refused_by_names

            _refuse(None, refused_by_names(list(reader.keys())))
            spec, original, planned = _detect(reader, side, notes)
        else:
            spec = get_arch(arch)
            original = spec.read_original_config(side)
            if original is None and record is not None and record.arch == spec.name:
                original = spec.catalog_config(record)
                if original is not None:
                    notes.append(f"no original config found: the sizes of catalog row {record.id} were used")
            planned = plan_conversion(reader, spec, original)
        if original is None:
            notes.append("no original config found: the model size was inferred from the tensor shapes")
        plan, config, heads, cfg_obj = planned.plan, planned.config, planned.heads, planned.config_object
        notes += spec.config_notes(config)
        for head in untrained_heads:
            if heads.get(head) == "trained":
                heads[head] = "untrained"
        notes += [f"{h} head is absent from the checkpoint" for h, s in heads.items() if s == "absent"]
        notes += [
            f"{h} head is in the checkpoint but was never trained"
            for h, s in heads.items()
            if s == "untrained"
        ]
        present = {h for h, s in heads.items() if s == "trained"}
        architectures = spec.architectures(present)
        result = ConversionResult(
            out=None if dry_run else Path(out or "."),
            arch=spec.name,
            scheme=plan.scheme,
            format=fmt,
            architectures=architectures,
            heads=heads,
            plan=plan,
            config=config,
            notes=notes,
            prompt_format=prompt_format,
        )
        if dry_run:
            return result
        if out is None:
            raise ConversionError("an output folder is needed (out=...)")
        out_path = Path(out)
        _prepare_out(out_path, overwrite)
        tmp_out = Path(tempfile.mkdtemp(prefix=".zhplm-convert-", dir=out_path.parent))
        try:
            _write(reader, plan, tmp_out, max_shard_bytes)
            cfg_obj.architectures = architectures
            cfg_obj.save_pretrained(str(tmp_out))
            vocab = spec.find_vocab(side)
            if tokenizer is None and vocab is not None and vocab.suffix == ".txt" and is_word_vocab(vocab):
                tokenizer = "jieba-wordpiece"
                result.notes.append(f"{vocab.name} holds Chinese words: using the jieba word tokenizer")
            if tokenizer in WORD_TOKENIZERS and vocab is not None:
                from zhplm.arch.tokenization.word import write_word_tokenizer

                result.notes += write_word_tokenizer(vocab, tmp_out)
            else:
                result.notes += spec.write_tokenizer(vocab, tmp_out, config)
                if tokenizer in CASED_TOKENIZERS and vocab is not None:
                    from zhplm.arch.tokenization.wordpiece import keep_case

                    keep_case(tmp_out)
            if remote_code:
                from zhplm.remote_code import write_remote_code

                result.notes += write_remote_code(tmp_out)
            result.inputs = _input_files(ckpt)
            _write_provenance(tmp_out, result, src_path, model_id)
            if out_path.exists():
                shutil.rmtree(out_path)
            tmp_out.rename(out_path)
        except BaseException:
            shutil.rmtree(tmp_out, ignore_errors=True)
            raise
        result.out = out_path
        return result
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass
class Detection:
    """Which architecture explains a checkpoint: the one detector behind ``convert`` and ``inspect``.

    ``ranked`` lists every candidate :func:`zhplm.arch.rank_archs` scored (best first); the chosen ``spec`` is
    the first whose plan fits (``planned``, checked against the target model when ``check_model``);
    ``failures`` says why the ones before it did not."""

    spec: ArchSpec
    score: float
    original: dict[str, Any] | None
    config: dict[str, Any]  # the target config (from the tensors and the original config)
    planned: PlannedConversion | None
    ranked: list[tuple[str, float]]
    failures: list[str] = field(default_factory=list)


def detect(reader: Reader, side: Path | None, *, check_model: bool = True) -> Detection:
    """Try the architectures that could explain the checkpoint, best first; the first whose plan fits the
    target model (built on the meta device: needs torch) wins. Without ``check_model`` the plan and config
    are checked but no model is built. Each candidate reads its own original config (sizes, tie-breaks)."""
    shapes = {n: reader.shape(n) for n in reader}
    hint = _any_config(side)
    ranked = rank_archs(shapes, hint)
    failures: list[str] = []
    for spec, score in ranked:
        original = spec.read_original_config(side)
        try:
            planned = plan_conversion(reader, spec, original) if check_model else None
            config = planned.config if planned is not None else _plan_only(reader, spec, original)[1]
        except ConversionError as exc:  # includes MappingError: the names fit, the model does not
            failures.append(f"{spec.name}: {str(exc).splitlines()[0]}")
            continue
        return Detection(spec, score, original, config, planned, [(s.name, v) for s, v in ranked], failures)
    tried = "; ".join(failures) or "no architecture recognises these names"
    raise ConversionError(f"cannot tell which architecture this checkpoint is ({tried}); pass --arch")


def _plan_only(
    reader: Reader, spec: ArchSpec, original: Mapping[str, Any] | None
) -> tuple[Plan, dict[str, Any]]:
    """Names and shapes → the plan and the target config, checked against each other (no model is built:
    :func:`plan_conversion` does that next)."""
    names = reader.keys()
    shapes = {n: reader.shape(n) for n in names}
    plan = spec.schemes[spec.pick_scheme(names)].plan(
        shapes, {n: reader.dtype(n).name for n in names}, original
    )
    config = _build_config(spec, original, {s.target: s.shape for s in plan.steps})
    check_sizes(config, plan)
    return plan, config


def _detect(
    reader: Reader, side: Path | None, notes: list[str]
) -> tuple[ArchSpec, dict[str, Any] | None, PlannedConversion]:
    found = detect(reader, side)
    assert found.planned is not None
    notes.append(f"architecture detected as {found.spec.name} (score {found.score:.2f})")
    return found.spec, found.original, found.planned


def _any_config(side: Path | None) -> dict[str, Any] | None:
    if side is None:
        return None
    for pattern in ("bert_config.json", "config.json", "*config*.json"):
        for path in sorted(side.rglob(pattern)):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict):
                return data
    return None


def _prepare_out(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ConversionError(
            f"{out} exists and is not empty; pass overwrite=True (--overwrite) to replace it"
        )
    out.parent.mkdir(parents=True, exist_ok=True)


def _write(reader: Reader, plan: Plan, out: Path, max_shard_bytes: int | None) -> None:
    steps = plan.targets
    specs = [TensorSpec(s.target, s.shape, s.dtype) for s in plan.steps]

    def produce(spec: TensorSpec) -> Any:
        return steps[spec.name].run(reader.get)

    kwargs: dict[str, Any] = {"metadata": {"format": "pt", "producer": f"zhplm {__version__}"}}
    if max_shard_bytes:
        kwargs["max_shard_bytes"] = max_shard_bytes
    write_model(out, specs, produce, **kwargs)


def _write_provenance(out: Path, result: ConversionResult, src: Path, model_id: str | None) -> None:
    record = {
        "zhplm_version": __version__,
        "model_id": model_id,
        "source": str(src),
        "inputs": result.inputs,
        "reader": result.format,
        "arch": result.arch,
        "scheme": result.scheme,
        "architectures": result.architectures,
        "heads": result.heads,
        "ignored": [{"name": n, "why": w} for n, w in result.plan.ignored],
        "notes": result.notes,
        "parity": None,
    }
    if result.prompt_format is not None:
        record["prompt_format"] = result.prompt_format
    (out / PROVENANCE).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def record_parity(out: Path, parity: Mapping[str, Any]) -> None:
    """Add a parity result (reference, max abs diff per output) to a converted folder's provenance."""
    path = out / PROVENANCE
    record = json.loads(path.read_text(encoding="utf-8"))
    record["parity"] = dict(parity)
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _catalog_record(model_id: str | None) -> Any:
    if model_id is None:
        return None
    from zhplm.catalog import get_catalog
    from zhplm.errors import UnknownModelError

    try:
        return get_catalog().get(model_id)
    except UnknownModelError:
        return None


def _refuse(record: Any, arch: str | None) -> None:
    """A clear refusal for architectures zhplm cannot convert (:data:`zhplm.catalog.archs.REFUSED`)."""
    from zhplm.catalog.archs import refusal

    for name in (arch, getattr(record, "arch", None)):
        reason = refusal(name)
        if reason is not None:
            who = f"{record.id}: " if record is not None else ""
            raise ConversionError(f"{who}cannot convert arch {name!r}. {reason}")


def _resolve_catalog_source(src: str, model_id: str | None) -> Path:
    """A catalog id whose raw files are in the store."""
    from zhplm.catalog import get_catalog

    record = get_catalog().get(src)
    from zhplm.sources import store

    return store.Store().path_of(record.id)
