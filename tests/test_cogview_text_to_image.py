"""CogView's unified tokenizer and text-to-image against THUDM's own code (``tests/oracles/cogview_original.py``).

Tokenizer: ``CogViewTokenizer`` (written by ``zhplm.convert``, loaded by ``AutoTokenizer``) must give the ids of
the original ``UnifiedTokenizer`` (``EncodeAsIds`` of texts, ``parse_query`` of prompts with command tokens,
the command-token table) on the release's ``cog-pretrain.model``.

Text-to-image: a tiny GPT in the release layout with the release's vocabulary (8192 image codes + 50000 text
pieces + 27 commands, padded to 58240) and a tiny VQ-VAE with 8192 codes, converted together; the original
``filling_sequence`` (seeded, top-k 200 and top-k 1) and ``zhplm.pipeline("text-to-image", …)`` must sample the
same 4×4 code grid, and the original ``DecodeIds``/``code2img`` pixels must equal ours.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import zhplm
from helpers_cogview import REPO, sp_model, t2i_converted, t2i_release
from oracle import require_original, run_oracle

__all__ = ["t2i_converted", "t2i_release"]

TEXTS = [
    "一只可爱的猫",
    "a cat  on the mat",
    "北京 天安门 2021年",
    "emoji 😀 ümlaut ＡＢＣ",
    "[SEP]不是命令",
    "  前后有空格  ",
    "中文,标点。“引号”",
    "",
]
QUERIES = [
    "[ROI1] 一只猫 [BASE] [BOI1]",
    "[ROI1] a  b [SEP] c [BASE] [BOI1] [EOI1]",
    "[ROI2] [POS0] 山水画 [BIG] [BOI2] [EOI2] [PAD] [CLS] [ENC] [TINY] [SMALL] [POS8]",
]
GRID = 4


@pytest.fixture(scope="module")
def original_ids(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    require_original(REPO)
    tmp = tmp_path_factory.mktemp("cogview-tok")
    feeds = {"texts": TEXTS, "queries": QUERIES, "decode": [[58199, 24147, 14404, 52698, 58208]]}
    (tmp / "in.json").write_text(json.dumps(feeds, ensure_ascii=False), encoding="utf-8")
    run_oracle("cogview_original.py", "tokenize", "--inputs", tmp / "in.json", "--out", tmp / "ids.json")
    return dict(json.loads((tmp / "ids.json").read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from zhplm.arch.tokenization.cogview import write_cogview_tokenizer

    out = tmp_path_factory.mktemp("cogview-tokenizer")
    write_cogview_tokenizer(sp_model(), out)
    return out


@pytest.mark.oracle
def test_tokenizer_ids_equal_the_original_unified_tokenizer(
    original_ids: dict[str, object], tokenizer_dir: Path
) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    assert type(tok).__name__ == "CogViewTokenizer"
    assert len(tok) == original_ids["num_tokens"] == 58219
    assert tok.convert_tokens_to_ids(list(original_ids["commands"])) == list(
        original_ids["commands"].values()
    )  # type: ignore[attr-defined]
    assert [tok(t)["input_ids"] for t in TEXTS] == original_ids["texts"]
    assert [tok(q)["input_ids"] for q in QUERIES] == original_ids["queries"]
    assert min(i for ids in original_ids["texts"] for i in ids) >= 8192  # type: ignore[attr-defined]
    # text decodes as the original's DecodeIds text part; command ids by name; image codes left out
    ids = [58199, 24147, 14404, 52698, 58208]
    assert tok.decode(ids, skip_special_tokens=True) == "".join(original_ids["decoded"][0][1:-1])  # type: ignore[index]
    assert tok.decode([*ids, 5]) == "[ROI1]" + tok.decode(ids[1:-1]) + "[BASE]<image_5>"


def test_tokenizer_without_its_sentencepiece_model_is_a_clear_error(tmp_path: Path) -> None:
    from zhplm.arch.tokenization.cogview import CogViewTokenizer

    with pytest.raises(ValueError, match=r"cog-pretrain\.model"):
        CogViewTokenizer(vocab_file=str(tmp_path / "missing.model"))


def _original_sample(
    release: Path, tmp: Path, text: str, seed: int, top_k: int, num: int = 1
) -> dict[str, np.ndarray]:
    feeds = {"text": text, "grid": GRID, "seed": seed, "top_k": top_k, "temperature": 1.0, "num": num}
    (tmp / "in.json").write_text(json.dumps(feeds, ensure_ascii=False), encoding="utf-8")
    run_oracle(
        "cogview_original.py",
        "sample",
        "--ckpt",
        release,
        "--vqvae",
        release / "vqvae_hard_biggerset_011.pt",
        "--inputs",
        tmp / "in.json",
        "--out",
        tmp / "ref.npz",
    )
    with np.load(tmp / "ref.npz") as ref:
        return {k: ref[k] for k in ref.files}


@pytest.mark.oracle
@pytest.mark.parametrize(("seed", "top_k"), [(3, 200), (4, 200), (5, 1)], ids=["seed3", "seed4", "top1"])
def test_sampled_codes_and_pixels_equal_the_original_loop(
    t2i_release: Path, t2i_converted: Path, tmp_path: Path, seed: int, top_k: int
) -> None:
    text = "一只可爱的猫"
    ref = _original_sample(t2i_release, tmp_path, text, seed, top_k)
    draw = zhplm.pipeline("text-to-image", t2i_converted, grid=GRID)
    assert draw.prompt_ids(text) == ref["prompt"].tolist()
    (out,) = draw(text, seed=seed, top_k=top_k)
    codes = np.array(out.codes).reshape(-1)
    assert codes.shape == (GRID * GRID,) and int(codes.max()) < 8192
    assert codes.tolist() == ref["codes"].tolist()
    assert float(np.abs(out.pixels.numpy() - ref["image"][0]).max()) < 1e-4
    assert out.image.size == (GRID * 8, GRID * 8) and out.image.mode == "RGB"
    px = np.asarray(out.image)
    assert px.min() == 0 and px.max() == 255  # normalize=True: min–max per image


@pytest.mark.oracle
@pytest.mark.parametrize("num", [3, 24], ids=["one-batch", "two-batches-of-12"])
def test_several_images_equal_the_original_batch_draw(
    t2i_release: Path, t2i_converted: Path, tmp_path: Path, num: int
) -> None:
    """The original draws the first code of a batch as one multinomial of ``nb`` samples (with replacement) and
    the rest row by row, ``num // 12`` batches in turn: seeded, every row's codes must be equal."""
    ref = _original_sample(t2i_release, tmp_path, "山水画", 8, 200, num=num)
    draw = zhplm.pipeline("text-to-image", t2i_converted, grid=GRID)
    codes = draw.sample_codes("山水画", seed=8, num_images=num)
    assert ref["codes_all"].shape == (num, GRID * GRID)
    assert codes.tolist() == ref["codes_all"].tolist()
    assert len({tuple(r) for r in codes.tolist()}) > 1


