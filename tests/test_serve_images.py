"""``zhplm serve`` for an image-text model (Chinese-CLIP): texts and data-URL images embedded into one space,
image search through ``/v1/similarity`` and zero-shot classification — checked against cn_clip's own
preprocessing and forward on the same files — and every bad image answered with 422 while the server
goes on answering."""

from __future__ import annotations

import base64
import io
import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="zhplm[serve] is not installed")

from helpers_clip import clip_model, clip_release, cn_clip_reference, make_images
from helpers_converted import converted_bert
from helpers_serve import running

__all__ = ["clip_model", "clip_release"]

pytestmark = pytest.mark.oracle

LABELS = ["猫", "狗", "汽车", "海边的日落"]
TEXTS = ["一张猫的照片", "海边的日落"]
FILES = ["rgb.jpg", "small_rgb.png", "wide.webp", "gray.png", "cmyk.jpg", "alpha.png", "palette.gif"]
TOL = 1e-5


def data_url(path: Path) -> str:
    kind = {".jpg": "jpeg", ".png": "png", ".webp": "webp", ".gif": "gif"}[path.suffix]
    return f"data:image/{kind};base64," + base64.b64encode(path.read_bytes()).decode()


def png_url(image: Any) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    files = make_images(tmp_path_factory.mktemp("serve-images"))
    return {name: files[name] for name in FILES}


@pytest.fixture(scope="module")
def reference(
    clip_release: Path, images: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, np.ndarray]:
    """cn_clip's own transform and forward on the same files, and on the texts and label prompts."""
    texts = TEXTS + [f"一张{x}的照片" for x in LABELS]
    return cn_clip_reference(clip_release, list(images.values()), texts, tmp_path_factory.mktemp("serve-ref"))


