"""ERNIE (Paddle) conversions against PaddleNLP 2.8.1's own model classes (tests/oracles/ernie_family.py).

Each fixture is written by Paddle itself (``paddle.save`` for the dygraph ``.pdparams``,
``paddle.distributed.io.save_persistables`` for the static ``params/`` folders) under names taken from
PaddleNLP's code, converted with ``zhplm.convert`` and compared with, per release format:

* ERNIE 3.0 ``model_state.pdparams``: PaddleNLP ``ErnieModel`` (LayerNorm eps 1e-12, set by its
  ``_init_weights``); the shipped configs are compared with PaddleNLP's own configs of the five models;
* ERNIE 1.0 dygraph ``saved_weights.pdparams``: PaddleNLP ``ErnieForMaskedLM`` (which runs it with eps 1e-12)
  and the ERNIE repository's own architecture as ported in PaddleNLP's ``ernie_gen`` (eps 1e-5, Paddle's
  default LayerNorm: the one the release was trained with, and zhplm's choice);
* ERNIE-Gram dygraph: PaddleNLP ``ErnieGramModel`` (eps 1e-5);
* static persistables: SKEP → PaddleNLP ``SkepModel`` (eps 1e-5); ERNIE 1.0 → ``ErnieForMaskedLM`` + ``ernie_gen``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import zhplm
from helpers_parity import INPUTS, compare, run_model
from oracle import run_oracle
from zhplm.converter import record_parity

TOL = 1e-4
# float32 Paddle vs torch on the same architecture and eps agree to ~1e-6; a LayerNorm eps of 1e-12 instead of
# 1e-5 moves these tiny models by ~2e-5, so TIGHT tells the two apart where TOL cannot
TIGHT = 5e-6
MASK = np.array(INPUTS["attention_mask"])


def paddle_oracle(
    arch: str,
    tmp: Path,
    *,
    flavor: str | None = None,
    impls: tuple[str, ...] = ("paddlenlp",),
    config: dict[str, Any] | None = None,
) -> tuple[Path, dict[str, tuple[dict[str, np.ndarray], dict[str, Any]]]]:
    """Write ``tmp/ckpt`` with Paddle and run each reference on it (one oracle process):
    ``{impl: (outputs, summary)}``; the summary carries the LayerNorm eps the reference really used."""
    ckpt = tmp / "ckpt"
    write = ["write", "--arch", arch, "--out", str(ckpt), "--seed", "3"]
    if flavor:
        write += ["--flavor", flavor]
    if config is not None:
        (tmp / "config.json").write_text(json.dumps(config), encoding="utf-8")
        write += ["--config", str(tmp / "config.json")]
    (tmp / "inputs.json").write_text(json.dumps(INPUTS), encoding="utf-8")
    jobs = [write] + [
        ["forward", "--arch", arch, "--ckpt", str(ckpt), "--inputs", str(tmp / "inputs.json"),
         "--out", str(tmp / f"{impl}.npz"), "--impl", impl]
        for impl in impls
    ]  # fmt: skip
    (tmp / "jobs.json").write_text(json.dumps(jobs), encoding="utf-8")
    lines = [
        json.loads(line) for line in run_oracle("ernie_family.py", "batch", tmp / "jobs.json").splitlines()
    ]
    summaries = {s["impl"]: s for s in lines if "impl" in s}
    out = {}
    for impl in impls:
        with np.load(tmp / f"{impl}.npz") as ref:
            out[impl] = ({k: ref[k] for k in ref.files}, summaries[impl])
    return ckpt, out


def _encoder(o: Any) -> dict[str, Any]:
    import torch

    hs = o.hidden_states
    res = {"last_hidden_state": hs[-1], "hidden_states": torch.stack(hs)}
    if getattr(o, "pooler_output", None) is not None:
        res["pooler_output"] = o.pooler_output
    if getattr(o, "logits", None) is not None:
        res["mlm_logits"] = o.logits
    return res


def _compare_to(ours: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> dict[str, float]:
    """Real tokens only, hidden_states included ([L+1, B, T, H] → [B, T, L+1, H]): PaddleNLP's embeddings use
    ``padding_idx`` (a zero vector for [PAD] = 0), so padded rows differ by design."""

    def batch_first(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: np.moveaxis(v, 0, 2) if k == "hidden_states" else v for k, v in d.items() if k in ref}

    return compare(batch_first(ours), batch_first(ref), MASK)


def _relative(diffs: dict[str, float], ref: dict[str, np.ndarray]) -> dict[str, float]:
    """Differences over the output's scale (MLM logits reach ~30: float32 rounding alone gives ~1e-5 there)."""
    return {k: v / max(1.0, float(np.abs(ref[k]).max())) for k, v in diffs.items()}


