"""BERT-architecture conversions against transformers 4.46.3's own TF loader and classes (independent).

TensorFlow writes the original TF1 checkpoint with Google's variable names (optimizer slots included);
zhplm converts it without TensorFlow and loads it in transformers 5; outputs must match.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import zhplm
from helpers_parity import INPUTS, compare, oracle_checkpoint, run_model
from zhplm.converter import record_parity

TOL = 1e-4


@pytest.fixture(scope="module")
def google_bert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    return oracle_checkpoint("bert_family.py", "bert", tmp_path_factory.mktemp("google-bert"))


@pytest.mark.oracle
def test_google_bert_tf1_matches_transformers4(tmp_path: Path, google_bert: tuple[Path, dict]) -> None:
    ckpt, ref = google_bert
    result = zhplm.convert(ckpt, tmp_path / "out")
    assert result.format == "tf1" and result.arch == "bert" and result.architectures == ["BertForPreTraining"]
    assert result.heads == {"pooler": "trained", "mlm": "trained", "nsp": "trained"}
    assert any("adam_m" in name for name, _ in result.plan.ignored)
    ours = run_model(
        tmp_path / "out",
        INPUTS,
        lambda o: {
            "last_hidden_state": o.hidden_states[-1],
            "mlm_logits": o.prediction_logits,
            "nsp_logits": o.seq_relationship_logits,
        },
    )
    diffs = compare(ours, ref, np.array(INPUTS["attention_mask"]))
    record_parity(
        tmp_path / "out", {"reference": "transformers 4.46.3 load_tf_weights_in_bert", "max_abs_diff": diffs}
    )
    assert max(diffs.values()) < TOL
    prov = json.loads((tmp_path / "out" / "zhplm.json").read_text())
    assert prov["parity"]["max_abs_diff"] == diffs and prov["reader"] == "tf1"
    assert all(len(i["sha256"]) == 64 for i in prov["inputs"])


@pytest.mark.oracle
def test_converted_folder_loads_with_plain_transformers(
    tmp_path: Path, google_bert: tuple[Path, dict]
) -> None:
    """No zhplm involved in loading: AutoModel* on the folder, in a fresh interpreter."""
    import subprocess
    import sys

    ckpt, ref = google_bert
    zhplm.convert(ckpt, tmp_path / "out")
    code = (
        "import sys, json, torch, numpy as np\n"
        "from transformers import AutoModelForPreTraining, AutoTokenizer\n"
        f"m = AutoModelForPreTraining.from_pretrained({str(tmp_path / 'out')!r}).eval()\n"
        f"tok = AutoTokenizer.from_pretrained({str(tmp_path / 'out')!r})\n"
        f"inp = {{k: torch.tensor(v) for k, v in {INPUTS!r}.items()}}\n"
        "with torch.inference_mode(): o = m(**inp)\n"
        "np.save(sys.argv[1], o.prediction_logits.numpy())\n"
        "assert 'zhplm' not in sys.modules\n"
    )
    out = tmp_path / "plain.npy"
    subprocess.run([sys.executable, "-c", code, str(out)], check=True, capture_output=True)
    diffs = compare({"mlm_logits": np.load(out)}, ref, np.array(INPUTS["attention_mask"]))
    assert diffs["mlm_logits"] < TOL
