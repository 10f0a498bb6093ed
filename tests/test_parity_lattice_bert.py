"""Lattice-BERT: the ORIGINAL alibaba/AliceMind TensorFlow 1 code (run locally from a git snapshot in
.venv-ref, see tests/oracles/labert_original.py) builds its graph, saves ``model.ckpt`` + ``labert_config.json``
+ ``vocab.txt`` + ``lexicon.txt``, and computes the reference from inputs built by its own lattice tokenizer
and classifier feature code; zhplm converts, loads and compares.

The original code is on no package registry: its snapshot is listed in tests/oracles/SNAPSHOTS.txt.
Without it these tests skip locally and FAIL under CI (``CI=true`` or ``ZHPLM_REQUIRE_ORACLES=1``),
with the command that fetches it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import zhplm
from oracle import require_original, run_oracle
from zhplm.arch import score
from zhplm.converter import record_parity
from zhplm.errors import ConversionError

TOL = 1e-4
INPUT_KEYS = ("input_ids", "token_type_ids", "start_position_ids", "end_position_ids")


class Reference:
    """One oracle run: the checkpoint folder, the original's inputs and outputs, its meta data."""

    def __init__(self, ckpt: Path, npz: Path) -> None:
        self.ckpt = ckpt
        with np.load(npz) as data:
            self.arrays = {k: data[k] for k in data.files}
        self.meta: dict[str, Any] = json.loads(bytes(self.arrays.pop("meta")).decode())
        self.inputs = {k[6:]: torch.from_numpy(v) for k, v in self.arrays.items() if k.startswith("input:")}
        self.mask = self.arrays["input:attention_mask"].astype(bool)
        self.sentences: list[tuple[str, str | None]] = [tuple(s) for s in self.meta["sentences"]]  # type: ignore[misc]


def _oracle(tmp: Path, flavor: str) -> Reference:
    require_original("alibaba/AliceMind")
    ckpt = tmp / "ckpt"
    run_oracle("labert_original.py", "write", "--out", ckpt, "--seed", "0", "--flavor", flavor)
    run_oracle("labert_original.py", "forward", "--ckpt", ckpt, "--out", tmp / "ref.npz", "--flavor", flavor)
    return Reference(ckpt, tmp / "ref.npz")


