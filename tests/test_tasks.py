"""fill-mask and embeddings on a converted model: the Python API and the CLI agree with a forward pass
done by hand in transformers, batching never changes results, and absent heads are refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import zhplm
from helpers_converted import converted_bert
from zhplm.cli.main import main
from zhplm.errors import ConversionError
from zhplm.tasks.embed import length_buckets

TEXTS = ["中国的人是[MASK]大", "我们[MASK]人", "他在上海", "大国"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return converted_bert(tmp_path_factory.mktemp("tasks"))


@pytest.mark.oracle
def test_fill_mask_matches_a_manual_forward_and_batching_is_invisible(model_dir: Path) -> None:
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    fill = zhplm.pipeline("fill-mask", model_dir, top_k=3)
    batched = fill.batch(TEXTS[:2], batch_size=2)
    single = [fill(t) for t in TEXTS[:2]]
    assert [[[p.token_id for p in m] for m in r] for r in batched] == [
        [[p.token_id for p in m] for m in r] for r in single
    ]
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForMaskedLM.from_pretrained(str(model_dir)).eval()
    enc = tok(TEXTS[0], return_tensors="pt")
    with torch.inference_mode():
        logits = model(**enc).logits[0]
    pos = int((enc["input_ids"][0] == tok.mask_token_id).nonzero()[0])
    expected = logits[pos].softmax(-1).topk(3)
    got = single[0][0]
    assert [p.token_id for p in got] == expected.indices.tolist()
    assert np.allclose([p.score for p in got], expected.values.numpy(), atol=1e-5)
    assert got[0].sequence.startswith("中国的人是")
    with pytest.raises(ConversionError, match="no \\[MASK\\]"):
        fill("没有掩码")


@pytest.mark.oracle
def test_embeddings_pooling_order_and_normalisation(model_dir: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    texts = ["中国", "我们是中国人", "他", "上海在中国的东方"]
    mean = zhplm.pipeline("embeddings", model_dir, pooling="mean", batch_size=2)(texts)
    assert mean.shape == (4, 32) and np.allclose(np.linalg.norm(mean, axis=1), 1, atol=1e-5)
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModel.from_pretrained(str(model_dir)).eval()
    for i, text in enumerate(texts):  # one at a time, no padding: the reference for every row
        with torch.inference_mode():
            h = model(**tok(text, return_tensors="pt")).last_hidden_state[0]
        v = h.mean(0).numpy()
        assert np.allclose(mean[i], v / np.linalg.norm(v), atol=1e-5)
    cls = zhplm.pipeline("embeddings", model_dir, pooling="cls", normalize=False)(texts[:1])
    with torch.inference_mode():
        ref = model(**tok(texts[0], return_tensors="pt"))
    assert np.allclose(cls[0], ref.last_hidden_state[0, 0].numpy(), atol=1e-5)
    pooled = zhplm.pipeline("embeddings", model_dir, pooling="pooler", normalize=False)(texts[:1])
    assert np.allclose(pooled[0], ref.pooler_output[0].numpy(), atol=1e-5)


def test_length_buckets_bound_padding_and_batch_size() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 66, size=300).tolist()
    for size in (1, 7, 64):
        batches = length_buckets(lengths, size)
        assert sorted(i for b in batches for i in b) == list(range(300))  # each text exactly once
        for b in batches:
            real, padded = sum(lengths[i] for i in b), max(lengths[i] for i in b) * len(b)
            assert len(b) <= size and (len(b) == 1 or padded - real <= 0.2 * padded)
    # similar lengths share a batch; far apart ones do not
    assert length_buckets([10, 40, 11, 41], 64) == [[0, 2], [1, 3]]
    assert length_buckets([], 8) == []


@pytest.mark.oracle
def test_pooler_strategy_refused_when_the_checkpoint_has_no_pooler(tmp_path: Path) -> None:
    folder = converted_bert(tmp_path, flavor="bert4keras")
    assert json.loads((folder / "zhplm.json").read_text())["heads"]["pooler"] == "absent"
    with pytest.raises(ConversionError, match="pooler head, which is absent"):
        zhplm.pipeline("embeddings", folder, pooling="pooler")
    assert zhplm.pipeline("embeddings", folder, pooling="cls")(["中国"]).shape == (1, 32)


@pytest.mark.oracle
def test_cli_fill_mask_and_embed(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fill-mask", str(model_dir), TEXTS[0], "--top-k", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all("中国的人是" in line for line in lines)
    src = tmp_path / "in.txt"
    src.write_text("\n".join(["中国", "我们是中国人", "他"]) + "\n", encoding="utf-8")
    assert (
        main(["embed", str(model_dir), "--input", str(src), "--output", str(tmp_path / "v.npy"), "--quiet"])
        == 0
    )
    vectors = np.load(tmp_path / "v.npy")
    assert vectors.shape == (3, 32)
    out = tmp_path / "v.jsonl"
    assert main(["embed", str(model_dir), "--input", str(src), "--output", str(out), "--quiet"]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in rows] == ["中国", "我们是中国人", "他"]
    assert np.allclose(np.array([r["embedding"] for r in rows]), vectors, atol=1e-6)
    assert main(["embed", str(model_dir), "--input", str(src), "--output", str(tmp_path / "v.csv")]) == 11


@pytest.mark.oracle
def test_long_texts_are_embedded_in_sliding_windows_not_cut(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A text longer than the window: windows of max_length tokens (with [CLS]/[SEP]) sharing ``stride``
    tokens, each embedded by hand in transformers, and their token-weighted mean — the tail of the text
    counts, where truncation would drop it."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModel.from_pretrained(str(model_dir)).eval()
    long = "我们是中国人他在上海" * 3  # 30 tokens
    short = "大国"
    embed = zhplm.pipeline("embeddings", model_dir, pooling="mean", max_length=12, stride=4, batch_size=3)
    got = embed([short, long])
    assert embed.windows == {1: 5}  # 10 tokens a window, 6 new each: starts 0, 6, 12, 18, 24 (the tail)
    ids = tok(long, add_special_tokens=False)["input_ids"]
    assert len(ids) == 30
    total, weight = np.zeros(32), 0
    for start in (0, 6, 12, 18, 24):
        window = ids[start : start + 10]
        with torch.inference_mode():
            h = model(torch.tensor([[tok.cls_token_id, *window, tok.sep_token_id]])).last_hidden_state[0]
        total += len(window) * h.mean(0).numpy()
        weight += len(window)
    want = total / weight
    assert np.allclose(got[1], want / np.linalg.norm(want), atol=1e-5)
    with torch.inference_mode():
        h = model(**tok(short, return_tensors="pt")).last_hidden_state[0].mean(0).numpy()
    assert np.allclose(got[0], h / np.linalg.norm(h), atol=1e-5)  # a short text as before
    lines = tmp_path / "in.txt"
    lines.write_text(f"{short}\n{long}\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    args = [
        "embed",
        str(model_dir),
        "--input",
        str(lines),
        "--output",
        str(out),
        "--max-length",
        "12",
        "--quiet",
    ]
    assert main(args) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert "windows" not in rows[0] and rows[1]["windows"] == 5  # stride 128 > room 10: half of it, 5 windows
    assert "1 longer than 12 tokens: sliding windows" in capsys.readouterr().err


@pytest.mark.oracle
def test_fill_mask_reads_a_long_text_in_windows_centred_on_each_mask(model_dir: Path) -> None:
    """Masks far apart in a text longer than the window: each is predicted from a window of max_length
    tokens centred on it (by hand in transformers here), and the sequence shows the whole text filled."""
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForMaskedLM.from_pretrained(str(model_dir)).eval()
    text = "我[MASK]是中国人他在上海" + "我们是中国人他在上海" * 2 + "大[MASK]"
    fill = zhplm.pipeline("fill-mask", model_dir, max_length=12, top_k=3)
    got = fill(text)
    assert fill.windowed == {0}
    ids = tok(text, add_special_tokens=False)["input_ids"]
    masks = [p for p, t in enumerate(ids) if t == tok.mask_token_id]
    assert masks == [1, len(ids) - 1]
    for found, p in zip(got, masks, strict=True):
        start = min(max(p - 5, 0), len(ids) - 10)  # room 10: centred, kept inside the text
        window = [tok.cls_token_id, *ids[start : start + 10], tok.sep_token_id]
        with torch.inference_mode():
            logits = model(torch.tensor([window])).logits[0, 1 + p - start]
        want = logits.softmax(-1).topk(3)
        assert [x.token_id for x in found] == want.indices.tolist()
        assert np.allclose([x.score for x in found], want.values.numpy(), atol=1e-5)
        # the whole text with this mask filled, not the 10-token window it was read from
        assert (
            found[0].sequence.startswith("我")
            and "大" in found[0].sequence[-2:]
            and len(found[0].sequence) > 20
        )
    assert fill("大[MASK]国")[0][0].token_id > 0 and fill.windowed == set()


@pytest.mark.oracle
def test_embeddings_tokenise_once_and_feed_what_transformers_pads(model_dir: Path) -> None:
    """The batches are cut from one tokenisation and padded by zhplm; each must hold exactly what
    transformers' tokenizer gives for those texts padded together."""
    import torch
    from transformers import AutoTokenizer

    embed = zhplm.pipeline("embeddings", model_dir, batch_size=3)
    texts = ["中", "我们是中国人", "他在上海", "上海在中国的东方" * 3, "大国", "中国" * 9, "人"]
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    pieces = embed._pieces(texts)[0]
    batches = embed._encoded_batches(pieces)
    assert sorted(i for idx, _ in batches for i in idx) == list(range(len(texts)))
    assert len(batches) > 2  # cut by length and by batch_size
    for idx, enc in batches:
        want = tok(
            [texts[i] for i in idx], padding=True, truncation=True, max_length=512, return_tensors="pt"
        )
        assert set(enc) == set(want)
        for key in want:
            assert torch.equal(enc[key], want[key]), key


def test_embeddings_called_from_threads_at_once_equal_one_at_a_time(model_dir: Path) -> None:
    """zhplm serve runs two forwards at once on one pipeline: the tokenizer's settings (truncation for
    whole texts, none for counting a long text's tokens) must not leak between the calls."""
    from concurrent.futures import ThreadPoolExecutor

    embed = zhplm.pipeline("embeddings", model_dir, max_length=12, stride=4)
    groups = [
        ["中国", "我们是中国人"],
        ["上海在中国的东方" * 4, "他"],
        ["大国" * 7],
        ["人", "中国人" * 5, "我们"],
    ]
    alone = [embed(g) for g in groups]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(embed, groups * 6))
    for got, want in zip(together, alone * 6, strict=True):
        assert np.allclose(got, want, atol=1e-5)