def _pooler(folder: Path) -> Any:
    """The pooler output of a converted ErnieForMaskedLM folder: transformers' ErnieForMaskedLM builds no pooler,
    so the trained one written in the folder is read by ``ErnieModel`` (the base class of the same folder)."""
    import torch
    from transformers import ErnieModel

    model = ErnieModel.from_pretrained(folder).eval()
    feed = {k: torch.tensor(v) for k, v in INPUTS.items()}
    with torch.inference_mode():
        return model(**feed).pooler_output.float().numpy()


# ----------------------------------------------------------------------------- ERNIE 3.0 (PaddleNLP names)


@pytest.mark.oracle
def test_ernie3_pdparams_matches_paddlenlp_ernie_model(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    ckpt, refs = paddle_oracle("ernie", tmp_path_factory.mktemp("ernie3"), impls=("paddlenlp",))
    ref, summary = refs["paddlenlp"]
    assert summary["reference"].startswith("paddlenlp 2.8.1 ErnieModel")
    result = zhplm.convert(ckpt, tmp_path / "out")
    assert result.arch == "ernie" and result.scheme == "paddlenlp" and result.format == "paddle"
    assert result.architectures == ["ErnieModel"]
    assert result.heads == {"pooler": "trained", "mlm": "absent", "nsp": "absent"}
    cfg = json.loads((tmp_path / "out" / "config.json").read_text())
    assert cfg["use_task_id"] is True and cfg["layer_norm_eps"] == summary["layer_norm_eps"] == 1e-12
    diffs = _compare_to(run_model(tmp_path / "out", INPUTS, _encoder), ref)
    record_parity(
        tmp_path / "out",
        {"reference": "PaddleNLP 2.8.1 ErnieModel (tests/oracles/ernie_family.py)", "max_abs_diff": diffs},
    )
    assert set(diffs) == {"last_hidden_state", "hidden_states", "pooler_output"}
    assert max(diffs.values()) < TIGHT


@pytest.mark.oracle
def test_ernie3_shipped_configs_are_paddlenlps(tmp_path: Path) -> None:
    """Each shipped ERNIE 3.0 config equals PaddleNLP's own ``pretrained_init_configuration`` entry (completed
    with ``ErnieConfig``'s defaults), and its layer_norm_eps is the one PaddleNLP's ErnieModel really uses."""
    from zhplm.arch.ernie import ernie3_configs

    run_oracle("ernie_family.py", "configs", "--out", tmp_path / "pnlp.json")
    theirs = json.loads((tmp_path / "pnlp.json").read_text(encoding="utf-8"))
    ours = ernie3_configs()
    assert set(ours) == set(theirs)
    for name, cfg in ours.items():
        ref = theirs[name]
        for key, value in cfg.items():
            expected = ref["layer_norm_eps_used"] if key == "layer_norm_eps" else ref[key]
            assert value == expected, f"{name}: {key} is {value}, PaddleNLP says {expected}"
        assert set(ref) - set(cfg) <= {"layer_norm_eps_used"}, name


def test_ernie3_without_config_picks_the_shipped_config_by_shape() -> None:
    """ERNIE 3.0 nano's tensor shapes, no config: the shipped PaddleNLP nano config is chosen."""
    from zhplm.arch.ernie import SPEC, ernie3_configs

    nano = ernie3_configs()["ernie-3.0-nano-zh"]
    e = "ernie.embeddings"
    shapes: dict[str, tuple[int, ...]] = {
        f"{e}.word_embeddings.weight": (40000, 312),
        f"{e}.position_embeddings.weight": (2048, 312),
        f"{e}.token_type_embeddings.weight": (4, 312),
        f"{e}.task_type_embeddings.weight": (16, 312),
    }
    for i in range(4):
        shapes[f"ernie.encoder.layer.{i}.intermediate.dense.weight"] = (1248, 312)
    cfg = SPEC.build_config(None, shapes, shapes)
    assert cfg["num_hidden_layers"] == 4 and cfg["num_attention_heads"] == nano["num_attention_heads"]
    assert cfg["task_type_vocab_size"] == 16 and cfg["hidden_act"] == "gelu" and cfg["use_task_id"]
    shapes[f"{e}.task_type_embeddings.weight"] = (5, 312)
    with pytest.raises(zhplm.errors.ConversionError, match="match none of the shipped"):
        SPEC.build_config(None, shapes, shapes)


# ----------------------------------------------------------------------------- ERNIE 1.0 / ERNIE-Gram (ERNIE-repo dygraph)


ERNIE1_IMPLS = ("paddlenlp_repo_eps", "ernie_gen", "paddlenlp")


def check_ernie1(ours: dict[str, Any], cfg: dict[str, Any], refs: dict[str, Any], folder: Path) -> None:
    """ERNIE 1.0 against its three references: PaddleNLP's classes with the ERNIE repository's LayerNorm eps
    (all outputs), the repository's model itself (encoder), and PaddleNLP as shipped (eps 1e-12, recorded)."""
    pnlp_eps, eps_summary = refs["paddlenlp_repo_eps"]
    gen, gen_summary = refs["ernie_gen"]
    pnlp, pnlp_summary = refs["paddlenlp"]
    # the architecture the release was trained with (Paddle's default LayerNorm) is what zhplm runs
    assert cfg["layer_norm_eps"] == gen_summary["layer_norm_eps"] == eps_summary["layer_norm_eps"] == 1e-5
    assert pnlp_summary["layer_norm_eps"] == 1e-12  # PaddleNLP's ErnieModel sets its own for ERNIE 1.0
    d_eps, d_gen, d_pnlp = _compare_to(ours, pnlp_eps), _compare_to(ours, gen), _compare_to(ours, pnlp)
    record_parity(
        folder,
        {
            "reference": "PaddleNLP 2.8.1 ErnieForMaskedLM with the ERNIE repository's LayerNorm eps; the "
            "repository's model (PaddleNLP ernie_gen port); PaddleNLP as shipped (eps 1e-12)",
            "max_abs_diff": {
                **d_eps,
                **{f"{k} (ernie_gen)": v for k, v in d_gen.items()},
                **{f"{k} (paddlenlp eps 1e-12)": v for k, v in d_pnlp.items()},
            },
        },
    )
    assert set(d_eps) == {"last_hidden_state", "hidden_states", "pooler_output", "mlm_logits"}
    assert max(_relative(d_eps, pnlp_eps).values()) < TIGHT and max(d_gen.values()) < TIGHT
    # the eps is visible at TIGHT: zhplm with PaddleNLP's 1e-12 would fail the two assertions above
    assert TIGHT < max(_relative(d_pnlp, pnlp).values()) < 1e-3


@pytest.mark.oracle
def test_ernie1_dygraph_matches_paddlenlp_and_the_ernie_repo_model(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    ckpt, refs = paddle_oracle("ernie1", tmp_path_factory.mktemp("ernie1"), impls=ERNIE1_IMPLS)
    result = zhplm.convert(ckpt, tmp_path / "out")
    assert result.scheme == "ernie-dygraph" and result.architectures == ["ErnieForMaskedLM"]
    assert result.heads == {"pooler": "trained", "mlm": "trained", "nsp": "absent"}
    cfg = json.loads((tmp_path / "out" / "config.json").read_text())
    assert cfg["hidden_act"] == "relu" and cfg["type_vocab_size"] == 2 and cfg["intermediate_size"] == 128
    ours = run_model(tmp_path / "out", INPUTS, _encoder)
    ours["pooler_output"] = _pooler(tmp_path / "out")
    check_ernie1(ours, cfg, refs, tmp_path / "out")
    tok_vocab = (tmp_path / "out" / "vocab.txt").read_text(encoding="utf-8").splitlines()
    src_vocab = (ckpt / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert tok_vocab == [line.split("\t")[0] for line in src_vocab]  # the "\tid" column is gone


@pytest.mark.oracle
def test_ernie_gram_dygraph_matches_paddlenlp_ernie_gram_model(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    ckpt, refs = paddle_oracle("ernie_gram", tmp_path_factory.mktemp("gram"))
    ref, summary = refs["paddlenlp"]
    assert summary["reference"].startswith("paddlenlp 2.8.1 ErnieGramModel")
    result = zhplm.convert(ckpt, tmp_path / "out")
    assert result.scheme == "ernie-dygraph" and result.architectures == ["ErnieModel"]
    assert result.heads == {"pooler": "trained", "mlm": "absent", "nsp": "absent"}
    cfg = json.loads((tmp_path / "out" / "config.json").read_text())
    assert cfg["hidden_act"] == "gelu" and cfg["layer_norm_eps"] == summary["layer_norm_eps"] == 1e-5
    diffs = _compare_to(run_model(tmp_path / "out", INPUTS, _encoder), ref)
    record_parity(tmp_path / "out", {"reference": "PaddleNLP 2.8.1 ErnieGramModel", "max_abs_diff": diffs})
    assert set(diffs) == {"last_hidden_state", "hidden_states", "pooler_output"}
    assert max(diffs.values()) < TIGHT


# ----------------------------------------------------------------------------- Paddle static persistables

# hidden 64 with one head: the head count zhplm infers from shapes (hidden // 64) when the folder given is
# ``params/`` itself, as for the real SKEP (1024 hidden, 16 heads)
STATIC_CONFIG = {
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "relu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 64,
    "initializer_range": 0.02,
    "max_position_embeddings": 64,
    "num_attention_heads": 1,
    "num_hidden_layers": 2,
    "type_vocab_size": 4,
    "vocab_size": 120,
}


@pytest.mark.oracle
@pytest.mark.parametrize("flavor", ["skep", "ernie1"])
def test_paddle_static_params_match_paddlenlp(
    flavor: str, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """A ``params/`` folder written by Paddle's static ``save_persistables``: SKEP (encoder + pooler) against
    PaddleNLP ``SkepModel``; ERNIE 1.0 (+ MLM head) against ``ErnieForMaskedLM`` and the ERNIE-repo model."""
    impls = ("paddlenlp",) if flavor == "skep" else ERNIE1_IMPLS
    ckpt, refs = paddle_oracle(
        "paddle_static", tmp_path_factory.mktemp(f"static-{flavor}"), flavor=flavor, impls=impls,
        config=STATIC_CONFIG,
    )  # fmt: skip
    params = ckpt / "params"
    assert (params / "encoder_layer_0_multi_head_att_query_fc.w_0").is_file()
    assert (params / "pooled_fc.w_0").is_file() and (params / "word_embedding").is_file()
    result = zhplm.convert(params, tmp_path / "out")
    assert result.scheme == "paddle-static" and result.format == "paddle-static"
    mlm = "trained" if flavor == "ernie1" else "absent"
    assert result.heads == {"pooler": "trained", "mlm": mlm, "nsp": "absent"}
    cfg = json.loads((tmp_path / "out" / "config.json").read_text())
    assert cfg["hidden_act"] == "relu" and cfg["num_attention_heads"] == 1 and cfg["layer_norm_eps"] == 1e-5
    ours = run_model(tmp_path / "out", INPUTS, _encoder)
    ours["pooler_output"] = _pooler(tmp_path / "out")
    if flavor == "ernie1":
        check_ernie1(ours, cfg, refs, tmp_path / "out")
        return
    ref, summary = refs["paddlenlp"]
    assert summary["reference"].startswith("paddlenlp 2.8.1 SkepModel") and summary["layer_norm_eps"] == 1e-5
    diffs = _compare_to(ours, ref)
    record_parity(tmp_path / "out", {"reference": summary["reference"], "max_abs_diff": diffs})
    assert set(diffs) == {"last_hidden_state", "hidden_states", "pooler_output"}
    assert max(diffs.values()) < TIGHT


@pytest.mark.oracle
def test_paddle_static_release_folder_converts_from_its_top(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """The SKEP tarball layout: params/ next to ernie_1.0_large_ch.config.json and its vocab."""
    ckpt, _ = paddle_oracle("paddle_static", tmp_path_factory.mktemp("static-top"), flavor="skep")
    result = zhplm.convert(ckpt, tmp_path / "out")
    assert result.scheme == "paddle-static"
    cfg = json.loads((tmp_path / "out" / "config.json").read_text())
    assert cfg["num_attention_heads"] == 4  # from the config json, not guessed from shapes
