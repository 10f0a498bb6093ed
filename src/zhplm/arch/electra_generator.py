"""ELECTRA generator (masked LM) → ``ElectraForMaskedLM``, from the same checkpoints as the discriminator.

The naming schemes and config translation are :mod:`zhplm.arch.electra`'s, applied to the ``generator/…``
scope; the discriminator's variables are then ignored, with that reason, in ``zhplm.json``.
"""

from __future__ import annotations

from zhplm.arch._spec import Head
from zhplm.arch.electra import GENERATOR_PT, GENERATOR_TF1, ElectraSpec

SPEC = ElectraSpec(
    name="electra_generator",
    description="ELECTRA generator (masked LM), from the same checkpoints as the discriminator",
    model_type="electra",
    full_class="ElectraForMaskedLM",
    schemes={"google-tf1": GENERATOR_TF1, "pytorch": GENERATOR_PT},
    heads=(
        Head("mlm", (r"generator_predictions\..*", r"generator_lm_head\..*"), "generator masked-LM head"),
    ),
    config_names=("*generator_config.json",),
    vocab_names=("vocab.txt",),
    part="generator",
    classes=((("mlm",), "ElectraForMaskedLM"), ((), "ElectraModel")),
)
