"""Summarisation-shaped speed (issue 13): encode 512 tokens, generate 64, on T5-PEGASUS-base-shaped and
BART-base-shaped random weights; ``zhplm.pipeline("text2text-generation", folder)`` against plain
``generate`` of the same folder's model class (``AutoModelForSeq2SeqLM``; T5-PEGASUS is zhplm's own class,
registered by ``import zhplm``), in one run, plus the int8 path (``torch.ao.quantization.quantize_dynamic`` of
the Linear layers, applied by this script to the pipeline's model) against fp32.

Shapes: T5-PEGASUS base (mT5 v1.1: 12+12 layers, d_model 768, 12 heads of 64, gated-GELU FFN 2048, untied
50000-token head), fnlp BART base v1.0 (6+6 layers, 768, 12 heads, FFN 3072, 21128 tokens, 512 positions).
The tokenizer of both folders is Google's Chinese BERT WordPiece (21128, ../shared/assets; for T5-PEGASUS
padded with placeholder words to its 50000, whose real vocabulary is not in the assets): the input text is 510 in-vocabulary characters, 512 tokens
with [CLS]/[SEP]. Greedy, stop at [SEP] on both sides (the [SEP] row of the output projection is zeroed, so no run stops before 64),
batch 1, fp32, 2 threads. Time to first token includes the 512-token encoder pass.

    PYTHONPATH=src .venv/bin/python bench/bench_text2text.py [--out bench/results/text2text.txt]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from bench_generate import Clock, cpu_name

VOCAB = Path(__file__).resolve().parents[2] / "shared" / "assets" / "imcaspar+gpt2-ml" / "tokenization"
VOCAB = VOCAB / "bert-base-chinese-vocab.txt"
PARAGRAPH = (
    "北京时间昨日晚间，国家统计局发布了最新的经济数据。数据显示，今年前三个季度国内生产总值同比增长，"
    "消费市场持续回暖，制造业投资保持较快增长，就业形势总体稳定。专家认为，随着一系列政策措施落地见效，"
    "经济运行有望继续保持恢复向好的态势。"
)
NEW = 64
CLS, SEP, PAD = 101, 102, 0


def build(kind: str, folder: Path) -> None:
    import transformers

    torch.manual_seed(0)
    if kind == "T5-PEGASUS base":
        from zhplm.arch.modeling.configuration_mt5 import T5PegasusConfig
        from zhplm.arch.modeling.mt5 import T5PegasusForConditionalGeneration

        config = T5PegasusConfig(vocab_size=50000, d_model=768, d_kv=64, d_ff=2048, num_layers=12,
                                 num_decoder_layers=12, num_heads=12, feed_forward_proj="gated-gelu",
                                 tie_word_embeddings=False, decoder_start_token_id=CLS, eos_token_id=SEP,
                                 pad_token_id=PAD)  # fmt: skip
        model: Any = T5PegasusForConditionalGeneration(config)
    else:
        config = transformers.BartConfig(vocab_size=21128, d_model=768, encoder_layers=6, decoder_layers=6,
                                         encoder_attention_heads=12, decoder_attention_heads=12,
                                         encoder_ffn_dim=3072, decoder_ffn_dim=3072, max_position_embeddings=512,
                                         decoder_start_token_id=SEP, bos_token_id=CLS, eos_token_id=SEP,
                                         pad_token_id=PAD, forced_eos_token_id=None)  # fmt: skip
        model = transformers.BartForConditionalGeneration(config)
    with torch.no_grad():  # [SEP] (the stop token) never wins, so every run writes all NEW tokens
        model.get_output_embeddings().weight[SEP] = 0.0
        if hasattr(model, "final_logits_bias"):
            model.final_logits_bias[0, SEP] = -1e4
    model.eval().save_pretrained(str(folder))
    tokens = VOCAB.read_text(encoding="utf-8").split("\n")[:21128]
    tokens += [f"[w{i}]" for i in range(config.vocab_size - len(tokens))]  # T5-PEGASUS: 50000 (words)
    (folder / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    transformers.BertTokenizer(vocab=str(folder / "vocab.txt")).save_pretrained(str(folder))


def pipeline_run(gen: Any, text: str) -> tuple[float, float, list[int]]:
    first: list[float] = []
    start = time.perf_counter()
    result = gen(text, max_new_tokens=NEW, on_text=lambda _: first.append(time.perf_counter()))
    end = time.perf_counter()
    n, first_at = len(result.token_ids), first[0] if first else end
    return first_at - start, (n - 1) / max(end - first_at, 1e-9), result.token_ids


def generate_run(model: Any, enc: dict[str, torch.Tensor]) -> tuple[float, float, list[int]]:
    clock = Clock()
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=NEW, do_sample=False, num_beams=1, eos_token_id=[SEP],
                             pad_token_id=PAD, streamer=clock)  # fmt: skip
    end = time.perf_counter()
    tokens = out[0, 1:].tolist()
    assert clock.first is not None
    return clock.first - start, (len(tokens) - 1) / (end - clock.first), tokens


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    torch.set_num_threads(2)
    import transformers

    import zhplm

    text = (PARAGRAPH * 8)[:510]
    lines = [
        "Summarisation-shaped text2text: encode 512 tokens, greedy 64 new tokens, random weights, batch 1, "
        "2 threads, one run",
        f"CPU: {cpu_name()} (AVX2); torch {torch.__version__}, transformers {transformers.__version__}",
        "",
        f"{'':18} {'':34} {'TTFT ms':>9} {'decode tok/s':>13} {'tokens':>7}",
    ]
    for kind in ("T5-PEGASUS base", "BART base"):
        with tempfile.TemporaryDirectory() as tmp:
            build(kind, Path(tmp))
            gen = zhplm.pipeline("text2text-generation", tmp)
            model = transformers.AutoModelForSeq2SeqLM.from_pretrained(tmp).eval()
        enc = dict(gen.tokenizer(text, return_tensors="pt", return_token_type_ids=False))
        assert enc["input_ids"].shape[1] == 512
        pipeline_run(gen, text[:20]), generate_run(model, dict(gen.tokenizer(text[:20], return_tensors="pt",
                                                                        return_token_type_ids=False)))  # fmt: skip
        ours, theirs = pipeline_run(gen, text), generate_run(model, enc)
        assert ours[2] == [t for t in theirs[2] if t != SEP] and len(ours[2]) == NEW, (ours[2], theirs[2])
        gen.model = torch.ao.quantization.quantize_dynamic(copy.deepcopy(gen.model), {torch.nn.Linear})
        int8 = pipeline_run(gen, text)
        agree = sum(a == b for a, b in zip(int8[2], ours[2], strict=False)) / NEW
        rows = (
            ("zhplm pipeline fp32", ours),
            ("transformers generate fp32", theirs),
            ("zhplm pipeline int8", int8),
        )
        lines += [f"{kind:18} {n:34} {r[0] * 1000:9.0f} {r[1]:13.2f} {len(r[2]):7d}" for n, r in rows]
        lines += [
            f"{kind:18} zhplm / transformers decode speed {ours[1] / theirs[1]:.2f}x; int8 / fp32 decode "
            f"{int8[1] / ours[1]:.2f}x, TTFT {int8[0] / ours[0]:.2f}x, greedy agreement with fp32 {agree:.0%}",
            "",
        ]
        print("\n".join(lines[-5:]), flush=True)
    text_out = "\n".join(lines)
    print(text_out)
    if args.out:
        args.out.write_text(text_out + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
