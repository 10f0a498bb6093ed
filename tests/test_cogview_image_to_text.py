"""CogView's image side against THUDM's own code (``tests/oracles/cogview_original.py``): image → codes, captions
(image2text) and post-selection.

Codes: image files written here (sizes up and down, RGB JPEG/PNG, RGBA with a varied alpha, grayscale, CMYK,
an EXIF-rotated JPEG) go through ``CogViewImageTokenizer`` and through the original ``VQVAETokenizer.read_img`` +
``img2code`` (torchvision's transforms from the oracle's stub) over the same tiny VQ-VAE (8192 codes, the
release's layout): the codes must be equal. Where the original cannot read the file as given (grayscale fails
its three-channel ``Normalize``; it takes CMYK's C, M, Y as R, G, B; it ignores the EXIF orientation), zhplm
turns the image upright and converts it to RGB first, and the original gets that upright RGB image as a PNG.

Captions and post-selection: a tiny GPT in the release layout with the release's vocabulary and 1089 positions
(a 256-pixel image is 1024 codes) plus that VQ-VAE, converted together; the original ``filling_sequence`` on the
``image2text`` query (seeded, top-k 200 and top-k 1) and ``inverse_prompt_score`` on the ``post-selection``
queries are the references.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import zhplm
from helpers_cogview import REPO, VOCAB, sp_model
from oracle import require_original, run_oracle

POSITIONS = 1089  # the release's table: [BASE] [BOI1] 1024 codes [EOI1] [ROI1] + 20 caption tokens fit
TEXT = "一只可爱的猫"


def _smooth(rng: np.random.Generator, w: int, h: int, channels: int) -> object:
    """A smooth random picture (a random 1/8-size grid, bicubic-upsampled): codes vary across it."""
    from PIL import Image

    base = rng.integers(0, 256, (h // 8 + 2, w // 8 + 2, channels)).astype(np.uint8)
    return Image.fromarray(base[..., 0] if channels == 1 else base).resize((w, h), Image.BICUBIC)


def _write_images(folder: Path) -> dict[str, Path]:
    from PIL import Image

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "rgb-wide.jpg": _smooth(rng, 300, 200, 3),
        "rgb-square.png": _smooth(rng, 256, 256, 3),
        "rgb-small-upscaled.png": _smooth(rng, 100, 60, 3),
        "rgb-odd-tall.png": _smooth(rng, 257, 513, 3),
        "gray.png": _smooth(rng, 240, 330, 1).convert("L"),  # type: ignore[attr-defined]
        "cmyk.jpg": _smooth(rng, 320, 240, 3).convert("CMYK"),  # type: ignore[attr-defined]
    }
    paths = {}
    for name, im in files.items():
        im.save(folder / name, quality=90) if name.endswith(".jpg") else im.save(folder / name)  # type: ignore[attr-defined]
        paths[name] = folder / name
    rgba = np.asarray(_smooth(rng, 180, 400, 3).convert("RGBA")).copy()  # type: ignore[attr-defined]
    rgba[..., 3] = rng.integers(0, 256, rgba.shape[:2])  # varied alpha: resized premultiplied, then dropped
    Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    paths["rgba.png"] = folder / "rgba.png"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    _smooth(rng, 400, 300, 3).save(folder / "exif-rotated.jpg", exif=exif, quality=90)  # type: ignore[attr-defined]
    paths["exif-rotated.jpg"] = folder / "exif-rotated.jpg"
    return paths


def _upright_rgb(path: Path, out: Path) -> Path:
    """What zhplm hands the original's steps: EXIF-upright, RGB unless RGB/RGBA (made with Pillow here)."""
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        up = ImageOps.exif_transpose(im)
        if up.mode not in ("RGB", "RGBA"):
            up = up.convert("RGB")
        up.save(out)
    return out


