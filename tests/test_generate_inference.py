"""The generation pipelines run transformers' ``gelu_new`` as torch's fused tanh-GELU (zhplm.tasks._inference):
the activation equals the paper's formula, a T5 v1.1 (gated-GELU, the T5-PEGASUS / Mengzi-T5 shape) and a
GPT-2 folder greedy-decode the same tokens as transformers' ``generate`` on the unmodified model, with logits
within rounding, and a model the caller built is left alone. The image-text pipelines run CLIP ViTs'
QuickGELU MLPs as SiLU with the 1.702 folded into the weights: the same function as the paper formula, and
the weights the model shows outside (state_dict, save_pretrained, load_state_dict) stay the original ones."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers
from transformers.activations import GELUTanh, NewGELUActivation

import zhplm
from zhplm.tasks.generate import TextGeneration

VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    *"今天天气很好我们去公园散步北京上海春夏秋冬东南西北风花雪月",
]
NEW = 24


def _kinds(model: Any) -> set[type]:
    return {type(m) for m in model.modules()}


def _folder(tmp: Path, kind: str) -> tuple[Path, Any]:
    folder = tmp / kind
    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    transformers.BertTokenizer(str(folder / "vocab.txt")).save_pretrained(str(folder))
    torch.manual_seed(5)
    if kind == "t5-v1.1":
        config: Any = transformers.T5Config(vocab_size=len(VOCAB), d_model=32, d_kv=8, d_ff=64, num_layers=2,
                                            num_heads=4, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                                            decoder_start_token_id=2, eos_token_id=3, pad_token_id=0)  # fmt: skip
        model: Any = transformers.T5ForConditionalGeneration(config)
    else:
        config = transformers.GPT2Config(vocab_size=len(VOCAB), n_embd=32, n_layer=2, n_head=4, n_positions=64,
                                         activation_function="gelu_new", bos_token_id=2, eos_token_id=3)  # fmt: skip
        model = transformers.GPT2LMHeadModel(config)
    with torch.no_grad():  # activations well into GELU's curved part, and [SEP] never wins: all NEW tokens
        for p in model.parameters():
            p.mul_(4.0 if p.dim() > 1 else 1.0)
        model.get_output_embeddings().weight[3] = -1.0
    model.eval().save_pretrained(str(folder))
    return folder, model


def test_fused_activation_is_the_tanh_gelu_formula() -> None:
    """GELU(x) ≈ 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (Hendrycks & Gimpel 2016, eq. in §2), in float64."""
    x = torch.linspace(-12, 12, 20001, dtype=torch.float64)
    want = 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    got = GELUTanh()(x.float()).double()
    assert (got - want).abs().max() < 1e-5
    assert (got - NewGELUActivation()(x.float()).double()).abs().max() < 1e-5


@pytest.mark.parametrize("kind", ["t5-v1.1", "gpt2"])
def test_pipeline_fuses_gelu_and_decodes_the_same_tokens(tmp_path: Path, kind: str) -> None:
    folder, original = _folder(tmp_path, kind)
    assert NewGELUActivation in _kinds(original)
    task = "text2text-generation" if kind == "t5-v1.1" else "text-generation"
    writer = zhplm.pipeline(task, folder)
    kinds = _kinds(writer.model)
    assert NewGELUActivation not in kinds and GELUTanh in kinds

    prompt = "今天天气很好我们去公园"
    got = writer(prompt, max_new_tokens=NEW)
    ids = writer.format.encode(writer.tokenizer, prompt).input_ids
    t = torch.tensor([ids])
    with torch.inference_mode():
        out = original.generate(t, attention_mask=torch.ones_like(t), max_new_tokens=NEW, do_sample=False,
                                num_beams=1, eos_token_id=[3], pad_token_id=0)  # fmt: skip
    want = out[0, 1:] if kind == "t5-v1.1" else out[0, len(ids) :]
    assert got.token_ids == want.tolist() and len(got.token_ids) == NEW

    # teacher-forced logits over the whole continuation: rounding-level apart, not equal by construction
    dec = torch.tensor([[2, *got.token_ids]]) if kind == "t5-v1.1" else torch.tensor([ids + got.token_ids])
    feeds: dict[str, Any] = (
        {"input_ids": t, "decoder_input_ids": dec} if kind == "t5-v1.1" else {"input_ids": dec}
    )
    with torch.inference_mode():
        ours, theirs = writer.model(**feeds).logits, original(**feeds).logits
    assert (ours - theirs).abs().max() < 1e-4
    assert (ours.argmax(-1) == theirs.argmax(-1)).all()


def test_a_model_the_caller_built_is_not_touched(tmp_path: Path) -> None:
    folder, original = _folder(tmp_path, "gpt2")
    TextGeneration(original, transformers.AutoTokenizer.from_pretrained(str(folder)))
    assert NewGELUActivation in _kinds(original) and GELUTanh not in _kinds(original)


# --------------------------------------------------------------------------- CLIP ViTs' QuickGELU folded into SiLU


def _vit(act: str = "quick_gelu", dtype: torch.dtype = torch.float32) -> Any:
    torch.manual_seed(3)
    cfg = transformers.CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        image_size=32, patch_size=8, hidden_act=act,
    )  # fmt: skip
    return transformers.CLIPVisionModel(cfg).eval().to(dtype)


def _quick_gelu_by_formula(model: Any, pixels: torch.Tensor) -> torch.Tensor:
    """The unfolded model's output with QuickGELU written out as its paper formula, in float64."""
    from transformers.activations import QuickGELUActivation

    class Formula(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * torch.sigmoid(1.702 * x)

    twin = _vit().double()
    twin.load_state_dict(model.state_dict())
    for mlp in twin.modules():
        if isinstance(getattr(mlp, "activation_fn", None), QuickGELUActivation):
            mlp.activation_fn = Formula()
    with torch.inference_mode():
        out: torch.Tensor = twin(pixels.double()).last_hidden_state
    return out


def test_quick_gelu_fold_computes_the_same_function_and_saves_the_original_weights(tmp_path: Path) -> None:
    from zhplm.tasks._inference import fold_quick_gelu

    model = _vit()
    original = {k: v.clone() for k, v in model.state_dict().items()}
    pixels = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        before = model(pixels).last_hidden_state
    assert fold_quick_gelu(model) == 2
    mlps = [m for m in model.modules() if type(m).__name__ == "CLIPMLP"]
    assert len(mlps) == 2 and {type(mlp.activation_fn) for mlp in mlps} == {torch.nn.SiLU}
    fc1 = next(k for k in original if k.endswith("layers.0.mlp.fc1.weight"))
    assert not torch.equal(mlps[0].fc1.weight, original[fc1])
    with torch.inference_mode():
        after = model(pixels).last_hidden_state
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(after.double(), _quick_gelu_by_formula(_vit(), pixels), atol=1e-5, rtol=1e-5)
    # to the outside the weights are the model's own: state_dict, save_pretrained, load_state_dict
    saved = model.state_dict()
    assert saved.keys() == original.keys()
    for key, value in original.items():
        torch.testing.assert_close(saved[key], value, atol=1e-7, rtol=1e-6)
    kept = model.state_dict(keep_vars=True)
    assert kept[fc1] is not mlps[0].fc1.weight
    with torch.inference_mode():
        again = model(pixels).last_hidden_state
    torch.testing.assert_close(again, after, atol=0, rtol=0)  # taking a state dict changed nothing
    model.save_pretrained(tmp_path / "saved")
    reloaded = transformers.CLIPVisionModel.from_pretrained(tmp_path / "saved").eval()
    with torch.inference_mode():
        torch.testing.assert_close(reloaded(pixels).last_hidden_state, before, atol=1e-5, rtol=1e-5)
    other = _vit()
    torch.manual_seed(9)
    for p in other.parameters():
        p.data.normal_()
    fold_quick_gelu(other)
    other.load_state_dict(original)  # the unfolded weights, folded as they load
    with torch.inference_mode():
        torch.testing.assert_close(other(pixels).last_hidden_state, before, atol=1e-5, rtol=1e-5)


def test_quick_gelu_fold_leaves_other_activations_and_reduced_precision_alone() -> None:
    from zhplm.tasks._inference import fold_quick_gelu

    assert fold_quick_gelu(_vit(act="gelu")) == 0
    assert fold_quick_gelu(_vit(dtype=torch.bfloat16)) == 0
