"""Reduced precision: what ``dtype="auto"`` picks on each kind of CPU, int8/bf16 loading through the one
``zhplm.load`` every pipeline and the CLI use, and ``zhplm info --system``.

The CPUs are described by ``/proc/cpuinfo`` texts in the kernel's own format (flag names as Linux prints them)
for the three kinds of machine the project runs on; expected outputs come from transformers' fp32 forward on
the same weights, never from the code under test, and the reduced-precision outputs must stay within the
bounds zhplm.precision promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

import zhplm
from zhplm.cli.main import main
from zhplm.errors import ConversionError
from zhplm.hardware import Cpu, cpu, parse_cpuinfo
from zhplm.precision import BOUNDS, DEGRADES, resolve

ASSETS = Path(__file__).resolve().parents[2] / "shared" / "assets"
SMALL_VOCAB = ASSETS / "Morizeyao+GPT2-Chinese" / "cache" / "vocab_small.txt"

SAPPHIRE_RAPIDS = "model name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8\n"  # fmt: skip
EPYC_ROME = "processor\t: 0\nmodel name\t: AMD EPYC 7B12\nflags\t\t: fpu sse2 avx avx2 fma\n"
EPYC_GENOA = "model name\t: AMD EPYC 9B14\nflags\t\t: avx2 avx512f avx512bw avx512_vnni avx512_bf16\n"
OLD_ATOM = "model name\t: Intel(R) Atom(TM) CPU\nflags\t\t: fpu sse2 ssse3\n"


@pytest.mark.parametrize(
    ("text", "pick"),
    [(SAPPHIRE_RAPIDS, "bf16"), (EPYC_GENOA, "bf16"), (EPYC_ROME, "int8"), (OLD_ATOM, "fp32"), ("", "fp32")],
)
def test_auto_picks_what_the_cpu_runs_natively(text: str, pick: str, tmp_path: Path) -> None:
    (tmp_path / "cpuinfo").write_text(text)
    found = cpu(tmp_path / "cpuinfo")
    assert found.auto_precision == pick
    assert resolve("auto", probe=found).name == pick
    assert found.cores >= 1


def test_cpuinfo_parsing_takes_the_first_processor() -> None:
    model, flags = parse_cpuinfo(EPYC_ROME + "\nprocessor\t: 1\nmodel name\t: other\nflags\t\t: amx_bf16\n")
    assert model == "AMD EPYC 7B12" and "avx2" in flags and "amx_bf16" not in flags


def test_explicit_precisions_and_clear_errors() -> None:
    assert resolve(None).name == "fp32"
    assert [resolve(d).name for d in ("fp32", "bf16", "int8", "float16", "stored", torch.bfloat16)] == [
        "fp32", "bf16", "int8", "fp16", "stored", "bf16",
    ]  # fmt: skip
    with pytest.raises(ConversionError, match=r"unknown dtype 'int4'.*auto, fp32, bf16, int8"):
        resolve("int4")


def test_auto_falls_back_to_fp32_for_a_family_outside_the_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    genoa = Cpu("AMD EPYC 9B14", 2, frozenset({"avx512_bf16", "avx2"}))
    monkeypatch.setitem(DEGRADES, ("xlnet", "bf16"), "greedy agreement 0.4")
    chosen = resolve("auto", arch="xlnet", probe=genoa)
    assert chosen.name == "fp32" and "greedy agreement 0.4" in chosen.reason
    assert resolve("auto", arch="bert", probe=genoa).name == "bf16"


def _bert_folder(tmp: Path) -> Path:
    vocab = SMALL_VOCAB.read_text(encoding="utf-8").split("\n")
    cfg = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
    )
    torch.manual_seed(0)
    model = transformers.BertForMaskedLM(cfg).eval()
    src = tmp / "release"
    src.mkdir()
    torch.save(model.state_dict(), src / "pytorch_model.bin")
    (src / "config.json").write_text(cfg.to_json_string(), encoding="utf-8")
    (src / "vocab.txt").write_text(SMALL_VOCAB.read_text(encoding="utf-8"), encoding="utf-8")
    zhplm.convert(src, tmp / "bert")
    return tmp / "bert"


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _bert_folder(tmp_path_factory.mktemp("precision"))


TEXTS = ["今天天气很好，我们去公园散步。", "机器学习是人工智能的一个分支。", "他在北京大学读书，学的是物理。"]


def test_int8_quantises_the_linear_layers_and_keeps_the_embedding_cosine(bert: Path) -> None:
    fp32 = zhplm.pipeline("embeddings", bert, pooling="mean")(TEXTS)
    int8 = zhplm.pipeline("embeddings", bert, pooling="mean", dtype="int8")
    linears = {n: m for n, m in int8.model.named_modules() if isinstance(m, torch.nn.Linear)}
    encoder = [n for n in linears if ".encoder.layer." in f".{n}"]
    assert len(encoder) == 2 * 6  # q, k, v, o, intermediate, output in each of the 2 layers
    assert all(type(linears[n].weight) is not torch.nn.Parameter for n in encoder)  # int8 tensors now
    assert int8.model.zhplm_precision == "int8"
    cosine = np.sum(np.asarray(fp32) * np.asarray(int8(TEXTS)), axis=1)
    assert cosine.min() >= BOUNDS["int8"]["embedding_cosine"], cosine


def test_int8_leaves_the_tied_mlm_head_exact_and_fill_mask_agrees(bert: Path) -> None:
    loaded = zhplm.load(bert, task="fill-mask", dtype="int8")
    head = loaded.model.get_output_embeddings()
    assert type(head.weight) is torch.nn.Parameter and head.weight.dtype == torch.float32
    reference = transformers.BertForMaskedLM.from_pretrained(bert).eval()
    ids = loaded.tokenizer(TEXTS, return_tensors="pt", padding=True)
    with torch.inference_mode():
        want = reference(**ids).logits
        got = loaded.model(**ids).logits
    mask = ids["attention_mask"].bool()
    agree = (want.argmax(-1) == got.argmax(-1))[mask].float().mean().item()
    assert agree >= BOUNDS["int8"]["top1_agreement"], agree


def test_bf16_loads_in_bfloat16_and_stays_within_its_bound(bert: Path) -> None:
    fp32 = np.asarray(zhplm.pipeline("embeddings", bert)(TEXTS))
    bf16 = zhplm.pipeline("embeddings", bert, dtype="bf16")
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    cosine = np.sum(fp32 * np.asarray(bf16(TEXTS), dtype=np.float32), axis=1)
    assert cosine.min() >= BOUNDS["bf16"]["embedding_cosine"], cosine


def test_int8_reaches_gpt2_conv1d_and_generation_still_runs(tmp_path: Path) -> None:
    vocab = SMALL_VOCAB.read_text(encoding="utf-8").split("\n")
    cfg = transformers.GPT2Config(vocab_size=len(vocab), n_embd=64, n_layer=2, n_head=4, n_positions=64)
    torch.manual_seed(1)
    src = tmp_path / "release"
    src.mkdir()
    torch.save(transformers.GPT2LMHeadModel(cfg).state_dict(), src / "pytorch_model.bin")
    (src / "config.json").write_text(cfg.to_json_string(), encoding="utf-8")
    (src / "vocab.txt").write_text(SMALL_VOCAB.read_text(encoding="utf-8"), encoding="utf-8")
    zhplm.convert(src, tmp_path / "gpt2")
    gen = zhplm.pipeline("text-generation", tmp_path / "gpt2", dtype="int8")
    from transformers.pytorch_utils import Conv1D

    assert not any(isinstance(m, Conv1D) for m in gen.model.modules())
    reference = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "gpt2").eval()
    ids = torch.tensor([[5, 80, 120, 7, 300]])
    with torch.inference_mode():
        want = reference(ids).logits
        got = gen.model(ids).logits
    assert (want - got).abs().max().item() < 0.1 * want.abs().max().item()
    assert len(gen("今天", max_new_tokens=5).text) > 0


def test_cli_dtype_flag_reaches_the_model(bert: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fill-mask", str(bert), "今天[MASK]气很好", "--dtype", "int8", "--json"]) == 0
    answers = json.loads(capsys.readouterr().out)
    assert len(answers[0]) == 5
    with pytest.raises(SystemExit) as refused:  # argparse refuses it, naming the choices
        main(["fill-mask", str(bert), "今天[MASK]气很好", "--dtype", "int4"])
    assert refused.value.code == 2 and "invalid choice: 'int4'" in capsys.readouterr().err


def test_info_system_reports_the_cpu_without_importing_torch() -> None:
    code = (
        "import sys, json; from zhplm.cli.main import main; main(['info', '--system', '--json']);"
        "print(json.dumps(sorted(m for m in ('torch', 'transformers', 'torchao') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    report_text, imported = out.rsplit("\n", 2)[0], json.loads(out.rsplit("\n", 2)[1])
    report = json.loads(report_text)
    assert imported == []
    here = cpu()
    assert report["auto_precision"] == here.auto_precision and report["cores"] == here.cores
    assert report["cpu"] == here.model