@pytest.fixture(scope="module")
def vq(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_original(REPO)
    out = tmp_path_factory.mktemp("cogview-vq")
    run_oracle("cogview_original.py", "vqvae", "--out", out, "--seed", "11", "--n-embed", "8192")
    return out / "vqvae.pt"


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _write_images(tmp_path_factory.mktemp("cogview-images"))


def _original_codes(vqvae: Path, paths: list[Path], tmp: Path) -> list[dict[str, object]]:
    (tmp / "img.json").write_text(json.dumps({"images": [str(p) for p in paths]}), encoding="utf-8")
    run_oracle(
        "cogview_original.py",
        "img2code",
        "--vqvae",
        vqvae,
        "--inputs",
        tmp / "img.json",
        "--out",
        tmp / "codes.json",
    )
    return list(json.loads((tmp / "codes.json").read_text(encoding="utf-8")))


@pytest.mark.oracle
def test_codes_equal_the_original_img2code(vq: Path, images: dict[str, Path], tmp_path: Path) -> None:
    from zhplm.tasks.image_codes import CogViewImageTokenizer

    direct = [n for n in images if n.startswith(("rgb", "rgba"))]  # the original reads these files as given
    prepared = [n for n in images if n not in direct]
    feed = [images[n] for n in direct] + [_upright_rgb(images[n], tmp_path / f"{n}.up.png") for n in prepared]
    ref = _original_codes(vq, [*feed, images["gray.png"], images["exif-rotated.jpg"]], tmp_path)
    # what the original does with the files themselves: grayscale fails, the rotated photo is read sideways
    assert "doesn't match the broadcast shape" in str(ref[-2].get("error")), ref[-2]
    sideways = ref[-1]["codes"]
    tok = CogViewImageTokenizer.from_model(tmp_path, vqvae=vq)
    ours = tok([images[n] for n in direct + prepared])
    for name, mine, theirs in zip(direct + prepared, ours, ref, strict=False):
        assert "error" not in theirs, (name, theirs)
        assert len(mine) == 1024 and len(set(mine)) > 20, name  # a real spread of codes, not one winner
        assert mine == theirs["codes"], name
    assert ours[(direct + prepared).index("exif-rotated.jpg")] != sideways
    # PIL images in, and one image alone: the same codes
    from PIL import Image

    with Image.open(images["rgb-wide.jpg"]) as im:
        assert tok(im) == [ours[0]]


@pytest.mark.oracle
def test_codes_with_a_residual_block_equal_the_original(images: dict[str, Path], tmp_path: Path) -> None:
    """The encoder's residual block (none in the release) adds its rectified input, as the original's in-place ReLU."""
    from zhplm.tasks.image_codes import CogViewImageTokenizer, load_vqvae

    run_oracle("cogview_original.py", "vqvae", "--out", tmp_path / "vq", "--seed", "5", "--res-blocks", "1")
    vqvae = tmp_path / "vq" / "vqvae.pt"
    (ref,) = _original_codes(vqvae, [images["rgb-square.png"]], tmp_path)
    tok = CogViewImageTokenizer(load_vqvae(vqvae, encoder=True))
    assert tok([images["rgb-square.png"]]) == [ref["codes"]]


def test_unreadable_images_name_the_file(vq: Path, tmp_path: Path) -> None:
    from zhplm.errors import ImageError
    from zhplm.tasks.image_codes import CogViewImageTokenizer, load_vqvae

    tok = CogViewImageTokenizer(load_vqvae(vq, encoder=True))
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    truncated = tmp_path / "cut.png"
    _smooth(np.random.default_rng(1), 64, 64, 3).save(truncated)  # type: ignore[attr-defined]
    truncated.write_bytes(truncated.read_bytes()[:200])
    strip = tmp_path / "strip.png"
    _smooth(np.random.default_rng(2), 8, 4000, 3).resize((1, 70000)).save(strip)  # type: ignore[attr-defined]
    for bad, said in [
        (text, "not an image"),
        (truncated, "corrupt or truncated"),
        (tmp_path / "gone.png", "no such"),
    ]:
        with pytest.raises(ImageError, match=said) as info:
            tok([bad])
        assert str(bad) in str(info.value)
    with pytest.raises(ImageError, match="aspect ratio") as info:
        tok([strip])
    assert "strip.png" in str(info.value)
    from PIL import Image

    odd = Image.new("RGBA", (32, 32)).convert("RGBa").convert("La")  # a mode with no RGB conversion
    with pytest.raises(ImageError, match="no RGB conversion"):
        tok([odd])
    modes = ["1", "P", "LA", "I", "F", "YCbCr", "RGBX"]  # every other mode Pillow decodes: upright RGB first
    rgb = Image.fromarray(np.random.default_rng(3).integers(0, 256, (40, 60, 3)).astype(np.uint8))
    for mode in modes:
        converted = rgb.convert(mode)
        assert tok(converted) == tok(converted.convert("RGB")), mode


def test_a_decoder_only_vqvae_says_to_convert_again(vq: Path, tmp_path: Path) -> None:
    """Folders converted before the encoder was kept hold ``dec.*`` and the codebook only: they still decode."""
    from safetensors.torch import save_file

    from zhplm.arch.modeling.cogview_vqvae import CogViewVQVAE
    from zhplm.errors import ConversionError
    from zhplm.tasks.image_codes import CogViewImageTokenizer, load_vqvae

    state = torch.load(vq, weights_only=True)
    old = {k.removeprefix("module."): v for k, v in state.items() if not k.startswith("module.enc_b.")}
    old = {k: v for k, v in old.items() if k.startswith("dec.") or k == "quantize_t.embed"}
    save_file(old, str(tmp_path / "vqvae.safetensors"))
    decoder = load_vqvae(tmp_path / "vqvae.safetensors")
    assert not decoder.has_encoder and decoder(torch.zeros(1, 2, 2, dtype=torch.long)).shape == (1, 3, 16, 16)
    with pytest.raises(ConversionError, match=r"decoder half only.*convert the model again"):
        CogViewImageTokenizer.from_model(tmp_path)
    with pytest.raises(ConversionError, match="convert the model again"):
        decoder.encode(torch.zeros(1, 3, 16, 16))
    full = CogViewVQVAE.from_state_dict(state)
    assert full.has_encoder and full.encode(torch.zeros(1, 3, 16, 16)).shape == (1, 2, 2)
    # a decoder-only .pt beside the weights still converts, for drawing, and says what it lacks
    from zhplm.arch.cogview import write_vqvae

    (tmp_path / "src").mkdir()
    torch.save(old, tmp_path / "src" / "vqvae_decoder_only.pt")
    (tmp_path / "out").mkdir()
    (note,) = write_vqvae(tmp_path / "src", tmp_path / "out")
    assert "no encoder" in note and (tmp_path / "out" / "vqvae.safetensors").is_file()


# -- captions and post-selection ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def release(vq: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("cogview-i2t")
    args = ["--out", tmp / "ckpt", "--seed", "9", "--vocab", str(VOCAB), "--positions", str(POSITIONS)]
    run_oracle("cogview_original.py", "write", *args)
    shutil.copy(sp_model(), tmp / "ckpt" / "cog-pretrain.model")
    shutil.copy(vq, tmp / "ckpt" / "vqvae_hard_biggerset_011.pt")
    return tmp / "ckpt"


@pytest.fixture(scope="module")
def converted(release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cogview-i2t-out") / "model"
    result = zhplm.convert(release, out)
    assert any("VQ-VAE encoder + decoder (8192 codes)" in n for n in result.notes), result.notes
    return out


def _oracle(cmd: str, release: Path, tmp: Path, feeds: dict[str, object]) -> dict[str, np.ndarray]:
    (tmp / f"{cmd}.json").write_text(json.dumps(feeds, ensure_ascii=False), encoding="utf-8")
    vqvae = release / "vqvae_hard_biggerset_011.pt"
    out = tmp / f"{cmd}.npz"
    run_oracle(
        "cogview_original.py",
        cmd,
        "--ckpt",
        release,
        "--vqvae",
        vqvae,
        "--inputs",
        tmp / f"{cmd}.json",
        "--out",
        out,
    )
    with np.load(out) as ref:
        return {k: ref[k] for k in ref.files}


@pytest.mark.oracle
@pytest.mark.parametrize(("seed", "top_k"), [(3, 200), (4, 200), (5, 1)], ids=["seed3", "seed4", "top1"])
def test_captions_equal_the_original_image2text(
    release: Path, converted: Path, images: dict[str, Path], tmp_path: Path, seed: int, top_k: int
) -> None:
    image = images["rgb-wide.jpg"]
    feeds = {"image": str(image), "seed": seed, "top_k": top_k, "temperature": 1.0, "num": 1}
    ref = _oracle("caption", release, tmp_path, feeds)
    texts = json.loads((tmp_path / "caption.npz.json").read_text(encoding="utf-8"))["texts"]
    captioner = zhplm.pipeline("image-to-text", converted)
    (codes,) = captioner.images([image])
    assert captioner.image_query(codes) == ref["prompt"].tolist()
    options = {"greedy": True} if top_k == 1 else {"seed": seed, "top_k": top_k}
    (caption,) = captioner(image, **options)
    assert len(caption.ids) == 20 and all(8192 <= i < 58192 for i in caption.ids)  # text pieces only
    assert caption.ids == ref["tokens"][0].tolist()
    assert caption.text == texts[0] and caption.text


@pytest.mark.oracle
def test_several_captions_equal_the_original_batch_draw(
    release: Path, converted: Path, images: dict[str, Path], tmp_path: Path
) -> None:
    """``image2text.sh`` samples 8 captions a call: the first token of all 8 is one multinomial draw of 8 (with
    replacement), then one draw per row; seeded, every row must be equal."""
    image = images["rgba.png"]
    feeds = {"image": str(image), "seed": 2, "top_k": 200, "temperature": 1.0, "num": 8}
    ref = _oracle("caption", release, tmp_path, feeds)
    texts = json.loads((tmp_path / "caption.npz.json").read_text(encoding="utf-8"))["texts"]
    captions = zhplm.pipeline("image-to-text", converted)(image, seed=2, num_captions=8)
    assert [c.ids for c in captions] == ref["tokens"].tolist()
    assert [c.text for c in captions] == texts and len(set(texts)) > 1


@pytest.mark.oracle
def test_post_selection_scores_equal_the_original(
    release: Path, converted: Path, images: dict[str, Path], tmp_path: Path
) -> None:
    candidates = [images["rgb-wide.jpg"], images["rgba.png"], images["rgb-square.png"]]
    text = "一只 可爱的猫 [SEP] 在草地上"  # a command word inside the text stays a command, as parse_query reads it
    ref = _oracle("select", release, tmp_path, {"text": text, "images": [str(p) for p in candidates]})
    select = zhplm.pipeline("image-to-text", converted)
    ours = select.scores(text, candidates)
    assert np.abs(np.array(ours) - ref["scores"]).max() < 1e-4, (ours, ref["scores"])
    (codes,) = select.images([candidates[0]])
    assert select.image_query(codes) + select.text_ids(text) == ref["ids"][0].tolist()
    ranked = select.post_selection(text, [*candidates, tmp_path / "missing.png"])
    assert [r.image for r in ranked[:3]] == [str(candidates[i]) for i in np.argsort(-ref["scores"])]
    assert [r.rank for r in ranked] == [0, 1, 2, None] and "missing.png" in str(ranked[3].error)


@pytest.mark.oracle
def test_cli_captions_and_ranks(
    converted: Path, images: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from zhplm.cli.main import main

    bad = tmp_path / "bad.png"
    bad.write_bytes(b"garbage")
    image = str(images["rgb-square.png"])
    code = main(["image-caption", str(converted), image, str(bad), "--seed", "1", "-n", "2", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code != 0 and out[1]["error"] and "bad.png" in out[1]["error"]
    expected = zhplm.pipeline("image-to-text", converted)(image, seed=1, num_captions=2)
    assert out[0]["captions"] == [c.text for c in expected]
    assert main(["post-select", str(converted), TEXT, image, str(images["rgba.png"]), "--json"]) == 0
    ranking = json.loads(capsys.readouterr().out)["ranking"]
    assert [r["rank"] for r in ranking] == [0, 1] and ranking[0]["score"] >= ranking[1]["score"]


def test_empty_text_and_wrong_model_are_clear_errors(tmp_path: Path) -> None:
    from zhplm.errors import ConversionError
    from zhplm.tasks.image_to_text import ImageToText

    (tmp_path / "zhplm.json").write_text(json.dumps({"arch": "bert"}))
    with pytest.raises(ConversionError, match="needs a CogView model"):
        ImageToText.from_model(tmp_path)
    captioner = ImageToText.__new__(ImageToText)
    with pytest.raises(ConversionError, match="text is empty"):
        captioner.text_ids("  ")
    with pytest.raises(ConversionError, match="one image per call"):
        captioner.caption_ids(["a.jpg", "b.jpg"])
