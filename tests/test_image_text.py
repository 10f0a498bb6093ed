"""Image–text tasks through ``zhplm.pipeline`` and the CLI on a tiny Chinese-CLIP converted from a release
cn_clip wrote, with real image files made here. Expected scores come from cn_clip itself (its
``image_transform`` on the same files, its ``get_similarity`` on its own tokenization of the prompts)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import zhplm
from helpers_clip import clip_model, clip_release, cn_clip_reference, make_images, write_broken
from zhplm.cli.main import main
from zhplm.errors import ConversionError, ImageError

__all__ = ["clip_model", "clip_release"]

LABELS = ["猫", "狗", "汽车", "海边的日落"]
TOL = 1e-4


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    files = make_images(tmp_path_factory.mktemp("images"))
    files.pop("exif_rotated.jpg")  # cn_clip would read it sideways: compared in the parity test instead
    return files


@pytest.fixture(scope="module")
def reference(
    clip_release: Path, images: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, np.ndarray]:
    """cn_clip's logits for the images and the prompts: the default template, then "{}的图片"."""
    texts = [f"一张{x}的照片" for x in LABELS] + [f"{x}的图片" for x in LABELS]
    return cn_clip_reference(clip_release, list(images.values()), texts, tmp_path_factory.mktemp("ref"))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _by_label(result: zhplm.tasks.image_text.ImageLabels) -> list[float]:
    scores = {s.label: s.score for s in result.labels}
    return [scores[x] for x in LABELS]


def test_zero_shot_classification_equals_cn_clip(
    clip_model: Path, images: dict[str, Path], reference: dict[str, np.ndarray]
) -> None:
    clf = zhplm.pipeline("zero-shot-image-classification", clip_model)
    logits = reference["logits_per_image"]
    for template, cols in (("一张{}的照片", slice(0, 4)), ("{}的图片", slice(4, 8))):
        results = clf(list(images.values()), LABELS, template=template)
        assert [r.image for r in results] == [str(p) for p in images.values()]
        expected = _softmax(logits[:, cols])
        got = np.array([_by_label(r) for r in results])
        np.testing.assert_allclose(got, expected, atol=TOL, rtol=0)
        for r in results:  # most probable first
            assert [s.score for s in r.labels] == sorted((s.score for s in r.labels), reverse=True)
    default = zhplm.pipeline("zero-shot-image-classification", clip_model, template="{}的图片")
    one = default(images["rgb.jpg"], LABELS)
    np.testing.assert_allclose(_by_label(one[0]), _softmax(logits[:1, 4:8])[0], atol=TOL, rtol=0)


def test_a_bad_file_is_named_and_the_batch_goes_on(
    clip_model: Path, images: dict[str, Path], tmp_path: Path
) -> None:
    broken = write_broken(tmp_path)
    clf = zhplm.pipeline("zero-shot-image-classification", clip_model)
    batch = [images["rgb.jpg"], broken["notes.jpg"], broken["truncated.jpg"], tmp_path / "missing.png"]
    batch += [broken["empty.png"], images["gray.png"]]
    results = clf(batch, LABELS)
    assert [r.image for r in results] == [str(p) for p in batch]
    for r, path in zip(results[1:5], batch[1:5], strict=True):
        assert r.labels == [] and r.error is not None and str(path) in r.error
    assert "not an image" in (results[1].error or "")
    assert "corrupt or truncated" in (results[2].error or "")
    assert "no such file" in (results[3].error or "")
    good = clf([images["rgb.jpg"], images["gray.png"]], LABELS)
    assert results[0].labels == good[0].labels and results[5].labels == good[1].labels
    with pytest.raises(ConversionError, match="template"):
        clf(images["rgb.jpg"], LABELS, template="没有占位符")
    with pytest.raises(ConversionError, match="label"):
        clf(images["rgb.jpg"], [])


def test_retrieval_both_ways_ranks_by_cn_clip_cosine(
    clip_model: Path, images: dict[str, Path], reference: dict[str, np.ndarray]
) -> None:
    sim = zhplm.pipeline("image-text-similarity", clip_model)
    cos = reference["logits_per_image"] / reference["logit_scale"]  # cn_clip's cosine matrix
    paths = list(images.values())
    scores = sim(paths, [f"一张{x}的照片" for x in LABELS])
    np.testing.assert_allclose(scores, cos[:, :4], atol=TOL, rtol=0)
    hits = sim.text_to_image("一张狗的照片", paths, k=3)
    order = np.argsort(-cos[:, 1], kind="stable")[:3]
    assert [h.item for h in hits] == [str(paths[i]) for i in order]
    np.testing.assert_allclose([h.score for h in hits], cos[order, 1], atol=TOL)
    texts = [f"{x}的图片" for x in LABELS]
    back = sim.image_to_text(paths[2], texts, k=2)
    order = np.argsort(-cos[2, 4:8], kind="stable")[:2]
    assert [b.item for b in back] == [texts[i] for i in order]
    with pytest.raises(ImageError, match=r"missing\.png"):
        sim.image_to_text(Path("/nonexistent/missing.png"), texts)


