"""What users type that the rows do not spell: organisations, tasks, sizes and sections, in both languages.

Search (:mod:`zhplm.catalog.query`) maps a query word onto these concepts and a record onto the concepts it
belongs to. Organisations are a typed table linked to records by their ``publisher`` field, so "百度", "Baidu"
and "飞桨" find every ERNIE row, whoever the list names as author. Tasks are derived from the row's section,
arch and heads (a decoder or seq2seq arch generates), never hand-tagged per row, so a new row of a known
arch gets them for free. Sizes are normalised labels plus parameter counts ("110M", "1.3B", "26亿").
Pure data and string work: nothing here imports beyond the standard library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from zhplm.catalog.schema import ModelRecord


@dataclass(frozen=True, slots=True)
class Org:
    """An organisation under every name users call it, and the catalog ``publisher`` names it releases as."""

    key: str
    names: tuple[str, ...]  # Chinese and English names, abbreviations, labs, brands
    publishers: tuple[str, ...]  # ``ModelRecord.publisher.name`` values (exact)


ORGS: tuple[Org, ...] = (
    Org("baidu", ("百度", "Baidu", "飞桨", "PaddlePaddle", "paddle", "文心"), ("PaddlePaddle", "Baidu")),
    Org(
        "huawei",
        ("华为", "Huawei", "诺亚方舟", "诺亚方舟实验室", "诺亚", "Noah's Ark", "noah", "mindspore", "昇思"),
        # PanGu-α was built by Huawei and Peng Cheng Lab together (its paper's authors are from both)
        ("HUAWEI", "PCL-Platform.Intelligence"),
    ),
    Org("pcl", ("鹏城实验室", "鹏城", "PCL", "Peng Cheng", "启智", "OpenI"), ("PCL-Platform.Intelligence",)),
    Org(
        "alibaba",
        ("阿里", "阿里巴巴", "阿里云", "Alibaba", "达摩院", "DAMO", "AliceMind", "OFA", "通义"),
        ("Alibaba", "alibaba-research", "OFA Sys"),
    ),
    Org(
        "tsinghua",
        ("清华", "清华大学", "Tsinghua", "THU", "THUNLP", "THUDM", "thu-coai", "智谱"),
        ("THUNLP", "THUNLP-AIPoet", "thu-coai", "THUDM", "Tsinghua AI"),
    ),
    Org("baai", ("智源", "北京智源", "BAAI", "悟道", "WuDao"), ("BAAI-WuDao",)),
    Org(
        "hfl",
        ("哈工大", "哈尔滨工业大学", "HIT", "HFL", "讯飞", "科大讯飞", "iFLYTEK", "哈工大讯飞", "崔一鸣"),
        ("Yiming Cui",),
    ),
    Org(
        "zhuiyi",
        ("追一", "追一科技", "Zhuiyi", "ZhuiyiTechnology", "苏剑林", "bojone", "科学空间"),
        ("ZhuiyiTechnology",),
    ),
    Org(
        "idea",
        (
            "IDEA",
            "IDEA-CCNL",
            "IDEA研究院",
            "封神榜",
            "Fengshenbang",
            "fengshen",
            "粤港澳大湾区数字经济研究院",
        ),
        ("IDEA-CCNL",),
    ),
    Org("langboat", ("澜舟", "澜舟科技", "Langboat", "孟子", "Mengzi"), ("Langboat",)),
    Org("fudan", ("复旦", "复旦大学", "Fudan", "fnlp", "fastNLP", "FudanNLP", "邱锡鹏"), ("fastNLP",)),
    Org("google", ("谷歌", "Google", "Google Research"), ("Google Research",)),
    Org("ruc", ("人大", "人民大学", "中国人民大学", "RUC", "UER", "DBIIR"), ("DBIIR @ RUC",)),
    Org("clue", ("CLUE", "CLUEbenchmark", "中文语言理解测评基准"), ("CLUE",)),
    Org("shannon", ("香侬", "香侬科技", "ShannonAI", "Shannon"), ("ShannonAI",)),
    Org("sinovation", ("创新工场", "Sinovation"), ("Sinovation Ventures AI Institute",)),
    Org("jd", ("京东", "JD", "JDAI", "京东AI"), ("JDAI",)),
    Org("casia", ("中科院自动化所", "自动化所", "中科院", "CASIA"), ("中科院自动化所",)),
    Org("tal", ("好未来", "TAL", "tal-tech"), ("tal-tech",)),
    Org("valuesimplex", ("熵简科技", "熵简", "Value Simplex"), ("Value Simplex",)),
    Org("yunwen", ("云问", "云问科技", "Yunwen", "YunwenTechnology"), ("YunwenTechnology",)),
    Org("qihoo360", ("360", "奇虎", "奇虎360", "Qihoo", "Qihoo 360"), ("yuxie11",)),
    Org("cambridge", ("剑桥", "剑桥大学", "Cambridge", "cambridgeltl"), ("yxuansu",)),
    Org("blinkdl", ("彭博", "BlinkDL"), ("PENG Bo",)),
)


# --------------------------------------------------------------------------- tasks

# Each task: its key and every word that names it, in both languages.
TASKS: dict[str, tuple[str, ...]] = {
    "generation": (
        "生成",
        "文本生成",
        "续写",
        "generation",
        "generate",
        "generative",
        "text-generation",
        "nlg",
    ),
    "summarization": ("摘要", "文本摘要", "生成摘要", "summarization", "summarisation", "summary", "seq2seq"),
    "dialogue": ("对话", "闲聊", "聊天", "dialogue", "dialog", "chat", "chitchat", "conversation"),
    "similarity": (
        "相似度",
        "相似",
        "语义相似度",
        "句向量",
        "句子向量",
        "检索",
        "复述",
        "similarity",
        "similar",
        "sentence-embedding",
        "embedding",
        "paraphrase",
        "retrieval",
    ),
    "classification": ("分类", "文本分类", "理解", "自然语言理解", "classification", "understanding", "nlu"),
    "fill-mask": ("填空", "完形填空", "掩码", "fill-mask", "mlm"),
    "image-text": (
        "图文",
        "多模态",
        "跨模态",
        "图像",
        "图像描述",
        "看图说话",
        "image-text",
        "multimodal",
        "multi-modal",
        "vision",
        "caption",
        "captioning",
        "image-to-text",
    ),
    "text-to-image": ("文生图", "图像生成", "text-to-image", "text2image"),
}

# Decoders and encoder-decoders: a row of one of these archs generates text.
DECODER_ARCHS = frozenset(
    {
        "gpt2",
        "openai_gpt",
        "grover",
        "transfo_xl_megatron",
        "pangu_alpha",
        "rwkv1",
        "bloom",
        "glm",
        "glm_130b",
    }
)
SEQ2SEQ_ARCHS = frozenset({"t5", "mt5", "eva", "cpm2", "cpm2_moe", "bart", "cpt"})
# Encoders whose released checkpoints carry a masked-LM head (unless the row says it is untrained).
MLM_ARCHS = frozenset(
    {
        "bert",
        "roberta",
        "albert",
        "albert_brightmart",
        "nezha",
        "chinesebert",
        "electra_generator",
        "ernie",
        "roformer",
        "roformer_v2",
        "lattice_bert",
        "megatron_bert",
        "mobilebert",
        "zen",
        "gau_alpha",
        "zhouwenwang",
        "cpt",
    }
)
# Families trained for sentence similarity (SimBERT's and RoFormer-sim's pooler; CLUE's "pair" models).
SIMILARITY_FAMILIES = frozenset({"Simbert", "RoFormer-sim"})
# UniLM-style seq2seq over a BERT encoder: summarisation is what UniLM was released for.
UNILM_FAMILIES = frozenset({"UniLM"})

_GPT_NAME = re.compile(r"(^|[^a-z])gpt([^a-z]|$)")


def tasks_of(r: ModelRecord) -> frozenset[str]:
    """The tasks a row can do, from its section, arch, family and heads."""
    out: set[str] = set()
    domain = r.domain_en.lower()
    generates = (
        r.section in ("NLG", "NLU-NLG")
        or r.arch in DECODER_ARCHS
        or r.arch in SEQ2SEQ_ARCHS
        or bool(_GPT_NAME.search(r.name.lower()))
    )
    if "image" in domain and "generation" in domain:
        out.add("text-to-image")
        generates = False  # it generates images, not text
    if generates and not (r.section == "Multi-Modal" and "image" in domain):
        out.add("generation")
    if (r.arch in SEQ2SEQ_ARCHS and r.arch != "eva") or r.family in UNILM_FAMILIES:
        out.add("summarization")
    if any(w in domain for w in ("dialogue", "dialog", "chat")):
        out.add("dialogue")
    if r.family in SIMILARITY_FAMILIES or r.id.endswith("-pair"):
        out.add("similarity")
    if (
        r.section in ("NLU", "NLU-NLG", "Table")
        and r.arch not in DECODER_ARCHS
        and r.arch not in SEQ2SEQ_ARCHS
    ):
        out.add("classification")
    if r.arch in MLM_ARCHS and "mlm" not in r.untrained_heads and r.section != "Multi-Modal":
        out.add("fill-mask")
    if r.section == "Multi-Modal" and any(w in domain for w in ("image", "vision")):
        out.add("image-text")
    return frozenset(out)


# --------------------------------------------------------------------------- sizes

SIZE_LABELS: tuple[str, ...] = (
    "nano",
    "micro",
    "tiny",
    "mini",
    "small",
    "medium",
    "base",
    "large",
    "xlarge",
    "xxlarge",
)
SIZE_ALIASES: dict[str, str] = {
    "middle": "medium",
    "mid": "medium",
    "lite": "small",
    "xl": "xlarge",
    "xxl": "xxlarge",
}
SMALL_LABELS = frozenset({"nano", "micro", "tiny", "mini", "small"})
# Words for "a small model": tiny … small, or fewer than SMALL_PARAMETERS parameters (MobileBERT, ELECTRA-small).
SMALL_WORDS = frozenset({"小模型", "小型", "轻量", "轻量级", "轻量化", "lightweight", "compact", "小"})
SMALL_PARAMETERS = 60_000_000
LARGE_WORDS = frozenset({"大模型", "大规模", "超大", "巨量", "百亿", "千亿"})
LARGE_PARAMETERS = 1_000_000_000

_COUNT = re.compile(r"^(\d+(?:\.\d+)?)\s*(k|m|b|t|千|万|亿|千亿|百亿)(?:参数)?$")
_UNITS = {
    "k": 1e3,
    "千": 1e3,
    "万": 1e4,
    "m": 1e6,
    "b": 1e9,
    "亿": 1e8,
    "百亿": 1e10,
    "千亿": 1e11,
    "t": 1e12,
}
# A count matches a row within this ratio either way (11B answers "10B"; 1.5B does not answer "1.3B").
COUNT_TOLERANCE = 1.12


def parse_count(term: str) -> int | None:
    """``"110M"`` → 110_000_000, ``"1.3b"`` → 1_300_000_000, ``"26亿"`` → 2_600_000_000; else None."""
    m = _COUNT.match(term.strip().lower())
    if not m:
        return None
    return round(float(m.group(1)) * _UNITS[m.group(2)])


def size_label_of(term: str) -> str | None:
    t = term.lower()
    t = SIZE_ALIASES.get(t, t)
    return t if t in SIZE_LABELS else None


_SIZE_COUNT = re.compile(r"(\d+(?:\.\d+)?)\s*(千亿|百亿|亿|b|m)(?![a-z])")


def normalise_size(listed: str) -> str:
    """A size label from the list's 版本 text: ``"base(L12)"`` → base, ``"6B(L30)"`` → 6b,
    ``"26亿参数"`` → 2.6b; ``"unknown"`` when the text names neither."""
    text = listed.lower()
    labels = [lab for w in re.findall(r"[a-z]+", text) if (lab := size_label_of(w))]
    if labels:
        return max(labels, key=len)  # "xxlarge" over "large"
    m = _SIZE_COUNT.search(text)
    if m:
        count = float(m.group(1)) * _UNITS[m.group(2)]
        return f"{count / 1e9:g}b" if count >= 1e9 else f"{count / 1e6:g}m"
    return "unknown"


# Encoders whose parameter count follows from layers, hidden and vocabulary (BERT block: 12·H² per layer).
_BERT_LIKE = frozenset({"bert", "roberta", "nezha", "ernie", "roformer", "chinesebert", "megatron_bert"})


def parameters_of(r: ModelRecord) -> int | None:
    """The listed parameter count, else a BERT-block estimate (12·L·H² + (vocab + 512 + 2)·H) where exact
    enough to answer a query like "110M"; None when neither is known."""
    if r.parameters:
        return r.parameters
    if r.arch in _BERT_LIKE and r.layers and r.hidden:
        vocab = r.vocab_size or 21128
        return 12 * r.layers * r.hidden * r.hidden + (vocab + 514) * r.hidden
    return None


def count_matches(query: int, value: int | None) -> bool:
    return value is not None and query / COUNT_TOLERANCE <= value <= query * COUNT_TOLERANCE


# --------------------------------------------------------------------------- sections

SECTION_WORDS: dict[str, tuple[str, ...]] = {
    "NLU": ("nlu", "nlu系列", "自然语言理解"),
    "NLG": ("nlg", "nlg系列", "自然语言生成"),
    "NLU-NLG": ("nlu-nlg", "nlu-nlg系列", "nlunlg"),
    "Multi-Modal": ("multi-modal", "multimodal", "多模态"),
    "Table": ("table", "表格"),
}


def orgs_by_publisher() -> dict[str, tuple[str, ...]]:
    """``publisher name → org keys`` (a publisher may belong to more than one org)."""
    out: dict[str, list[str]] = {}
    for org in ORGS:
        for p in org.publishers:
            out.setdefault(p, []).append(org.key)
    return {k: tuple(v) for k, v in out.items()}


__all__ = [
    "ORGS",
    "SECTION_WORDS",
    "SIZE_LABELS",
    "TASKS",
    "Org",
    "count_matches",
    "normalise_size",
    "orgs_by_publisher",
    "parameters_of",
    "parse_count",
    "size_label_of",
    "tasks_of",
]