@pytest.mark.oracle
def test_seeds_differ_and_the_same_seed_repeats(t2i_converted: Path) -> None:
    draw = zhplm.pipeline("text-to-image", t2i_converted, grid=GRID)
    a, b, c = (draw("山水画", seed=s)[0].codes for s in (1, 1, 2))
    assert a == b and a != c
    two = draw("山水画", seed=1, num_images=2)
    assert len(two) == 2 and two[0].codes != two[1].codes


@pytest.mark.oracle
def test_cli_writes_the_image(t2i_converted: Path, tmp_path: Path) -> None:
    from PIL import Image

    from zhplm.cli.main import main

    out = tmp_path / "cat.png"
    argv = ["text-to-image", str(t2i_converted), "一只猫", "-o", str(out), "--seed", "3", "--grid", str(GRID)]
    assert main(argv) == 0
    with Image.open(out) as im:
        assert im.size == (GRID * 8, GRID * 8)
    expected = zhplm.pipeline("text-to-image", t2i_converted, grid=GRID)("一只猫", seed=3)[0].image
    with Image.open(out) as im:
        assert np.array_equal(np.asarray(im.convert("RGB")), np.asarray(expected))


def test_full_size_on_cpu_refuses_up_front_with_the_expected_time(tmp_path: Path) -> None:
    """The release's config: the refusal comes before any weight or VQ-VAE is read."""
    from zhplm.errors import TooSlowError
    from zhplm.tasks.text_to_image import TextToImage, expected_seconds

    release = {"num_layers": 48, "hidden_size": 2560, "vocab_size": 58240, "max_position_embeddings": 1089}
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "cogview", **release}))
    (tmp_path / "zhplm.json").write_text(json.dumps({"arch": "cogview", "heads": {"lm": "trained"}}))
    minutes = expected_seconds(release, 1024) / 60
    assert 55 < minutes < 90
    with pytest.raises(TooSlowError, match=r"about \d+ minutes.*allow_slow=True"):
        TextToImage.from_model(tmp_path)
    # with the opt-in it goes on to the files, whose absence is the next clear error
    with pytest.raises(zhplm.errors.ConversionError, match="no VQ-VAE at"):
        TextToImage.from_model(tmp_path, allow_slow=True)


def test_image_codes_only_masks_every_other_id() -> None:
    from zhplm.tasks.text_to_image import ImageCodesOnly

    scores = torch.zeros(2, 20)
    out = ImageCodesOnly(8)(torch.zeros(2, 3, dtype=torch.long), scores)
    assert torch.isinf(out[:, 8:]).all() and (out[:, :8] == 0).all()


@pytest.mark.parametrize(
    ("content", "said"),
    [(b"not a pickle at all", "not a usable CogView VQ-VAE"), (None, "quantize_t.embed")],
    ids=["damaged", "foreign"],
)
def test_a_bad_vqvae_beside_the_weights_is_a_note_not_a_lost_conversion(
    tmp_path: Path, content: bytes | None, said: str
) -> None:
    from zhplm.arch.cogview import write_vqvae

    path = tmp_path / "vqvae_hard_biggerset_011.pt"
    if content is None:
        torch.save({"word_embeddings.weight": torch.zeros(2, 2)}, path)
    else:
        path.write_bytes(content)
    out = tmp_path / "out"
    out.mkdir()
    (note,) = write_vqvae(tmp_path, out)
    assert said in note and "vqvae=PATH" in note and not (out / "vqvae.safetensors").exists()


def test_the_pipeline_names_a_missing_or_damaged_vqvae(tmp_path: Path) -> None:
    from zhplm.errors import ConversionError
    from zhplm.tasks.image_codes import load_vqvae

    with pytest.raises(ConversionError, match="no VQ-VAE at"):
        load_vqvae(tmp_path / "vqvae.safetensors")
    bad = tmp_path / "vqvae.safetensors"
    bad.write_bytes(b"\x00" * 16)
    with pytest.raises(ConversionError, match="not a readable VQ-VAE"):
        load_vqvae(bad)
