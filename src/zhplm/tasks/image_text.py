"""Image–text tasks on a contrastive dual encoder (Chinese-CLIP, R2D2, BriVL): zero-shot image classification,
image↔text retrieval and an on-disk image index.

BriVL reads an image as the boxes an external object detector found (BUA, which zhplm does not ship): its
images are given as :class:`~zhplm.tasks.region_image.BoxedImage` (or ``(image, boxes)`` pairs); a bare
image, or a folder to index, is refused with a :class:`~zhplm.errors.ConversionError` saying so.

A model with image–text matching cross-encoders (R2D2) also re-ranks retrieval as R2D2's own evaluation
does (``train_r2d2_retrieval.compute_cross_score``): the dual encoder's ``rerank`` best candidates (64 in
R2D2's configs) are scored by the cross-encoders, and a candidate's score becomes ``itm + cosine``.

Scores are what the model was trained on: cosine similarity of the L2-normalised projected features; the
classification probabilities are the softmax of ``logit_scale · cos`` over the labels (CLIP's zero-shot
recipe, with the Chinese prompt ``一张{}的照片`` of cn_clip's zero-shot templates). Images go through
:mod:`zhplm.tasks.images`; an unreadable file in a batch is reported with its reason and the batch goes on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zhplm.errors import ConversionError, ImageError
from zhplm.tasks._inference import fold_quick_gelu
from zhplm.tasks.images import ImageInput, ImageTransform
from zhplm.tasks.region_image import BoxedImage, RegionImageTransform, pad_boxes

log = logging.getLogger(__name__)

DEFAULT_TEMPLATE = "一张{}的照片"
# cn_clip.clip.tokenize's context length, used where a folder does not say (its preprocessor config does)
CONTEXT_LENGTH = 52
# model types these tasks serve: each has get_text_features / get_image_features / logit_scale
IMAGE_TEXT_TYPES = ("chinese_clip", "r2d2", "brivl")
BOXED_TYPES = ("brivl",)  # their images are read as detector boxes (RegionImageTransform)
RERANK = 64  # R2D2's top_k (config/retrieval_*.yaml)
Vectors = np.ndarray[Any, np.dtype[np.float32]]


@dataclass(frozen=True)
class ImageFailure:
    image: str
    error: str


@dataclass(frozen=True)
class LabelScore:
    label: str
    score: float


@dataclass(frozen=True)
class ImageLabels:
    """One image's labels, most probable first; ``error`` (and no labels) when the image could not be read."""

    image: str
    labels: list[LabelScore]
    error: str | None = None


@dataclass(frozen=True)
class Match:
    item: str
    score: float  # cosine similarity; with re-ranking: itm + cosine (R2D2's ranking score)
    itm: float | None = None  # the cross-encoders' matching probability, when they re-ranked


@dataclass
class ImageFeatures:
    """L2-normalised features of the images that could be read, and why the others could not."""

    images: list[str]
    vectors: Vectors
    failures: list[ImageFailure] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)  # position of each vector's image in the input


@dataclass(frozen=True)
class ReadImages:
    """What :meth:`ClipEncoder.read_images` read: the record (``vectors`` still empty), the preprocessed pixels
    ``[N, 3, H, W]`` of the readable images and their scaled detector boxes (BriVL; empty otherwise)."""

    features: ImageFeatures
    pixels: Vectors
    boxes: list[Vectors]


@dataclass(frozen=True)
class TowerStates:
    """One tower's pass for ITM re-ranking: normalised features, their cosine with the query (empty without
    one) and the kept per-row states (``row → [tokens, H]``) that the cross-encoders pair without re-encoding."""

    vectors: Vectors
    cosine: Vectors
    kept: dict[int, Any]


def _name(image: ImageInput) -> str:
    if isinstance(image, BoxedImage):
        return str(image)
    return str(image) if isinstance(image, (str, os.PathLike)) else f"<{type(image).__name__}>"


