"""Reduced precision: what ``dtype="auto"`` picks on each kind of CPU, int8/bf16 loading through the one
``zhplm.load`` every pipeline and the CLI use, and ``zhplm info --system``.

The CPUs are described by ``/proc/cpuinfo`` texts in the kernel's own format (flag names as Linux prints them)
for the three kinds of machine the project runs on; expected outputs come from transformers' fp32 forward on
the same weights, never from the code under test, and the reduced-precision outputs must stay within the
bounds zhplm.precision promises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

import zhplm
import zhplm.compiled
from zhplm import precision
from zhplm.cli.main import main
from zhplm.compiled import compile_wanted
from zhplm.errors import ConversionError, MissingDependencyError
from zhplm.hardware import Cpu, cpu, parse_cpuinfo
from zhplm.precision import BOUNDS, DEGRADES, int8_backend, resolve

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
    """torchao keeps ``nn.Linear`` modules and swaps their weights for int8 tensors (the fbgemm backend replaces the
    modules instead: test_each_int8_backend_keeps_the_bounds_against_transformers_fp32)."""
    fp32 = zhplm.pipeline("embeddings", bert, pooling="mean")(TEXTS)
    int8 = zhplm.pipeline("embeddings", bert, pooling="mean", dtype="int8", int8_backend="torchao")
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


# --------------------------------------------------------------------------- int8 backends and torch.compile
@pytest.mark.parametrize("backend", ["fbgemm", "torchao"])
def test_each_int8_backend_keeps_the_bounds_against_transformers_fp32(bert: Path, backend: str) -> None:
    reference = transformers.BertForMaskedLM.from_pretrained(bert).eval()
    loaded = zhplm.load(bert, task="fill-mask", dtype="int8", int8_backend=backend)
    assert loaded.model.zhplm_int8_backend == backend
    linears = [
        m for n, m in loaded.model.named_modules() if ".encoder.layer." in f".{n}" and n.endswith(".dense")
    ]
    if backend == "fbgemm":  # torch's dynamic int8 modules replaced the encoder's linear layers
        assert len(linears) == 2 * 3 and all(
            isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in linears
        )
    else:  # torchao keeps nn.Linear and swaps the weight for its int8 tensor subclass
        assert len(linears) == 2 * 3 and all(type(m.weight) is not torch.nn.Parameter for m in linears)
    ids = loaded.tokenizer(TEXTS, return_tensors="pt", padding=True)
    mask = ids["attention_mask"].bool()
    with torch.inference_mode():
        want = reference(**ids, output_hidden_states=True)
        got = loaded.model(**ids, output_hidden_states=True)
    m = mask.unsqueeze(-1).float()
    pooled = [(o.hidden_states[-1] * m).sum(1) / m.sum(1) for o in (want, got)]
    cosine = torch.nn.functional.cosine_similarity(*pooled, dim=-1)
    assert cosine.min().item() >= BOUNDS["int8"]["embedding_cosine"], cosine
    agree = (want.logits.argmax(-1) == got.logits.argmax(-1))[mask].float().mean().item()
    assert agree >= BOUNDS["int8"]["top1_agreement"], agree


@pytest.mark.parametrize("backend", ["fbgemm", "torchao"])
def test_int8_leaves_multihead_attention_out_proj_alone(backend: str) -> None:
    """nn.MultiheadAttention (BriVL's and other towers' heads) hands ``out_proj.weight`` to the functional
    attention instead of calling the module: quantising that Linear broke the forward (found by bench_brivl)."""
    from zhplm.precision import quantize_int8

    torch.manual_seed(0)

    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = torch.nn.MultiheadAttention(64, 4, batch_first=True)
            self.ffn = torch.nn.Linear(64, 64)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.ffn(self.attn(x, x, x, need_weights=False)[0])

    x = torch.randn(2, 7, 64)
    model = Block().eval()
    with torch.inference_mode():
        want = model(x)
    quantize_int8(model, backend)
    assert type(model.attn.out_proj) is torch.nn.modules.linear.NonDynamicallyQuantizableLinear
    assert type(model.attn.out_proj.weight) is torch.nn.Parameter
    if backend == "fbgemm":
        assert isinstance(model.ffn, torch.ao.nn.quantized.dynamic.Linear)
    else:
        assert type(model.ffn.weight) is not torch.nn.Parameter
    with torch.inference_mode():
        got = model(x)
    cosine = torch.nn.functional.cosine_similarity(want.flatten(), got.flatten(), dim=0)
    assert cosine.item() > 0.99


@pytest.mark.parametrize("backend", ["fbgemm", "torchao"])
def test_int8_keeps_a_batch_first_encoder_layer_running(backend: str) -> None:
    """A batch-first nn.TransformerEncoderLayer in eval runs torch's fused kernel, which reads linear1/linear2's
    weight tensors: fbgemm's int8 modules have none, so those two stay float (the attention's in/out
    projections are parameters the kernel reads too); torchao's int8 tensors send torch down the module path."""
    from zhplm.precision import quantize_int8

    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(64, 4, dim_feedforward=128, batch_first=True)
    model = torch.nn.Sequential(
        torch.nn.Linear(32, 64), torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    )
    model.eval()
    x = torch.randn(3, 9, 32)
    mask = torch.zeros(3, 9, dtype=torch.bool)
    mask[1, 6:] = True
    with torch.inference_mode():
        want = model[1](model[0](x), src_key_padding_mask=mask)
    quantize_int8(model, backend)
    with torch.inference_mode():
        got = model[1](model[0](x), src_key_padding_mask=mask)
    encoder_layer = model[1].layers[0]
    if backend == "fbgemm":
        assert isinstance(model[0], torch.ao.nn.quantized.dynamic.Linear)
        assert (
            type(encoder_layer.linear1) is torch.nn.Linear and type(encoder_layer.linear2) is torch.nn.Linear
        )
    keep = ~mask
    cosine = torch.nn.functional.cosine_similarity(want[keep].flatten(), got[keep].flatten(), dim=0)
    assert torch.isfinite(got[keep]).all() and cosine.item() > 0.99


