"""ChineseBERT end to end against JunnYu's ``chinesebert`` 0.2.1 (transformers 4.46.3, pypinyin 0.38.1, in
.venv-ref): a release-style folder written by the peer (``pytorch_model.bin`` by ``torch.save``, BERT
``config.json``, ``vocab.txt``, ``config/`` pinyin maps and font arrays) is converted with ``zhplm.convert``,
loaded with ``zhplm.load`` and compared with the peer's outputs; fill-mask through ``zhplm.pipeline``
against the peer fed by the original tokenisation; and our tokenizer against the original
(``tokenizers.BertWordPieceTokenizer`` ids + the package's pinyin code) on ~35 texts."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import zhplm
from helpers_modeling import PeerRun
from oracle import run_oracle
from zhplm.arch import score
from zhplm.converter import record_parity

TOL = 1e-4

FILL_TEXTS: list[Any] = [
    "北京是[MASK]国的首都。",
    "我喜欢[MASK]。",
    "今天天气很[MASK]，我们去北京。",
    "[MASK]城很长，还[MASK]。",
]


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PeerRun, list[dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("chinesebert")
    (tmp / "texts.json").write_text(json.dumps(FILL_TEXTS, ensure_ascii=False), encoding="utf-8")
    run_oracle(
        "peer_chinesebert.py",
        "checkpoint",
        tmp / "ckpt",
        tmp / "peer.npz",
        tmp / "texts.json",
        tmp / "fill.json",
    )
    fill = json.loads((tmp / "fill.json").read_text(encoding="utf-8"))
    return tmp / "ckpt", PeerRun(tmp / "peer.npz"), fill


@pytest.fixture(scope="module")
def converted(
    release: tuple[Path, PeerRun, list[dict[str, Any]]], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    from zhplm.arch.tokenization import chinesebert as chinesebert_tokenizer

    chinesebert_tokenizer.register()  # until zhplm.loader does it
    out = tmp_path_factory.mktemp("chinesebert-out") / "model"
    result = zhplm.convert(release[0], out)
    assert result.arch == "chinesebert"  # detected: the config.json says model_type bert
    assert result.architectures == ["ChineseBertForMaskedLM"]
    assert result.heads == {"pooler": "trained", "mlm": "trained"}
    return out


@pytest.mark.oracle
def test_converted_release_matches_the_chinesebert_package(
    converted: Path, release: tuple[Path, PeerRun, list[dict[str, Any]]]
) -> None:
    import torch

    _, peer, _ = release
    config = json.loads((converted / "config.json").read_text())
    assert config["model_type"] == "chinesebert"
    assert (config["glyph_embedding_dim"], config["pinyin_map_len"]) == (3 * 4 * 4, 32)  # from the shapes
    model, tok, _prov, _ = zhplm.load(converted)
    assert type(tok).__name__ == "ChineseBertTokenizer"
    mask = peer.inputs["attention_mask"].numpy().astype(bool)
    with torch.inference_mode():
        out = model(**peer.inputs, output_hidden_states=True)
        pooled = model.bert(**peer.inputs).pooler_output
    diffs = {
        "mlm_logits": _diff(out.logits, peer.outputs["logits"], mask),
        "pooler_output": _diff(pooled, peer.outputs["pooler_output"], None),
        **{
            f"hidden_states[{i}]": _diff(h, peer.outputs[f"hidden_states:{i}"], mask)
            for i, h in enumerate(out.hidden_states)
        },
    }
    print("max abs diff:", json.dumps(diffs))
    record_parity(converted, {"reference": "chinesebert 0.2.1 ChineseBertForMaskedLM", "max_abs_diff": diffs})
    assert len(out.hidden_states) == config["num_hidden_layers"] + 1
    assert max(diffs.values()) <= TOL


def _diff(ours: Any, ref: Any, mask: np.ndarray | None) -> float:
    delta = np.abs(ours.detach().float().numpy() - ref.float().numpy())
    return float((delta[mask] if mask is not None else delta).max())


@pytest.mark.oracle
def test_fill_mask_pipeline_feeds_pinyin_ids(
    converted: Path, release: tuple[Path, PeerRun, list[dict[str, Any]]]
) -> None:
    """zhplm.pipeline("fill-mask") = the peer model fed by the original tokenisation (ids + pinyin ids)."""
    fill = release[2]
    masked_texts = [t for t in FILL_TEXTS if isinstance(t, str)]
    predictions = zhplm.pipeline("fill-mask", converted, top_k=5).batch(masked_texts)
    worst = 0.0
    for text, preds, ref in zip(masked_texts, predictions, fill, strict=True):
        assert len(preds) == len(ref["positions"]), text
        for at_mask, ref_ids, ref_probs in zip(preds, ref["top_ids"], ref["top_probs"], strict=True):
            assert [p.token_id for p in at_mask] == ref_ids, text
            worst = max(worst, *(abs(p.score - q) for p, q in zip(at_mask, ref_probs, strict=True)))
    print(f"fill-mask max |p_ours - p_peer| = {worst:.2e}")
    assert worst <= 1e-5


@pytest.mark.oracle
def test_pinyin_ids_matter_to_the_converted_model(converted: Path) -> None:
    import torch

    model, tok, _, _ = zhplm.load(converted)
    enc = tok(["北京是中国的首都。"], return_tensors="pt")
    assert enc["pinyin_ids"].shape == (*enc["input_ids"].shape, 8) and int(enc["pinyin_ids"].sum()) > 0
    with torch.inference_mode():
        ref = model(**enc).logits
        zeroed = model(**{**enc, "pinyin_ids": torch.zeros_like(enc["pinyin_ids"])}).logits
    assert float((ref - zeroed).abs().max()) > 1e-3


def test_a_plain_bert_checkpoint_is_not_taken_for_chinesebert() -> None:
    from zhplm.arch import get_arch

    spec = get_arch("chinesebert")
    bert_names = ["bert.embeddings.word_embeddings.weight", "bert.encoder.layer.0.output.dense.weight"]
    assert score(spec, bert_names) == 0.0
    ours = [*bert_names, "bert.embeddings.pinyin_embeddings.conv.weight", "bert.embeddings.map_fc.weight"]
    assert score(spec, ours) > score(get_arch("bert"), ours)


@pytest.mark.oracle  # the release folder comes from the chinesebert peer in .venv-ref
def test_conversion_without_pinyin_tables_says_what_is_missing(
    tmp_path: Path, release: tuple[Path, PeerRun, list[dict[str, Any]]]
) -> None:
    """No pinyin tables: a ConversionError that names the missing file and where it lives, no output folder
    left behind, and the release untouched."""
    import hashlib
    import shutil

    from zhplm.errors import ConversionError

    src = tmp_path / "release"
    shutil.copytree(release[0], src)
    shutil.rmtree(src / "config")

    def snapshot() -> dict[str, str]:
        return {
            str(p.relative_to(src)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(src.rglob("*"))
            if p.is_file()
        }

    before = snapshot()
    assert "pytorch_model.bin" in before and "vocab.txt" in before
    with pytest.raises(ConversionError) as err:
        zhplm.convert(src, tmp_path / "out")
    message = str(err.value)
    assert "pinyin_map.json" in message and "config/" in message  # what is missing and where it belongs
    assert str(src / "vocab.txt") in message  # next to which file
    assert not (tmp_path / "out").exists()
    assert snapshot() == before


# --- the tokenizer against the original -----------------------------------------------------------------

SENTENCES = [
    "我喜欢猫。",
    "北京是中国的首都，今天天气很好！",
    "长城很长，他是我们的班长。",
    "银行的行长在行走。",
    "重要的事情说三遍，重新开始。",
    "还书的时候还没有下雨。",
    "音乐让人快乐。",
    "我得去上课了，他跑得很快。",
    "地上的土地，慢慢地走。",
    "他看着我，着急地睡着了。",
    "为了大家，我们为人民服务。",
    "数一数这些数字：1、2、3。",
    "便宜的东西很方便。",
    "睡觉的时候觉得很冷。",
    "和平的和，暖和的和。",
    "朝阳照在朝廷上。",
    "调查一下这个曲调。",
    "差不多，出差去了。",
    "参加会议的人参很贵。",
    "处理好相处的关系。",
    "中华人民共和国成立于1949年10月1日。",
    "ChineseBERT在2021年发表于ACL。",
    "价格：￥99.00元（含税）",
    "绿色的女孩在旅行。",
    "Email: someone@example.com, 电话 010-12345678",
    "Café résumé naïve — 带重音的外文",
    "ＡＢＣ全角字母与１２３全角数字",
    "表情符号😀不在词表里，鹿也不在",
    "[MASK]是一个特殊符号，北京是[MASK]国的首都。",
    "嗯，呣，哦……〇和㐀是生僻字",
    "著名的著作，穿着衣服",
    "薄荷很薄，单于姓单。",
    "\t制表符\n换行  多个空格",
]
PAIRS = [["我喜欢猫。", "你喜欢狗吗？"], ["银行行长", "长长的头发"], ["北京2022", "冬奥会hello world"]]
NOT_IN_VOCAB = set("😀鹿㐀")


def _write_tokenizer_release(folder: Path) -> None:
    """A vocabulary of the fixture's characters (some left out → [UNK]) and latin pieces; a pinyin map
    without 'v' (绿/女 read lv4/nv3: the unknown-letter rule gives zeros), and a pinyin2tensor table whose
    rows differ from the spelled ids (so the table must win where it has the reading)."""
    chars = dict.fromkeys(ch for s in SENTENCES + [p for pr in PAIRS for p in pr] for ch in s.lower())
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += [c for c in chars if not c.isspace() and c not in NOT_IN_VOCAB and c not in "[]"]
    vocab += ["chinese", "##bert", "acl", "email", "some", "##one", "example", "com", "hello", "world", "##s"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n", encoding="utf-8")
    side = folder / "config"
    side.mkdir()
    letters = [c for c in "012345" + string.ascii_lowercase if c != "v"]
    pinyin_map = {"idx2char": letters, "char2idx": {c: i for i, c in enumerate(letters)}}
    (side / "pinyin_map.json").write_text(json.dumps(pinyin_map), encoding="utf-8")
    table = {
        "xing2": [1, 2, 3, 4, 5, 6, 7, 8],
        "chang2": [9, 9, 9, 0, 0, 0, 0, 0],
        "de": [30, 30, 0, 0, 0, 0, 0, 0],
    }
    (side / "pinyin2tensor.json").write_text(json.dumps(table), encoding="utf-8")
    (side / "id2pinyin.json").write_text("{}", encoding="utf-8")


@pytest.fixture(scope="module")
def tokenizer_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, list[Any], list[dict[str, Any]]]:
    from transformers import AutoTokenizer

    from zhplm.arch.tokenization.chinesebert import register, write_chinesebert_tokenizer

    tmp = tmp_path_factory.mktemp("chinesebert-tok")
    _write_tokenizer_release(tmp / "release")
    texts: list[Any] = [*SENTENCES, *PAIRS]
    (tmp / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    run_oracle("peer_chinesebert.py", "tokenize", tmp / "release", tmp / "texts.json", tmp / "ref.json")
    write_chinesebert_tokenizer(tmp / "release" / "vocab.txt", tmp / "tok")
    register()
    tok = AutoTokenizer.from_pretrained(str(tmp / "tok"))
    return tok, texts, json.loads((tmp / "ref.json").read_text(encoding="utf-8"))


@pytest.mark.oracle
def test_tokenizer_matches_the_original(tokenizer_case: tuple[Any, list[Any], list[dict[str, Any]]]) -> None:
    import pypinyin

    tok, texts, ref = tokenizer_case
    assert pypinyin.__version__ == "0.38.1", (
        f"pypinyin {pypinyin.__version__} is installed: ChineseBERT's readings are pypinyin 0.38.1's "
        "(8 of these texts read differently with 0.55); pin pypinyin==0.38.1"
    )
    mismatched = []
    for text, expected in zip(texts, ref, strict=True):
        enc = tok(*text) if isinstance(text, list) else tok(text)
        flat = [i for row in enc["pinyin_ids"] for i in row]
        if enc["input_ids"] != expected["ids"] or flat != expected["pinyin_ids"]:
            mismatched.append(text)
        assert enc["token_type_ids"] == expected["type_ids"], text
    agree = len(texts) - len(mismatched)
    print(f"tokenizer agreement: {agree}/{len(texts)} texts (ids and pinyin ids)")
    assert not mismatched, mismatched
    # the fixture reaches every branch of the original's rules
    all_rows = [tuple(r) for e in ref for r in np.reshape(e["pinyin_ids"], (-1, 8)).tolist()]
    assert (1, 2, 3, 4, 5, 6, 7, 8) in all_rows  # read from pinyin2tensor.json
    assert any(e["tokens"].count("[UNK]") for e in ref)
    green = ref[texts.index("绿色的女孩在旅行。")]
    rows = np.reshape(green["pinyin_ids"], (-1, 8))
    assert not rows[1].any() and rows[2].any()  # 绿 reads lv4: 'v' is not in the map, so zeros; 色 is spelled


@pytest.mark.oracle
def test_batched_padded_encoding_equals_one_by_one(
    tokenizer_case: tuple[Any, list[Any], list[dict[str, Any]]],
) -> None:
    tok, texts, ref = tokenizer_case
    singles = [t for t in texts if isinstance(t, str)][:12]
    batch = tok(singles, padding=True, return_tensors="pt")
    width = batch["input_ids"].shape[1]
    assert batch["pinyin_ids"].shape == (len(singles), width, 8)
    for row, expected in enumerate(ref[: len(singles)]):
        n = len(expected["ids"])
        assert batch["input_ids"][row, :n].tolist() == expected["ids"]
        assert batch["pinyin_ids"][row, :n].flatten().tolist() == expected["pinyin_ids"]
        assert int(batch["pinyin_ids"][row, n:].abs().sum()) == 0
    # truncation cuts pinyin rows with the tokens; tokenizer.pad (data collators) pads them
    cut = tok(singles[1], truncation=True, max_length=6)
    assert len(cut["pinyin_ids"]) == len(cut["input_ids"]) == 6
    assert cut["pinyin_ids"][:5] == np.reshape(ref[1]["pinyin_ids"], (-1, 8)).tolist()[:5]
    padded = tok.pad([tok(singles[0]), tok(singles[1])], return_tensors="pt")
    assert padded["pinyin_ids"].shape == (2, padded["input_ids"].shape[1], 8)
    left = tok.pad([tok(singles[0]), tok(singles[1])], padding_side="left")
    assert left["pinyin_ids"][0][: len(left["input_ids"][0]) - len(ref[0]["ids"])] == [[0] * 8] * (
        len(left["input_ids"][0]) - len(ref[0]["ids"])
    )


@pytest.mark.oracle
def test_tokenizer_round_trips_through_save_pretrained(
    tokenizer_case: tuple[Any, list[Any], list[dict[str, Any]]], tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    tok, texts, ref = tokenizer_case
    tok.save_pretrained(str(tmp_path))
    again = AutoTokenizer.from_pretrained(str(tmp_path))
    assert type(again).__name__ == "ChineseBertTokenizer"
    enc = again(texts[3])
    assert [i for row in enc["pinyin_ids"] for i in row] == ref[3]["pinyin_ids"]


def test_tokenizer_refuses_pretokenized_input_and_a_missing_pinyin_map(tmp_path: Path) -> None:
    from zhplm.arch.tokenization.chinesebert import ChineseBertTokenizer

    _write_tokenizer_release(tmp_path / "release")
    vocab = str(tmp_path / "release" / "vocab.txt")
    with pytest.raises(ValueError, match=r"pinyin_map\.json"):
        ChineseBertTokenizer(vocab=vocab, pinyin_map_file=str(tmp_path / "nope.json"))
    tok = ChineseBertTokenizer(
        vocab=vocab, pinyin_map_file=str(tmp_path / "release" / "config" / "pinyin_map.json")
    )
    with pytest.raises(ValueError, match="raw text"):
        tok(["我", "喜欢"], is_split_into_words=True)