def test_image_index_is_cached_by_model_and_file_content(
    clip_model: Path, images: dict[str, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for p in list(images.values())[:4]:
        shutil.copy(p, folder / p.name)
    (folder / "readme.txt").write_text("不是图片", encoding="utf-8")
    cache = tmp_path / "cache"
    sim = zhplm.pipeline("image-text-similarity", clip_model)
    first = sim.index(folder, cache_dir=cache)
    assert first.encoded == 4 and len(first.images) == 4
    assert [f.image for f in first.failures] == [str(folder / "readme.txt")]
    again = sim.index(folder, cache_dir=cache)
    assert again.encoded == 0 and again.images == first.images
    np.testing.assert_array_equal(again.vectors, first.vectors)
    shutil.copy(images["big.bmp"], folder / "new.bmp")
    (folder / "copy_of_rgb.jpg").write_bytes((folder / "rgb.jpg").read_bytes())  # same content: cached
    third = sim.index(folder, cache_dir=cache)
    assert third.encoded == 1 and len(third.images) == 6
    fresh = sim.encoder.image_features([folder / "new.bmp"]).vectors[0]
    np.testing.assert_allclose(third.vectors[third.images.index(str(folder / "new.bmp"))], fresh, atol=1e-6)
    hits = third.search("一张猫的照片", k=2)
    assert len(hits) == 2 and hits[0].score >= hits[1].score
    # a damaged cache is rebuilt, not trusted
    assert first.cache_file is not None
    first.cache_file.write_bytes(b"garbage")
    rebuilt = sim.index(folder, cache_dir=cache)
    assert rebuilt.encoded == 5
    np.testing.assert_allclose(rebuilt.vectors, third.vectors, atol=1e-6)


def test_cli_image_classify(
    clip_model: Path,
    images: dict[str, Path],
    reference: dict[str, np.ndarray],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    paths = [str(images["rgb.jpg"]), str(images["cmyk.jpg"])]
    code = main(["image-classify", str(clip_model), *paths, "--labels", "猫,狗，汽车,海边的日落", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["image"] for r in out] == paths
    names = list(images)
    for r, name in zip(out, ("rgb.jpg", "cmyk.jpg"), strict=True):
        scores = {s["label"]: s["score"] for s in r["labels"]}
        expected = _softmax(reference["logits_per_image"][names.index(name) : names.index(name) + 1, :4])[0]
        np.testing.assert_allclose([scores[x] for x in LABELS], expected, atol=TOL, rtol=0)
    broken = write_broken(tmp_path)
    code = main(["image-classify", str(clip_model), paths[0], str(broken["notes.jpg"]), "--labels", "猫,狗"])
    captured = capsys.readouterr()
    assert code == 15
    assert paths[0] in captured.out and "猫" in captured.out
    assert captured.err.count(str(broken["notes.jpg"])) == 1  # said once, by the command
    assert f"error: cannot read image {broken['notes.jpg']}" in captured.err


def test_cli_image_search(
    clip_model: Path, images: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for p in images.values():
        shutil.copy(p, folder / p.name)
    argv = ["image-search", str(clip_model), "海边的日落", "--images", str(folder), "-k", "3"]
    argv += ["--cache-dir", str(tmp_path / "cache"), "--json"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["indexed"] == len(images) and first["encoded"] == len(images)
    assert len(first["matches"]) == 3 and first["failures"] == []
    sim = zhplm.pipeline("image-text-similarity", clip_model)
    expected = sim.text_to_image("海边的日落", sorted(folder.iterdir()), k=3)
    assert [m["item"] for m in first["matches"]] == [e.item for e in expected]
    (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    assert main(argv) == 15
    second = json.loads(capsys.readouterr().out)
    assert second["encoded"] == 0 and second["matches"] == first["matches"]
    assert [f["image"] for f in second["failures"]] == [str(folder / "bad.png")]


def test_a_decompression_bomb_is_refused_before_decoding(clip_model: Path, tmp_path: Path) -> None:
    """A 12-byte-per-row PNG header claiming 60000×60000 pixels: refused at open, nothing allocated."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    bomb = tmp_path / "bomb.png"
    ihdr = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    clf = zhplm.pipeline("zero-shot-image-classification", clip_model)
    (result,) = clf([bomb], ["猫", "狗"])
    assert (
        result.labels == []
        and "too many pixels" in (result.error or "")
        and str(bomb) in (result.error or "")
    )


def test_in_memory_images_keep_their_order(clip_model: Path, images: dict[str, Path]) -> None:
    from PIL import Image

    clf = zhplm.pipeline("zero-shot-image-classification", clip_model)
    paths = [images["rgb.jpg"], images["wide.webp"], images["alpha.png"]]
    by_path = clf(paths, LABELS)
    with Image.open(paths[0]) as a, Image.open(paths[1]) as b, Image.open(paths[2]) as c:
        in_memory = clf([a, b, c], LABELS)
    assert [r.image for r in in_memory] == ["<JpegImageFile>", "<WebPImageFile>", "<PngImageFile>"]
    for mem, disk in zip(in_memory, by_path, strict=True):
        assert [s.label for s in mem.labels] == [s.label for s in disk.labels]
        np.testing.assert_allclose([s.score for s in mem.labels], [s.score for s in disk.labels], atol=1e-6)


def test_a_shortest_edge_preprocessor_is_refused_clearly(clip_model: Path, tmp_path: Path) -> None:
    from zhplm.tasks.images import ImageTransform

    folder = tmp_path / "hf-copy"
    folder.mkdir()
    cfg = json.loads((clip_model / "preprocessor_config.json").read_text(encoding="utf-8"))
    cfg["size"] = {"shortest_edge": 224}
    (folder / "preprocessor_config.json").write_text(json.dumps(cfg), encoding="utf-8")
    with pytest.raises(ConversionError, match=r"shortest_edge.*Chinese-CLIP's own transform"):
        ImageTransform.from_folder(folder)
    with pytest.raises(ConversionError, match=r"no usable preprocessor_config\.json"):
        ImageTransform.from_folder(tmp_path)