@pytest.fixture(scope="module")
def ref(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    return _oracle(tmp_path_factory.mktemp("labert"), "layers")


@pytest.fixture(scope="module")
def converted(ref: Reference, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("labert-out") / "out"
    result = zhplm.convert(ref.ckpt, out)
    assert (result.arch, result.architectures) == ("lattice_bert", ["LatticeBertForPreTraining"])
    assert result.heads == {"pooler": "trained", "mlm": "trained", "nsp": "trained"}
    return out


@pytest.mark.oracle
def test_tokenizer_reproduces_the_original_lattices(ref: Reference, converted: Path) -> None:
    tokenizer = zhplm.load(converted).tokenizer
    assert type(tokenizer).__name__ == "LatticeTokenizer"
    limit = int(ref.meta["max_seq_length"])
    tokens = words = 0
    for i, (a, b) in enumerate(ref.sentences):
        ours = tokenizer(a, b, truncation=True, max_length=limit)
        n = int(ref.mask[i].sum())
        for key in INPUT_KEYS:
            assert ours[key] == ref.arrays[f"input:{key}"][i, :n].tolist(), (a, b, key)
        tokens += n
        words += sum(tokenizer.is_word(t) for t in ours["input_ids"])
    truncated = [i for i, s in enumerate(ref.meta["lattices"]) if sum(map(len, s)) + 2 > limit]
    print(
        f"tokenizer: {len(ref.sentences)} inputs, {tokens} lattice tokens ({words} words), all equal to the "
        f"original's; truncated: {truncated}"
    )
    assert words > 40 and truncated  # the fixture exercises the matcher and the truncation


def _compare(ours: dict[str, np.ndarray], ref: Reference) -> dict[str, float]:
    diffs = {}
    for name, value in ours.items():
        expected = ref.arrays[name]
        assert value.shape == expected.shape, name
        delta = np.abs(value.astype(np.float64) - expected.astype(np.float64))
        if name == "hidden_states":
            delta = delta[:, ref.mask]
        elif delta.ndim == 3:
            delta = delta[ref.mask]
        diffs[name] = float(delta.max())
    print("max abs diff vs the original Lattice-BERT TF graph:", json.dumps(diffs))
    return diffs


def _outputs(model: Any, inputs: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    with torch.no_grad():
        out = model(**inputs, output_hidden_states=True)
        pooled = model.bert.pooler(out.hidden_states[-1])
    return {
        "hidden_states": torch.stack(out.hidden_states).numpy(),
        "last_hidden_state": out.hidden_states[-1].numpy(),
        "pooler_output": pooled.numpy(),
        "mlm_logits": out.prediction_logits.numpy(),
        "nsp_logits": out.seq_relationship_logits.numpy(),
    }


@pytest.mark.oracle
def test_converted_model_matches_the_original(ref: Reference, converted: Path) -> None:
    model = zhplm.load(converted).model
    assert type(model).__name__ == "LatticeBertForPreTraining"
    diffs = _compare(_outputs(model, ref.inputs), ref)
    record_parity(
        converted,
        {
            "reference": f"alibaba/AliceMind@{ref.meta['commit'][:12]} LatticeBERT (original TF1 code, "
            "run locally in tf.compat.v1)",
            "inputs": "the original LatticeTokenizerWithMapping + run_classifier_labert.convert_single_example",
            "max_abs_diff": diffs,
        },
    )
    assert max(diffs.values()) <= TOL
    assert json.loads((converted / "zhplm.json").read_text())["parity"]["max_abs_diff"] == diffs


@pytest.mark.oracle
def test_our_tokenizer_batch_gives_the_original_outputs(ref: Reference, converted: Path) -> None:
    """Our padded batches give the original's logits on the real tokens; without the lattice positions
    they would differ (the check has teeth)."""
    model, tokenizer, _, _ = zhplm.load(converted)
    limit = int(ref.meta["max_seq_length"])
    singles = [i for i, (_, b) in enumerate(ref.sentences) if b is None]
    pairs = [i for i, (_, b) in enumerate(ref.sentences) if b is not None]
    worst = without = 0.0
    for rows, batch in (
        (
            singles,
            tokenizer(
                [ref.sentences[i][0] for i in singles],
                padding=True,
                truncation=True,
                max_length=limit,
                return_tensors="pt",
            ),
        ),
        (
            pairs,
            tokenizer(
                [ref.sentences[i][0] for i in pairs],
                [ref.sentences[i][1] for i in pairs],
                padding=True,
                return_tensors="pt",
            ),
        ),
    ):
        with torch.no_grad():
            logits = model(**batch).prediction_logits.numpy()
            plain = model(
                batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]
            ).prediction_logits.numpy()
        for row, i in enumerate(rows):
            n = int(ref.mask[i].sum())
            expected = ref.arrays["mlm_logits"][i, :n]
            worst = max(worst, float(np.abs(logits[row, :n] - expected).max()))
            without = max(without, float(np.abs(plain[row, :n] - expected).max()))
    print(
        f"MLM logits from our tokenizer's batches: max abs diff {worst:.2e} (without positions {without:.2e})"
    )
    assert worst <= TOL < 1e-2 < without


@pytest.mark.oracle
def test_fill_mask_pipeline(ref: Reference, converted: Path) -> None:
    index = next(i for i, (a, b) in enumerate(ref.sentences) if "[MASK]" in a and b is None)
    fill = zhplm.pipeline("fill-mask", converted, top_k=3)
    (preds,) = fill(ref.sentences[index][0])
    position = int(np.flatnonzero(ref.arrays["input:input_ids"][index] == 4)[0])
    probs = torch.from_numpy(ref.arrays["mlm_logits"][index, position]).softmax(-1)
    top = probs.topk(3)
    assert [p.token_id for p in preds] == top.indices.tolist()
    np.testing.assert_allclose([p.score for p in preds], top.values.numpy(), atol=1e-5)
    assert "[MASK]" not in preds[0].sequence and "话" in preds[0].sequence


@pytest.mark.oracle
def test_shared_layer_checkpoint(tmp_path: Path, ref: Reference) -> None:
    """``--do_share_parameter_across_layers``: one ``layer_shared`` scope, unrolled by the converter."""
    other = _oracle(tmp_path / "shared", "shared")
    result = zhplm.convert(other.ckpt, tmp_path / "out")
    assert result.arch == "lattice_bert"
    model = zhplm.load(tmp_path / "out").model
    diffs = _compare(_outputs(model, other.inputs), other)
    assert max(diffs.values()) <= TOL
    layers = model.bert.encoder.layer
    assert torch.equal(layers[0].output.dense.weight, layers[1].output.dense.weight)

    config = json.loads((other.ckpt / "labert_config.json").read_text())
    (other.ckpt / "labert_config.json").unlink()
    with pytest.raises(ConversionError, match="num_hidden_layers"):
        zhplm.convert(other.ckpt, tmp_path / "out-noconfig")
    assert config["num_hidden_layers"] == len(layers)


@pytest.mark.oracle
def test_the_release_archive_layout_converts(tmp_path: Path, ref: Reference) -> None:
    """A ``chinese_labert-*.tar.gz`` as released: one top folder, a ``checkpoint`` file naming the
    authors' absolute path, ``model.ckpt.meta`` beside the bundle."""
    import tarfile

    top = tmp_path / "src" / "chinese_labert-tiny-std-512"
    shutil.copytree(ref.ckpt, top)
    (top / "checkpoint").write_text(
        'model_checkpoint_path: "/home/admin/labert/model.ckpt"\n'
        'all_model_checkpoint_paths: "/home/admin/labert/model.ckpt"\n'
    )
    assert (top / "model.ckpt.meta").is_file()
    archive = tmp_path / "chinese_labert-tiny-std-512.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(top, arcname=top.name)
    result = zhplm.convert(archive, tmp_path / "out")
    assert (result.arch, result.architectures) == ("lattice_bert", ["LatticeBertForPreTraining"])
    model = zhplm.load(tmp_path / "out").model
    with torch.no_grad():
        logits = model(**ref.inputs).prediction_logits.numpy()
    assert float(np.abs(logits - ref.arrays["mlm_logits"])[ref.mask].max()) <= TOL


@pytest.mark.oracle
def test_mismatched_lexicon_or_config_is_refused(tmp_path: Path, ref: Reference) -> None:
    big = tmp_path / "big"
    shutil.copytree(ref.ckpt, big)
    with open(big / "lexicon.txt", "a", encoding="utf-8") as fh:
        fh.write("".join(f"多余{i}\n" for i in range(5)))
    with pytest.raises(ConversionError, match="belongs to another model"):
        zhplm.convert(big, tmp_path / "out-big")
    assert not (tmp_path / "out-big").exists()

    wrong = tmp_path / "wrong"
    shutil.copytree(ref.ckpt, wrong)
    config = json.loads((wrong / "labert_config.json").read_text())
    config["num_attention_heads"] *= 2
    (wrong / "labert_config.json").write_text(json.dumps(config))
    with pytest.raises(ConversionError, match="num_attention_heads"):
        zhplm.convert(wrong, tmp_path / "out-wrong")


def test_other_checkpoints_are_not_taken_for_lattice_bert() -> None:
    from zhplm.arch import lattice_bert

    bert_names = [
        "bert/embeddings/word_embeddings",
        "bert/encoder/layer_0/output/dense/kernel",
        "bert/encoder/layer_0/attention/self/query/kernel",
    ]
    assert score(lattice_bert.SPEC, bert_names) == 0.0
    assert score(lattice_bert.SPEC, [*bert_names, "bert/encoder/relative_att_reset_theta_1"]) > 1.0


def test_pre_ln_checkpoints_are_refused() -> None:
    from zhplm.arch import lattice_bert

    shapes = {
        "bert/encoder/relative_att_reset_theta_1": (1, 1, 1, 8),
        "bert/encoder/layer_0/attention/self/LayerNorm/gamma": (4,),
    }
    with pytest.raises(ConversionError, match="pre-ln"):
        lattice_bert.LABERT_TF1.plan(shapes, dict.fromkeys(shapes, "float32"))
