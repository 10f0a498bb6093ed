"""CPT (fnlp cpt-base / cpt-large: HF-era folders for the authors' ``modeling_cpt.py``) → zhplm's own
``CPTForConditionalGeneration`` (generation head) / ``CPTForMaskedLM`` (understanding head) / ``CPTModel``.

Weight names are the original's: ``model.encoder.*`` (a ``BertModel`` without pooler: S-Enc + U-Dec layers),
``model.decoder.*`` (the BART generation decoder). The original's state dict repeats the shared word
embedding as ``model.shared``, ``model.decoder.embed_tokens`` and ``lm_head`` (one tensor, tied by its class);
they are left to the model's ties. ``final_logits_bias`` is a buffer training never updates (zeros).

The folder's ``config.json`` has BART's keys (the original imports ``BartConfig as CPTConfig``); the sizes
are checked against the weights. Revisions: as fnlp BART (``v1.0``: vocabulary 21128, 512 positions; the
hub's default branch since 2022-12-30: 51271, 1024); the conversion notes say which one it got. v1.0's
``modeling_cpt.py`` left BERT's position table at ``BertConfig``'s 512 whatever the config said; the table's
own size is what is used here, so both revisions load.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from zhplm.arch._rules import Rule, Rules, Shape
from zhplm.arch._spec import ArchSpec, Evidence, Head, check_config_sizes, count_layers, own_model, shape_of
from zhplm.arch.bart import positions_of, release_note
from zhplm.errors import ConversionError

_PREFIX = r"(?:module\.)?"
_TIED = "tied to the BERT word embedding (model.encoder.embeddings.word_embeddings.weight)"
HF = Rules(
    Rule(rf"{_PREFIX}(model\.encoder\.(?:embeddings|encoder)\..*)", r"\1"),
    Rule(rf"{_PREFIX}(model\.decoder\.(?!embed_tokens\.)(?!version$).*)", r"\1"),
    ignore={
        rf"{_PREFIX}model\.shared\.weight": _TIED,
        rf"{_PREFIX}model\.decoder\.embed_tokens\.weight": _TIED,
        rf"{_PREFIX}lm_head\.weight": _TIED,
        rf"{_PREFIX}final_logits_bias": "buffer that training never updates (zeros); the model recreates it",
        rf"{_PREFIX}model\.encoder\.embeddings\.(?:position_ids|token_type_ids)": "buffer, recomputed by the model",
        rf"{_PREFIX}model\.(?:encoder|decoder)\.version": "fairseq version marker, not a weight",
    },
    name="hf",
)

# the config keys a CPT folder carries that are not hyper-parameters of this folder
_DROP = ("architectures", "transformers_version", "_name_or_path", "model_type", "auto_map")


class CPTSpec(ArchSpec):
    def build_config(
        self, original: Mapping[str, Any] | None, shapes: Mapping[str, Shape], plan_targets: Iterable[str]
    ) -> dict[str, Any]:
        if not original:
            raise ConversionError(
                "a CPT release needs its config.json (head counts and the G-Dec layout are not in the weights): "
                "download the whole model folder"
            )
        cfg = {k: v for k, v in original.items() if k not in _DROP}
        vocab, d_model = shape_of(shapes, "model.encoder.embeddings.word_embeddings.weight")
        enc_positions = shape_of(shapes, "model.encoder.embeddings.position_embeddings.weight")[0]
        dec_positions = positions_of(shapes, "decoder")
        if enc_positions != dec_positions:
            raise ConversionError(
                f"the BERT encoder holds {enc_positions} positions and the decoder {dec_positions}: "
                "not a CPT layout zhplm knows"
            )
        found = {
            "vocab_size": vocab,
            "d_model": d_model,
            "max_position_embeddings": enc_positions,
            "encoder_layers": count_layers(shapes, r"model\.encoder\.encoder\.layer\.(\d+)\..*"),
            "decoder_layers": count_layers(shapes, r"model\.decoder\.layers\.(\d+)\..*"),
            "encoder_ffn_dim": shape_of(shapes, "model.encoder.encoder.layer.0.intermediate.dense.weight")[0],
            "decoder_ffn_dim": shape_of(shapes, "model.decoder.layers.0.fc1.weight")[0],
            "type_vocab_size": shape_of(shapes, "model.encoder.embeddings.token_type_embeddings.weight")[0],
        }
        if not 0 < found["decoder_layers"] < found["encoder_layers"]:
            raise ConversionError(
                f"{found['decoder_layers']} G-Dec layers over {found['encoder_layers']} encoder layers: CPT's "
                "decoder attends to encoder layer -decoder_layers-1, so it needs fewer decoder layers"
            )
        # v1.0's BERT used BertConfig's 512 positions whatever max_position_embeddings said: the table decides
        checked = {k: v for k, v in found.items() if k != "max_position_embeddings"}
        check_config_sizes(cfg, checked)
        cfg.update(found)
        cfg["model_type"] = self.model_type
        return cfg

    def config_notes(self, config: Mapping[str, Any]) -> list[str]:
        return [release_note(int(config["vocab_size"]), int(config["max_position_embeddings"]))]


_OWN = own_model("cpt", "CPT", heads=("MaskedLM",))

SPEC = CPTSpec(
    name="cpt",
    description="CPT (BERT encoder + BART generation decoder over a shared encoder)",
    model_type="cpt",
    full_class="CPTForConditionalGeneration",
    schemes={"hf": HF},
    heads=(
        Head("lm", (r"lm_head\..*",), "LM head tied to the word embedding (generation and understanding)"),
    ),
    config_names=("config.json",),
    vocab_names=("vocab.txt",),
    classes=(((), "CPTForConditionalGeneration"),),
    evidence=Evidence(
        distinctive=(r"(?:module\.)?model\.encoder\.encoder\.layer\.\d+\..*",),
        without_distinctive=0.0,
    ),
    # the generation head registers with AutoModelForSeq2SeqLM, the understanding head with AutoModelForMaskedLM
    own_model=dataclasses.replace(
        _OWN, auto=(*_OWN.auto, ("AutoModelForSeq2SeqLM", "CPTForConditionalGeneration"))
    ),
)
