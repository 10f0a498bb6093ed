"""One-off generator: seed markdown → src/zhplm/catalog/data/*.toml (one file per family).

It imports the list with zhplm.catalog.awesome (row → downloads, hosts, extraction codes, notes) and
applies the curation below (ids, aliases, arch, checkpoint formats, HF repos, dimensions, corrections),
taken from /work/shared/research/{nlu,nlg}.md. After generation the TOML files are the source of truth;
rerun only to rebuild from scratch:  .venv/bin/python tools/gen_catalog.py [SEED.md]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from zhplm.catalog import awesome
from zhplm.catalog.schema import record_from_dict

SEED = Path("/work/shared/seed/awesome-pretrained-chinese-nlp-models.md")
DATA = Path(__file__).resolve().parents[1] / "src" / "zhplm" / "catalog" / "data"

B = (12, 768, 12)
L = (24, 1024, 16)
WP = "bert-wordpiece"

DOMAIN_EN = {
    "通用": "general",
    "中文通用": "general",
    "司法": "legal",
    "司法领域": "legal",
    "电商客服对话": "e-commerce customer-service dialogue",
    "金融科技领域": "finance",
    "金融财经": "finance",
    "教育领域": "education",
    "古文领域": "classical Chinese",
    "古典诗歌": "classical poetry",
    "情感分析": "sentiment analysis",
    "生物医疗": "biomedical",
    "医学领域": "medical",
    "中文对话": "dialogue",
    "闲聊对话": "chit-chat dialogue",
    "中文开放域对话": "open-domain dialogue",
    "散文": "prose",
    "诗词": "poetry",
    "诗歌": "poetry",
    "对联": "couplets",
    "小说": "novels",
    "中英": "Chinese-English",
    "中文通用图文": "image-text",
    "中文多模态生成模型": "text-to-image generation",
    "中文图像-文本领域": "image-text",
    "视觉领域": "vision",
    "语音领域": "speech",
    "中文多模态-图文": "image-text",
    "中文表格": "tables (text-to-SQL)",
}

COLUMN_FORMAT = {"tensorflow": "tf1", "pytorch": "pytorch", "paddlepaddle": "paddle", "keras": "tf1"}
COLUMN_FORMAT["mindspore"] = "mindspore"


def R(
    mid: str, size_label: str, dims: tuple[int, int, int | None] | None = None, **kw: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {"id": mid, "size_label": size_label, **kw}
    if dims:
        row["layers"], row["hidden"], row["heads"] = dims
    return row


PAGE = {"notes+": ["page"], "format": None}

# family heading → slug, family defaults, rows (in list order)
FAMILIES: dict[str, dict[str, Any]] = {
    "BERT": {
        "slug": "bert",
        "arch": "bert",
        "tokenizer": WP,
        "vocab_size": 21128,
        "rows": [
            R(
                "bert-base",
                "base",
                B,
                aliases=["bert-base-chinese", "google-bert/bert-base-chinese", "chinese_L-12_H-768_A-12"],
            ),
            R("bert-wwm", "base", B, aliases=["chinese-bert-wwm", "hfl/chinese-bert-wwm"]),
            R("bert-wwm-ext", "base", B, aliases=["chinese-bert-wwm-ext", "hfl/chinese-bert-wwm-ext"]),
            R(
                "openclap-civil",
                "base",
                B,
                aliases=["bert-base-民事", "openclap-ms"],
                vocab_size=22554,
                dl={0: {"framework": "pytorch", "format": "pytorch"}},
                corrections=[
                    {
                        "field": "downloads[0].framework",
                        "listed": "tensorflow",
                        "corrected": "pytorch",
                        "reason": "OpenCLaP's README: the models are pytorch-pretrained-BERT (PyTorch) "
                        "checkpoints; the list puts the link under TensorFlow (nlu.md 1b)",
                    }
                ],
            ),
            R(
                "openclap-criminal",
                "base",
                B,
                aliases=["bert-base-刑事", "openclap-xs"],
                vocab_size=22554,
                dl={0: {"framework": "pytorch", "format": "pytorch"}},
                corrections=[
                    {
                        "field": "downloads[0].framework",
                        "listed": "tensorflow",
                        "corrected": "pytorch",
                        "reason": "OpenCLaP's README: the models are pytorch-pretrained-BERT (PyTorch) "
                        "checkpoints; the list puts the link under TensorFlow (nlu.md 1b)",
                    }
                ],
            ),
            R("jdai-bert", "base", B, aliases=["baai-jdai-bert"]),
            R("finbert", "base", B, aliases=["finbert-base"], vocab_size=None),
            R("edubert", "base", B, aliases=["tal-edubert"], vocab_size=None),
            R("guwenbert-base", "base", B, arch="roberta", vocab_size=23292),
            R("guwenbert-large", "large", L, arch="roberta", vocab_size=23292),
            R("bert-ccpoem", "small", (8, 512, 8), aliases=["bert_ccpoem_v1"], vocab_size=11809),
        ],
    },
    "ChineseBERT": {
        "slug": "chinesebert",
        "arch": "chinesebert",
        "tokenizer": "chinesebert-pinyin",
        "vocab_size": 23236,
        "rows": [R("chinesebert-base", "base", B), R("chinesebert-large", "large", L)],
    },
    "RoBERTa": {
        "slug": "roberta",
        "arch": "bert",
        "tokenizer": WP,
        "vocab_size": 21128,
        "rows": [
            R("roberta-tiny-clue", "tiny", aliases=["clue/roberta_chinese_clue_tiny"], vocab_size=8021),
            R("roberta-tiny-pair", "tiny", aliases=["clue/roberta_chinese_pair_tiny"], vocab_size=8021),
            R(
                "roberta-tiny3l768-clue",
                "tiny",
                (3, 768, 12),
                aliases=["clue/roberta_chinese_3L768_clue_tiny"],
                vocab_size=8021,
            ),
            R(
                "roberta-tiny3l312-clue",
                "tiny",
                (3, 312, 12),
                aliases=["clue/roberta_chinese_3L312_clue_tiny"],
                vocab_size=8021,
            ),
            R("roberta-large-pair", "large", L, aliases=["clue/roberta_chinese_pair_large"], vocab_size=8021),
            R("roberta-large-clue", "large", L, aliases=["clue/roberta_chinese_clue_large"], vocab_size=8021),
            R("rbt3", "base", (3, 768, 12), aliases=["hfl/rbt3"]),
            R("rbtl3", "large", (3, 1024, 16), aliases=["hfl/rbtl3"]),
            R("rbtl4", "large", (4, 1024, 16)),
            R("rbtl6", "large", (6, 1024, 16)),
            R(
                "roberta-wwm-ext",
                "base",
                B,
                aliases=["chinese-roberta-wwm-ext", "hfl/chinese-roberta-wwm-ext"],
            ),
            R(
                "roberta-wwm-ext-large",
                "large",
                L,
                aliases=["chinese-roberta-wwm-ext-large", "hfl/chinese-roberta-wwm-ext-large"],
            ),
            R("brightmart-roberta-base", "base", B, aliases=["roberta_zh_l12"]),
            R("brightmart-roberta-large", "large", L, aliases=["roberta_zh_large", "roberta_zh_l24"]),
            R("uer-roberta-tiny", "tiny", (2, 128, 2), hf="uer/chinese_roberta_L-2_H-128"),
            R("uer-roberta-mini", "mini", (4, 256, 4), hf="uer/chinese_roberta_L-4_H-256"),
            R("uer-roberta-small", "small", (4, 512, 8), hf="uer/chinese_roberta_L-4_H-512"),
            R("uer-roberta-medium", "medium", (8, 512, 8), hf="uer/chinese_roberta_L-8_H-512"),
            R("uer-roberta-base", "base", B, hf="uer/chinese_roberta_L-12_H-768"),
        ],
    },
    "ALBERT": {
        "slug": "albert",
        "arch": "albert",
        "tokenizer": WP,
        "vocab_size": 21128,
        "rows": [
            R("brightmart-albert-tiny", "tiny", arch="albert_brightmart", aliases=["albert_tiny_489k"]),
            R(
                "brightmart-albert-base",
                "base",
                arch="albert_brightmart",
                aliases=["albert_base_zh_additional_36k_steps"],
            ),
            R("brightmart-albert-large", "large", arch="albert_brightmart"),
            R(
                "brightmart-albert-xlarge",
                "xlarge",
                arch="albert_brightmart",
                aliases=["albert_xlarge_zh_183k"],
            ),
            R("albert-base", "base", B, aliases=["albert_base_zh"]),
            R("albert-large", "large", L, aliases=["albert_large_zh"]),
            R("albert-xlarge", "xlarge", (24, 2048, 16), aliases=["albert_xlarge_zh"]),
            R("albert-xxlarge", "xxlarge", (12, 4096, 64), aliases=["albert_xxlarge_zh"]),
        ],
    },
    "NEZHA": {
        "slug": "nezha",
        "arch": "nezha",
        "tokenizer": WP,
        "vocab_size": 21128,
        "rows": [
            R("nezha-base", "base", B, aliases=["sijunhe/nezha-cn-base"], dl={2: PAGE}),
            R("nezha-base-wwm", "base", B, aliases=["sijunhe/nezha-base-wwm"], dl={2: PAGE}),
            R("nezha-large", "large", L, aliases=["sijunhe/nezha-cn-large"], dl={2: PAGE}),
            R("nezha-large-wwm", "large", L, aliases=["sijunhe/nezha-large-wwm"], dl={2: PAGE}),
            R(
                "wonezha-base",
                "base",
                B,
                aliases=["chinese_wonezha_L-12_H-768_A-12"],
                tokenizer="wobert-jieba",
                vocab_size=None,
            ),
        ],
    },
    "MacBERT": {
        "slug": "macbert",
        "arch": "bert",
        "tokenizer": WP,
        "vocab_size": 21128,
        "rows": [
            R("macbert-base", "base", B, aliases=["chinese-macbert-base", "hfl/chinese-macbert-base"]),
            R("macbert-large", "large", L, aliases=["chinese-macbert-large", "hfl/chinese-macbert-large"]),
        ],
    },
    "WoBERT": {
        "slug": "wobert",
        "arch": "bert",
        "tokenizer": "wobert-jieba",
        "rows": [
            R(
                "wobert-base",
                "base",
                B,
                aliases=["chinese_wobert_L-12_H-768_A-12", "junnyu/wobert_chinese_base"],
            ),
            R(
                "wobert-plus-base",
                "base",
                B,
                aliases=["chinese_wobert_plus_L-12_H-768_A-12", "junnyu/wobert_chinese_plus_base"],
            ),
        ],
    },
    "XLNET": {
        "slug": "xlnet",
        "arch": "xlnet",
        "tokenizer": "sentencepiece",
        "rows": [
            R(
                "xlnet-base",
                "base",
                B,
                aliases=["chinese-xlnet-base", "hfl/chinese-xlnet-base"],
                vocab_size=32000,
            ),
            R(
                "xlnet-mid",
                "medium",
                aliases=["chinese-xlnet-mid", "hfl/chinese-xlnet-mid"],
                vocab_size=32000,
            ),
            R("brightmart-xlnet-large", "large", aliases=["xlnet_zh_large"]),
        ],
    },
    "ELECTRA": {
        "slug": "electra",
        "arch": "electra",
        "tokenizer": WP,
        "vocab_size": 21128,
        "rows": [
            R("electra-180g-large", "large", L, aliases=["hfl/chinese-electra-180g-large-discriminator"]),
            R(
                "electra-180g-small-ex",
                "small",
                (24, 256, 4),
                aliases=["hfl/chinese-electra-180g-small-ex-discriminator"],
            ),
            R("electra-180g-base", "base", B, aliases=["hfl/chinese-electra-180g-base-discriminator"]),
            R(
                "electra-180g-small",
                "small",
                (12, 256, 4),
                aliases=["hfl/chinese-electra-180g-small-discriminator"],
            ),
            R("legal-electra-large", "large", L, aliases=["hfl/chinese-legal-electra-large-discriminator"]),
            R("legal-electra-base", "base", B, aliases=["hfl/chinese-legal-electra-base-discriminator"]),
            R(
                "legal-electra-small",
                "small",
                (12, 256, 4),
                aliases=["hfl/chinese-legal-electra-small-discriminator"],
            ),
            R("clue-electra-tiny", "tiny", aliases=["electra_tiny"], vocab_size=None),
        ],
    },
    "ZEN": {
        "slug": "zen",
        "arch": "zen",
        "tokenizer": "zen-ngram",
        "vocab_size": 21128,
        "rows": [R("zen-base", "base", B, aliases=["ZEN_pretrain_base_v0.1.0"])],
    },
    "ERNIE": {
        "slug": "ernie",
        "arch": "ernie",
        "tokenizer": "ernie-wordpiece",
        "rows": [
            R(
                "ernie-1.0-base",
                "base",
                B,
                aliases=["ernie-1.0", "ernie-1.0-base-zh", "nghuyong/ernie-1.0-base-zh"],
                vocab_size=18000,
            ),
            R(
                "skep-ernie-1.0-large",
                "large",
                L,
                aliases=["ernie_1.0_skep_large_ch", "skep"],
                vocab_size=12800,
                dl={0: {"format": "paddle-static"}},
            ),
            R(
                "ernie-gram-base",
                "base",
                B,
                aliases=["ernie-gram", "ernie-gram-zh", "nghuyong/ernie-gram-zh"],
                vocab_size=18018,
            ),
        ],
    },
    "ERNIE3": {
        "slug": "ernie3",
        "arch": "ernie",
        "tokenizer": "ernie-wordpiece",
        "vocab_size": 40000,
        "rows": [
            R(f"ernie-3.0-{n}", n, d, aliases=[f"ernie-3.0-{n}-zh", f"nghuyong/ernie-3.0-{n}-zh"])
            for n, d in [
                ("base", B),
                ("medium", (6, 768, 12)),
                ("mini", (6, 384, 12)),
                ("micro", (4, 384, 12)),
                ("nano", (4, 312, 12)),
            ]
        ],
    },
    "RoFormer": {
        "slug": "roformer",
        "arch": "roformer",
        "tokenizer": "roformer-jieba",
        "rows": [
            R(
                "roformer-base",
                "base",
                B,
                aliases=["chinese_roformer_L-12_H-768_A-12", "junnyu/roformer_chinese_base"],
            ),
            R(
                "roformer-small",
                "small",
                (6, 384, 6),
                aliases=["chinese_roformer_L-6_H-384_A-6", "junnyu/roformer_chinese_small"],
            ),
            R(
                "roformer-char-base",
                "base",
                B,
                tokenizer=WP,
                aliases=["chinese_roformer-char_L-12_H-768_A-12", "junnyu/roformer_chinese_char_base"],
            ),
            R(
                "roformer-v2-small",
                "small",
                (6, 384, 6),
                arch="roformer_v2",
                tokenizer=WP,
                aliases=["chinese_roformer-v2-char_L-6_H-384_A-6", "junnyu/roformer_v2_chinese_char_small"],
            ),
            R(
                "roformer-v2-base",
                "base",
                B,
                arch="roformer_v2",
                tokenizer=WP,
                aliases=["chinese_roformer-v2-char_L-12_H-768_A-12", "junnyu/roformer_v2_chinese_char_base"],
            ),
            R(
                "roformer-v2-large",
                "large",
                L,
                arch="roformer_v2",
                tokenizer=WP,
                aliases=[
                    "chinese_roformer-v2-char_L-24_H-1024_A-16",
                    "junnyu/roformer_v2_chinese_char_large",
                ],
            ),
        ],
    },
    "StructBERT": {
        "slug": "structbert",
        "arch": "bert",
        "tokenizer": WP,
        "vocab_size": 21128,
        "rows": [R("structbert-large", "large", L, aliases=["structbert-large-zh"])],
    },
    "Lattice-BERT": {
        "slug": "lattice-bert",
        "arch": "lattice_bert",
        "tokenizer": "lattice-lexicon",
        "fmt": {"pytorch": "tf1"},
        "rows": [
            R("lattice-bert-tiny", "tiny", (4, None, None), aliases=["chinese_labert-tiny-std-512"]),
            R("lattice-bert-small", "small", (6, None, None), aliases=["chinese_labert-lite-std-512"]),
            R("lattice-bert-base", "base", B, aliases=["chinese_labert-base-std-512"]),
        ],
    },
    "Mengzi-BERT": {
        "slug": "mengzi-bert",
        "arch": "bert",
        "tokenizer": WP,
        "vocab_size": 21128,
        "rows": [
            R("mengzi-bert-base", "base", B),
            R("mengzi-bert-base-fin", "base", B),
            R(
                "bloom-6b4-zh",
                "6b",
                (30, None, None),
                arch="bloom",
                tokenizer="bloom-bpe",
                vocab_size=None,
                parameters=6_400_000_000,
                notes=[
                    "the list's 源地址 link is a placeholder ([github](-)); see github.com/Langboat/Mengzi"
                ],
            ),
        ],
    },
    "TaCL": {
        "slug": "tacl",
        "arch": "bert",
        "tokenizer": WP,
        "vocab_size": 21128,
        "rows": [R("tacl-base", "base", B, aliases=["tacl-bert-base-chinese"])],
    },
    "MC-BERT": {
        "slug": "mc-bert",
        "arch": "bert",
        "tokenizer": WP,
        "vocab_size": 21128,
        "rows": [R("mc-bert-base", "base", B, dl={0: {"format": "unknown"}})],
    },
    "二郎神": {
        "slug": "erlangshen",
        "arch": "megatron_bert",
        "tokenizer": WP,
        "rows": [
            R(
                "erlangshen-1.3b",
                "large",
                (24, None, None),
                parameters=1_300_000_000,
                aliases=["erlangshen", "IDEA-CCNL/Erlangshen-MegatronBert-1.3B"],
            )
        ],
    },
    "PERT": {
        "slug": "pert",
        "arch": "bert",
        "tokenizer": WP,
        "vocab_size": 21128,
        "rows": [
            R("pert-base", "base", B, aliases=["chinese-pert-base"]),
            R("pert-large", "large", L, aliases=["chinese-pert-large"]),
        ],
    },
    "MobileBERT": {
        "slug": "mobilebert",
        "arch": "mobilebert",
        "tokenizer": WP,
        "vocab_size": 21128,
        "rows": [
            R("mobilebert-base-f2", "base", (None, 768, 12), aliases=["chinese-mobilebert-base-f2"]),
            R("mobilebert-base-f4", "base", (None, 768, 12), aliases=["chinese-mobilebert-base-f4"]),
            R("mobilebert-large-f2", "large", (None, 1024, 16), aliases=["chinese-mobilebert-large-f2"]),
            R("mobilebert-large-f4", "large", (None, 1024, 16), aliases=["chinese-mobilebert-large-f4"]),
        ],
    },
    "GAU-α": {
        "slug": "gau-alpha",
        "arch": "gau_alpha",
        "tokenizer": WP,
        "vocab_size": 12000,
        "rows": [
            R(
                "gau-alpha",
                "base",
                (24, 768, 1),
                aliases=["chinese_GAU-alpha-char_L-24_H-768", "Tongjilibo/chinese_GAU-alpha-char_L-24_H-768"],
                source_repo="https://github.com/ZhuiyiTechnology/GAU-alpha",
                corrections=[
                    {
                        "field": "source_repo",
                        "listed": "https://github.com/ymcui/Chinese-MobileBERT",
                        "corrected": "https://github.com/ZhuiyiTechnology/GAU-alpha",
                        "reason": "the list's 源地址 link points at the Chinese-MobileBERT repository; GAU-α "
                        "is published by ZhuiyiTechnology/GAU-alpha (its publisher link)",
                    }
                ],
            ),
        ],
    },
    # ------------------------------------------------------------------ NLG
    "GPT": {
        "slug": "gpt",
        "arch": "gpt2",
        "tokenizer": WP,
        "rows": [
            R(
                "gpt2-ml-1.5b-30g",
                "1.5b",
                (48, 1536, 24),
                arch="grover",
                parameters=1_500_000_000,
                vocab_size=8021,
                aliases=["gpt2-ml-30g"],
                size="1.5B参数(30G语料)",
                dl={
                    0: {"framework": "tensorflow", "format": "tf1"},
                    1: {"framework": "tensorflow", "format": "tf1"},
                },
                corrections=[
                    {
                        "field": "size",
                        "listed": "30亿语料",
                        "corrected": "1.5B参数(30G语料)",
                        "reason": "gpt2-ml's README: both released models have 1.5B parameters; 30G/15G are the "
                        "training corpus sizes, not parameter counts (nlg.md gpt2-ml)",
                    },
                    {
                        "field": "downloads[*].framework",
                        "listed": "pytorch",
                        "corrected": "tensorflow",
                        "reason": "gpt2-ml is a TensorFlow code base; the checkpoints are TF1 (newslm/*) (nlg.md)",
                    },
                ],
            ),
            R(
                "gpt2-ml-1.5b-15g",
                "1.5b",
                (48, 1536, 24),
                arch="grover",
                parameters=1_500_000_000,
                vocab_size=21128,
                aliases=["gpt2-ml-15g"],
                size="1.5B参数(15G语料)",
                dl={
                    0: {"framework": "tensorflow", "format": "tf1"},
                    1: {"framework": "tensorflow", "format": "tf1"},
                },
                corrections=[
                    {
                        "field": "size",
                        "listed": "15亿语料",
                        "corrected": "1.5B参数(15G语料)",
                        "reason": "gpt2-ml's README: both released models have 1.5B parameters; 30G/15G are the "
                        "training corpus sizes, not parameter counts (nlg.md gpt2-ml)",
                    },
                    {
                        "field": "downloads[*].framework",
                        "listed": "pytorch",
                        "corrected": "tensorflow",
                        "reason": "gpt2-ml is a TensorFlow code base; the checkpoints are TF1 (newslm/*) (nlg.md)",
                    },
                ],
            ),
            R("cdial-gpt-lccc-base", "base", B, arch="openai_gpt", vocab_size=13088, parameters=95_500_000),
            R("cdial-gpt2-lccc-base", "base", B, vocab_size=13088, parameters=95_500_000),
            R("cdial-gpt-lccc-large", "large", arch="openai_gpt", vocab_size=13088, parameters=95_500_000),
            R("gpt2-chitchat-dialogue", "base", vocab_size=13317, fmt={"pytorch": "hf"}),
            R("gpt2-chitchat-mmi", "base", vocab_size=13317, fmt={"pytorch": "hf"}),
            R(
                "gpt2-chinese-prose",
                "base",
                (10, None, None),
                vocab_size=13317,
                fmt={"pytorch": "hf"},
                aliases=["gpt2-散文"],
            ),
            R(
                "gpt2-chinese-poem",
                "base",
                B,
                fmt={"pytorch": "hf"},
                aliases=["gpt2-诗词", "uer/gpt2-chinese-poem"],
            ),
            R(
                "gpt2-chinese-couplet",
                "base",
                B,
                fmt={"pytorch": "hf"},
                aliases=["gpt2-对联", "uer/gpt2-chinese-couplet"],
            ),
            R(
                "roformer-gpt-base",
                "base",
                B,
                arch="roformer",
                aliases=["roformer-gpt", "chinese_roformer-gpt-char_L-12_H-768_A-12"],
            ),
        ],
    },
    "GPT-3": {
        "slug": "gpt-3",
        "arch": "transfo_xl_megatron",
        "tokenizer": "cog-sentencepiece",
        "fmt": {"pytorch": "megatron"},
        "rows": [
            R(
                "chinese-transformer-xl",
                "2.9b",
                (32, 2560, 32),
                parameters=2_900_000_000,
                aliases=["wenhui", "chinese-transformer-xl-2.9b"],
            )
        ],
    },
    "NEZHA-Gen": {
        "slug": "nezha-gen",
        "arch": "bert",
        "tokenizer": WP,
        "rows": [
            R("nezha-gen-base", "base", B, aliases=["nezha-gpt"]),
            R("nezha-gen-yuefu", "base", B, aliases=["nezha-gen-poetry"]),
        ],
    },
    "CPM-Generate": {
        "slug": "cpm-generate",
        "arch": "gpt2",
        "tokenizer": "cpm-jieba-sentencepiece",
        "vocab_size": 30000,
        "rows": [
            R(
                "cpm-generate",
                "2.6b",
                (32, 2560, 32),
                parameters=2_600_000_000,
                aliases=["cpm-1", "cpm-lm", "TsinghuaAI/CPM-Generate"],
                dl={1: {"notes+": ["page"], "format": "megatron"}},
            )
        ],
    },
    "T5": {
        "slug": "t5",
        "arch": "t5",
        "tokenizer": WP,
        "vocab_size": 21228,
        "rows": [
            R("uer-t5-small", "small", (6, 512, 8), parameters=60_000_000, aliases=["t5-small-chinese"])
        ],
    },
    "T5-PEGASUS": {
        "slug": "t5-pegasus",
        "arch": "mt5",
        "tokenizer": "t5-pegasus-jieba",
        "vocab_size": 50000,
        "rows": [
            R("t5-pegasus-base", "base", parameters=275_000_000, aliases=["chinese_t5_pegasus_base"]),
            R(
                "t5-pegasus-small",
                "small",
                (8, 512, 6),
                parameters=95_000_000,
                aliases=["chinese_t5_pegasus_small"],
            ),
        ],
    },
    "Mengzi-T5": {
        "slug": "mengzi-t5",
        "arch": "t5",
        "tokenizer": "sentencepiece",
        "vocab_size": 32128,
        "rows": [R("mengzi-t5-base", "base", B, parameters=220_000_000)],
    },
    "PanGu-Alpha": {
        "slug": "pangu-alpha",
        "arch": "pangu_alpha",
        "tokenizer": "jieba-sentencepiece",
        "vocab_size": 40000,
        "rows": [
            R(
                "pangu-alpha-2.6b",
                "2.6b",
                (32, 2560, 32),
                parameters=2_600_000_000,
                aliases=["盘古α-2.6B"],
                dl={
                    1: {
                        "column": "mindspore",
                        "framework": "mindspore",
                        "format": "mindspore",
                        "notes+": ["page"],
                    }
                },
            ),
            R(
                "pangu-alpha-13b",
                "13b",
                (40, 5120, None),
                parameters=13_000_000_000,
                aliases=["盘古α-13B"],
                dl={
                    1: {
                        "column": "mindspore",
                        "framework": "mindspore",
                        "format": "mindspore",
                        "notes+": ["page"],
                    }
                },
            ),
            R(
                "pangu-alpha-2.6b-pytorch",
                "2.6b",
                (32, 2560, 32),
                parameters=2_600_000_000,
                dl={1: {"format": "megatron", "notes+": ["page"]}},
            ),
            R(
                "pangu-alpha-13b-pytorch",
                "13b",
                (40, 5120, None),
                parameters=13_000_000_000,
                dl={1: {"format": "megatron", "notes+": ["page"]}},
            ),
        ],
    },
    "EVA": {
        "slug": "eva",
        "arch": "eva",
        "tokenizer": "eva-jieba-wordpiece",
        "vocab_size": 30000,
        "fmt": {"pytorch": "megatron"},
        "rows": [R("eva", "2.8b", (24, 2048, 32), parameters=2_800_000_000, aliases=["eva1.0", "eva-2.8b"])],
    },
    "BART": {
        "slug": "bart",
        "arch": "bart",
        "tokenizer": WP,
        "vocab_size": 21128,
        "revision": "v1.0",
        "rows": [
            R("bart-base", "base", aliases=["bart-base-chinese"]),
            R("bart-large", "large", aliases=["bart-large-chinese"]),
        ],
    },
    "闻仲": {
        "slug": "wenzhong",
        "arch": "gpt2",
        "tokenizer": "gpt2-bpe",
        "rows": [
            R(
                "wenzhong-3.5b",
                "3.5b",
                (30, 3072, 32),
                parameters=3_500_000_000,
                aliases=["wenzhong", "IDEA-CCNL/Wenzhong-GPT2-3.5B"],
            )
        ],
    },
    "余元": {
        "slug": "yuyuan",
        "arch": "gpt2",
        "tokenizer": "gpt2-bpe",
        "rows": [
            R(
                "yuyuan-3.5b",
                "3.5b",
                (30, 3072, 32),
                parameters=3_500_000_000,
                aliases=["yuyuan", "IDEA-CCNL/Yuyuan-GPT2-3.5B"],
            )
        ],
    },
    "RWKV": {
        "slug": "rwkv",
        "arch": "rwkv1",
        "tokenizer": "char-json",
        "rows": [
            R(
                "rwkv-ai-writer",
                "base",
                (12, 768, None),
                aliases=["ai-writer", "rwkv-v1"],
                dl={0: {"notes+": ["page"]}},
            )
        ],
    },
    # ------------------------------------------------------------------ NLU-NLG
    "UniLM": {
        "slug": "unilm",
        "arch": "bert",
        "tokenizer": WP,
        "vocab_size": 21128,
        "rows": [R("unilm-base", "base", B, aliases=["unilm"])],
    },
    "Simbert": {
        "slug": "simbert",
        "arch": "bert",
        "tokenizer": WP,
        "rows": [
            R("simbert-tiny", "tiny", (4, 312, 12), aliases=["chinese_simbert_L-4_H-312_A-12"]),
            R("simbert-small", "small", (6, 384, 12), aliases=["chinese_simbert_L-6_H-384_A-12"]),
            R("simbert-base", "base", B, aliases=["simbert", "chinese_simbert_L-12_H-768_A-12"]),
        ],
    },
    "RoFormer-sim": {
        "slug": "roformer-sim",
        "arch": "roformer",
        "tokenizer": WP,
        "rows": [
            R("roformer-sim-base", "base", B, aliases=["chinese_roformer-sim-char_L-12_H-768_A-12"]),
            R(
                "roformer-sim-small",
                "small",
                (6, 384, 6),
                aliases=["chinese_roformer-sim-char_L-6_H-384_A-6"],
            ),
            R(
                "roformer-sim-v2-base",
                "base",
                B,
                aliases=["roformer-sim-v2", "chinese_roformer-sim-char-ft_L-12_H-768_A-12"],
            ),
        ],
    },
    "周文王": {
        "slug": "zhouwenwang",
        "arch": "zhouwenwang",
        "tokenizer": WP,
        "rows": [
            R(
                "zhouwenwang-110m",
                "base",
                (12, None, None),
                parameters=110_000_000,
                aliases=["IDEA-CCNL/Zhouwenwang-Unified-110M"],
            ),
            R(
                "zhouwenwang-1.3b",
                "large",
                (24, None, None),
                parameters=1_300_000_000,
                aliases=["IDEA-CCNL/Zhouwenwang-Unified-1.3B"],
            ),
        ],
    },
    "CPM-2": {
        "slug": "cpm-2",
        "arch": "cpm2",
        "tokenizer": "cpm2-jieba-wordpiece",
        "fmt": {"pytorch": "megatron"},
        "rows": [
            R(
                "cpm-2-zh",
                "11b",
                (24, 4096, 64),
                parameters=11_000_000_000,
                vocab_size=26240,
                aliases=["cpm-2"],
            ),
            R("cpm-2-zh-en", "10b", (24, 4096, 64), parameters=10_000_000_000),
            R("cpm-2-moe", "198b", arch="cpm2_moe", parameters=198_000_000_000),
        ],
    },
    "CPT": {
        "slug": "cpt",
        "arch": "cpt",
        "tokenizer": WP,
        "vocab_size": 21128,
        "revision": "v1.0",
        "rows": [R("cpt-base", "base", (12, 768, 12)), R("cpt-large", "large", L)],
    },
    "GLM": {
        "slug": "glm",
        "arch": "glm",
        "tokenizer": "cog-sentencepiece",
        "fmt": {"pytorch": "megatron"},
        "rows": [
            R(
                "glm-large-chinese",
                "large",
                L,
                parameters=335_000_000,
                aliases=["glm-large"],
                dl={0: {"notes+": ["folder"]}},
            ),
            R("glm-10b-chinese", "xxlarge", parameters=10_000_000_000, aliases=["glm-10b", "glm-10b-zh"]),
            R(
                "glm-130b",
                "130b",
                (70, 12288, 96),
                arch="glm_130b",
                parameters=130_000_000_000,
                tokenizer="icetk",
                dl={0: {"notes+": ["application-required", "page"], "format": None}},
            ),
        ],
    },
    # ------------------------------------------------------------------ Multi-Modal
    "WenLan": {
        "slug": "wenlan",
        "arch": "brivl",
        "tokenizer": WP,
        "rows": [R("brivl", "1b", parameters=1_000_000_000, aliases=["wenlan", "brivl-1.0"])],
    },
    "CogView": {
        "slug": "cogview",
        "arch": "cogview",
        "tokenizer": "cog-sentencepiece",
        "rows": [
            R(
                "cogview",
                "4b",
                (48, 2560, 40),
                parameters=4_000_000_000,
                dl={1: {"notes+": ["page"], "format": "megatron"}},
            )
        ],
    },
    "紫东太初": {
        "slug": "taichu",
        "arch": "taichu",
        "rows": [
            R(
                "taichu-light-vision-text",
                "unknown",
                dl={1: {"column": "mindspore", "framework": "mindspore", "format": None, "notes+": ["page"]}},
            ),
            R(
                "taichu-text-gpt",
                "3.2b",
                parameters=3_200_000_000,
                dl={1: {"column": "mindspore", "framework": "mindspore", "format": "unknown"}},
            ),
            R(
                "taichu-vision",
                "unknown",
                dl={1: {"column": "mindspore", "framework": "mindspore", "format": None, "notes+": ["page"]}},
            ),
            R(
                "taichu-speech",
                "unknown",
                dl={1: {"column": "mindspore", "framework": "mindspore", "format": None, "notes+": ["page"]}},
            ),
        ],
    },
    "Mengzi-oscar": {
        "slug": "mengzi-oscar",
        "arch": "oscar",
        "tokenizer": WP,
        "rows": [R("mengzi-oscar-base", "base", B, parameters=110_000_000)],
    },
    "R2D2": {
        "slug": "r2d2",
        "arch": "r2d2",
        "tokenizer": WP,
        "rows": [R("r2d2-vit-l", "large", aliases=["r2d2"]), R("prd2-vit-l", "large", aliases=["prd2"])],
    },
    "Chinese-CLIP": {
        "slug": "chinese-clip",
        "arch": "chinese_clip",
        "tokenizer": WP,
        "vocab_size": 21128,
        "rows": [
            R(
                "chinese-clip-vit-b-16",
                "base",
                B,
                parameters=188_000_000,
                aliases=["chinese-clip", "clip_cn_vit-b-16", "OFA-Sys/chinese-clip-vit-base-patch16"],
            )
        ],
    },
    # ------------------------------------------------------------------ Table
    "SDCUP": {
        "slug": "sdcup",
        "arch": "bert",
        "tokenizer": WP,
        "vocab_size": 21128,
        "rows": [
            R("sdcup-base", "base", B, parameters=119_000_000),
            R("sdcup-large", "large", L, parameters=349_000_000),
        ],
    },
}

ROW_KEYS = {
    "id",
    "size_label",
    "layers",
    "hidden",
    "heads",
    "aliases",
    "arch",
    "vocab_size",
    "tokenizer",
    "parameters",
    "corrections",
    "notes",
    "dl",
    "hf",
    "fmt",
    "size",
    "source_repo",
}


def build_records(doc: awesome.Document) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    families: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    order = 0
    for forder, (section, fam) in enumerate((s, f) for s in doc.sections for f in s.families):
        spec = FAMILIES[fam.title]
        assert fam.table is not None
        if len(spec["rows"]) != len(fam.table.rows):
            raise SystemExit(
                f"{fam.title}: {len(spec['rows'])} curated rows, {len(fam.table.rows)} in the list"
            )
        fam_records = []
        for row, cur in zip(fam.table.rows, spec["rows"], strict=True):
            assert set(cur) <= ROW_KEYS, set(cur) - ROW_KEYS
            fields = awesome.row_fields(fam.table.header, row.cells)
            rec: dict[str, Any] = {
                "id": cur["id"],
                "name": fields["name"],
                "section": section.key,
                "family": fam.title,
                "size": cur.get("size", fields.get("size", "")),
                "size_label": cur["size_label"],
                "arch": cur.get("arch", spec["arch"]),
                "domain_zh": fields["domain_zh"],
                "domain_en": DOMAIN_EN[fields["domain_zh"]],
                "publisher": fields["publisher"],
                "source_label": fields.get("source_label"),
                "source_repo": cur.get("source_repo", fields.get("source_repo")),
                "model_type": fields.get("model_type"),
                "remark": fields.get("remark"),
                "order": order,
            }
            order += 1
            for k in ("layers", "hidden", "heads", "parameters"):
                if cur.get(k) is not None:
                    rec[k] = cur[k]
            vocab = cur.get("vocab_size", spec.get("vocab_size"))
            if vocab is not None:
                rec["vocab_size"] = vocab
            tok = cur.get("tokenizer", spec.get("tokenizer"))
            if tok is not None:
                rec["tokenizer"] = tok
            aliases = list(cur.get("aliases", []))
            downloads = []
            fmt = {**COLUMN_FORMAT, **spec.get("fmt", {}), **cur.get("fmt", {})}
            for i, d in enumerate(fields["downloads"]):
                d = dict(d)
                if d["column"] != "project":
                    d["format"] = "hf" if d["host"] == "huggingface" else fmt.get(d["column"])
                if d["host"] == "huggingface":
                    if cur.get("hf"):
                        d["hf_repo"] = cur["hf"]
                    if spec.get("revision"):
                        d["revision"] = spec["revision"]
                    if d.get("hf_repo"):
                        aliases.append(d["hf_repo"])
                over = dict(cur.get("dl", {}).get(i, {}))
                extra_notes = over.pop("notes+", [])
                d.update(over)
                d["notes"] = list(dict.fromkeys([*d["notes"], *extra_notes]))
                downloads.append({k: v for k, v in d.items() if v is not None and v != []})
            # '*' in a correction field: one correction per download it covers
            corrections = []
            for c in cur.get("corrections", []):
                if "[*]" in c["field"]:
                    for i in cur.get("dl", {}):
                        corrections.append({**c, "field": c["field"].replace("[*]", f"[{i}]")})
                else:
                    corrections.append(c)
            rec["downloads"] = downloads
            rec["aliases"] = [a for a in dict.fromkeys(aliases) if a != rec["id"]]
            if corrections:
                rec["corrections"] = corrections
            if cur.get("notes"):
                rec["notes"] = cur["notes"]
            rec = {k: v for k, v in rec.items() if v is not None}
            # cells the canonical rendering cannot reproduce are kept verbatim
            record = record_from_dict({**rec, "papers": []}, file=spec["slug"])
            canon = awesome.canonical_cells(fam.table.header, record)
            raw = [
                {"column": h, "text": orig}
                for h, orig, new in zip(fam.table.header, row.cells, canon, strict=True)
                if orig != new
            ]
            if raw:
                rec["list_cells"] = raw
            fam_records.append(rec)
        families.append(
            {
                "slug": spec["slug"],
                "family": {
                    "title": fam.title,
                    "section": section.key,
                    "order": forder,
                    "header": list(fam.table.header),
                    "notes_label": fam.notes_label,
                    "notes": list(fam.notes),
                    "papers": [
                        {
                            "year": p.year,
                            "title": p.title,
                            "authors": p.authors,
                            "venue": p.venue,
                            "links": [{"label": k.label, "url": k.url} for k in p.links],
                        }
                        for p in fam.papers
                    ],
                },
                "models": fam_records,
            }
        )
        records += fam_records
    return families, records


# --------------------------------------------------------------------------- a small TOML writer


def _val(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v) if abs(v) < 10**6 else f"{v:_}"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        if all(isinstance(x, dict) for x in v) and v:
            return "[\n" + "".join(f"  {_val(x)},\n" for x in v) + "]"
        flat = "[" + ", ".join(_val(x) for x in v) + "]"
        if len(flat) <= 100:
            return flat
        return "[\n" + "".join(f"  {_val(x)},\n" for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_val(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def _key(k: str) -> str:
    return k if all(c.isalnum() or c in "_-" for c in k) else json.dumps(k)


def to_toml(fam: dict[str, Any]) -> str:
    out = [
        f"# {fam['family']['title']}: generated by tools/gen_catalog.py from the seed list, then curated.",
        "",
    ]
    f = dict(fam["family"])
    papers = f.pop("papers")
    out.append("[family]")
    out += [f"{_key(k)} = {_val(v)}" for k, v in f.items()]
    for p in papers:
        out += ["", "[[family.papers]]"] + [f"{_key(k)} = {_val(v)}" for k, v in p.items()]
    for m in fam["models"]:
        m = dict(m)
        downloads = m.pop("downloads")
        out += ["", "[[models]]"] + [f"{_key(k)} = {_val(v)}" for k, v in m.items()]
        for d in downloads:
            out += ["", "[[models.downloads]]"] + [f"{_key(k)} = {_val(v)}" for k, v in d.items()]
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    seed = Path(argv[0]) if argv else SEED
    doc = awesome.parse_file(seed)
    families, records = build_records(doc)
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), "duplicate ids"
    DATA.mkdir(parents=True, exist_ok=True)
    for old in DATA.glob("*.toml"):
        old.unlink()
    for i, fam in enumerate(families):
        (DATA / f"{i:02d}-{fam['slug']}.toml").write_text(to_toml(fam), encoding="utf-8")
    list_meta = {
        "preamble": list(doc.preamble),
        "sections": [{"key": s.key, "title": s.title} for s in doc.sections],
        "changelog_title": doc.changelog_title,
        "changelog": list(doc.changelog),
    }
    lines = ["# The list's text around the families (preamble, section titles, change log), verbatim.", ""]
    lines += [f"{k} = {_val(v)}" for k, v in list_meta.items() if not isinstance(v, list) or k != "sections"]
    lines += ["sections = " + _val(list_meta["sections"])]
    (DATA / "_list.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(families)} family files, {len(records)} records to {DATA}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
