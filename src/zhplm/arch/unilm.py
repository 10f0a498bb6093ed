"""UniLM (YunwenTechnology ``unilm_base``; TF1 and PyTorch) → zhplm's own ``UnilmForMaskedLM`` / ``UnilmModel``.

The PyTorch release is the state dict of the authors' ``UnilmForLM`` (``bert.*``, ``cls.predictions.*`` and an
NSP head ``cls2.seq_relationship.*`` that seq2seq never uses). The TF1 release was exported from it by their
``convert_unilm_pytorch_checkpoint_to_original_tf.py``, whose names are Google's for the encoder but its own
for the heads: ``cls/predictions/bias`` (Google: ``output_bias``), ``cls/predictions/decoder/{kernel,bias}``
(the tied decoder, stored untransposed) and ``cls2/seq_relationship/{kernel,bias}`` (scheme ``yunwen-tf1``). What BERT alone would lose is
behaviour: six token types (NLU 0/1, generation source 4 / target 5) under the UniLM mask, and decoding by
appending ``[MASK]`` at the next position and predicting it (``decode_seq2seq.py``); both live in the
shared UniLM code as settings of :class:`~zhplm.arch.modeling.configuration_unilm.UnilmConfig`.

Detection: the names are BERT's; six token types in the original config tell UniLM apart (or pass
``arch='unilm'``, as the catalog rows do).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zhplm.arch._rules import Rule, Rules
from zhplm.arch._spec import Evidence, Head, own_model
from zhplm.arch.bert import GOOGLE_TF1, PYTORCH, BertSpec
from zhplm.arch.simbert import without_nsp

NSP2_UNUSED = {
    r"cls2/seq_relationship/.*": "UniLM's NSP head (cls2): not used by seq2seq or fill-mask",
    r"(?:module\.)?cls2\.seq_relationship\..*": "UniLM's NSP head (cls2): not used by seq2seq or fill-mask",
}
_GOOGLE = without_nsp(GOOGLE_TF1)
YUNWEN_TF1 = Rules(
    *(r for r in _GOOGLE.rules if "output_bias" not in r.source),
    Rule(r"cls/predictions/bias", "cls.predictions.bias"),
    ignore={
        **_GOOGLE.ignore,
        **NSP2_UNUSED,
        r"cls/predictions/decoder/kernel": "tied to bert.embeddings.word_embeddings.weight",
        r"cls/predictions/decoder/bias": "tied to cls.predictions.bias",
    },
    name="yunwen-tf1",
)
_TORCH = without_nsp(PYTORCH)
YUNWEN_PYTORCH = Rules(*_TORCH.rules, ignore={**_TORCH.ignore, **NSP2_UNUSED}, name="pytorch")


class UnilmSpec(BertSpec):
    def write_tokenizer(self, vocab: Path | None, out: Path, config: Any) -> list[str]:
        """BERT's WordPiece tokenizer; the config's ``mask_token_id`` (what decoding appends) is set from the
        vocabulary's own ``[MASK]``."""
        notes = super().write_tokenizer(vocab, out, config)
        if vocab is not None:
            tokens = vocab.read_text(encoding="utf-8").splitlines()
            if "[MASK]" not in tokens:
                return [*notes, f"{vocab.name} has no [MASK]: generation cannot append it"]
            path = out / "config.json"
            written = json.loads(path.read_text(encoding="utf-8"))
            written["mask_token_id"] = tokens.index("[MASK]")
            path.write_text(json.dumps(written, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return notes


SPEC = UnilmSpec(
    name="unilm",
    description="UniLM (Yunwen): BERT with 6 token types, UniLM seq2seq mask, append-[MASK] decoding (zhplm's own class)",
    model_type="unilm",
    full_class="UnilmForMaskedLM",
    schemes={"yunwen-tf1": YUNWEN_TF1, "google-tf1": _GOOGLE, "pytorch": YUNWEN_PYTORCH},
    heads=(
        Head("pooler", (r"bert\.pooler\..*",), "BERT pooler over [CLS] (tanh)"),
        Head(
            "mlm",
            (r"cls\.predictions\..*",),
            "masked-LM head (transform + tied decoder), used for generation",
        ),
    ),
    config_names=("bert_config.json", "config.json"),
    vocab_names=("vocab.txt",),
    classes=((("mlm",), "UnilmForMaskedLM"), ((), "UnilmModel")),
    evidence=Evidence(config=(("type_vocab_size", 6),), without_config=0.99),
    own_model=own_model("unilm", "Unilm", heads=("MaskedLM", "CausalLM")),
)
