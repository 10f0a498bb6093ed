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

The goal row is "zhplm / transformers: call" — tokens/s of the whole workload (64 new tokens / wall time of
one call, encoder pass included), the summariser's wait; decode (tokens after the first) and TTFT are its two
parts. What the pipeline does beyond plain ``generate``: zhplm.tasks._inference (``gelu_new`` as torch's
fused tanh-GELU: the T5 v1.1/mT5 gated FFN of T5-PEGASUS; BART's exact GELU is already one kernel). Tokens
are asserted identical in every round.

    PYTHONPATH=src:bench .venv/bin/python bench/bench_text2text.py [--rounds 5] [--models "T5-PEGASUS base"] \
        [--out bench/results/text2text.txt]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from worker_protocol import cpu_name

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


class Steps:
    """Forward hooks on the top model: each ``forward`` of a seq2seq model in ``generate`` is one decoder step
    (the encoder runs once, through ``get_encoder()``), so the first post-hook is the first token's logits, the
    number of calls is the number of tokens, and the summed time inside ``forward`` shows what lies outside."""

    def __init__(self, model: Any) -> None:
        self.handles = [model.register_forward_pre_hook(lambda *_: self._begin()),
                        model.register_forward_hook(lambda *_: self._end())]  # fmt: skip
        self.reset()

    def reset(self) -> None:
        self.calls, self.inside, self.first, self._t = 0, 0.0, 0.0, 0.0

    def _begin(self) -> None:
        self._t = time.perf_counter()

    def _end(self) -> None:
        now = time.perf_counter()
        self.calls += 1
        self.inside += now - self._t
        if self.calls == 1:
            self.first = now


Run = tuple[
    float, float, float, list[int], float
]  # TTFT s, decode tok/s, s outside forward/token, tokens, call tok/s


def timed(steps: Steps, call: Any) -> Run:
    steps.reset()
    start = time.perf_counter()
    tokens = call()
    end = time.perf_counter()
    assert steps.calls == NEW, (steps.calls, NEW)
    outside = (end - start) - steps.inside
    return steps.first - start, (NEW - 1) / (end - steps.first), outside / NEW, tokens, NEW / (end - start)


def pipeline_run(gen: Any, steps: Steps, text: str) -> Run:
    return timed(steps, lambda: gen(text, max_new_tokens=NEW).token_ids)


def generate_run(model: Any, steps: Steps, enc: dict[str, torch.Tensor]) -> Run:
    def call() -> list[int]:
        with torch.inference_mode():
            out = model.generate(**enc, max_new_tokens=NEW, do_sample=False, num_beams=1, eos_token_id=[SEP],
                                 pad_token_id=PAD)  # fmt: skip
        return [int(t) for t in out[0, 1:].tolist()]

    return timed(steps, call)


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def logits(model: Any, enc: dict[str, torch.Tensor], decoded: list[int], start: int) -> torch.Tensor:
    with torch.inference_mode():
        dec = torch.tensor([[start, *decoded]])
        out = model(**enc, decoder_input_ids=dec).logits.float()
    keep = torch.ones(out.shape[-1], dtype=torch.bool)
    keep[SEP] = False  # the stop token's column was pushed to -1e4 by build(): bf16 rounds that by 16
    return out[..., keep]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", type=Path)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--models", default="T5-PEGASUS base,BART base")
    args = p.parse_args()
    torch.set_num_threads(2)
    import transformers

    import zhplm

    text = (PARAGRAPH * 8)[:510]
    lines = [
        f"Summarisation-shaped text2text: encode 512 tokens, greedy exactly {NEW} new tokens (the stop token's "
        "head row zeroed), random weights, batch 1, 2 threads",
        f"CPU: {cpu_name()} (avx512_bf16: native bf16); torch {torch.__version__}, transformers "
        f"{transformers.__version__}; load average at start {os.getloadavg()[0]:.1f}",
        f"{args.rounds} rounds, zhplm and transformers alternating in each round (one process); TTFT and tokens from "
        "forward hooks on the model (not rendered text); ratios are medians of per-round ratios [min-max]",
        "",
    ]
    for kind in args.models.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            build(kind, Path(tmp))
            gen = zhplm.pipeline("text2text-generation", tmp)
            model = transformers.AutoModelForSeq2SeqLM.from_pretrained(tmp).eval()
            gen16 = zhplm.pipeline("text2text-generation", tmp, dtype="bf16")
        enc = dict(gen.tokenizer(text, return_tensors="pt", return_token_type_ids=False))
        assert enc["input_ids"].shape[1] == 512
        assert gen.format.encode(gen.tokenizer, text).input_ids == enc["input_ids"][0].tolist()
        ours_steps, theirs_steps, b16_steps = Steps(gen.model), Steps(model), Steps(gen16.model)
        short = text[:20]
        (
            gen(short, max_new_tokens=NEW),
            generate_run(
                model,
                theirs_steps,
                dict(gen.tokenizer(short, return_tensors="pt", return_token_type_ids=False)),
            ),
        )  # fmt: skip  (warm-up)
        ours: list[Run] = []
        theirs: list[Run] = []
        for r in range(args.rounds):
            first, second = ("z", "t") if r % 2 == 0 else ("t", "z")
            for who in (first, second):
                if who == "z":
                    ours.append(pipeline_run(gen, ours_steps, text))
                else:
                    theirs.append(generate_run(model, theirs_steps, enc))
            print(kind, r, ours[-1][:3], theirs[-1][:3], flush=True)
        assert all(o[3] == t[3] and len(o[3]) == NEW for o, t in zip(ours, theirs, strict=True))
        dec_ratio = [o[1] / t[1] for o, t in zip(ours, theirs, strict=True)]
        ttft_ratio = [t[0] / o[0] for o, t in zip(ours, theirs, strict=True)]
        call_ratio = [o[4] / t[4] for o, t in zip(ours, theirs, strict=True)]
        b16 = pipeline_run(gen16, b16_steps, text)
        agree = sum(a == b for a, b in zip(b16[3], ours[0][3], strict=True)) / NEW
        start = int(model.config.decoder_start_token_id)
        diff = (logits(gen16.model, enc, ours[0][3], start) - logits(gen.model, enc, ours[0][3], start)).abs()
        lines += [f"{kind}: {'':28} {'call tok/s':>10} {'TTFT ms':>9} {'decode tok/s':>13} "
                  f"{'ms outside forward/token':>25}"]  # fmt: skip
        for name, runs in (("zhplm pipeline fp32", ours), ("transformers generate fp32", theirs)):
            lines.append(f"  {name:34} {median([x[4] for x in runs]):10.2f} {median([x[0] for x in runs]) * 1000:9.0f} "
                         f"{median([x[1] for x in runs]):13.2f} {median([x[2] for x in runs]) * 1000:25.2f}"
                         f"   per round call: {', '.join(f'{x[4]:.2f}' for x in runs)}")  # fmt: skip
        lines.append(
            f"  {'zhplm pipeline bf16 (one run)':34} {b16[4]:10.2f} {b16[0] * 1000:9.0f} {b16[1]:13.2f} "
            f"{b16[2] * 1000:25.2f}"
        )

        def spread(xs: list[float]) -> str:
            return f"{median(xs):.3f}x [{min(xs):.3f}-{max(xs):.3f}]"

        lines += [
            f"  zhplm / transformers: call {spread(call_ratio)} (the goal, >= 1.0x), decode {spread(dec_ratio)}, "
            f"TTFT speed {spread(ttft_ratio)}; same {NEW} tokens in every round: yes",
            f"  bf16 vs fp32 (zhplm pipeline): decode {b16[1] / median([x[1] for x in ours]):.2f}x, TTFT "
            f"{median([x[0] for x in ours]) / b16[0]:.2f}x faster; greedy agreement {agree:.0%}; logits over the "
            f"{NEW + 1} teacher-forced steps (stop column left out): max |diff| {diff.max():.3g}, mean {diff.mean():.3g}",
            "",
        ]
        print("\n".join(lines[-7:]), flush=True)
    text_out = "\n".join(lines)
    print(text_out)
    if args.out:
        args.out.write_text(text_out + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
