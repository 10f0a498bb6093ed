"""BERT rows published as PyTorch pickles (OpenCLaP ms/xs, StructBERT ``ch_model``) through ``zhplm.convert``.

pytorch-pretrained-bert 0.6.2 (the library those files were made with) builds ``BertForPreTraining``, its own
``state_dict()`` is saved as a legacy (pre-1.6, non-zip) pickle with ``LayerNorm.gamma/beta`` names
(tests/oracles/torch_bert_family.py); zhplm converts and loads it in transformers 5; the reference outputs
are that same library's model on the same file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import zhplm
from helpers_parity import INPUTS, compare, oracle_checkpoint, run_model
from zhplm.converter import record_parity

TOL = 5e-5
MASK = np.array(INPUTS["attention_mask"])
ORACLE = "torch_bert_family.py"
REFERENCE = "pytorch-pretrained-bert 0.6.2 BertForPreTraining on the same pickle"


def _pretraining(o: object) -> dict[str, torch.Tensor]:
    hs = torch.stack(o.hidden_states)  # type: ignore[attr-defined]
    return {
        "last_hidden_state": hs[-1],
        "hidden_states": hs,
        "mlm_logits": o.prediction_logits,  # type: ignore[attr-defined]
        "nsp_logits": o.seq_relationship_logits,  # type: ignore[attr-defined]
    }


def _encoder(o: object) -> dict[str, torch.Tensor]:
    hs = torch.stack(o.hidden_states)  # type: ignore[attr-defined]
    return {"last_hidden_state": hs[-1], "hidden_states": hs, "pooler_output": o.pooler_output}  # type: ignore[attr-defined]


CASES = {
    # arch, flavor, file written, converted class, outputs
    "openclap-gamma": ("bert_pt_legacy", None, "pytorch_model.bin", "BertForPreTraining", _pretraining),
    "ppb-0.6-weight": ("bert_pt_legacy", "weight", "pytorch_model.bin", "BertForPreTraining", _pretraining),
    "structbert-full": ("structbert", "full", "ch_model", "BertForPreTraining", _pretraining),
    "structbert-module": ("structbert", "module", "ch_model", "BertForPreTraining", _pretraining),
    "structbert-bert-only": ("structbert", "bert_only", "ch_model", "BertModel", _encoder),
}


@pytest.mark.oracle
@pytest.mark.parametrize("case", sorted(CASES))
def test_pytorch_pickle_bert_matches_pytorch_pretrained_bert(case: str, tmp_path: Path) -> None:
    arch, flavor, fname, cls, collect = CASES[case]
    ckpt, ref = oracle_checkpoint(ORACLE, arch, tmp_path, flavor=flavor, seed=4)
    blob = (ckpt / fname).read_bytes()
    assert blob[:2] == b"\x80\x02", "not the legacy (pre-1.6) pickle"  # zip files start with PK
    assert (b"LayerNorm.gamma" in blob) == (flavor != "weight")
    result = zhplm.convert(ckpt, tmp_path / "out")
    assert result.format == "pytorch" and result.arch == "bert", (result.format, result.arch)
    assert result.architectures == [cls]
    ours = run_model(tmp_path / "out", INPUTS, collect)
    if cls == "BertForPreTraining":  # the pooler output is not in the pre-training output; check it too
        model, *_ = zhplm.load(tmp_path / "out")
        with torch.inference_mode():
            feed = {k: torch.tensor(v) for k, v in INPUTS.items()}
            ours["pooler_output"] = model.bert(**feed).pooler_output.numpy()
    diffs = compare(ours, ref, MASK)
    assert set(diffs) == set(ref), f"reference outputs not compared: {set(ref) - set(diffs)}"
    record_parity(tmp_path / "out", {"reference": REFERENCE, "max_abs_diff": diffs})
    assert max(diffs.values()) < TOL
