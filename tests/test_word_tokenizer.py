"""The jieba word tokenizer (WoBERT / RoFormer-word) against bert4keras 0.11.5's Tokenizer with WoBERT's
pre_tokenize (run in .venv-ref), on ~50 Chinese sentences; and AutoTokenizer loading it from a folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oracle import run_oracle

SENTENCES = [
    "我们都是中国人，我爱北京天安门。",
    "今天天气很好，我们去公园散步吧！",
    "自然语言处理是人工智能的重要方向。",
    "他说：“明天见。”",
    "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。",
    "机器学习 Deep Learning 在2024年取得了很大进展",
    "苹果公司发布了新款iPhone手机。",
    "这个问题的答案是42。",
    "北京大学和清华大学都在海淀区。",
    "小明硕士毕业于中国科学院计算所，后在日本京都大学深造。",
    "工信处女干事每月经过下属科室都要亲口交代24口交换机等技术性器件的安装工作",
    "结婚的和尚未结婚的",
    "南京市长江大桥",
    "我来到北京清华大学",
    "他来到了网易杭研大厦",
    "永和服装饰品有限公司",
    "我爱自然语言处理，也爱深度学习。",
    "请问您需要什么帮助？",
    "价格：￥99.00元（含税）",
    "ＡＢＣ全角字母与１２３全角数字",
    "Café résumé naïve — 带重音的外文",
    "Email: someone@example.com, 电话 010-12345678",
    "《红楼梦》是中国古典四大名著之一。",
    "“你好”，她微笑着说。",
    "一二三四五六七八九十",
    "人工智能（AI）正在改变世界……",
    "长颈鹿的脖子很长。",
    "上海浦东新区陆家嘴金融中心",
    "我们现在可以知道自己没有什么问题",
    "中华人民共和国成立于1949年10月1日。",
    "深度学习框架包括TensorFlow、PyTorch和PaddlePaddle。",
    "研究生命的起源",
    "乒乓球拍卖完了",
    "学生会组织了一次活动",
    "他的确实在意这件事",
    "欢迎新老师生前来就餐",
    "发展中国家兔子养殖业",
    "\t制表符\n换行符  多个空格",
    "零宽\u200b字符和\u00a0不换行空格",
    "表情符号😀不在词表里",
    "超长的英文单词supercalifragilisticexpialidocious",
    "数字和单位：3.14159米、25℃、100%",
    "这是一个测试句子，用于检验分词的一致性。",
    "小猫在沙发上睡觉，小狗在院子里玩耍。",
    "古文：学而时习之，不亦说乎？",
    "网址 https://www.example.org/path?q=1",
    "混合ＵＰＰＥＲ和lower大小写",
    "天津大学的学生们",
    "没有什么不可能",
    "[MASK]是一个特殊符号",
]


def build_vocab(path: Path) -> list[str]:
    """Specials, every character of the fixture but a few (so [UNK] occurs), half of the multi-character
    jieba words (so both whole-word and fall-back paths run) and some ## pieces."""
    import jieba

    from zhplm.arch.tokenization.word import normalize

    chars: dict[str, None] = {}
    words: dict[str, None] = {}
    for s in SENTENCES:
        text = normalize(s)
        for ch in text:
            if not ch.isspace() and ch not in "😀鹿":
                chars[ch] = None
        for w in jieba.cut(text, HMM=False):
            if len(w) > 1 and not w.isspace():
                words[w] = None
    kept_words = [w for i, w in enumerate(words) if i % 2 == 0]
    pieces = ["##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789"] + [
        "the",
        "learning",
        "##ing",
        "##tion",
    ]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *kept_words, *pieces]
    vocab = list(dict.fromkeys(vocab))
    path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return vocab


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    tmp = tmp_path_factory.mktemp("wordtok")
    vocab = tmp / "vocab.txt"
    build_vocab(vocab)
    (tmp / "texts.json").write_text(json.dumps(SENTENCES, ensure_ascii=False), encoding="utf-8")
    run_oracle("tokenize_bert4keras.py", vocab, tmp / "texts.json", tmp / "ref.json")
    return vocab, json.loads((tmp / "ref.json").read_text(encoding="utf-8"))


@pytest.mark.oracle
def test_same_tokens_and_ids_as_bert4keras(reference: tuple[Path, list[dict]]) -> None:
    from zhplm.arch.tokenization.word import JiebaWordPieceTokenizer

    vocab, ref = reference
    tok = JiebaWordPieceTokenizer(vocab_file=str(vocab))
    whole_words = 0
    mismatches = []
    for text, expected in zip(SENTENCES, ref, strict=True):
        ids = tok(text)["input_ids"]
        # bert4keras lower-cases "[MASK]" inside text; ours keeps special tokens whole, as transformers does
        if "[MASK]" in text:
            continue
        if ids != expected["ids"]:
            mismatches.append((text, tok.tokenize(text), expected["tokens"]))
        whole_words += sum(len(t) > 1 and not t.startswith("##") and t.isalpha() for t in tok.tokenize(text))
    assert not mismatches, mismatches[:3]
    assert whole_words > 20  # the jieba path really produced multi-character words
    assert any(1 in r["ids"] for r in ref)  # and [UNK] occurred


@pytest.mark.oracle
def test_autotokenizer_loads_the_converted_folder(tmp_path: Path, reference: tuple[Path, list[dict]]) -> None:
    from transformers import AutoTokenizer

    from zhplm.arch.tokenization.word import JiebaWordPieceTokenizer, register, write_word_tokenizer

    vocab, ref = reference
    write_word_tokenizer(vocab, tmp_path / "out")
    register()
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "out"))
    assert isinstance(tok, JiebaWordPieceTokenizer)
    assert tok(SENTENCES[0])["input_ids"] == ref[0]["ids"]
    pair = tok(SENTENCES[1], SENTENCES[2])
    n1 = len(ref[1]["ids"])
    assert pair["input_ids"] == ref[1]["ids"] + ref[2]["ids"][1:]
    assert pair["token_type_ids"] == [0] * n1 + [1] * (len(ref[2]["ids"]) - 1)
    batch = tok(SENTENCES[:3], padding=True, return_tensors="np")
    assert batch["input_ids"].shape == (3, max(len(r["ids"]) for r in ref[:3]))
