"""What is this checkpoint? A fingerprint from tensor names and shapes alone.

Downloads arrive as anonymous ``bert_model.ckpt`` or ``model.bin`` files, often without a config. The
naming scheme (Google BERT TF, bert4keras, ALBERT Google/brightmart, ELECTRA, XLNet, MobileBERT, GAU-α,
RoFormerV2, Hugging Face, PaddleNLP ERNIE, Megatron, GPT-2, T5 …) and the shapes give the layer count,
hidden size, vocabulary and which heads are present; the catalog rows with that architecture and
those sizes are the candidates. Nothing here reads tensor data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

Shapes = Mapping[str, tuple[int, ...]]

_OPTIMIZER = re.compile(
    r"(/adam_[mv]$|/Adam(_\d+)?$|/Momentum$|/Adafactor|_accumulator|/ExponentialMovingAverage$|\.OPTIMIZER_SLOT/|"
    r"^global_step$|^(beta[12]_power|bad_steps|good_steps|loss_scale|current_loss_scale)$|^optimizer[./])"
)


def is_bookkeeping(name: str) -> bool:
    """Optimizer slots and training counters: present in many checkpoints, never part of the model."""
    return bool(_OPTIMIZER.search(name))


@dataclass
class Guess:
    """What the names and shapes say; ``None`` where the weights do not tell."""

    scheme: str
    label: str
    archs: tuple[str, ...] = ()
    layers: int | None = None
    hidden: int | None = None
    heads: int | None = None
    intermediate: int | None = None
    vocab: int | None = None
    embedding_size: int | None = None
    position_embeddings: bool | None = None
    heads_present: tuple[str, ...] = ()  # "pooler", "mlm", "nsp", "lm", "discriminator", "generator"
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts = [self.label]
        if self.layers is not None:
            parts.append(f"{self.layers} layers")
        if self.hidden is not None:
            parts.append(f"hidden {self.hidden}")
        if self.heads is not None:
            parts.append(f"{self.heads} heads")
        if self.intermediate is not None:
            parts.append(f"intermediate {self.intermediate}")
        if self.embedding_size is not None and self.embedding_size != self.hidden:
            parts.append(f"embedding {self.embedding_size}")
        if self.vocab is not None:
            parts.append(f"vocab {self.vocab}")
        text = ", ".join(parts)
        if self.heads_present:
            text += f"; heads: {', '.join(self.heads_present)}"
        return text


def _layers(names: Sequence[str], pattern: str) -> int | None:
    found = {int(m.group(1)) for n in names if (m := re.search(pattern, n))}
    return max(found) + 1 if found else None


def _dim(shapes: Shapes, name: str, axis: int) -> int | None:
    shape = shapes.get(name)
    if shape is None or not -len(shape) <= axis < len(shape):
        return None
    return shape[axis]


def _first(shapes: Shapes, suffix: str) -> str | None:
    """The first name ending with ``suffix`` (names may carry any prefix: ``module.``, ``bert.`` …)."""
    return next((n for n in shapes if n.endswith(suffix)), None)


def _present(shapes: Shapes, checks: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    return tuple(head for head, markers in checks.items() if any(_first(shapes, m) for m in markers))


def _head_note(g: Guess) -> None:
    if g.heads is None and g.hidden and g.hidden % 64 == 0:
        g.notes.append(f"the head count is not stored in the weights ({g.hidden // 64} if heads are 64-dim)")


def _google_bert(shapes: Shapes, names: list[str]) -> Guess | None:
    q = "bert/encoder/layer_0/attention/self/query/kernel"
    if q not in shapes:
        return None
    pos = "bert/embeddings/position_embeddings" in shapes
    has_bias = "bert/encoder/layer_0/attention/self/query/bias" in shapes
    heads = _present(
        shapes,
        {
            "pooler": ["bert/pooler/dense/kernel"],
            "mlm": ["cls/predictions/output_bias", "cls/predictions/transform/dense/kernel"],
            "nsp": ["cls/seq_relationship/output_weights"],
        },
    )
    g = Guess("google-bert-tf", "Google BERT naming", ("bert", "roberta"), heads_present=heads)
    if "bert/encoder/layer_0/bottleneck/input/dense/kernel" in shapes:
        g.scheme, g.label, g.archs = (
            "mobilebert-tf",
            "MobileBERT naming (Google BERT with bottlenecks)",
            ("mobilebert",),
        )
        g.hidden = _dim(shapes, "bert/embeddings/embedding_transformation/kernel", 1)
        g.embedding_size = _dim(shapes, "bert/embeddings/word_embeddings", 1)
        g.intermediate = _dim(shapes, "bert/encoder/layer_0/intermediate/dense/kernel", 1)
        if any(n.startswith("teacher/") for n in names):
            g.notes.append(
                "holds the distillation teacher (teacher/…): only bert/ and cls/ belong to the model"
            )
    elif not has_bias and "bert/encoder/layer_0/attention/output/LayerNorm/gamma" not in shapes:
        g.scheme, g.label, g.archs = (
            "roformer-v2-tf",
            "RoFormerV2 naming (bert4keras: no biases, no norm weights)",
            ("roformer_v2",),
        )
    elif not pos:
        g.scheme = "bert4keras-relative"
        g.label = "Google BERT naming without position embeddings (bert4keras NEZHA/RoFormer)"
        g.archs = ("nezha", "roformer")
        g.notes.append("no absolute position embeddings: relative (NEZHA) or rotary (RoFormer) positions")
    g.layers = _layers(names, r"^bert/encoder/layer_(\d+)/")
    g.hidden = g.hidden or _dim(shapes, q, 1)
    g.vocab = _dim(shapes, "bert/embeddings/word_embeddings", 0)
    g.intermediate = g.intermediate or _dim(shapes, "bert/encoder/layer_0/intermediate/dense/kernel", 1)
    g.position_embeddings = pos
    if g.embedding_size is None:
        e = _dim(shapes, "bert/embeddings/word_embeddings", 1)
        g.embedding_size = e if e != g.hidden else None
    _head_note(g)
    return g


def _albert(shapes: Shapes, names: list[str]) -> Guess | None:
    words = _dim(shapes, "bert/embeddings/word_embeddings", 0)
    emb = _dim(shapes, "bert/embeddings/word_embeddings", 1)
    heads = _present(
        shapes,
        {
            "pooler": ["bert/pooler/dense/kernel"],
            "mlm": ["cls/predictions/output_bias"],
            "nsp": ["cls/seq_relationship/output_weights"],
        },
    )
    if any(n.startswith("bert/encoder/transformer/group_0/") for n in names):
        g = Guess("albert-google-tf", "Google ALBERT naming", ("albert",), heads_present=heads)
        g.hidden = _dim(shapes, "bert/encoder/embedding_hidden_mapping_in/kernel", 1)
        inter = _first(shapes, "/ffn_1/intermediate/dense/kernel")
        g.intermediate = _dim(shapes, inter, 1) if inter else None
    elif (
        any(n.startswith("bert/encoder/layer_shared/") for n in names)
        and "bert/embeddings/word_embeddings_2" in shapes
    ):
        g = Guess(
            "albert-brightmart-tf",
            "brightmart ALBERT naming (layer_shared, word_embeddings_2)",
            ("albert_brightmart",),
            heads_present=heads,
        )
        g.hidden = _dim(shapes, "bert/embeddings/word_embeddings_2", 1)
        g.intermediate = _dim(shapes, "bert/encoder/layer_shared/intermediate/dense/kernel", 1)
    else:
        return None
    g.vocab, g.embedding_size = words, emb
    g.position_embeddings = "bert/embeddings/position_embeddings" in shapes
    g.notes.append("layers share their weights, so the layer count is not in the checkpoint (see the config)")
    _head_note(g)
    return g


def _electra(shapes: Shapes, names: list[str]) -> Guess | None:
    if "electra/embeddings/word_embeddings" not in shapes:
        return None
    heads = _present(
        shapes,
        {
            "discriminator": ["discriminator_predictions/dense/kernel"],
            "generator": [
                "generator_predictions/output_bias",
                "generator/encoder/layer_0/attention/self/query/kernel",
            ],
        },
    )
    g = Guess("electra-tf", "ELECTRA naming", ("electra",), heads_present=heads)
    g.layers = _layers(names, r"^electra/encoder/layer_(\d+)/")
    g.hidden = _dim(shapes, "electra/encoder/layer_0/attention/self/query/kernel", 1)
    g.intermediate = _dim(shapes, "electra/encoder/layer_0/intermediate/dense/kernel", 1)
    g.vocab = _dim(shapes, "electra/embeddings/word_embeddings", 0)
    g.embedding_size = _dim(shapes, "electra/embeddings/word_embeddings", 1)
    g.position_embeddings = "electra/embeddings/position_embeddings" in shapes
    if g.embedding_size == g.hidden:
        g.embedding_size = None
    _head_note(g)
    return g


def _xlnet(shapes: Shapes, names: list[str]) -> Guess | None:
    emb = "model/transformer/word_embedding/lookup_table"
    if emb not in shapes:
        return None
    g = Guess(
        "xlnet-tf", "XLNet naming", ("xlnet",), heads_present=_present(shapes, {"lm": ["model/lm_loss/bias"]})
    )
    g.layers = _layers(names, r"^model/transformer/layer_(\d+)/")
    g.vocab, g.hidden = _dim(shapes, emb, 0), _dim(shapes, emb, 1)
    g.heads = _dim(shapes, "model/transformer/layer_0/rel_attn/q/kernel", 1)
    g.intermediate = _dim(shapes, "model/transformer/layer_0/ff/layer_1/kernel", 1)
    g.position_embeddings = False
    return g


def _gau(shapes: Shapes, names: list[str]) -> Guess | None:
    i_dense = "GAU_alpha/encoder/layer_0/gau/i_dense/kernel"
    if i_dense not in shapes:
        return None
    g = Guess("gau-alpha-tf", "GAU-α naming (bert4keras)", ("gau_alpha",), heads=1)
    g.layers = _layers(names, r"^GAU_alpha/encoder/layer_(\d+)/")
    g.hidden = _dim(shapes, i_dense, 0)
    g.vocab = _dim(shapes, "bert/embeddings/word_embeddings", 0)
    g.position_embeddings = "bert/embeddings/position_embeddings" in shapes
    return g


def _hf_encoder(shapes: Shapes, names: list[str]) -> Guess | None:
    q = _first(shapes, "encoder.layer.0.attention.self.query.weight")
    if q is None:
        return None
    prefix = q[: -len("encoder.layer.0.attention.self.query.weight")]
    model = prefix.rstrip(".").split(".")[-1] if prefix else ""
    archs = {
        "bert": ("bert", "roberta", "megatron_bert", "chinesebert"),
        "roberta": ("roberta", "bert"),
        "electra": ("electra",),
        "nezha": ("nezha",),
        "roformer": ("roformer",),
        "megatron_bert": ("megatron_bert",),
        "": ("bert", "roberta"),
    }.get(model, (model,))
    pos = any(n.endswith("embeddings.position_embeddings.weight") for n in names)
    heads = _present(
        shapes,
        {
            "pooler": ["pooler.dense.weight"],
            "mlm": [
                "cls.predictions.bias",
                "cls.predictions.transform.dense.weight",
                "lm_head.bias",
                "lm_head.dense.weight",
            ],
            "nsp": ["cls.seq_relationship.weight"],
            "discriminator": ["discriminator_predictions.dense.weight"],
        },
    )
    g = Guess(
        "hf-encoder", f"Hugging Face naming ({prefix or ''}encoder.layer.N)", archs, heads_present=heads
    )
    g.layers = _layers(names, re.escape(prefix) + r"encoder\.layer\.(\d+)\.")
    g.hidden = _dim(shapes, q, 0)
    words = _first(shapes, "embeddings.word_embeddings.weight")
    g.vocab = _dim(shapes, words, 0) if words else None
    e = _dim(shapes, words, 1) if words else None
    g.embedding_size = e if e != g.hidden else None
    inter = _first(shapes, "encoder.layer.0.intermediate.dense.weight")
    g.intermediate = _dim(shapes, inter, 0) if inter else None
    g.position_embeddings = pos
    if not pos and model in ("bert", ""):
        g.archs = ("nezha", "roformer", *archs)
        g.notes.append("no absolute position embeddings: relative (NEZHA) or rotary (RoFormer) positions")
    _head_note(g)
    return g


def _hf_albert(shapes: Shapes, names: list[str]) -> Guess | None:
    q = _first(shapes, "encoder.albert_layer_groups.0.albert_layers.0.attention.query.weight")
    if q is None:
        return None
    g = Guess("hf-albert", "Hugging Face ALBERT naming", ("albert", "albert_brightmart"))
    g.hidden = _dim(shapes, q, 0)
    words = _first(shapes, "embeddings.word_embeddings.weight")
    g.vocab = _dim(shapes, words, 0) if words else None
    g.embedding_size = _dim(shapes, words, 1) if words else None
    g.notes.append("layers share their weights, so the layer count is not in the checkpoint (see the config)")
    return g


def _paddle_ernie(shapes: Shapes, names: list[str]) -> Guess | None:
    q = _first(shapes, "encoder.layers.0.self_attn.q_proj.weight")
    if q is None or _first(shapes, "encoder.layers.0.linear1.weight") is None:
        return None
    prefix = q[: -len("encoder.layers.0.self_attn.q_proj.weight")]
    heads = _present(
        shapes, {"pooler": ["pooler.dense.weight"], "mlm": ["cls.predictions.decoder_bias", "lm_head.bias"]}
    )
    g = Guess(
        "paddlenlp-ernie",
        f"PaddleNLP ERNIE naming ({prefix}encoder.layers.N)",
        ("ernie",),
        heads_present=heads,
    )
    g.layers = _layers(names, re.escape(prefix) + r"encoder\.layers\.(\d+)\.")
    g.hidden = _dim(shapes, q, 0)
    g.intermediate = _dim(shapes, _first(shapes, "encoder.layers.0.linear1.weight") or "", 1)
    words = _first(shapes, "embeddings.word_embeddings.weight")
    g.vocab = _dim(shapes, words, 0) if words else None
    g.position_embeddings = _first(shapes, "embeddings.position_embeddings.weight") is not None
    if _first(shapes, "embeddings.task_type_embeddings.weight"):
        g.notes.append("task-type embeddings present (ERNIE 3.0 use_task_id)")
    _head_note(g)
    return g


def _paddle_static_ernie(shapes: Shapes, names: list[str]) -> Guess | None:
    q = "encoder_layer_0_multi_head_att_query_fc.w_0"
    if q not in shapes:
        return None
    g = Guess("paddle-static-ernie", "Paddle static ERNIE naming (encoder_layer_N_…)", ("ernie",))
    g.layers = _layers(names, r"^encoder_layer_(\d+)_")
    g.hidden = _dim(shapes, q, 0)
    g.intermediate = _dim(shapes, "encoder_layer_0_ffn_fc_0.w_0", 1)
    g.vocab = _dim(shapes, "word_embedding", 0)
    g.position_embeddings = "pos_embedding" in shapes
    _head_note(g)
    return g


def _bart(shapes: Shapes, names: list[str]) -> Guess | None:
    q = _first(shapes, "encoder.layers.0.self_attn.q_proj.weight")
    if q is None or _first(shapes, "decoder.layers.0.self_attn.q_proj.weight") is None:
        return None
    g = Guess("hf-bart", "Hugging Face BART naming (encoder/decoder.layers.N)", ("bart", "cpt"))
    g.layers = _layers(names, r"encoder\.layers\.(\d+)\.")
    dec = _layers(names, r"decoder\.layers\.(\d+)\.")
    g.notes.append(f"{dec} decoder layers")
    g.hidden = _dim(shapes, q, 0)
    shared = _first(shapes, "shared.weight") or _first(shapes, "embed_tokens.weight")
    g.vocab = _dim(shapes, shared, 0) if shared else None
    return g


def _t5(shapes: Shapes, names: list[str]) -> Guess | None:
    q = _first(shapes, "encoder.block.0.layer.0.SelfAttention.q.weight")
    if q is None:
        return None
    g = Guess("hf-t5", "Hugging Face T5 naming (encoder.block.N)", ("t5", "mt5"))
    g.layers = _layers(names, r"encoder\.block\.(\d+)\.")
    g.hidden = _dim(shapes, q, 1)
    bias = _first(shapes, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight")
    g.heads = _dim(shapes, bias, 1) if bias else None
    ff = _first(shapes, "encoder.block.0.layer.1.DenseReluDense.wi.weight") or _first(
        shapes, "encoder.block.0.layer.1.DenseReluDense.wi_0.weight"
    )
    g.intermediate = _dim(shapes, ff, 0) if ff else None
    shared = _first(shapes, "shared.weight")
    g.vocab = _dim(shapes, shared, 0) if shared else None
    decoder = _layers(names, r"decoder\.block\.(\d+)\.")
    g.notes.append(f"{decoder} decoder layers")
    return g


def _gpt2(shapes: Shapes, names: list[str]) -> Guess | None:
    qkv = _first(shapes, "h.0.attn.c_attn.weight")
    if qkv is None:
        return None
    prefix = qkv[: -len("h.0.attn.c_attn.weight")]
    gpt2 = _first(shapes, "ln_f.weight") is not None
    g = Guess(
        "hf-gpt2" if gpt2 else "hf-openai-gpt",
        f"Hugging Face {'GPT-2' if gpt2 else 'OpenAI GPT'} naming ({prefix}h.N)",
        ("gpt2",) if gpt2 else ("openai_gpt",),
        heads_present=_present(shapes, {"lm": ["lm_head.weight"]}),
    )
    g.layers = _layers(names, re.escape(prefix) + r"h\.(\d+)\.")
    g.hidden = _dim(shapes, qkv, 0)
    fc = _first(shapes, "h.0.mlp.c_fc.weight")
    g.intermediate = _dim(shapes, fc, 1) if fc else None
    wte = _first(shapes, "wte.weight") or _first(shapes, "tokens_embed.weight")
    g.vocab = _dim(shapes, wte, 0) if wte else None
    g.position_embeddings = True
    _head_note(g)
    return g


def _megatron(shapes: Shapes, names: list[str]) -> Guess | None:
    qkv = next(
        (n for n in names if re.search(r"layers\.0\.(self_)?attention\.query_key_value\.weight$", n)), None
    )
    if qkv is None:
        return None
    bert = any("binary_head" in n or "tokentype_embeddings" in n or n.startswith("lm_head") for n in names)
    g = Guess(
        "megatron",
        f"Megatron-LM naming ({'BERT' if bert else 'GPT'}-style, fused query_key_value)",
        ("megatron_bert",) if bert else ("gpt2", "pangu_alpha", "zhouwenwang", "transfo_xl_megatron", "cpm2"),
    )
    g.layers = _layers(names, r"layers\.(\d+)\.")
    g.hidden = _dim(shapes, qkv, 1)
    words = _first(shapes, "word_embeddings.weight")
    g.vocab = _dim(shapes, words, 0) if words else None
    g.notes.append("Megatron pads the vocabulary to a multiple of 128 × tensor-parallel size")
    _head_note(g)
    return g


_SCHEMES = (_xlnet, _electra, _gau, _albert, _google_bert, _hf_albert, _hf_encoder, _bart, _paddle_ernie,
            _paddle_static_ernie, _t5, _gpt2, _megatron)  # fmt: skip


def fingerprint(shapes: Shapes) -> Guess:
    """Guess the naming scheme and sizes from ``{name: shape}`` (optimizer slots are ignored)."""
    model = {n: tuple(s) for n, s in shapes.items() if not is_bookkeeping(n)}
    names = list(model)
    for scheme in _SCHEMES:
        guess = scheme(model, names)
        if guess is not None:
            return guess
    refused = _refused(model, names)
    if refused is not None:
        return refused
    return Guess("unknown", f"unrecognised naming ({len(names)} tensors)")


def _refused(shapes: Shapes, names: Sequence[str]) -> Guess | None:
    """An architecture zhplm lists but will not convert (紫东太初 OPT): named, with the reason as a note."""
    from zhplm.catalog.archs import describe, refusal, refused_by_names

    arch = refused_by_names(list(names))
    if arch is None:
        return None
    g = Guess(arch, describe(arch), archs=(arch,))
    words = _first(shapes, "word_embeddings.embedding_table")
    if words:
        g.vocab, g.hidden = _dim(shapes, words, 0), _dim(shapes, words, 1)
    g.notes.append(f"zhplm will not convert or load it: {refusal(arch)}")
    return g


# ------------------------------------------------------------------ catalog candidates


def candidates(guess: Guess, records: Sequence[Any] | None = None) -> list[Any]:
    """Catalog records with a compatible architecture whose known sizes all match the guess.

    Best first: records matching more known sizes come first, the list's order breaks ties.
    """
    if records is None:
        try:
            from zhplm.catalog import list_models
        except ImportError:  # pragma: no cover - the catalog ships with zhplm
            return []
        records = list_models()
    scored = []
    for order, rec in enumerate(records):
        if guess.archs and rec.arch not in guess.archs:
            continue
        score = 0
        for mine, theirs in (
            (guess.layers, rec.layers),
            (guess.hidden, rec.hidden),
            (guess.vocab, rec.vocab_size),
        ):
            if mine is not None and theirs is not None:
                if mine != theirs:
                    break
                score += 1
        else:
            if score or guess.archs:
                scored.append((-score, order, rec))
    return [rec for _, _, rec in sorted(scored, key=lambda t: (t[0], t[1]))]


# ------------------------------------------------------------------ the report


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class Candidate:
    """A catalog row the checkpoint could belong to."""

    id: str
    name: str
    arch: str


@dataclass
class Inspection:
    path: str
    format: str
    tensors: list[TensorInfo]
    bookkeeping: list[str]
    parameters: int
    bookkeeping_parameters: int
    guess: Guess
    candidates: list[Candidate]
    skipped: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "tensors": [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype} for t in self.tensors],
            "bookkeeping": self.bookkeeping,
            "parameters": self.parameters,
            "bookkeeping_parameters": self.bookkeeping_parameters,
            "skipped": self.skipped,
            "guess": {**asdict(self.guess), "description": self.guess.describe()},
            "candidates": [asdict(c) for c in self.candidates],
        }

    def render(self, *, max_candidates: int = 20) -> str:
        lines = [f"format: {self.format}  ({self.path})"]
        width = max((len(t.name) for t in self.tensors), default=4)
        lines.append(f"{'name':<{width}}  {'shape':<18} dtype")
        for t in self.tensors:
            mark = "  (optimizer/bookkeeping)" if t.name in self.bookkeeping else ""
            lines.append(f"{t.name:<{width}}  {list(t.shape)!s:<18} {t.dtype}{mark}")
        for name, kind in self.skipped.items():
            lines.append(f"{name:<{width}}  {'-':<18} {kind}  (skipped: not a numeric tensor)")
        lines.append(
            f"tensors: {len(self.tensors)} ({len(self.bookkeeping)} optimizer/bookkeeping); parameters: "
            f"{self.parameters:,}"
            + (
                f" (+{self.bookkeeping_parameters:,} in optimizer slots)"
                if self.bookkeeping_parameters
                else ""
            )
        )
        lines.append(f"looks like: {self.guess.describe()}")
        lines.extend(f"  note: {n}" for n in self.guess.notes)
        if self.candidates:
            shown = ", ".join(f"{c.id} ({c.arch})" for c in self.candidates[:max_candidates])
            more = len(self.candidates) - max_candidates
            lines.append(f"catalog candidates: {shown}" + (f", … {more} more" if more > 0 else ""))
        else:
            lines.append("catalog candidates: none match")
        return "\n".join(lines)


def inspect_checkpoint(path: str | Path) -> Inspection:
    """Open ``path`` (any format zhplm reads), list its tensors and say what it is. Reads no tensor data.

    The architecture and sizes come from the one detector ``zhplm convert`` uses
    (:func:`zhplm.converter.detect`: the registry's ranking, then the first plan that fits), so the two
    never disagree; the naming description, and the guess for families no architecture module converts
    yet, come from :func:`fingerprint`."""
    from zhplm.arch import reader_options
    from zhplm.formats import open_checkpoint, sniff
    from zhplm.formats.locate import locate_checkpoint

    given = Path(path)
    # a folder (a Hugging Face download with only pytorch_model.bin, an extracted zip): the checkpoint in it
    located = locate_checkpoint(given) if given.is_dir() else None
    path = located.path if located else given
    fmt = located.format if located else sniff(path)
    with open_checkpoint(path, format=fmt, **reader_options(fmt)) as reader:
        names = reader.keys()
        tensors = [TensorInfo(n, tuple(reader.shape(n)), reader.dtype(n).name) for n in names]
        meta = reader.metadata()
        fmt = reader.format
        guess = fingerprint({t.name: t.shape for t in tensors})
        _apply_detection(guess, reader, path if path.is_dir() else path.parent)
    book = [t.name for t in tensors if is_bookkeeping(t.name)]
    book_set = set(book)
    count = {t.name: _numel(t.shape) for t in tensors}
    cands = [Candidate(r.id, r.name, r.arch) for r in candidates(guess)]
    skipped = meta.get("skipped") if isinstance(meta.get("skipped"), dict) else {}
    return Inspection(
        path=str(given),
        format=fmt,
        tensors=tensors,
        bookkeeping=book,
        parameters=sum(c for n, c in count.items() if n not in book_set),
        bookkeeping_parameters=sum(c for n, c in count.items() if n in book_set),
        guess=guess,
        candidates=cands,
        skipped=dict(skipped or {}),
    )


# target-config keys that give the sizes a Guess reports (transformers' names across the families)
_SIZE_KEYS = {
    "layers": ("num_hidden_layers", "n_layer", "num_layers"),
    "hidden": ("hidden_size", "d_model", "n_embd"),
    "heads": ("num_attention_heads", "n_head"),
    "intermediate": ("intermediate_size", "d_inner", "n_inner"),
    "vocab": ("vocab_size",),
    "embedding_size": ("embedding_size",),
}


def _apply_detection(guess: Guess, reader: Any, side: Path) -> None:
    """Overwrite the guess's architectures, sizes and heads with what the converter's detector finds."""
    from zhplm.converter import detect
    from zhplm.errors import ConversionError, MissingDependencyError

    try:
        try:
            found = detect(reader, side)
        except MissingDependencyError:
            found = detect(reader, side, check_model=False)
            guess.notes.append(
                "the target model was not built (torch/transformers missing): plan checked only"
            )
    except ConversionError as exc:
        from zhplm.arch import rank_archs

        ranked = [spec.name for spec, _ in rank_archs({n: reader.shape(n) for n in reader})]
        if ranked:  # the names say which architecture, but no plan fits: convert fails the same way
            guess.archs = tuple(ranked)
            guess.notes.append(f"names of {ranked[0]}, but it would not convert: {str(exc).splitlines()[0]}")
        elif guess.archs and guess.scheme != guess.archs[0]:  # a refused arch's note already says why
            guess.notes.append(f"no zhplm architecture converts it yet ({str(exc).splitlines()[0]})")
        return
    guess.archs = (found.spec.name, *(name for name, _ in found.ranked if name != found.spec.name))
    for attr, keys in _SIZE_KEYS.items():
        # the head count is in no tensor: report it only when the release's own config gives it
        source = (found.original or {}) if attr == "heads" else found.config
        value = next((source[k] for k in keys if isinstance(source.get(k), int)), None)
        if value is not None:
            setattr(guess, attr, value)
    if guess.embedding_size == guess.hidden:
        guess.embedding_size = None
    if found.planned is not None:
        guess.heads_present = tuple(h for h, status in found.planned.heads.items() if status == "trained")
        absent = [h for h, status in found.planned.heads.items() if status == "absent"]
        if absent:
            guess.notes.append(f"heads absent from the checkpoint: {', '.join(absent)}")
    guess.notes.append(f"converts as {found.spec.name} ({found.spec.description}; score {found.score:.2f})")


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
