"""What an architecture module declares: naming schemes (rule sets), config translation, heads, tokenizer.

An :class:`ArchSpec` is data plus a few small methods; :mod:`zhplm.converter` drives it. Subclasses
override only what differs (a new naming scheme, a config quirk, another tokenizer).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zhplm.arch._rules import TRANSPOSE as T
from zhplm.arch._rules import Rule, Rules, Shape
from zhplm.errors import ConversionError

# Variables that training leaves in checkpoints and no model uses.
TRAINING_LEFTOVERS: dict[str, str] = {
    r"(?:.*/)?adam_[mv]|.*/adam_[mv]": "optimizer slot",
    r".*/Adam(?:_1)?|.*/Momentum|.*/RMSProp(?:_1)?|.*/LAMB(?:_1)?|.*/ExponentialMovingAverage": "optimizer slot",
    r"global_step|bad_steps|good_steps|loss_scale|current_loss_scale|beta[12]_power": "training counter",
    r"_CHECKPOINTABLE_OBJECT_GRAPH": "TF2 object graph",
}


# Google bert_config.json keys that transformers' BERT-family configs take as they are.
ENCODER_CONFIG_KEYS: tuple[str, ...] = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "max_position_embeddings",
    "type_vocab_size",
    "initializer_range",
    "layer_norm_eps",
    "pad_token_id",
)


def copy_config(
    original: Mapping[str, Any] | None, keys: Iterable[str] = ENCODER_CONFIG_KEYS
) -> dict[str, Any]:
    """The entries of an original config that the target config takes unchanged."""
    return {k: original[k] for k in keys if original and k in original}


def count_layers(targets: Iterable[str], pattern: str = r".*\.layer\.(\d+)\..*") -> int:
    """Number of layers, from the highest layer index among the target names."""
    rx = re.compile(pattern)
    indices = {int(m.group(1)) for t in targets if (m := rx.fullmatch(t))}
    return max(indices) + 1 if indices else 0


def shape_of(shapes: Mapping[str, Shape], name: str) -> Shape:
    """Shape of the target ``name``; a conversion cannot size the model without it."""
    if name not in shapes:
        raise ConversionError(f"the checkpoint has no tensor for {name}: cannot infer the model size")
    return shapes[name]


def check_config_sizes(
    config: Mapping[str, Any], found: Mapping[str, Any], *, source: str = "config.json"
) -> None:
    """Refuse a config whose sizes the tensors contradict (``found``: what the tensors say): it is the config of
    another release, and the model it builds would not hold these weights."""
    wrong = [
        f"{k}={config[k]} but the weights have {v}"
        for k, v in found.items()
        if k in config and config[k] != v
    ]
    if wrong:
        raise ConversionError(f"{source} does not describe these weights: {', '.join(wrong)}")


def fill_encoder_sizes(cfg: dict[str, Any], shapes: Mapping[str, Shape], prefix: str) -> None:
    """Complete a BERT-style encoder config from the tensors (``prefix.embeddings…``, ``prefix.encoder.layer.N…``):
    several releases ship no config or an incomplete one. Values the original config gives win; the head
    count, which no tensor stores, defaults to 64-wide heads (true of every Google-size model)."""
    vocab, hidden = shape_of(shapes, f"{prefix}.embeddings.word_embeddings.weight")[:2]
    cfg.setdefault("vocab_size", vocab)
    cfg.setdefault("hidden_size", hidden)
    cfg.setdefault("num_hidden_layers", count_layers(shapes))
    optional = {
        "intermediate_size": f"{prefix}.encoder.layer.0.intermediate.dense.weight",
        "max_position_embeddings": f"{prefix}.embeddings.position_embeddings.weight",
        "type_vocab_size": f"{prefix}.embeddings.token_type_embeddings.weight",
    }
    for key, name in optional.items():
        if name in shapes:
            cfg.setdefault(key, shapes[name][0])
    cfg.setdefault("num_attention_heads", max(1, int(cfg["hidden_size"]) // 64))


def file_beside(vocab: Path, name: str) -> Path | None:
    """The file ``name`` beside the vocabulary, else the first below the vocabulary's folder (the lexicon
    or n-gram list a tokenizer needs next to ``vocab.txt``)."""
    beside = vocab.with_name(name)
    if beside.is_file():
        return beside
    found = sorted(vocab.parent.rglob(name))
    return found[0] if found else None


def dense(src: str, dst: str) -> tuple[Rule, Rule]:
    """A TF dense layer ``src/{kernel,bias}`` → torch Linear ``dst.{weight,bias}`` (kernel transposed)."""
    return (Rule(f"{src}/kernel", f"{dst}.weight", T), Rule(f"{src}/bias", f"{dst}.bias"))


def layer_norm(src: str, dst: str) -> tuple[Rule, Rule]:
    """A TF LayerNorm ``src/{gamma,beta}`` → ``dst.{weight,bias}``."""
    return (Rule(f"{src}/gamma", f"{dst}.weight"), Rule(f"{src}/beta", f"{dst}.bias"))


@dataclass(frozen=True)
class Head:
    """A head a checkpoint may or may not carry: its target parameter names (regexes)."""

    name: str
    targets: tuple[str, ...]
    description: str = ""

    def owns(self, target: str) -> bool:
        return any(re.fullmatch(p, target) for p in self.targets)


@dataclass(frozen=True)
class Evidence:
    """What tells this architecture apart from others whose naming schemes also place a checkpoint's names.

    Declared as data and scored in one place (:func:`zhplm.arch.score`), so ``inspect`` and ``convert`` rank
    architectures the same way. Names are regexes matched in full; training leftovers (optimizer slots,
    counters) never count as evidence.
    """

    distinctive: tuple[str, ...] = ()  # names only this architecture has: one present is decisive (+1)
    # factor applied to the score when no distinctive name is present (0: it cannot be this architecture)
    without_distinctive: float = 1.0
    forbidden: tuple[str, ...] = ()  # names it never has: any present halves the score
    config: tuple[tuple[str, Any], ...] = ()  # original-config entries that name it (a tie-break)
    # factor applied when those config entries are absent (below 1: other readings of the same names win ties)
    without_config: float = 1.0


@dataclass(frozen=True)
class OwnModel:
    """zhplm's own model classes for an architecture transformers lacks, registered with its Auto classes.

    ``config`` is ``"module:Class"`` in a module free of torch (so ``AutoConfig`` and ``AutoTokenizer`` can know
    the model type cheaply); the ``auto`` classes are attributes of ``module``, imported only when a model of
    this type is first built or loaded."""

    module: str
    config: str
    # (transformers Auto class, model class), e.g. ("AutoModel", "NezhaModel")
    auto: tuple[tuple[str, str], ...]

    @property
    def config_module(self) -> str:
        return self.config.partition(":")[0]

    @property
    def config_class(self) -> str:
        return self.config.partition(":")[2]

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(cls for _, cls in self.auto))


def own_model(arch: str, stem: str, heads: Iterable[str] = ("MaskedLM",)) -> OwnModel:
    """zhplm's own classes laid out by convention: ``modeling/configuration_<arch>.py`` holds ``<stem>Config``,
    ``modeling/<arch>.py`` holds ``<stem>Model`` (``AutoModel``) and ``<stem>For<head>`` (``AutoModelFor<head>``)."""
    return OwnModel(
        module=f"zhplm.arch.modeling.{arch}",
        config=f"zhplm.arch.modeling.configuration_{arch}:{stem}Config",
        auto=(("AutoModel", f"{stem}Model"), *((f"AutoModelFor{h}", f"{stem}For{h}") for h in heads)),
    )


@dataclass
class ArchSpec:
    """How one architecture's original checkpoints become a transformers model folder.

    Everything about an architecture lives here: what it is (``description``, read by the catalog's
    vocabulary), its naming schemes, the evidence that identifies it, config translation, heads, the
    tokenizer it writes, and for zhplm's own models the classes registered with transformers."""

    name: str
    description: str
    model_type: str  # transformers config model_type
    full_class: str  # the class with every head: its state dict is the universe of target names
    schemes: dict[str, Rules] = field(default_factory=dict)
    heads: tuple[Head, ...] = ()
    config_names: tuple[str, ...] = ("config.json",)
    vocab_names: tuple[str, ...] = ("vocab.txt",)
    # (heads the checkpoint must carry, transformers class): the first that fits names the folder's class
    classes: tuple[tuple[tuple[str, ...], str], ...] = ()
    evidence: Evidence = field(default_factory=Evidence)
    own_model: OwnModel | None = None  # zhplm's own classes, when transformers has none
    # modules of zhplm tokenizer classes this architecture writes (each has ``register()`` for AutoTokenizer)
    tokenizers: tuple[str, ...] = ()
    # ``"module.Class"`` of the authors' classes a release pickled whole (``torch.save(model)``): the torch
    # reader reads their objects as inert records (never importing them) and the model's tensors from them
    pickled_classes: tuple[str, ...] = ()

    # -- detection -----------------------------------------------------------------------
    def scheme_scores(self, names: Iterable[str]) -> dict[str, float]:
        """Fraction of names each scheme can place (matched or ignored)."""
        names = list(names)
        scores: dict[str, float] = {}
        for key, rules in self.schemes.items():
            placed = sum(
                1
                for n in names
                if rules.ignored_reason(n) is not None or any(r.compiled().fullmatch(n) for r in rules.rules)
            )
            scores[key] = placed / max(len(names), 1)
        return scores

    def pick_scheme(self, names: Iterable[str]) -> str:
        scores = self.scheme_scores(names)
        if not scores:
            raise ConversionError(f"architecture {self.name} declares no naming scheme")
        return max(scores, key=lambda k: scores[k])

    # -- config --------------------------------------------------------------------------
    def read_original_config(self, folder: Path | None) -> dict[str, Any] | None:
        if folder is None:
            return None
        for name in self.config_names:
            for path in sorted(folder.rglob(name)):
                try:
                    data = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, ValueError) as exc:
                    raise ConversionError(f"cannot read config {path}: {exc}") from exc
                if isinstance(data, dict):
                    return data
        return None

    def catalog_config(self, record: Any) -> dict[str, Any] | None:
        """An original config made from a catalog row's sizes, for releases that ship none (default: none;
        the tensors alone size the model)."""
        return None

    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        raise NotImplementedError

    def config_notes(self, config: Mapping[str, Any]) -> list[str]:
        """What the conversion should tell about the release it recognised from the target config (e.g. which
        published revision of a model these sizes are); nothing by default."""
        return []

    def architectures(self, present_heads: set[str]) -> list[str]:
        """The transformers class name(s) that fit the heads the checkpoint carries."""
        for needed, cls in self.classes:
            if set(needed) <= present_heads:
                return [cls]
        raise ConversionError(f"{self.name}: no model class fits the heads {sorted(present_heads)}")

    # -- tokenizer -----------------------------------------------------------------------
    def find_vocab(self, folder: Path | None) -> Path | None:
        if folder is None:
            return None
        for name in self.vocab_names:
            found = sorted(folder.rglob(name))
            if found:
                return found[0]
        return None

    def write_tokenizer(self, vocab: Path | None, out: Path, config: Mapping[str, Any]) -> list[str]:
        """Write tokenizer files into ``out``; return notes (e.g. 'no vocab found'). The default is the
        lower-casing BERT WordPiece tokenizer that almost every Chinese release uses."""
        if vocab is None:
            return ["no vocabulary file found: the tokenizer was not written"]
        from zhplm.arch.tokenization.wordpiece import write_bert_tokenizer

        return write_bert_tokenizer(vocab, out, do_lower_case=True)
