"""The tokenizer a converted gpt2-ml / NEZHA-Gen folder loads equals the authors' own ``tokenization.py``.

The oracle (tests/oracles/tokenize_original.py, in ``.venv-ref``) imports the original file from the git
snapshot pinned in SNAPSHOTS.txt and tokenizes with the ``do_lower_case`` the authors' scripts pass: gpt2-ml
``scripts/demo.py`` True (its two vocabularies, from ../shared/assets), NEZHA-Gen general
``interactive_conditional_generation.py`` False, Yuefu ``poetry.py`` True. zhplm's side is a tiny TF1 checkpoint
with the real vocabulary converted through the catalog row, then ``AutoTokenizer`` on the folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer

import zhplm
from helpers_tf1 import Bundle
from oracle import require_original, run_oracle

ASSETS = Path(__file__).resolve().parents[2] / "shared" / "assets"
GPT2ML_VOCABS = ASSETS / "imcaspar+gpt2-ml" / "tokenization"
GOOGLE_ZH_VOCAB = GPT2ML_VOCABS / "bert-base-chinese-vocab.txt"  # Google's chinese_L-12_H-768_A-12 vocabulary
H, INTER, POS = 8, 16, 16

TEXTS = [
    "今天天气很好，我们去公园散步吧！",
    "《红楼梦》是曹雪芹写的，共120回；你读过吗？",
    "价格：￥3,999.00元（含税）—— 限时优惠50%",
    "iPhone 13 Pro Max 和 Galaxy S21 Ultra 哪个更好？",
    "BERT、GPT-2 与 T5 都是 Transformer 模型。",
    "Hello World! HELLO world… 你好，世界。",
    "第一行\n第二行\r\n第三行\t制表符   多个空格\n\n",
    "全角字符：ＡＢＣ１２３，半角：ABC123。",
    "电话 13800138000，邮箱 Test.User@Example.com，网址 https://www.example.com/path?q=1&r=2",
    "café naïve Résumé 中文夹杂 English words",
    "他说：“这是真的吗？”她回答：‘当然！’",
    "2023年10月1日，国庆节；温度25°C～30°C。",
    "数学公式 x^2 + y^2 = z^2，π≈3.14159",
    "表情😀和符号★☆♪，还有日文かな和韩文한국어",
    "\u3000全角空格\u3000和\u00a0不换行空格 结束",
    "长词" + "a" * 150 + " " + "1234567890" * 12,  # words of 101–200 characters: Google splits, not [UNK]
    "私用区字符\ue000、零宽\u200b、控制\x01字符和\u2028行分隔",
]


def _tf1(folder: Path, tensors: dict[str, tuple[int, ...]], prefix: str, seed: int) -> None:
    r = np.random.default_rng(seed)
    arrays = {n: r.normal(0, 0.02, s).astype(np.float32) for n, s in tensors.items()}
    folder.mkdir(parents=True)
    Bundle(arrays).write(folder / prefix)


def _gpt2ml(folder: Path, vocab: Path) -> Path:
    vocab_size = sum(1 for _ in vocab.open(encoding="utf-8"))
    t = {"newslm/embeddings/word_embed": (vocab_size, H), "newslm/embeddings/pos_embed": (POS, H)}
    t |= {f"newslm/embeddings/LayerNorm_embed_norm/{p}": (H,) for p in ("gamma", "beta")}
    for name, (i, o) in {
        "query_layer": (H, H),
        "key_layer": (H, H),
        "value_layer": (H, H),
        "context_projection_layer": (H, H),
        "intermediate": (H, INTER),
        "output": (INTER, H),
    }.items():
        t |= {f"newslm/layer00/{name}/kernel": (i, o), f"newslm/layer00/{name}/bias": (o,)}
    for ln in ("LayerNorm_mlp_ln0", "LayerNorm_mlp_ln1"):
        t |= {f"newslm/layer00/{ln}/{p}": (H,) for p in ("gamma", "beta")}
    _tf1(folder, t, "model.ckpt-100000", 0)
    grover = {"vocab_size": vocab_size, "hidden_size": H, "num_hidden_layers": 1, "num_attention_heads": 1}
    (folder / "config.json").write_text(json.dumps(grover), encoding="utf-8")  # GroverConfig keys
    shutil.copy(vocab, folder / vocab.name)
    return folder


def _nezha_gen(folder: Path) -> Path:
    v = sum(1 for _ in GOOGLE_ZH_VOCAB.open(encoding="utf-8"))
    t = {"bert/embeddings/word_embeddings": (v, H), "bert/embeddings/position_embeddings": (POS, H)}
    lns = ("bert/embeddings/LayerNorm", "cls/predictions/transform/LayerNorm")
    p = "bert/encoder/layer_0/"
    for name, (i, o) in {
        "attention/self/query": (H, H),
        "attention/self/key": (H, H),
        "attention/self/value": (H, H),
        "attention/output/dense": (H, H),
        "intermediate/dense": (H, INTER),
        "output/dense": (INTER, H),
    }.items():
        t |= {f"{p}{name}/kernel": (i, o), f"{p}{name}/bias": (o,)}
    t |= {"cls/predictions/transform/dense/kernel": (H, H), "cls/predictions/transform/dense/bias": (H,)}
    t["cls/predictions/output_bias"] = (v,)
    for ln in (*lns, p + "attention/output/LayerNorm", p + "output/LayerNorm"):
        t |= {f"{ln}/gamma": (H,), f"{ln}/beta": (H,)}
    _tf1(folder, t, "bert_model.ckpt", 1)
    config = {
        "vocab_size": v,
        "hidden_size": H,
        "num_hidden_layers": 1,
        "num_attention_heads": 1,
        "intermediate_size": INTER,
        "hidden_act": "gelu",
        "max_position_embeddings": POS,
        "type_vocab_size": 2,
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
    }
    (folder / "bert_config.json").write_text(json.dumps(config), encoding="utf-8")
    shutil.copy(GOOGLE_ZH_VOCAB, folder / "vocab.txt")
    return folder


def _original(tmp: Path, repo: str, path: str, vocab: Path, lower: bool) -> list[dict[str, list]]:
    require_original(repo)
    texts, out = tmp / "texts.json", tmp / "ref.json"
    texts.write_text(json.dumps(TEXTS, ensure_ascii=False), encoding="utf-8")
    run_oracle("tokenize_original.py", repo, path, vocab, "true" if lower else "false", texts, out)
    result: list[dict[str, list]] = json.loads(out.read_text(encoding="utf-8"))
    return result


def _assert_equal(folder: Path, ref: list[dict[str, list]]) -> None:
    tok = AutoTokenizer.from_pretrained(folder)
    for text, want in zip(TEXTS, ref, strict=True):
        assert tok.tokenize(text) == want["tokens"], text
        assert tok.encode(text, add_special_tokens=False) == want["ids"], text
    assert tok("你好")["input_ids"][0] == tok.cls_token_id  # the BERT frame is kept


@pytest.mark.oracle
@pytest.mark.parametrize(
    ("row", "vocab"),
    [("gpt2-ml-1.5b-30g", "clue-vocab.txt"), ("gpt2-ml-1.5b-15g", "bert-base-chinese-vocab.txt")],
)
def test_gpt2_ml_tokenizer_equals_the_authors(tmp_path: Path, row: str, vocab: str) -> None:
    ckpt = _gpt2ml(tmp_path / "ckpt", GPT2ML_VOCABS / vocab)
    zhplm.convert(ckpt, tmp_path / "out", model_id=row)
    ref = _original(tmp_path, "imcaspar/gpt2-ml", "tokenization/tokenization.py", GPT2ML_VOCABS / vocab, True)
    _assert_equal(tmp_path / "out", ref)


@pytest.mark.oracle
@pytest.mark.parametrize(("row", "lower"), [("nezha-gen-base", False), ("nezha-gen-yuefu", True)])
def test_nezha_gen_tokenizer_equals_the_authors(tmp_path: Path, row: str, lower: bool) -> None:
    ckpt = _nezha_gen(tmp_path / "ckpt")
    zhplm.convert(ckpt, tmp_path / "out", model_id=row)
    ref = _original(
        tmp_path,
        "huawei-noah/Pretrained-Language-Model",
        "NEZHA-Gen-TensorFlow/tokenization.py",
        GOOGLE_ZH_VOCAB,
        lower,
    )
    _assert_equal(tmp_path / "out", ref)
    cased = AutoTokenizer.from_pretrained(tmp_path / "out").tokenize("Hello") == ["[UNK]"]
    assert cased is not lower  # Google's Chinese vocabulary has no "H": cased gives [UNK]