def test_int8_backend_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZHPLM_INT8_BACKEND", raising=False)
    monkeypatch.setattr(precision, "int8_available", lambda name: True)
    fastest = precision.INT8_ORDER["eager"][0]
    other = next(b for b in precision.INT8_BACKENDS if b != fastest)
    assert int8_backend().name == fastest and "auto" in int8_backend().reason
    assert int8_backend(compiled=True).name == precision.INT8_ORDER["compiled"][0]
    monkeypatch.setenv("ZHPLM_INT8_BACKEND", other)  # the environment forces one …
    assert int8_backend() == precision.Int8Backend(other, "asked for")
    assert int8_backend(fastest).name == fastest  # … and the parameter wins over the environment
    monkeypatch.setenv("ZHPLM_INT8_BACKEND", "auto")
    monkeypatch.setitem(precision.INT8_DEGRADES, ("gpt2", fastest), "greedy agreement 0.41")
    chosen = int8_backend(arch="gpt2")  # a family measured outside the bounds skips that backend
    assert chosen.name == other and "greedy agreement 0.41" in chosen.reason
    assert int8_backend(arch="bert").name == fastest
    with pytest.raises(ConversionError, match=r"unknown int8 backend 'onnx'.*auto, fbgemm, torchao"):
        int8_backend("onnx")


def test_int8_backend_falls_back_and_names_the_missing_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZHPLM_INT8_BACKEND", raising=False)
    fastest = precision.INT8_ORDER["eager"][0]
    monkeypatch.setattr(precision, "int8_available", lambda name: name != fastest)
    chosen = int8_backend()
    assert chosen.name != fastest and f"{fastest}: not installed" in chosen.reason
    monkeypatch.setattr(precision, "int8_available", lambda name: False)
    with pytest.raises(MissingDependencyError, match=r"pip install 'zhplm\[int8\]'"):
        int8_backend()
    with pytest.raises(MissingDependencyError, match=r"torchao.*pip install 'zhplm\[int8\]'"):
        int8_backend("torchao")


