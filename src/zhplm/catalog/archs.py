"""The architecture vocabulary: every value a catalog record's ``arch`` may take, with what it means.

Catalog families are not code families: ``arch`` names the zhplm architecture module a row converts
with (see DESIGN.md). Names are lowercase snake_case; the loader rejects a record whose arch is not here.
"""

from __future__ import annotations

ARCHS: dict[str, str] = {
    # encoders
    "bert": "BERT encoder (post-LN, absolute positions): Google/HFL BERT, Chinese 'RoBERTa', MacBERT, PERT, "
    "StructBERT, WoBERT, TaCL, MC-BERT, Mengzi-BERT, SimBERT, UniLM, NEZHA-Gen, SDCUP",
    "roberta": "RoBERTa encoder (positions offset by padding_idx): guwenbert only",
    "albert": "Google ALBERT (factorised embeddings, shared layers)",
    "albert_brightmart": "brightmart's early ALBERT (projection before position/type add); folds into BERT",
    "electra": "ELECTRA discriminator / generator",
    "xlnet": "XLNet (two-stream relative attention, SentencePiece)",
    "ernie": "ERNIE 1.0 / SKEP / ERNIE-Gram / ERNIE 3.0 (BERT-like, optional task-type embedding)",
    "nezha": "NEZHA (functional relative positions on keys and values): NEZHA and WoNEZHA",
    "roformer": "RoFormer v1 (BERT + rotary positions): roformer, roformer-char, roformer-gpt, RoFormer-sim",
    "roformer_v2": "RoFormerV2 (bias-free, scale-free RMS norm, rotary positions)",
    "gau_alpha": "GAU-α (gated attention units, softmax_plus, rotary positions)",
    "chinesebert": "ChineseBERT (BERT + pinyin CNN + glyph embeddings)",
    "zen": "ZEN (BERT + n-gram encoder fused into the first layers)",
    "lattice_bert": "Lattice-BERT (lattice tokens, disentangled start/end position attention)",
    "megatron_bert": "Megatron-BERT (pre-LN BERT): Erlangshen",
    "mobilebert": "MobileBERT (bottleneck transformer)",
    # decoders
    "bloom": "BLOOM decoder (ALiBi): bloom-6b4-zh",
    "gpt2": "GPT-2 decoder (pre-LN): CDial-GPT2, GPT2-chitchat, GPT2-Chinese, CPM-1, Wenzhong, Yuyuan",
    "openai_gpt": "OpenAI GPT decoder (post-LN): CDial-GPT",
    "grover": "Grover-style GPT block of gpt2-ml (embedding LN, post-MLP LN, no final LN)",
    "transfo_xl_megatron": "Megatron GPT-2 with Transformer-XL relative attention and memory: Chinese-Transformer-XL",
    "pangu_alpha": "PanGu-α (GPT with a top query layer), MindSpore slices or Megatron shards",
    "rwkv1": "RWKV-1 (AI-Writer: Toeplitz time mixing, channel mixing, copy head)",
    # encoder-decoders and hybrids
    "t5": "T5 encoder-decoder (v1.0 or v1.1 flags from config): UER T5, Mengzi-T5",
    "mt5": "mT5 / T5 v1.1 with untied head: T5-PEGASUS",
    "eva": "EVA dialogue encoder-decoder (CPM-2 code lineage, T5-style, untied head, role embeddings)",
    "cpm2": "CPM-2 encoder-decoder (T5-style, Megatron model-parallel shards, untied head)",
    "cpm2_moe": "CPM-2-MoE (mixture-of-experts CPM-2; catalog only)",
    "bart": "BART encoder-decoder (fnlp Chinese BART, BERT tokenizer)",
    "cpt": "CPT (BERT encoder + BART generation decoder over a shared encoder)",
    "glm": "GLM (Megatron GPT block, 2-D positions, blank-infilling mask)",
    "glm_130b": "GLM-130B (DeepNorm, GeGLU, rotary positions; catalog only)",
    "zhouwenwang": "Zhouwenwang (pre-LN Megatron-BERT with rotary positions, MLM + LM heads)",
    # multimodal
    "chinese_clip": "Chinese-CLIP (ViT image tower + RoBERTa-wwm text tower)",
    "brivl": "BriVL / WenLan (EfficientNet + region pooling + BERT, dual encoder)",
    "cogview": "CogView (GPT with sandwich LN + VQ-VAE image tokenizer)",
    "oscar": "Oscar+ (BERT over text + detector region features): Mengzi-oscar",
    "r2d2": "R2D2 (CLIP ViT + BERT towers with BLIP-style cross-encoders)",
    "taichu": "紫东太初 OPT multimodal models (MindSpore/Ascend; catalog only)",
}


def describe(arch: str) -> str:
    return ARCHS.get(arch, "unknown architecture")
