"""ALBERT conversions against references we did not write.

* Google ALBERT (zh): TensorFlow writes the TF1 checkpoint with Google's names; transformers 4.46.3's
  ``load_tf_weights_in_albert`` + ``AlbertForPreTraining`` compute the reference.
* brightmart albert_zh: brightmart's own ``modeling.py`` + ``run_pretraining.py`` (git snapshot pinned in
  tests/oracles/SNAPSHOTS.txt) build the graph, TF's ``Saver`` writes the checkpoint, and the same code
  computes the reference on TF 2.15 through ``tf.compat.v1`` (tests/oracles/brightmart_original.py names
  its shims: ``tensorflow`` → ``tf.compat.v1``, TF 1.15's ``tf.contrib.layers.layer_norm``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import zhplm
from helpers_parity import INPUTS, compare, oracle_checkpoint, run_model
from oracle import require_original
from zhplm.converter import record_parity
from zhplm.errors import ConversionError

TOL = 1e-4
MASK = np.array(INPUTS["attention_mask"])


@pytest.fixture(scope="module")
def google_albert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    return oracle_checkpoint("bert_family.py", "albert", tmp_path_factory.mktemp("google-albert"))


@pytest.mark.oracle
def test_google_albert_matches_transformers4(tmp_path: Path, google_albert: tuple[Path, dict]) -> None:
    ckpt, ref = google_albert
    result = zhplm.convert(ckpt, tmp_path / "out")  # detection: must not be taken for BERT
    assert result.arch == "albert" and result.scheme == "google-tf1"
    assert result.architectures == ["AlbertForPreTraining"]
    assert result.heads == {"pooler": "trained", "mlm": "trained", "sop": "trained"}
    assert result.config["hidden_act"] == "relu"  # from albert_config.json, not the gelu_new default
    assert [n for n, _ in result.plan.ignored] == ["global_step"]
    ours = run_model(
        tmp_path / "out",
        INPUTS,
        lambda o: {
            "last_hidden_state": o.hidden_states[-1],
            "hidden_states": torch.stack(o.hidden_states),
            "mlm_logits": o.prediction_logits,
            "sop_logits": o.sop_logits,
        },
    )
    diffs = compare(ours, ref, MASK)
    record_parity(
        tmp_path / "out",
        {"reference": "transformers 4.46.3 load_tf_weights_in_albert", "max_abs_diff": diffs},
    )
    assert max(diffs.values()) < TOL
    tok = json.loads((tmp_path / "out" / "tokenizer_config.json").read_text())
    assert "Bert" in tok.get("tokenizer_class", "")
    vocab = (ckpt / "vocab_chinese.txt").read_text(encoding="utf-8").split()
    assert (tmp_path / "out" / "vocab.txt").read_text(encoding="utf-8").split() == vocab


@pytest.mark.oracle
def test_google_albert_needs_its_config_for_the_layer_count(
    tmp_path: Path, google_albert: tuple[Path, dict]
) -> None:
    ckpt, _ = google_albert
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in ckpt.glob("model.ckpt-best.*"):
        (bare / f.name).write_bytes(f.read_bytes())
    with pytest.raises(ConversionError, match="num_hidden_layers"):
        zhplm.convert(bare, tmp_path / "out", arch="albert")
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def brightmart(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    require_original("brightmart/albert_zh")
    return oracle_checkpoint(
        "brightmart_original.py", "albert_brightmart", tmp_path_factory.mktemp("brightmart")
    )


@pytest.mark.oracle
def test_brightmart_albert_folds_and_unrolls_exactly(tmp_path: Path, brightmart: tuple[Path, dict]) -> None:
    ckpt, ref = brightmart
    result = zhplm.convert(ckpt, tmp_path / "out")  # detection: word_embeddings_2 / layer_shared decide
    assert result.arch == "albert_brightmart" and result.architectures == ["BertForPreTraining"]
    assert result.heads == {"pooler": "trained", "mlm": "trained", "nsp": "trained"}
    assert result.config["hidden_act"] == "gelu_new" and result.config["num_hidden_layers"] == 3
    shared = [s for s in result.plan.steps if "layer_shared/attention/self/query/kernel" in s.sources[0]]
    assert sorted(s.target for s in shared) == [
        f"bert.encoder.layer.{i}.attention.self.query.weight" for i in range(3)
    ]
    model, *_ = zhplm.load(tmp_path / "out")
    feed = {k: torch.tensor(v) for k, v in INPUTS.items()}
    with torch.inference_mode():
        o = model(**feed, output_hidden_states=True)
        pooled = model.bert(**feed).pooler_output
    hs = torch.stack(o.hidden_states)
    ours = {  # brightmart's heads return log-probabilities, not logits
        "hidden_states": hs.movedim(0, 2).numpy(),  # [B, T, L+1, H]: padded positions masked out
        "last_hidden_state": hs[-1].numpy(),
        "pooler_output": pooled.numpy(),
        "mlm_log_probs": torch.log_softmax(o.prediction_logits, -1).numpy(),
        "nsp_log_probs": torch.log_softmax(o.seq_relationship_logits, -1).numpy(),
    }
    ref = {**ref, "hidden_states": np.moveaxis(ref["hidden_states"], 0, 2)}
    diffs = compare(ours, ref, MASK)
    assert set(diffs) == set(ref)
    record_parity(
        tmp_path / "out",
        {
            "reference": "brightmart/albert_zh modeling.py + run_pretraining.py (TF 2.15 compat.v1)",
            "max_abs_diff": diffs,
        },
    )
    assert max(diffs.values()) < TOL


@pytest.mark.oracle
def test_brightmart_without_config_is_refused(tmp_path: Path, brightmart: tuple[Path, dict]) -> None:
    ckpt, _ = brightmart
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in ckpt.glob("albert_model.ckpt.*"):
        (bare / f.name).write_bytes(f.read_bytes())
    with pytest.raises(ConversionError, match="num_hidden_layers"):
        zhplm.convert(bare, tmp_path / "out")
    assert not (tmp_path / "out").exists()