def test_the_deprecated_torch_ao_path_warns_the_user_of_nothing(tmp_path: Path) -> None:
    """torch.ao.quantization's DeprecationWarning (once per process) and the quantised-tensor constructors'
    UserWarning are ours to handle: a fresh process quantises, runs a forward and sees no warning."""
    code = (
        "import warnings, torch, transformers\n"
        "from zhplm.precision import quantize_int8\n"
        "m = transformers.BertModel(transformers.BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=1,"
        " num_attention_heads=2, intermediate_size=64)).eval()\n"
        "with warnings.catch_warnings(record=True) as seen:\n"
        "    warnings.simplefilter('always')\n"
        "    chosen = quantize_int8(m, 'fbgemm')\n"
        "    m(torch.tensor([[1, 5, 7, 2]]))\n"
        "print(chosen.name, type(m.encoder.layer[0].intermediate.dense).__module__, len(seen))\n"
        "print([str(w.message)[:80] for w in seen])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(zhplm.__file__).parents[1])}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    name, module, count = run.stdout.splitlines()[0].split()
    assert name == "fbgemm" and module.startswith("torch.ao.nn.quantized.dynamic")
    assert count == "0", run.stdout
    assert "torch.ao.quantization is deprecated" not in run.stderr, run.stderr
    assert "quantize_per_tensor" not in run.stderr and "quantize_per_channel" not in run.stderr, run.stderr


def test_compile_is_off_by_default_and_on_by_flag_or_environment(
    bert: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZHPLM_COMPILE", raising=False)
    assert not getattr(zhplm.load(bert).model, "zhplm_compiled", False)
    assert compile_wanted(None) is False and compile_wanted(True) is True
    monkeypatch.setenv("ZHPLM_COMPILE", "1")
    assert compile_wanted(None) is True and compile_wanted(False) is False


@pytest.mark.timeout(600)
def test_compiled_embeddings_equal_eager_ones(bert: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled forward (dynamo traces the model, dynamic shapes) gives the eager vectors for two batch
    shapes. Traced with torch.compile's "eager" backend: the same graph capture without Inductor's C++ build,
    which takes minutes on a loaded machine (bench/bench_backends.py measures Inductor itself)."""
    monkeypatch.setattr(zhplm.compiled, "BACKEND", "eager")
    eager = zhplm.pipeline("embeddings", bert, pooling="mean")
    compiled = zhplm.pipeline("embeddings", bert, pooling="mean", compile=True)
    assert compiled.model.zhplm_compiled is True
    for batch in (TEXTS, [*TEXTS, "短句"]):
        np.testing.assert_allclose(np.asarray(compiled(batch)), np.asarray(eager(batch)), atol=1e-5)


def test_cli_compile_and_int8_backend_reach_load_for_the_command_only(
    bert: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZHPLM_COMPILE", raising=False)
    monkeypatch.delenv("ZHPLM_INT8_BACKEND", raising=False)
    seen: list[tuple[str | None, str | None]] = []
    import zhplm.loader

    def spy(*args: object, **kwargs: object) -> object:
        seen.append((os.environ.get("ZHPLM_COMPILE"), os.environ.get("ZHPLM_INT8_BACKEND")))
        raise ConversionError("stop here")

    monkeypatch.setattr(zhplm.loader, "resolve_model_dir", spy)
    args = ["fill-mask", str(bert), "今天[MASK]气很好", "--dtype", "int8"]
    assert main([*args, "--compile", "--int8-backend", "torchao"]) != 0
    assert main(args) != 0
    assert seen == [("1", "torchao"), (None, None)]
