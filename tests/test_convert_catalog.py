"""Converting with a catalog row supplies what the checkpoint cannot say: the tokenizer kind (WoBERT's
jieba word tokenizer) and heads known to be untrained (RoBERTa-wwm-ext-large's MLM head)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import zhplm
from oracle import run_oracle
from zhplm.errors import ConversionError


@pytest.fixture(scope="module")
def google_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ckpt = tmp_path_factory.mktemp("bert") / "ckpt"
    run_oracle("bert_family.py", "write", "--arch", "bert", "--out", str(ckpt), "--seed", "1")
    return ckpt


@pytest.mark.oracle
def test_wobert_row_gets_the_jieba_word_tokenizer(tmp_path: Path, google_ckpt: Path) -> None:
    ckpt = tmp_path / "wobert"
    shutil.copytree(google_ckpt, ckpt)
    vocab = (ckpt / "vocab.txt").read_text(encoding="utf-8").splitlines()
    vocab[-3:] = ["中国", "我们", "人民"]  # WoBERT vocabularies are characters plus jieba words
    (ckpt / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    result = zhplm.convert(ckpt, tmp_path / "out", model_id="wobert-base")
    assert any("jieba" in note for note in result.notes)
    _, tokenizer, _, _ = zhplm.load(tmp_path / "out")
    tokens = tokenizer.tokenize("中国人民")
    assert tokens == ["中国", "人民"]


@pytest.mark.oracle
def test_a_word_vocabulary_selects_the_word_tokenizer_without_the_catalog(
    tmp_path: Path, google_ckpt: Path
) -> None:
    ckpt = tmp_path / "words"
    shutil.copytree(google_ckpt, ckpt)
    vocab = (ckpt / "vocab.txt").read_text(encoding="utf-8").splitlines()
    vocab[-3:] = ["中国", "我们", "人民"]
    (ckpt / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    result = zhplm.convert(ckpt, tmp_path / "out")
    assert any("holds Chinese words" in note for note in result.notes)
    assert zhplm.load(tmp_path / "out").tokenizer.tokenize("我们人民") == ["我们", "人民"]
    plain = zhplm.convert(google_ckpt, tmp_path / "plain")  # characters only: the WordPiece tokenizer
    assert not any("jieba" in note or "words" in note for note in plain.notes)


@pytest.mark.oracle
def test_untrained_mlm_head_is_recorded_and_fill_mask_refuses(tmp_path: Path, google_ckpt: Path) -> None:
    result = zhplm.convert(google_ckpt, tmp_path / "out", model_id="hfl/chinese-roberta-wwm-ext-large")
    assert result.heads["mlm"] == "untrained"
    assert any("never trained" in n for n in result.notes)
    with pytest.raises(ConversionError, match="mlm head, which is untrained"):
        zhplm.pipeline("fill-mask", tmp_path / "out")
    vectors = zhplm.pipeline("embeddings", tmp_path / "out", pooling="mean")(["中国", "我们是"])
    assert vectors.shape == (2, 32)
