"""Chinese BART (fnlp bart-base/large-chinese: HF-era ``pytorch_model.bin`` folders) → transformers
``BartForConditionalGeneration``, with fnlp's BERT WordPiece tokenizer (the release uses ``BertTokenizer``,
not BART's byte-level BPE).

The release is already in transformers' names; conversion is a checked rename into safetensors. The tied
copies of the shared embedding (``model.{encoder,decoder}.embed_tokens``, ``lm_head``) are left to the model,
and ``final_logits_bias`` is a buffer that training never updates (zeros in every release).

Two revisions exist on the hub (fastnlp/CPT README, "News 12/30/2022"): ``v1.0`` (the list's, 2021: BERT
vocabulary 21128, 512 positions) and the default branch since 2022-12-30 (v2.0: a new 51271-token vocabulary
and 1024 positions, further trained 50K steps). Both convert; the conversion notes say which one it got.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from zhplm.arch._rules import Rule, Rules, Shape
from zhplm.arch._spec import ArchSpec, Evidence, Head, check_config_sizes, shape_of
from zhplm.errors import ConversionError

# (vocabulary, positions) → which fnlp release it is, and where it comes from
RELEASES: dict[tuple[int, int], str] = {
    (21128, 512): "fnlp v1.0 (2021, the list's revision: BERT vocabulary 21128, 512 positions)",
    (51271, 1024): (
        "fnlp v2.0 (the hub's default branch since 2022-12-30: vocabulary 51271, 1024 positions; "
        "the list's revision is v1.0)"
    ),
}

_PREFIX = r"(?:module\.)?"
_TIED = r"tied to the shared embedding (model.shared.weight)"
HF = Rules(
    Rule(rf"{_PREFIX}(model\.shared\.weight)", r"\1"),
    Rule(rf"{_PREFIX}(model\.(?:encoder|decoder)\.(?!embed_tokens\.)(?!version$).*)", r"\1"),
    ignore={
        rf"{_PREFIX}model\.(?:encoder|decoder)\.embed_tokens\.weight": _TIED,
        rf"{_PREFIX}lm_head\.weight": _TIED,
        rf"{_PREFIX}final_logits_bias": "buffer that training never updates (zeros); the model recreates it",
        rf"{_PREFIX}model\.(?:encoder|decoder)\.version": "fairseq version marker, not a weight",
    },
    name="hf",
)

# the config keys a BART folder carries that are not hyper-parameters of this folder
_DROP = ("architectures", "transformers_version", "_name_or_path", "model_type")


def positions_of(shapes: Mapping[str, Shape], side: str) -> int:
    """Positions a BART side holds: its learned table has 2 extra rows (fairseq's padding offset)."""
    return int(shape_of(shapes, f"model.{side}.embed_positions.weight")[0]) - 2


def release_note(vocab: int, positions: int) -> str:
    known = RELEASES.get((vocab, positions))
    if known is not None:
        return f"release: {known}"
    return f"release: vocabulary {vocab}, {positions} positions (not one of fnlp's published revisions)"


class BartSpec(ArchSpec):
    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        if not original:
            raise ConversionError(
                "a BART release needs its config.json (head counts are not in the weights): "
                "download the whole model folder"
            )
        cfg = {k: v for k, v in original.items() if k not in _DROP}
        vocab, d_model = shape_of(shapes, "model.shared.weight")
        positions = {positions_of(shapes, side) for side in ("encoder", "decoder")}
        layers = {
            side: len({t.split(".")[3] for t in shapes if t.startswith(f"model.{side}.layers.")})
            for side in ("encoder", "decoder")
        }
        found = {
            "vocab_size": vocab,
            "d_model": d_model,
            "max_position_embeddings": min(positions),
            "encoder_layers": layers["encoder"],
            "decoder_layers": layers["decoder"],
        }
        if len(positions) != 1:
            raise ConversionError(
                f"encoder and decoder position tables differ ({sorted(positions)} positions)"
            )
        check_config_sizes(cfg, found)
        cfg.update(found)
        cfg["model_type"] = self.model_type
        return cfg

    def config_notes(self, config: Mapping[str, Any]) -> list[str]:
        return [release_note(int(config["vocab_size"]), int(config["max_position_embeddings"]))]


SPEC = BartSpec(
    name="bart",
    description="BART encoder-decoder (fnlp Chinese BART, BERT tokenizer)",
    model_type="bart",
    full_class="BartForConditionalGeneration",
    schemes={"hf": HF},
    heads=(Head("lm", (r"lm_head\..*",), "language-model head (tied to the shared embedding)"),),
    config_names=("config.json",),
    vocab_names=("vocab.txt",),
    classes=(((), "BartForConditionalGeneration"),),
    evidence=Evidence(
        distinctive=(r"(?:module\.)?model\.encoder\.layers\.\d+\.self_attn\.k_proj\.weight",),
        without_distinctive=0.0,
    ),
)