@pytest.fixture(scope="module")
def server(clip_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("serve-images-models")
    shutil.move(str(converted_bert(tmp)), str(tmp / "tiny-bert"))
    models = {"clip": clip_model, "tiny-bert": tmp / "tiny-bert"}
    with running(models, max_images=8, max_image_pixels=1_000_000, max_body_bytes=512 * 1024) as (url, _):
        yield url


def post(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def test_texts_and_images_embed_into_cn_clips_space(
    server: str, images: dict[str, Path], reference: dict[str, np.ndarray]
) -> None:
    models = json.loads(urllib.request.urlopen(server + "/v1/models", timeout=30).read())
    tasks = {m["id"]: m["tasks"] for m in models["data"]}
    assert tasks["clip"] == ["embeddings", "zero-shot-image-classification"]
    inputs = [TEXTS[0], *(data_url(p) for p in images.values()), TEXTS[1]]
    status, out = post(server + "/v1/embeddings", {"model": "clip", "input": inputs})
    assert status == 200, out
    rows = np.array([d["embedding"] for d in out["data"]], np.float32)
    assert [d["index"] for d in out["data"]] == list(range(len(inputs)))
    np.testing.assert_allclose(rows[1:-1], unit(reference["image_features"]), atol=TOL, rtol=0)
    np.testing.assert_allclose(rows[[0, -1]], unit(reference["text_features"][:2]), atol=TOL, rtol=0)


def test_similarity_ranks_images_for_a_text_without_echoing_them(
    server: str, images: dict[str, Path], reference: dict[str, np.ndarray]
) -> None:
    targets = [data_url(p) for p in images.values()] + ["海边的日落"]
    status, out = post(server + "/v1/similarity", {"model": "clip", "source": TEXTS[0], "targets": targets})
    assert status == 200, out
    feats = unit(np.concatenate([reference["image_features"], reference["text_features"][1:2]]))
    expected = feats @ unit(reference["text_features"][0])
    np.testing.assert_allclose([d["score"] for d in out["data"]], expected, atol=TOL, rtol=0)
    assert all(d.get("image") is True and "text" not in d for d in out["data"][:-1])
    assert out["data"][-1]["text"] == "海边的日落"


def test_zero_shot_classification_equals_cn_clips_softmax(
    server: str, images: dict[str, Path], reference: dict[str, np.ndarray]
) -> None:
    logits = reference["logits_per_image"][0, 2:]  # cn_clip's own: rgb.jpg against the label prompts
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    status, out = post(
        server + "/v1/zero-shot-image-classification",
        {"model": "clip", "image": data_url(images["rgb.jpg"]), "labels": LABELS},
    )
    assert status == 200, out
    got = {d["label"]: d["score"] for d in out["data"]}
    np.testing.assert_allclose([got[x] for x in LABELS], expected, atol=TOL, rtol=0)
    assert [d["score"] for d in out["data"]] == sorted(got.values(), reverse=True)


def test_bad_images_answer_422_naming_the_input_and_the_server_goes_on(
    server: str, images: dict[str, Path]
) -> None:
    from PIL import Image

    good = data_url(images["rgb.jpg"])
    truncated = base64.b64encode(images["rgb.jpg"].read_bytes()[:300]).decode()
    cases = {
        "not valid base64": ["好", "data:image/png;base64,@@@"],
        "not an image Pillow can identify": [
            "data:image/png;base64," + base64.b64encode("不是图片".encode()).decode()
        ],
        "corrupt or truncated": [good, "data:image/jpeg;base64," + truncated],
        "over the limit of 1,000,000 pixels": [png_url(Image.new("1", (1500, 1000)))],  # a 2 KB PNG
        "an image is sent as": ["data:image/png,rawbytes"],
        "9 images; the limit is 8": [good] * 9,
    }
    for expected, inputs in cases.items():
        status, out = post(server + "/v1/embeddings", {"model": "clip", "input": inputs})
        assert status == 422 and expected in out["error"]["message"], (expected, out)
    status, out = post(
        server + "/v1/embeddings", {"model": "clip", "input": ["好", "data:image/png;base64,@@@"]}
    )
    assert "input 1" in out["error"]["message"]
    # a text model neither classifies images nor lets a data URL past its character limit
    status, out = post(
        server + "/v1/zero-shot-image-classification", {"model": "tiny-bert", "image": good, "labels": ["猫"]}
    )
    assert status == 400 and out["error"]["type"] == "wrong_task"
    status, out = post(
        server + "/v1/embeddings", {"model": "tiny-bert", "input": ["data:image/png;base64," + "A" * 5000]}
    )
    assert status == 422 and "limit is 4096" in out["error"]["message"]
    status, out = post(
        server + "/v1/zero-shot-image-classification",
        {"model": "clip", "image": good, "labels": ["猫", "猫"]},
    )
    assert status == 422 and "repeat" in out["error"]["message"]
    status, out = post(server + "/v1/embeddings", {"model": "clip", "input": [good, "好"]})
    assert status == 200 and len(out["data"]) == 2


def test_tasks_follow_the_model_type(tmp_path: Path) -> None:
    """Read from config.json alone: BriVL's images need detector boxes, so the server embeds its texts only."""
    from zhplm.serve.pool import is_image_text, model_tasks

    expected = {
        "chinese_clip": ("embeddings", "zero-shot-image-classification"),
        "r2d2": ("embeddings", "zero-shot-image-classification"),
        "brivl": ("embeddings",),
        "bert": ("embeddings", "rerank"),
    }
    for model_type, tasks in expected.items():
        folder = tmp_path / model_type
        folder.mkdir()
        (folder / "config.json").write_text(
            json.dumps({"model_type": model_type, "architectures": ["BertModel"]})
        )
        assert model_tasks(folder) == tasks, model_type
        assert is_image_text(folder) is (model_type != "bert")


def test_image_slots_queue_then_refuse_with_429() -> None:
    """Image requests run one forward each: ``running`` at once, ``waiting`` queued, then 429 + Retry-After."""
    import asyncio

    from zhplm.errors import RequestError
    from zhplm.serve.batching import Slots

    async def scenario() -> None:
        slots = Slots(1, 1, "image requests")
        gate = asyncio.Event()

        async def hold() -> None:
            async with slots.hold():
                await gate.wait()

        first = asyncio.create_task(hold())
        await asyncio.sleep(0)
        second = asyncio.create_task(hold())
        await asyncio.sleep(0)
        assert slots.waiting == 1
        with pytest.raises(RequestError, match="1 image requests running and 1 waiting") as err:
            async with slots.hold():
                pass
        assert err.value.status == 429 and err.value.headers == {"Retry-After": "2"}
        gate.set()
        await asyncio.gather(first, second)
        async with slots.hold():  # free again
            assert slots.waiting == 0

    asyncio.run(scenario())