class ClipEncoder:
    """A loaded dual encoder with its tokenizer and image transform; every vector it returns is normalised.

    A model that reads images as detector boxes (BriVL) has a :class:`RegionImageTransform`: its image
    inputs are :class:`BoxedImage` (or ``(image, boxes)`` pairs), and its texts are padded to the full
    ``context_length`` as in its training (its BERT attends to the padding)."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        transform: ImageTransform | RegionImageTransform,
        *,
        folder: Path | None = None,
        batch_size: int = 16,
        context_length: int = CONTEXT_LENGTH,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.transform = transform
        self.folder = folder
        self.batch_size = batch_size
        self.context_length = context_length

    @property
    def needs_boxes(self) -> bool:
        """Whether images must come with detector boxes (BriVL)."""
        return isinstance(self.transform, RegionImageTransform)

    @classmethod
    def from_model(cls, model: str | Path, *, batch_size: int = 16, **load_options: Any) -> ClipEncoder:
        from zhplm.loader import load

        loaded = load(model, **load_options)
        if getattr(loaded.model.config, "model_type", None) not in IMAGE_TEXT_TYPES:
            raise ConversionError(
                f"{model} is a {loaded.model.config.model_type} model, not an image-text model "
                "(image tasks need a converted Chinese-CLIP or R2D2 folder)"
            )
        fold_quick_gelu(loaded.model)  # CLIP ViTs' QuickGELU as one kernel (the pipeline's own model)
        cfg = json.loads((loaded.path / "preprocessor_config.json").read_text(encoding="utf-8"))
        boxed = loaded.model.config.model_type in BOXED_TYPES
        return cls(
            loaded.model,
            loaded.tokenizer,
            RegionImageTransform.from_folder(loaded.path)
            if boxed
            else ImageTransform.from_folder(loaded.path),
            folder=loaded.path,
            batch_size=batch_size,
            context_length=int(cfg.get("context_length", CONTEXT_LENGTH)),
        )

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.exp().item())

    def text_features(self, texts: Sequence[str], *, normalize: bool = True) -> Vectors:
        import torch

        rows: list[Vectors] = []
        for start in range(0, len(texts), self.batch_size):
            enc = self._tokenize(texts[start : start + self.batch_size])
            with torch.inference_mode():
                out = self.model.get_text_features(**enc)
            rows.append(self._finish(out, normalize))
        return self._stack(rows)

    def _tokenize(self, texts: Sequence[str]) -> Any:
        enc = self.tokenizer(
            list(texts),
            padding="max_length" if self.needs_boxes else True,
            truncation=True,
            max_length=self.context_length,
            return_tensors="pt",
        )
        if self.needs_boxes:  # BriVL's text tower takes ids and the mask only
            enc = {k: enc[k] for k in ("input_ids", "attention_mask")}
        return enc

    def pixel_features(
        self, pixels: Vectors, *, normalize: bool = True, boxes: Sequence[Vectors] | None = None
    ) -> Vectors:
        """Features of preprocessed pixels ``[N, 3, H, W]`` (with their scaled boxes, for BriVL)."""
        import torch

        if self.needs_boxes and boxes is None:
            raise ConversionError("this model reads images as detector boxes: give the boxes of each image")
        rows: list[Vectors] = []
        for start in range(0, len(pixels), self.batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(pixels[start : start + self.batch_size]))
            extra: dict[str, Any] = {}
            if boxes is not None:
                padded, mask = pad_boxes(boxes[start : start + self.batch_size])
                extra = {"boxes": torch.from_numpy(padded), "box_mask": torch.from_numpy(mask)}
            with torch.inference_mode():
                out = self.model.get_image_features(pixel_values=batch.to(self.model.dtype), **extra)
            rows.append(self._finish(out, normalize))
        return self._stack(rows)

    def image_features(self, images: Sequence[ImageInput]) -> ImageFeatures:
        """Normalised features of ``images``; unreadable ones are listed in ``failures`` (the rest go on)."""
        read = self.read_images(images)
        feats = read.features
        if len(read.pixels):
            feats.vectors = self.pixel_features(read.pixels, boxes=read.boxes if self.needs_boxes else None)
        return feats

    def read_images(self, images: Sequence[ImageInput]) -> ReadImages:
        """The preprocessed pixels of the readable ``images``, their record (``vectors`` still empty) and their
        scaled detector boxes (BriVL; empty for other models); unreadable ones are listed in ``failures``."""
        names: list[str] = []
        indices: list[int] = []
        pixels: list[Vectors] = []
        boxes: list[Vectors] = []
        failures: list[ImageFailure] = []
        for i, image in enumerate(images):
            try:
                if isinstance(self.transform, RegionImageTransform):
                    one, regions = self.transform(image)  # no boxes: a ConversionError for the whole call
                    boxes.append(regions)
                else:
                    one = self.transform(image)
                pixels.append(one)
                names.append(_name(image))
                indices.append(i)
            except ImageError as exc:
                log.debug("%s", exc)  # reported in the result (failures), not twice
                failures.append(ImageFailure(_name(image), str(exc)))
        stacked = np.stack(pixels) if pixels else np.zeros((0, 3, 1, 1), np.float32)
        return ReadImages(ImageFeatures(names, self._empty(), failures, indices), stacked, boxes)

    @property
    def can_match(self) -> bool:
        """Whether the model has image–text matching cross-encoders (R2D2's ITM heads)."""
        return bool(getattr(self.model, "has_itm", False))

    def text_states(
        self, texts: Sequence[str], *, query: Vectors | None = None, keep: int = 0
    ) -> TowerStates:
        """For ITM re-ranking (R2D2): normalised features of ``texts``, their cosine with ``query`` (empty
        without one) and the text tower's states (``[tokens, H]``, padding cut) of the ``keep`` rows closest
        to ``query`` (of every row without one), so that pairing them never runs the tower again."""
        import torch

        def run(start: int, stop: int) -> tuple[Any, list[Any]]:
            enc = self._tokenize(texts[start:stop])
            with torch.inference_mode():
                states = self.model.text_states(**enc)
                feats = self.model.text_proj(states[:, 0])
            lengths = enc["attention_mask"].sum(-1).tolist()
            return feats, [states[i, :n] for i, n in enumerate(lengths)]

        return self._tower(len(texts), run, query, keep)

    def image_states(self, pixels: Vectors, *, query: Vectors | None = None, keep: int = 0) -> TowerStates:
        """:meth:`text_states` for preprocessed pixels: the ViT's states ``[1 + patches, W]``."""
        import torch

        def run(start: int, stop: int) -> tuple[Any, list[Any]]:
            batch = torch.from_numpy(np.ascontiguousarray(pixels[start:stop])).to(self.model.dtype)
            with torch.inference_mode():
                states = self.model.image_states(batch)
                feats = self.model.vision_proj(states[:, 0])
            return feats, list(states)

        return self._tower(len(pixels), run, query, keep)

    def _tower(
        self, n: int, run: Callable[[int, int], tuple[Any, list[Any]]], query: Vectors | None, keep: int
    ) -> TowerStates:
        """``run`` batch by batch, keeping the states of the ``keep`` rows closest to ``query`` as it goes
        (ties: the earlier row, as the ranking's stable sort) — memory for ``keep`` rows, not ``n``."""
        rows: list[Vectors] = []
        scores: list[Vectors] = []
        kept: dict[int, Any] = {}
        for start in range(0, n, self.batch_size):
            feats, states = run(start, min(n, start + self.batch_size))
            rows.append(self._finish(feats, True))
            kept.update(enumerate(states, start))
            if query is not None:
                scores.append(rows[-1] @ query)
                cosine = np.concatenate(scores)
                kept = {i: kept[i] for i in sorted(kept, key=lambda i: (-cosine[i], i))[:keep]}
        cosine = np.concatenate(scores) if scores else np.zeros((0,), np.float32)
        return TowerStates(self._stack(rows), cosine, kept)

    def match_states(self, texts: Sequence[Any], images: Sequence[Any]) -> Vectors:
        """ITM probabilities of text states ``texts[i]`` with image states ``images[i]`` (from
        :meth:`text_states` / :meth:`image_states`), ``batch_size`` pairs at a time."""
        import torch

        if not self.can_match:
            raise ConversionError(f"{type(self.model).__name__} has no image-text matching head")
        rows: list[Vectors] = []
        for start in range(0, len(texts), self.batch_size):
            chunk = texts[start : start + self.batch_size]
            width = max(int(t.shape[0]) for t in chunk)
            with torch.inference_mode():
                text = chunk[0].new_zeros((len(chunk), width, chunk[0].shape[-1]))
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for i, t in enumerate(chunk):
                    text[i, : t.shape[0]] = t
                    mask[i, : t.shape[0]] = 1
                image = torch.stack(list(images[start : start + self.batch_size]))
                out = self.model.match_states(text, mask, image)
            rows.append(out.scores.float().numpy().astype(np.float32))
        return np.concatenate(rows) if rows else np.zeros((0,), np.float32)

    def _finish(self, out: Any, normalize: bool) -> Vectors:
        import torch

        vectors = out if isinstance(out, torch.Tensor) else out.pooler_output
        vectors = vectors.float()
        if normalize:
            vectors = torch.nn.functional.normalize(vectors, dim=-1)
        result: Vectors = vectors.numpy().astype(np.float32)
        return result

    def _empty(self) -> Vectors:
        return np.zeros((0, int(self.model.config.projection_dim)), np.float32)

    def _stack(self, rows: list[Vectors]) -> Vectors:
        return np.concatenate(rows) if rows else self._empty()


def _texts(labels: Iterable[str], template: str) -> list[str]:
    if "{}" not in template:
        raise ConversionError(f"the prompt template {template!r} has no {{}} for the label")
    return [template.replace("{}", label) for label in labels]


class ZeroShotImageClassification:
    """``clf(images, labels=["猫", "狗"]) -> [ImageLabels]``: each label as ``template`` text, softmax over
    ``logit_scale · cos``; an unreadable image gets an ``error`` instead of labels."""

    def __init__(self, encoder: ClipEncoder, *, template: str = DEFAULT_TEMPLATE) -> None:
        _texts(["x"], template)
        self.encoder = encoder
        self.template = template

    @classmethod
    def from_model(
        cls, model: str | Path, *, template: str = DEFAULT_TEMPLATE, batch_size: int = 16, **load_options: Any
    ) -> ZeroShotImageClassification:
        return cls(ClipEncoder.from_model(model, batch_size=batch_size, **load_options), template=template)

    def __call__(
        self,
        images: ImageInput | Sequence[ImageInput],
        labels: Sequence[str],
        *,
        template: str | None = None,
    ) -> list[ImageLabels]:
        batch = (
            [images] if isinstance(images, (str, os.PathLike)) or not isinstance(images, Sequence) else images
        )
        labels = _labels(labels)
        feats = self.encoder.image_features(list(batch))
        ranked = dict(zip(feats.indices, self._rank(feats.vectors, labels, template), strict=True))
        failures = iter(feats.failures)  # in input order, one per input without a vector
        return [
            ImageLabels(_name(image), ranked[i])
            if i in ranked
            else ImageLabels(_name(image), [], next(failures).error)
            for i, image in enumerate(batch)
        ]

    def scores(
        self, pixels: Vectors, labels: Sequence[str], *, template: str | None = None
    ) -> list[list[LabelScore]]:
        """The labels of already preprocessed pixels ``[N, 3, H, W]``, best first per image (the server's path:
        it reads and checks each image itself)."""
        labels = _labels(labels)
        return self._rank(self.encoder.pixel_features(pixels), labels, template)

    def _rank(
        self, image_vectors: Vectors, labels: list[str], template: str | None
    ) -> list[list[LabelScore]]:
        """Softmax over ``logit_scale · cos`` of each image to every label prompt; labels best first."""
        if not len(image_vectors):
            return []
        text = self.encoder.text_features(_texts(labels, template or self.template))
        logits = self.encoder.logit_scale * image_vectors @ text.T
        logits = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        return [
            [LabelScore(labels[j], float(row[j])) for j in np.argsort(-row, kind="stable")] for row in probs
        ]


def _labels(labels: Sequence[str]) -> list[str]:
    found = [str(label).strip() for label in labels]
    if not found or not all(found):
        raise ConversionError("give at least one non-empty label, e.g. labels=['猫', '狗']")
    if len(set(found)) != len(found):
        raise ConversionError(f"the labels repeat: {found}")
    return found


class ImageTextSimilarity:
    """Cosine scores between images and texts, and retrieval both ways (best first).

    ``rerank``: how many dual-encoder candidates the cross-encoders re-score, for a model that has them
    (R2D2; default 64, R2D2's own setting); ``0`` ranks by cosine only. Models without them ignore it."""

    def __init__(self, encoder: ClipEncoder, *, rerank: int = RERANK) -> None:
        if rerank < 0:
            raise ConversionError(f"rerank must be 0 (off) or a number of candidates, got {rerank}")
        self.encoder = encoder
        self.rerank = rerank if encoder.can_match else 0

    @classmethod
    def from_model(
        cls, model: str | Path, *, batch_size: int = 16, rerank: int = RERANK, **load_options: Any
    ) -> ImageTextSimilarity:
        return cls(ClipEncoder.from_model(model, batch_size=batch_size, **load_options), rerank=rerank)

    def itm(self, images: Sequence[ImageInput], texts: Sequence[str]) -> Vectors:
        """``[len(images), len(texts)]`` matching probabilities of the cross-encoders (every pair; R2D2's
        ``r2d2_inference_demo.evaluation``); an unreadable image raises :class:`ImageError`."""
        if not self.encoder.can_match:
            raise ConversionError("this model has no image-text matching cross-encoders (R2D2 has)")
        text_states = self.encoder.text_states(list(texts)).kept
        image_states = self.encoder.image_states(self._pixels(images)).kept
        pairs_t = [text_states[j] for _ in image_states for j in range(len(texts))]
        pairs_i = [image_states[i] for i in range(len(image_states)) for _ in texts]
        scores: Vectors = self.encoder.match_states(pairs_t, pairs_i).reshape(len(image_states), len(texts))
        return scores

    def _pixels(self, images: Sequence[ImageInput]) -> Vectors:
        return _pixels(self.encoder, images)

    def __call__(self, images: Sequence[ImageInput], texts: Sequence[str]) -> Vectors:
        """``[len(images), len(texts)]`` cosine similarities; an unreadable image raises :class:`ImageError`."""
        feats = self.encoder.image_features(images)
        if feats.failures:
            raise ImageError(feats.failures[0].image, feats.failures[0].error)
        scores: Vectors = feats.vectors @ self.encoder.text_features(texts).T
        return scores

    def text_to_image(self, query: str, images: Sequence[ImageInput], *, k: int = 5) -> list[Match]:
        """The ``k`` images closest to ``query`` (unreadable images are skipped with a warning)."""
        if not self.rerank:
            feats = self.encoder.image_features(images)
            for failure in feats.failures:
                log.warning("skipped: %s", failure.error)
            return _top(feats.images, feats.vectors @ self.encoder.text_features([query])[0], k)
        read = self.encoder.read_images(images)  # re-ranking: R2D2, no boxes
        feats, pixels = read.features, read.pixels
        for failure in feats.failures:
            log.warning("skipped: %s", failure.error)
        if not feats.images:
            return _top([], np.zeros((0,), np.float32), k)
        # each tower runs once: the query's states and the candidates' ViT states are kept for the ITM pairs
        q = self.encoder.text_states([query])
        q_states = q.kept
        found = self.encoder.image_states(pixels, query=q.vectors[0], keep=self.rerank)
        cosine, kept = found.cosine, found.kept
        return _reranked(
            self.rerank,
            feats.images,
            cosine,
            k,
            lambda rows: self.encoder.match_states([q_states[0]] * len(rows), [kept[i] for i in rows]),
        )

    def image_to_text(self, image: ImageInput, texts: Sequence[str], *, k: int = 5) -> list[Match]:
        """The ``k`` texts closest to ``image``."""
        if not self.rerank or not texts:
            feats = self.encoder.image_features([image])
            if feats.failures:
                raise ImageError(feats.failures[0].image, feats.failures[0].error)
            return _top(list(texts), self.encoder.text_features(texts) @ feats.vectors[0], k)
        i = self.encoder.image_states(self._pixels([image]))
        i_states = i.kept
        found = self.encoder.text_states(list(texts), query=i.vectors[0], keep=self.rerank)
        cosine, kept = found.cosine, found.kept
        return _reranked(
            self.rerank,
            list(texts),
            cosine,
            k,
            lambda rows: self.encoder.match_states([kept[i] for i in rows], [i_states[0]] * len(rows)),
        )

    def index(self, directory: str | Path, *, cache_dir: str | Path | None = None) -> ImageIndex:
        """The images of ``directory`` with cached features; its searches re-rank as this pipeline does."""
        index = ImageIndex.build(self.encoder, directory, cache_dir=cache_dir)
        index.rerank = self.rerank
        return index


def _pixels(encoder: ClipEncoder, images: Sequence[ImageInput]) -> Vectors:
    out = [encoder.transform(image) for image in images]
    return np.stack(out) if out else np.zeros((0, 3, 1, 1), np.float32)


def _reranked(
    rerank: int, items: Sequence[str], cosine: Vectors, k: int, itm: Callable[[Sequence[int]], Vectors]
) -> list[Match]:
    """R2D2's ranking: the ``rerank`` best by cosine, scored ``itm + cosine`` and ordered by it; past them
    (``k > rerank``) the rest follow by cosine (R2D2 gives them a constant -100), without ``itm``.
    ``itm(rows)`` gives the matching probabilities of the query with ``items[rows]``."""
    _check_k(k)
    order = np.argsort(-cosine, kind="stable")
    head = order[:rerank]
    itm_scores = itm([int(i) for i in head])
    final = cosine[head] + itm_scores
    ranked = [
        Match(items[head[j]], float(final[j]), float(itm_scores[j]))
        for j in np.argsort(-final, kind="stable")
    ]
    ranked += [Match(items[i], float(cosine[i])) for i in order[rerank:k]]
    return ranked[:k]


def _check_k(k: int) -> None:
    if k < 1:
        raise ConversionError(f"k must be at least 1, got {k}")


def _top(items: Sequence[str], scores: Vectors, k: int) -> list[Match]:
    _check_k(k)
    order = np.argsort(-scores, kind="stable")[:k]
    return [Match(items[i], float(scores[i])) for i in order]


# --------------------------------------------------------------------------- the on-disk image index


def model_key(folder: Path) -> str:
    """What the features depend on: the config, the preprocessing and the weights files (name, size, mtime:
    hashing gigabytes on every search would cost more than the search)."""
    h = hashlib.sha256()
    for name in ("config.json", "preprocessor_config.json"):
        path = folder / name
        h.update(name.encode() + b"\0" + (path.read_bytes() if path.exists() else b""))
    for path in sorted(folder.glob("*.safetensors")):
        st = path.stat()
        h.update(f"{path.name}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return h.hexdigest()[:32]


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class ImageIndex:
    """The images of a folder with their features; features are cached per model and file content, so a
    second search (or a folder with a few new images) encodes only what is new."""

    encoder: ClipEncoder
    images: list[str]
    vectors: Vectors
    failures: list[ImageFailure]
    encoded: int  # images encoded now (the others came from the cache)
    cache_file: Path | None = None
    rerank: int = 0  # candidates the cross-encoders re-score (a model with ITM heads, R2D2)

    @classmethod
    def build(
        cls, encoder: ClipEncoder, directory: str | Path, *, cache_dir: str | Path | None = None
    ) -> ImageIndex:
        root = Path(directory)
        if encoder.needs_boxes:
            raise ConversionError(
                "this model (BriVL) reads images as detector boxes, which a folder of image files does not "
                "carry: search a list of BoxedImage(image, boxes) with text_to_image instead"
            )
        if not root.is_dir():
            raise ImageError(str(root), "not a folder of images")
        files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
        cache_file = None
        cached: dict[str, Vectors] = {}
        if encoder.folder is not None:
            from zhplm import config

            base = Path(cache_dir) if cache_dir is not None else config.home() / "image-features"
            cache_file = base / f"{model_key(encoder.folder)}.npz"
            cached = _read_cache(cache_file)
        hashes = {p: _file_hash(p) for p in files}
        todo = [p for p in files if hashes[p] not in cached]
        fresh = encoder.image_features(todo)
        new = {hashes[Path(n)]: v for n, v in zip(fresh.images, fresh.vectors, strict=True)}
        if cache_file is not None and new:
            _write_cache(cache_file, {**cached, **new})
        known = {**cached, **new}
        kept = [p for p in files if hashes[p] in known]
        dim = int(encoder.model.config.projection_dim)
        vectors = np.stack([known[hashes[p]] for p in kept]) if kept else np.zeros((0, dim), np.float32)
        return cls(encoder, [str(p) for p in kept], vectors, fresh.failures, len(new), cache_file)

    def search(self, query: str, *, k: int = 5) -> list[Match]:
        if not self.images:
            return []
        if not (self.rerank and self.encoder.can_match):
            return _top(self.images, self.vectors @ self.encoder.text_features([query])[0], k)
        q = self.encoder.text_states([query])
        q_vec, q_states = q.vectors, q.kept
        cosine = self.vectors @ q_vec[0]

        def itm(
            rows: Sequence[int],
        ) -> Vectors:  # only the candidates are read again (the index keeps vectors)
            states = self.encoder.image_states(_pixels(self.encoder, [self.images[i] for i in rows])).kept
            return self.encoder.match_states([q_states[0]] * len(rows), [states[i] for i in range(len(rows))])

        return _reranked(self.rerank, self.images, cosine, k, itm)


def _read_cache(path: Path) -> dict[str, Vectors]:
    if not path.exists():
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: np.asarray(data[k], np.float32) for k in data.files}
    except (OSError, ValueError, KeyError) as exc:  # a damaged cache is rebuilt, never trusted
        log.warning("ignoring the unreadable image-feature cache %s (%s)", path, exc)
        return {}


def _write_cache(path: Path, vectors: dict[str, Vectors]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".features-", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            arrays: dict[str, Any] = dict(vectors)
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
