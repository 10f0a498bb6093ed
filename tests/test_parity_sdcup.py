"""SDCUP (catalog rows ``sdcup-base``/``sdcup-large``, arch ``bert``, scheme ``sdcup``) against SDCUP's own code.

SDCUP's ``tableModel.TableTextPretraining`` (AliceMind snapshot, tests/oracles/sdcup_original.py) writes a
release-style state dict (``pre_encoder.*`` = SDCUP's UER copy, plus its pre-training heads); zhplm converts it
through the catalog row to a transformers ``BertModel``, and the encoder's outputs on SDCUP's own table+question
input (``get_bert_output``: ``[CLS] question [SEP] header [SEP] … 空列 [SEP]``, segments 1/2, padded) must match.

Tolerance: SDCUP's LayerNorm is ``γ (x − μ) / (σ_biased + 1e-6) + β``; ``nn.LayerNorm`` computes
``(x − μ) / sqrt(σ² + eps)``. No eps makes them equal for every σ: with eps 1e-12 the relative difference of each
normalised value is ≈ 1e-6/σ, i.e. ~1e-5 where σ is small (the embedding sum, σ ≈ 0.09 here with trained-scale
embeddings of std 0.05). So values are compared to 2e-5 relative to the largest magnitude; a real mapping error
(a wrong gamma, the unbiased-std fold of UER-py's LayerNorm, swapped q/k) is ≥ 1e-3 (the last test shows the fold).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import zhplm
from oracle import require_original, run_oracle
from zhplm.tasks.table import EMPTY_COLUMN, TableEncoder, format_table_question

REL = 2e-5
ROWS = [
    ("没有倒车影像最高零售价是多少？", ["车型", "零售价（万元）", "倒车影像"]),
    ("北京的银行有几家", ["银行名称", "所属分局", "员工数量（人）", "成立日期"]),
]
MAX_LEN = 48


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_original("alibaba/AliceMind")
    out = tmp_path_factory.mktemp("sdcup") / "release"
    run_oracle("sdcup_original.py", "write", "--out", out, "--seed", "5")
    return out


@pytest.fixture(scope="module")
def converted(release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sdcup-out") / "model"
    result = zhplm.convert(release, out, model_id="sdcup-base")
    assert result.arch == "bert" and result.scheme == "sdcup"
    assert result.architectures == ["BertModel"]
    assert result.heads == {"pooler": "absent", "mlm": "absent", "nsp": "absent"}
    ignored = dict(result.plan.ignored)
    assert any(n.startswith("pre_encoder.target.") for n in ignored)
    assert "enc_h.weight_ih_l0" in ignored and "mlm_linear_2.weight" in ignored
    assert (out / "vocab.txt").exists()  # from the release folder's google_zh_vocab.txt
    return out


@pytest.fixture(scope="module")
def reference(release: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    tmp = tmp_path_factory.mktemp("sdcup-ref")
    spec = {"questions": [q for q, _ in ROWS], "headers": [h for _, h in ROWS], "max_seq_length": MAX_LEN}
    (tmp / "in.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    run_oracle(
        "sdcup_original.py",
        "forward",
        "--ckpt",
        release,
        "--inputs",
        tmp / "in.json",
        "--out",
        tmp / "ref.npz",
    )
    with np.load(tmp / "ref.npz") as data:
        return {k: np.asarray(data[k]) for k in data.files}


def _close(ours: np.ndarray, ref: np.ndarray) -> None:
    scale = float(np.abs(ref).max())
    assert scale > 0.1
    np.testing.assert_allclose(ours, ref, atol=REL * scale, rtol=0)


def test_detected_without_the_catalog(release: Path, tmp_path: Path) -> None:
    result = zhplm.convert(release, tmp_path / "m", dry_run=True)
    assert result.arch == "bert" and result.scheme == "sdcup"


def test_input_format_equals_sdcup(converted: Path, reference: dict[str, np.ndarray]) -> None:
    tokenizer = zhplm.load(converted).tokenizer
    for b, (question, headers) in enumerate(ROWS):
        row = format_table_question(tokenizer, question, headers)
        n = len(row.input_ids)
        assert "".join(row.tokens[-3:-1]) == EMPTY_COLUMN and row.tokens[-1] == "[SEP]"
        np.testing.assert_array_equal(row.input_ids, reference["input_ids"][b, :n])
        assert not reference["input_ids"][b, n:].any()
        np.testing.assert_array_equal(np.array(row.token_type_ids) + 1, reference["segment_ids"][b, :n])
        spans = [row.question_span[0], row.question_span[1], *[x for s in row.header_spans for x in s]]
        np.testing.assert_array_equal(spans, reference["spans"][b, : len(spans)])


def test_encoder_layers_match_sdcup(converted: Path, reference: dict[str, np.ndarray]) -> None:
    model = zhplm.load(converted).model
    ids = torch.from_numpy(reference["input_ids"])
    seg = torch.from_numpy(reference["segment_ids"])
    mask = (seg > 0).long()
    with torch.inference_mode():
        out = model(
            input_ids=ids,
            token_type_ids=(seg - 1).clamp(min=0),
            attention_mask=mask,
            output_hidden_states=True,
        )
    real = mask.bool().numpy()
    for layer, ref in enumerate(reference["layers"]):
        _close(out.hidden_states[layer + 1].numpy()[real], ref[real])
    # through the helper (its own padding): the same vectors, split into question and columns
    enc = TableEncoder.from_model(converted)
    for b, vectors in enumerate(enc.batch(ROWS)):
        n = len(vectors.inputs.input_ids)
        _close(vectors.hidden, reference["last_hidden_state"][b, :n])
        start, end = vectors.inputs.question_span
        np.testing.assert_array_equal(vectors.question, vectors.hidden[start:end])
        assert len(vectors.headers) == len(ROWS[b][1]) + 1


def test_unbiased_std_fold_would_fail(converted: Path, reference: dict[str, np.ndarray]) -> None:
    """UER-py's LayerNorm uses the unbiased std and zhplm's ``uer`` scheme folds √((n−1)/n) into gamma; SDCUP's
    copy uses the biased std, so that fold must not apply here: with it, the outputs miss the tolerance."""
    model = zhplm.load(converted).model
    n = model.config.hidden_size
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.mul_(((n - 1) / n) ** 0.5)
    ids = torch.from_numpy(reference["input_ids"])
    seg = torch.from_numpy(reference["segment_ids"])
    with torch.inference_mode():
        out = model(input_ids=ids, token_type_ids=(seg - 1).clamp(min=0), attention_mask=(seg > 0).long())
    real = (seg > 0).numpy()
    ref = reference["last_hidden_state"][real]
    assert np.abs(out.last_hidden_state.numpy()[real] - ref).max() > 10 * REL * np.abs(ref).max()


def test_format_refuses_bad_rows(converted: Path) -> None:
    from zhplm.errors import ConversionError

    tokenizer = zhplm.load(converted).tokenizer
    with pytest.raises(ConversionError, match="empty"):
        format_table_question(tokenizer, "  ", ["a"])
    with pytest.raises(ConversionError, match="headers"):
        format_table_question(tokenizer, "问题", [])
    with pytest.raises(ConversionError, match="more than 16"):
        format_table_question(tokenizer, "问" * 20, ["列"], max_length=16)
    row = format_table_question(tokenizer, "问题Ω", ["列"])  # Ω: not in the vocabulary → [UNK]
    assert row.input_ids[3] == tokenizer.unk_token_id


def test_image_tasks_refuse_a_text_encoder(converted: Path) -> None:
    from zhplm.errors import ConversionError

    with pytest.raises(ConversionError, match="not an image-text model"):
        zhplm.pipeline("zero-shot-image-classification", converted)
