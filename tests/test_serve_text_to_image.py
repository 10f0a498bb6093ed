"""``zhplm serve`` for CogView: OpenAI's ``/v1/images/generations`` through the official ``openai`` client gives,
for a seed, the image of ``zhplm.pipeline("text-to-image")`` (itself equal to THUDM's ``filling_sequence`` draw,
tests/test_cogview_text_to_image.py); sizes, counts and formats outside what the model draws answer 422, and a
release-sized CogView on a CPU is refused with the expected time unless the server allows slow models."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="zhplm[serve] is not installed")
openai = pytest.importorskip("openai")

import zhplm  # noqa: E402
from helpers_cogview import t2i_converted, t2i_release  # noqa: E402
from helpers_serve import running  # noqa: E402

__all__ = ["t2i_converted", "t2i_release"]

pytestmark = pytest.mark.oracle


def _pixels(b64: str) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(b64))) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB"))


def test_generations_equal_the_pipeline_for_a_seed(t2i_converted: Path) -> None:
    pipe = zhplm.pipeline("text-to-image", t2i_converted, grid=4)
    expected = [np.asarray(g.image) for g in pipe("一只猫", seed=3, num_images=2)]
    with running({"cogview": t2i_converted}) as (url, _):
        client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=120)
        assert [m.id for m in client.models.list().data] == ["cogview"]
        models = client.models.list().model_dump()["data"]
        assert models[0]["tasks"] == ["text-to-image"]
        out = client.images.generate(
            model="cogview",
            prompt="一只猫",
            n=2,
            size="32x32",
            response_format="b64_json",
            extra_body={"seed": 3},
        )
        got = [_pixels(d.b64_json) for d in out.data]
        assert [g.shape for g in got] == [(32, 32, 3)] * 2
        assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))
        # no size: the largest square the model's 48 positions hold (6×6 codes, 48 pixels)
        default = client.images.generate(model="cogview", prompt="山水画", response_format="b64_json")
        assert _pixels(default.data[0].b64_json).shape == (48, 48, 3)
        for bad, message in (
            ({"size": "33x33"}, "multiple of 8 pixels up to 48x48"),
            ({"size": "256x256"}, "up to 48x48"),
            ({"size": "32x64"}, "squares"),
            ({"response_format": "url"}, "b64_json"),
            ({"n": 5}, "the limit is 4"),
            ({"prompt": "  "}, "prompt is empty"),
        ):
            args = {"model": "cogview", "prompt": "猫", "response_format": "b64_json", **bad}
            with pytest.raises(openai.UnprocessableEntityError, match=message):
                client.images.generate(**args)  # type: ignore[arg-type]
        with pytest.raises(openai.BadRequestError, match="does not do text-generation"):
            client.completions.create(model="cogview", prompt="一只猫", max_tokens=2)


def test_a_release_sized_cogview_is_refused_with_the_expected_time(tmp_path: Path) -> None:
    release = {"num_layers": 48, "hidden_size": 2560, "vocab_size": 58240, "max_position_embeddings": 1089}
    folder = tmp_path / "cogview-4b"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "cogview", **release}))
    (folder / "zhplm.json").write_text(json.dumps({"arch": "cogview", "heads": {"lm": "trained"}}))
    (folder / "vqvae.safetensors").write_bytes(b"")
    with running({"cogview-4b": folder}) as (url, _):
        client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=60)
        with pytest.raises(openai.UnprocessableEntityError, match=r"about \d+ minutes.*--allow-slow"):
            client.images.generate(model="cogview-4b", prompt="一只猫", response_format="b64_json")
