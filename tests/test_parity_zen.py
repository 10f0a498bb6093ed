"""ZEN: the ORIGINAL sinovation/ZEN code (run locally from a git snapshot, see tests/oracles/zen_original.py)
writes a legacy-pickle ``pytorch_model.bin`` + ``bert_config.json`` + ``vocab.txt`` + ``ngram.txt`` and
computes the reference from inputs built by its own n-gram matcher; zhplm converts, loads and compares.

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


def require_snapshot() -> None:
    require_original("sinovation/ZEN")


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
    require_snapshot()
    ckpt = tmp / "ckpt"
    run_oracle("zen_original.py", "write", "--out", ckpt, "--seed", "0", "--flavor", flavor)
    run_oracle("zen_original.py", "forward", "--ckpt", ckpt, "--out", tmp / "ref.npz", "--seed", "0")
    return Reference(ckpt, tmp / "ref.npz")


@pytest.fixture(scope="module")
def ref(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    return _oracle(tmp_path_factory.mktemp("zen"), "weight-bias")


@pytest.fixture(scope="module")
def converted(ref: Reference, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("zen-out") / "out"
    result = zhplm.convert(ref.ckpt, out)
    assert (result.arch, result.architectures) == ("zen", ["ZenForPreTraining"])
    assert result.heads == {"pooler": "trained", "mlm": "trained", "nsp": "trained"}
    return out


def spans(ngram_ids: Any, matrix: Any, token_types: Any) -> list[tuple[int, int, int, int]]:
    """Sorted (ngram id, start, length, type) of the real n-gram slots of one sequence."""
    found = []
    for slot, ngram in enumerate(np.asarray(ngram_ids).tolist()):
        rows = np.flatnonzero(np.asarray(matrix)[:, slot])
        if ngram and len(rows):
            assert rows.tolist() == list(range(rows[0], rows[0] + len(rows))), "an n-gram covers a gap"
            found.append((ngram, int(rows[0]), len(rows), int(np.asarray(token_types)[slot])))
    return sorted(found)


@pytest.mark.oracle
def test_tokenizer_reproduces_the_original_ngram_matcher(ref: Reference, converted: Path) -> None:
    tokenizer = zhplm.load(converted).tokenizer
    assert type(tokenizer).__name__ == "ZenTokenizer"
    total = 0
    for i, (a, b) in enumerate(ref.sentences):
        ours = tokenizer(a, b)
        length = len(ours["input_ids"])
        assert length == int(ref.mask[i].sum()), (a, b)
        assert ours["input_ids"] == ref.arrays["input:input_ids"][i, :length].tolist(), (a, b)
        assert ours["token_type_ids"] == ref.arrays["input:token_type_ids"][i, :length].tolist(), (a, b)
        expected = spans(
            ref.arrays["input:input_ngram_ids"][i],
            ref.arrays["input:ngram_position_matrix"][i],
            ref.arrays["input:ngram_token_type_ids"][i],
        )
        got = spans(ours["input_ngram_ids"], ours["ngram_position_matrix"], ours["ngram_token_type_ids"])
        assert got == expected, f"{a!r} / {b!r}: ours {got}, original {expected}"
        assert len(expected) == len(ref.meta["ngram_tuples"][i])
        total += len(expected)
    print(f"tokenizer: {len(ref.sentences)} inputs, {total} n-gram matches, all equal to the original's")
    assert total > 20  # the fixture really exercises the matcher (incl. [UNK] n-grams, pairs, 7-grams)


def _compare(ours: dict[str, np.ndarray], ref: Reference, rows: np.ndarray) -> dict[str, float]:
    diffs = {}
    for name, value in ours.items():
        expected = ref.arrays[name]
        delta = np.abs(value.astype(np.float64) - expected.astype(np.float64))
        if name == "hidden_states":
            delta = delta[:, rows]
        elif delta.ndim == 3:
            delta = delta[rows]
        diffs[name] = float(delta.max())
    print("max abs diff vs original ZEN:", json.dumps(diffs))
    return diffs


@pytest.mark.oracle
def test_converted_model_matches_the_original(ref: Reference, converted: Path) -> None:
    model = zhplm.load(converted).model
    assert type(model).__name__ == "ZenForPreTraining"
    with torch.no_grad():
        out = model(**ref.inputs, output_hidden_states=True)
    ours = {
        "hidden_states": torch.stack(out.hidden_states).numpy(),
        "last_hidden_state": out.hidden_states[-1].numpy(),
        "mlm_logits": out.prediction_logits.numpy(),
        "nsp_logits": out.seq_relationship_logits.numpy(),
    }
    diffs = _compare(ours, ref, ref.mask)
    record_parity(
        converted,
        {
            "reference": f"sinovation/ZEN@{ref.meta['commit'][:12]} ZenForPreTraining (original code, run locally)",
            "inputs": "the original n-gram matcher (examples/utils_sequence_level_task.py)",
            "max_abs_diff": diffs,
        },
    )
    assert max(diffs.values()) <= TOL
    assert json.loads((converted / "zhplm.json").read_text())["parity"]["max_abs_diff"] == diffs


@pytest.mark.oracle
def test_our_tokenizer_feeds_the_model_the_original_outputs(ref: Reference, converted: Path) -> None:
    """Our batch (other padding, other slot order and count) gives the original's numbers on real tokens;
    without the n-gram inputs they would differ (the check has teeth)."""
    model, tokenizer, _, _ = zhplm.load(converted)
    singles = [i for i, (_, b) in enumerate(ref.sentences) if b is None]
    pairs = [i for i, (_, b) in enumerate(ref.sentences) if b is not None]
    worst = without = 0.0
    for rows, batch in (
        (singles, tokenizer([ref.sentences[i][0] for i in singles], padding=True, return_tensors="pt")),
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
            ).prediction_logits
        for row, i in enumerate(rows):
            n = int(ref.mask[i].sum())
            expected = ref.arrays["mlm_logits"][i, :n]
            worst = max(worst, float(np.abs(logits[row, :n] - expected).max()))
            without = max(without, float(np.abs(plain.numpy()[row, :n] - expected).max()))
    print(f"MLM logits from our tokenizer's batch: max abs diff {worst:.2e} (without n-grams: {without:.2e})")
    assert worst <= TOL < 1e-2 < without


@pytest.mark.oracle
def test_fill_mask_pipeline_uses_the_ngrams(ref: Reference, converted: Path) -> None:
    index = next(i for i, (a, _) in enumerate(ref.sentences) if "[MASK]" in a)
    fill = zhplm.pipeline("fill-mask", converted, top_k=3)
    (preds,) = fill(ref.sentences[index][0])
    position = int(np.flatnonzero(ref.arrays["input:input_ids"][index] == 4)[0])
    probs = torch.from_numpy(ref.arrays["mlm_logits"][index, position]).softmax(-1)
    top = probs.topk(3)
    assert [p.token_id for p in preds] == top.indices.tolist()
    np.testing.assert_allclose([p.score for p in preds], top.values.numpy(), atol=1e-5)


@pytest.mark.oracle
def test_gamma_beta_names_convert_to_the_same_model(tmp_path: Path, ref: Reference) -> None:
    other = _oracle(tmp_path / "gb", "gamma-beta")
    result = zhplm.convert(other.ckpt, tmp_path / "out")
    assert result.arch == "zen"
    model = zhplm.load(tmp_path / "out").model
    with torch.no_grad():
        logits = model(**other.inputs).prediction_logits.numpy()
    diff = float(np.abs(logits - other.arrays["mlm_logits"])[other.mask].max())
    print(f"gamma/beta flavour: MLM max abs diff {diff:.2e}")
    assert diff <= TOL
    np.testing.assert_array_equal(
        other.arrays["mlm_logits"], ref.arrays["mlm_logits"]
    )  # same seed, same model


@pytest.mark.oracle
def test_mismatched_lexicon_or_config_is_refused(tmp_path: Path, ref: Reference) -> None:
    big = tmp_path / "big"
    shutil.copytree(ref.ckpt, big)
    with open(big / "ngram.txt", "a", encoding="utf-8") as fh:
        fh.write("".join(f"多余{i},1\n" for i in range(5)))
    with pytest.raises(ConversionError, match="n-gram embedding has only"):
        zhplm.convert(big, tmp_path / "out-big")
    assert not (tmp_path / "out-big").exists()

    wrong = tmp_path / "wrong"
    shutil.copytree(ref.ckpt, wrong)
    config = json.loads((wrong / "bert_config.json").read_text())
    config["num_hidden_word_layers"] += 1
    (wrong / "bert_config.json").write_text(json.dumps(config))
    with pytest.raises(ConversionError, match="num_hidden_word_layers"):
        zhplm.convert(wrong, tmp_path / "out-wrong")


def test_bert_checkpoints_are_not_taken_for_zen() -> None:
    from zhplm.arch.zen import SPEC

    bert_names = ["bert.embeddings.word_embeddings.weight", "bert.encoder.layer.0.output.dense.weight"]
    assert score(SPEC, bert_names) == 0.0
    assert score(SPEC, [*bert_names, "bert.encoder.word_layers.0.output.dense.weight"]) > 1.0
