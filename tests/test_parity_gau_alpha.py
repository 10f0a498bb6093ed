"""GAU-α: a TF1 checkpoint written by bert4keras 0.11.5's ``save_weights_as_checkpoint`` from the authors' own
``GAU_alpha`` class (ZhuiyiTechnology/GAU-alpha ``models.py``, snapshot pinned in tests/oracles/SNAPSHOTS.txt),
whose ``variable_mapping`` names and pairs the variables (``GAU_alpha/encoder/layer_N/gau/…``, the release layout)
→ zhplm's GAUAlphaForMaskedLM,
against bert4keras loading the same files into the GAU-α model of ZhuiyiTechnology/GAU-alpha. The padded
batch has rows above and below softmax_plus' 16-key floor."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import zhplm
from helpers_parity import compare, oracle_checkpoint
from oracle import require_original, run_oracle
from zhplm.arch import score
from zhplm.converter import record_parity
from zhplm.errors import ConversionError, MappingError

TOL = 1e-4
ORACLE = "bert4keras_ckpt.py"


def padded_inputs(
    lengths: tuple[int, ...] = (24, 20, 10), width: int = 24, vocab: int = 64
) -> dict[str, Any]:
    """[CLS] tokens… [SEP] then id 0 (bert4keras masks id 0), segment B in the second half of each row."""
    rng = np.random.default_rng(11)
    ids = np.zeros((len(lengths), width), dtype=np.int64)
    types = np.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, :n] = [2, *rng.integers(5, vocab, n - 2), 3]
        types[row, n // 2 : n] = 1
    return {
        "input_ids": ids.tolist(),
        "token_type_ids": types.tolist(),
        "attention_mask": (ids != 0).astype(np.int64).tolist(),
    }


INPUTS = padded_inputs()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    require_original("ZhuiyiTechnology/GAU-alpha")  # the authors' GAU_alpha class names and pairs the weights
    return oracle_checkpoint(ORACLE, "gau_alpha", tmp_path_factory.mktemp("gau"), inputs=INPUTS)


@pytest.fixture(scope="module")
def converted(ckpt: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    out = tmp_path_factory.mktemp("gau-out") / "model"
    return out, zhplm.convert(ckpt[0], out)  # no arch: detected from the GAU_alpha/ names


@pytest.mark.oracle
def test_gau_alpha_matches_bert4keras(ckpt: tuple[Path, dict], converted: tuple[Path, Any]) -> None:
    import torch

    src, ref = ckpt
    out, result = converted
    assert result.arch == "gau_alpha" and result.scheme == "bert4keras-tf1"
    assert result.architectures == ["GAUAlphaForMaskedLM"] and result.heads == {"mlm": "trained"}
    assert result.plan.unmatched == [] and result.plan.ignored == []
    original = json.loads((src / "bert_config.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "gau_alpha" and config["use_bias"] is False
    for key in ("hidden_act", "attention_key_size", "intermediate_size", "num_hidden_layers", "vocab_size"):
        assert config[key] == original[key], key
    assert config["layer_norm_eps"] == pytest.approx(1e-7)  # bert4keras' K.epsilon()

    model, _tok, _prov, _ = zhplm.load(out)
    with torch.inference_mode():
        o = model(**{k: torch.tensor(v) for k, v in INPUTS.items()}, output_hidden_states=True)
    ours = {
        "last_hidden_state": o.hidden_states[-1].numpy(),
        "mlm_logits": o.logits.numpy(),
        "mlm_probs": o.logits.softmax(-1).numpy(),  # bert4keras' MLM output is softmaxed
    }
    mask = np.array(INPUTS["attention_mask"])
    diffs = compare(ours, ref, mask)
    # every layer ([L+1, B, T, H]), real tokens only
    delta = np.abs(torch.stack(o.hidden_states).numpy().astype(np.float64) - ref["hidden_states"])
    diffs["hidden_states"] = float(delta[:, mask.astype(bool)].max())
    print("hidden_states max abs diff:", diffs["hidden_states"])
    record_parity(
        out,
        {
            "reference": "bert4keras 0.11.5 + the authors' GAU_alpha (ZhuiyiTechnology/GAU-alpha models.py, TF 2.15)",
            "max_abs_diff": diffs,
        },
    )
    assert max(diffs.values()) < TOL


@pytest.mark.oracle
def test_gau_alpha_folder_loads_through_auto_classes(converted: tuple[Path, Any]) -> None:
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    import zhplm.loader

    zhplm.loader.register_architectures()
    model = AutoModelForMaskedLM.from_pretrained(str(converted[0]))
    assert type(model).__name__ == "GAUAlphaForMaskedLM"
    assert model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    tok = AutoTokenizer.from_pretrained(str(converted[0]))
    assert tok("一丁")["input_ids"] == [2, 11, 12, 3]  # [CLS] 一 丁 [SEP] in the oracle's vocab.txt


@pytest.mark.oracle
def test_gau_alpha_config_disagreeing_with_tensors_is_refused(
    ckpt: tuple[Path, dict], tmp_path: Path
) -> None:
    src = tmp_path / "src"
    shutil.copytree(ckpt[0], src)
    config = json.loads((src / "bert_config.json").read_text())
    (src / "bert_config.json").write_text(json.dumps({**config, "attention_key_size": 128}))
    with pytest.raises(ConversionError, match="attention_key_size=128"):
        zhplm.convert(src, tmp_path / "out", arch="gau_alpha")
    assert not (tmp_path / "out").exists()


@pytest.mark.oracle
def test_gau_alpha_names_paired_by_bert4keras_0_11_5_are_refused(tmp_path: Path) -> None:
    """bert4keras >= 0.11.4 builds o_dense after the scale-offsets, so saving with GAU-alpha's
    variable_mapping as it is writes q's gamma under ``o_dense/kernel``: refuse it, clearly."""
    src = tmp_path / "src"
    out = run_oracle(ORACLE, "write", "--arch", "gau_alpha", "--out", src, "--flavor", "bert4keras-0.11.5")
    shapes = json.loads(out.strip().splitlines()[-1])["variables"]
    assert shapes["GAU_alpha/encoder/layer_0/gau/o_dense/kernel"] == [16]  # the fixture really is mislabeled
    with pytest.raises(MappingError, match="paired with the wrong weights"):
        zhplm.convert(src, tmp_path / "out", arch="gau_alpha")
    with pytest.raises(ConversionError, match="wrong weights"):
        zhplm.convert(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_gau_alpha_detection_is_decisive() -> None:
    from zhplm.arch import get_arch

    names = ["bert/embeddings/word_embeddings", "bert/embeddings/token_type_embeddings"] + [
        f"GAU_alpha/encoder/layer_0/gau/{n}"
        for n in ("i_dense/kernel", "o_dense/kernel", "q_scaleoffset/gamma", "k_scaleoffset/gamma")
    ]
    gau = score(get_arch("gau_alpha"), names)
    assert gau > 1.0
    assert all(score(get_arch(a), names) < 0.5 for a in ("bert", "roformer", "roformer_v2", "nezha"))
