"""CogView (THUDM, 4B) Megatron shards → zhplm's own ``CogViewForCausalLM``.

The release is ``mp_rank_00_model_states.pt`` (DeepSpeed; ``module`` holds the state dict of the authors'
``model/gpt2_modeling.GPT2Model`` over ``mpu/sparse_transformer.py``); :mod:`zhplm.formats.megatron` joins
model-parallel ranks. Names: ``word_embeddings.weight``, ``transformer.position_embeddings.weight``,
``transformer.layers.N.*`` (four LayerNorms each: the sandwich), ``transformer.final_layernorm.*`` — the
model's own names below ``transformer.`` (:mod:`zhplm.arch.modeling.cogview` describes the model).

The head count is not in the weights: it comes from a ``config.json`` beside them, else it is the release's
40 (``scripts/text2image.sh``) when the width is 2560, else the width / 64. Images are 32×32 codes of the
authors' VQ-VAE (:mod:`zhplm.arch.modeling.cogview_vqvae` turns images into codes and codes into pixels).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from zhplm.arch._rules import Rule, Rules, Shape
from zhplm.arch._spec import ArchSpec, Evidence, Head, check_config_sizes, count_layers, own_model, shape_of
from zhplm.errors import ConversionError

_P = r"(?:module\.)?(?:model\.)?"
_LEAF = (
    r"((?:input_layernorm|third_layernorm|post_attention_layernorm|fourth_layernorm"
    r"|attention\.(?:query_key_value|dense)|mlp\.(?:dense_h_to_4h|dense_4h_to_h))\.(?:weight|bias))"
)

MEGATRON = Rules(
    Rule(rf"{_P}word_embeddings\.weight", "cogview.word_embeddings.weight"),
    Rule(rf"{_P}transformer\.position_embeddings\.weight", "cogview.position_embeddings.weight"),
    Rule(rf"{_P}transformer\.layers\.(\d+)\.{_LEAF}", r"cogview.layers.\1.\2"),
    Rule(rf"{_P}transformer\.final_layernorm\.(weight|bias)", r"cogview.final_layernorm.\1"),
    name="megatron",
)

RELEASE_HEADS = {2560: 40}  # scripts/text2image.sh: --hidden-size 2560 --num-attention-heads 40
IMAGE_TOKENS = 8192  # the release VQ-VAE's codebook: image codes are the first ids of the vocabulary
VQVAE_FILE = "vqvae.safetensors"  # encoder, codebook and decoder, written beside the converted model


def write_vqvae(folder: Path, out: Path) -> list[str]:
    """Copy the authors' VQ-VAE (``*vqvae*.pt`` under ``folder``: encoder, codebook, decoder; not the training
    buffers) as ``vqvae.safetensors``, so the text-to-image and image-to-text pipelines find everything in the
    converted folder."""
    found = sorted(p for p in folder.rglob("*.pt") if "vqvae" in p.name.lower())
    if not found:
        return [
            "no VQ-VAE (*vqvae*.pt) beside the weights: text-to-image and image-to-text need the authors' "
            "pretrained/vqvae/vqvae_hard_biggerset_011.pt (copy it beside the weights and convert again, or "
            "pass vqvae=PATH to the pipeline)"
        ]
    import torch
    from safetensors.torch import save_file

    from zhplm.arch.modeling.cogview_vqvae import CogViewVQVAE

    try:
        state = torch.load(found[0], map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise ConversionError(f"it holds a {type(state).__name__}, not a state dict")
        vqvae = CogViewVQVAE.from_state_dict(state)  # the encoder too when the file has it (the release does)
        if vqvae.n_embed != IMAGE_TOKENS:
            raise ConversionError(
                f"it has {vqvae.n_embed} image codes, CogView's vocabulary {IMAGE_TOKENS}: is it this model's "
                "VQ-VAE (vqvae_hard_biggerset_011.pt)?"
            )
    except Exception as exc:  # a damaged or foreign file must not lose the model's conversion
        return [
            f"VQ-VAE not written: {found[0].name} is not a usable CogView VQ-VAE ({exc}); text-to-image and "
            "image-to-text need the authors' vqvae_hard_biggerset_011.pt (pass vqvae=PATH to the pipeline, or "
            "convert again)"
        ]
    save_file({k: v.contiguous() for k, v in vqvae.state_dict().items()}, str(out / VQVAE_FILE))
    if not vqvae.has_encoder:
        return [
            f"VQ-VAE decoder ({vqvae.n_embed} codes) from {found[0].name} written as {VQVAE_FILE}; the file has no "
            "encoder (enc_b.*), so image-to-text cannot read images: use the authors' vqvae_hard_biggerset_011.pt"
        ]
    return [f"VQ-VAE encoder + decoder ({vqvae.n_embed} codes) from {found[0].name} written as {VQVAE_FILE}"]


class CogViewSpec(ArchSpec):
    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        original = original or {}
        vocab, hidden = shape_of(shapes, "cogview.word_embeddings.weight")
        positions = shape_of(shapes, "cogview.position_embeddings.weight")[0]
        found = {
            "num_layers": count_layers(shapes, r"cogview\.layers\.(\d+)\..*"),
            "hidden_size": hidden,
            "vocab_size": vocab,
            "max_position_embeddings": positions,
        }
        said = {k: original.get(k) for k in found}
        check_config_sizes({k: v for k, v in said.items() if v is not None}, found)
        heads = int(original.get("num_attention_heads") or RELEASE_HEADS.get(hidden, max(hidden // 64, 1)))
        if heads <= 0 or hidden % heads:
            raise ConversionError(
                f"hidden size {hidden} is not divisible by {heads} attention heads: "
                "give num_attention_heads in a config.json beside the weights"
            )
        return {
            "model_type": self.model_type,
            **found,
            "num_attention_heads": heads,
            "layer_norm_eps": 1e-5,
            "tie_word_embeddings": True,
        }

    def write_tokenizer(self, vocab: Path | None, out: Path, config: Mapping[str, Any]) -> list[str]:
        """The unified tokenizer over ``cog-pretrain.model``, and the VQ-VAE when one is beside it."""
        if vocab is None:
            return [
                "no cog-pretrain.model found: the tokenizer was not written (copy the authors' "
                "pretrained/chinese_sentencepiece/cog-pretrain.model beside the weights)"
            ]
        from zhplm.arch.tokenization.cogview import write_cogview_tokenizer

        notes = write_cogview_tokenizer(vocab, out, image_tokens=IMAGE_TOKENS)
        return notes + write_vqvae(vocab.parent, out)


SPEC = CogViewSpec(
    name="cogview",
    description="CogView: Megatron GPT with sandwich (PB-relax) LayerNorm over text + VQ-VAE image codes",
    model_type="cogview",
    full_class="CogViewForCausalLM",
    schemes={"megatron": MEGATRON},
    heads=(Head("lm", (r"lm_head\..*",), "language-model head (tied to the token embedding)"),),
    config_names=("config.json",),
    vocab_names=("cog-pretrain.model",),
    classes=((("lm",), "CogViewForCausalLM"), ((), "CogViewModel")),
    evidence=Evidence(distinctive=(r".*layers\.\d+\.third_layernorm\.weight",), without_distinctive=0.0),
    own_model=own_model("cogview", "CogView", heads=("CausalLM",)),
    tokenizers=("zhplm.arch.tokenization.cogview",),
)
