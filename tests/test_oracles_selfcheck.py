"""The oracles themselves: each writes its original-format checkpoint and its reference outputs are sane.

Parity tests trust ``tests/oracles/*.py``; these checks keep that trust earned: the files the original
framework wrote are there and deterministic per seed, the reference loaders consumed every variable (the
oracle fails otherwise), independent references agree where two exist (TF graph vs transformers 4.x),
padding is masked, and a different checkpoint gives different outputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from oracle import run_oracle

pytestmark = pytest.mark.oracle

# input_ids / token_type_ids / attention_mask for a batch of two (row 0 is padded by two)
INPUTS = {
    "input_ids": [[2, 10, 11, 12, 13, 14, 15, 3, 0, 0], [2, 30, 31, 4, 33, 3, 40, 41, 42, 3]],
    "token_type_ids": [[0] * 10, [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]],
    "attention_mask": [[1] * 8 + [0, 0], [1] * 10],
}
# row 0 without its padding
UNPADDED = {k: [v[0][:8]] for k, v in INPUTS.items()}

# arch -> (outputs the forward must report, checkpoint files written, implementations to run)
TF_ARCHS: dict[str, tuple[set[str], set[str], tuple[str, ...]]] = {
    "bert": (
        {"last_hidden_state", "hidden_states", "pooler_output", "mlm_logits", "nsp_logits"},
        {"bert_model.ckpt.index", "bert_model.ckpt.data-00000-of-00001", "bert_config.json", "vocab.txt"},
        ("hf4", "tf"),
    ),
    "wobert": (
        {"last_hidden_state", "hidden_states", "mlm_logits"},
        {"bert_model.ckpt.index", "bert_config.json", "vocab.txt"},
        ("hf4", "tf"),
    ),
    "roformer": (
        {"last_hidden_state", "hidden_states", "mlm_logits"},
        {"bert_model.ckpt.index", "bert_config.json", "vocab.txt"},
        ("hf4",),
    ),
    "nezha": (
        {"last_hidden_state", "hidden_states", "pooler_output", "mlm_logits", "nsp_logits"},
        {"model.ckpt-900000.index", "bert_config.json", "vocab.txt"},
        ("hf4",),
    ),
    "albert": (
        {"last_hidden_state", "hidden_states", "pooler_output", "mlm_logits", "sop_logits"},
        {"model.ckpt-best.index", "albert_config.json", "vocab_chinese.txt"},
        ("hf4",),
    ),
    "albert_brightmart": (
        {"last_hidden_state", "hidden_states", "pooler_output", "mlm_logits", "nsp_logits"},
        {"albert_model.ckpt.index", "albert_config.json", "vocab.txt"},
        ("tf",),
    ),
    "electra": (
        {
            "last_hidden_state",
            "hidden_states",
            "disc_logits",
            "gen_last_hidden_state",
            "gen_hidden_states",
            "gen_mlm_logits",
        },
        {"electra_tiny.index", "discriminator_config.json", "generator_config.json", "vocab.txt"},
        ("hf4",),
    ),
    "mobilebert": (
        {"last_hidden_state", "hidden_states", "pooler_output", "mlm_logits", "nsp_logits"},
        {"mobilebert_variables.ckpt.index", "bert_config.json", "vocab.txt"},
        ("hf4",),
    ),
    "xlnet": (
        {"last_hidden_state", "hidden_states", "lm_logits"},
        {"xlnet_model.ckpt.index", "xlnet_config.json"},
        ("hf4",),
    ),
}

# bert_family.NEZHA_CONFIG (the oracle's tiny default), restated for the bert4keras fixture
NEZHA_TINY = {
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 32,
    "initializer_range": 0.02,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "type_vocab_size": 2,
    "vocab_size": 120,
    "use_relative_position": True,
}

# trigram input (MobileBERT) concatenates each token with its neighbours, so the last real token sees the
# first pad token's embedding: padding legitimately changes outputs there (in the original TF code too)
PADDING_LEAKS = {"mobilebert"}


def _run_batch(script: str, tmp: Path, jobs: list[list[str]]) -> list[dict[str, Any]]:
    path = tmp / f"{script}.jobs.json"
    path.write_text(json.dumps(jobs))
    out = run_oracle(script, "batch", path)
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _forward(arch: str, ckpt: Path, inputs: Path, out: Path, impl: str = "hf4") -> list[str]:
    return [
        "forward",
        "--arch",
        arch,
        "--ckpt",
        str(ckpt),
        "--inputs",
        str(inputs),
        "--out",
        str(out),
        "--impl",
        impl,
    ]


@pytest.fixture(scope="module")
def tf_family(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("oracles-bert-family")
    (tmp / "in.json").write_text(json.dumps(INPUTS))
    (tmp / "in1.json").write_text(json.dumps(UNPADDED))
    jobs: list[list[str]] = []
    for arch, (_, _, impls) in TF_ARCHS.items():
        jobs.append(["write", "--arch", arch, "--out", str(tmp / arch), "--seed", "1"])
        for impl in impls:
            for name in ("in", "in1"):
                jobs.append(
                    _forward(arch, tmp / arch, tmp / f"{name}.json", tmp / f"{arch}.{impl}.{name}.npz", impl)
                )
    # determinism and sensitivity: the same seed again, and another seed
    jobs.append(["write", "--arch", "bert", "--out", str(tmp / "bert_again"), "--seed", "1"])
    jobs.append(["write", "--arch", "bert", "--out", str(tmp / "bert_seed2"), "--seed", "2"])
    jobs.append(_forward("bert", tmp / "bert_seed2", tmp / "in.json", tmp / "bert_seed2.npz"))
    # bert4keras 0.11.5 as a second reference for the bert4keras-made layouts (last: it patches tf.keras).
    # Its NEZHA hard-codes max_relative_position=64, so that fixture is written with 64.
    nezha64 = {"max_relative_position": 64}
    jobs.append(["write", "--arch", "nezha", "--out", str(tmp / "nezha64"), "--seed", "1"])
    jobs[-1] += ["--config", str(tmp / "nezha64.json")]
    jobs.append(_forward("nezha", tmp / "nezha64", tmp / "in.json", tmp / "nezha64.hf4.in.npz"))
    for arch in ("wobert", "roformer"):
        jobs.append(_forward(arch, tmp / arch, tmp / "in.json", tmp / f"{arch}.b4k.in.npz", "b4k"))
    jobs.append(_forward("nezha", tmp / "nezha64", tmp / "in.json", tmp / "nezha64.b4k.in.npz", "b4k"))
    (tmp / "nezha64.json").write_text(json.dumps({**NEZHA_TINY, **nezha64}))
    return tmp, _run_batch("bert_family.py", tmp, jobs)


@pytest.mark.parametrize("arch", sorted(TF_ARCHS))
def test_tf_family_oracle(arch: str, tf_family: tuple[Path, list[dict[str, Any]]]) -> None:
    tmp, summaries = tf_family
    outputs, files, impls = TF_ARCHS[arch]
    d = tmp / arch
    present = {p.name for p in d.iterdir()}
    assert files <= present, files - present
    assert "checkpoint" in present
    forwards = [s for s in summaries if "outputs" in s and s["ckpt"] == str(d) and s["impl"] != "b4k"]
    assert len(forwards) == 2 * len(impls)
    for s in forwards:
        assert set(s["outputs"]) == outputs
        if s["impl"] == "hf4":
            assert s["loaded_variables"] > 10
    cfg_name = sorted(f for f in files if f.endswith(".json"))[0]  # electra: the discriminator
    cfg = json.loads((d / cfg_name).read_text())
    hidden = cfg.get("hidden_size", cfg.get("d_model"))
    vocab = cfg.get("vocab_size", cfg.get("n_token"))
    for impl in impls:
        ref = np.load(tmp / f"{arch}.{impl}.in.npz")
        one = np.load(tmp / f"{arch}.{impl}.in1.npz")
        assert set(ref.files) == outputs
        for k in ref.files:
            assert np.isfinite(ref[k]).all(), k
            assert ref[k].std() > 1e-3, k
        assert ref["last_hidden_state"].shape == (2, 10, hidden)
        np.testing.assert_array_equal(ref["hidden_states"][-1], ref["last_hidden_state"])
        for k in ("mlm_logits", "gen_mlm_logits", "lm_logits"):
            if k in ref.files:
                assert ref[k].shape == (2, 10, vocab)
        # padding is masked: row 0's real tokens come out as without the padding
        for k in [] if arch in PADDING_LEAKS else ref.files:
            if ref[k].ndim >= 3 and ref[k].shape[-2] == 10:
                np.testing.assert_allclose(ref[k][..., 0:1, :8, :], one[k], atol=2e-5, rtol=1e-5, err_msg=k)
            elif ref[k].ndim == 2 and ref[k].shape[1] == 10:  # disc_logits [B, T]
                np.testing.assert_allclose(ref[k][0:1, :8], one[k], atol=2e-5, rtol=1e-5, err_msg=k)
    if len(impls) == 2:  # the TF forward written from modeling.py agrees with transformers 4.46.3
        a, b = np.load(tmp / f"{arch}.hf4.in.npz"), np.load(tmp / f"{arch}.tf.in.npz")
        for k in outputs:
            np.testing.assert_allclose(a[k], b[k], atol=1e-4, rtol=1e-4, err_msg=k)


@pytest.mark.parametrize("arch", ["wobert", "roformer", "nezha64"])
def test_bert4keras_agrees(arch: str, tf_family: tuple[Path, list[dict[str, Any]]]) -> None:
    """bert4keras (the library these layouts come from) and transformers 4.46.3 agree on the MLM logits."""
    tmp, _ = tf_family
    a, b = np.load(tmp / f"{arch}.hf4.in.npz"), np.load(tmp / f"{arch}.b4k.in.npz")
    np.testing.assert_allclose(a["mlm_logits"], b["mlm_logits"], atol=1e-4, rtol=1e-4)


def test_tf_family_seeded(tf_family: tuple[Path, list[dict[str, Any]]]) -> None:
    tmp, _ = tf_family
    data = "bert_model.ckpt.data-00000-of-00001"
    assert (tmp / "bert" / data).read_bytes() == (tmp / "bert_again" / data).read_bytes()
    assert (tmp / "bert" / data).read_bytes() != (tmp / "bert_seed2" / data).read_bytes()
    a, b = np.load(tmp / "bert.hf4.in.npz"), np.load(tmp / "bert_seed2.npz")
    assert np.abs(a["mlm_logits"] - b["mlm_logits"]).max() > 0.1


def test_bert_google_layout_has_optimizer_slots_and_bert4keras_has_no_pooler(
    tf_family: tuple[Path, list[dict[str, Any]]],
) -> None:
    """The converter must skip ``adam_m``/``adam_v``/``global_step`` (Google) and cope without a pooler
    (bert4keras): the fixtures really contain / lack them."""
    tmp, summaries = tf_family
    google = next(s for s in summaries if s["arch"] == "bert" and s.get("impl") == "hf4")
    b4k = next(s for s in summaries if s["arch"] == "wobert" and s.get("impl") == "hf4")
    assert google["ignored_variables"] == 2 * google["loaded_variables"] + 1
    assert b4k["ignored_variables"] == 0
    assert any(n.startswith("bert.pooler.") for n in b4k["unset_parameters"])
    assert "##" not in (tmp / "wobert" / "vocab.txt").read_text().splitlines()[5]  # words come first


def test_mobilebert_fixture_carries_the_teacher(tf_family: tuple[Path, list[dict[str, Any]]]) -> None:
    """Chinese-MobileBERT checkpoints hold ``teacher/…`` next to the student; the converter must drop them."""
    _, summaries = tf_family
    s = next(s for s in summaries if s["arch"] == "mobilebert" and "outputs" in s)
    assert s["teacher_variables"] > 20
    # base-f2 shape: embedding_size == hidden_size, so there is no extra_output_weights
    assert s["unset_parameters"] == ["cls.predictions.dense.weight"]


# arch -> (outputs, weights file); all take pytorch-pretrained-bert 0.6.2 ("ppb") unless megatron
TORCH_ARCHS: dict[str, tuple[set[str], str]] = {
    "bert_pt_legacy": (
        {"last_hidden_state", "hidden_states", "pooler_output", "mlm_logits", "nsp_logits"},
        "pytorch_model.bin",
    ),
    "structbert": (
        {"last_hidden_state", "hidden_states", "pooler_output", "mlm_logits", "nsp_logits"},
        "ch_model",
    ),
    "megatron_bert": ({"last_hidden_state", "hidden_states", "mlm_logits"}, "pytorch_model.bin"),
}


@pytest.fixture(scope="module")
def torch_family(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("oracles-torch-family")
    (tmp / "in.json").write_text(json.dumps(INPUTS))
    (tmp / "in1.json").write_text(json.dumps(UNPADDED))
    jobs: list[list[str]] = []
    for arch in TORCH_ARCHS:
        jobs.append(["write", "--arch", arch, "--out", str(tmp / arch), "--seed", "3"])
        impl = "hf4" if arch == "megatron_bert" else "ppb"
        for name in ("in", "in1"):
            jobs.append(
                _forward(arch, tmp / arch, tmp / f"{name}.json", tmp / f"{arch}.{impl}.{name}.npz", impl)
            )
    for arch in ("bert_pt_legacy", "structbert"):  # second opinion: transformers 4.46.3 on the same pickle
        jobs.append(_forward(arch, tmp / arch, tmp / "in.json", tmp / f"{arch}.hf4.in.npz", "hf4"))
    for flavor in ("bert_only", "module"):
        jobs.append(
            ["write", "--arch", "structbert", "--out", str(tmp / flavor), "--seed", "3", "--flavor", flavor]
        )
        jobs.append(_forward("structbert", tmp / flavor, tmp / "in.json", tmp / f"{flavor}.npz", "ppb"))
    return tmp, _run_batch("torch_bert_family.py", tmp, jobs)


@pytest.mark.parametrize("arch", sorted(TORCH_ARCHS))
def test_torch_family_oracle(arch: str, torch_family: tuple[Path, list[dict[str, Any]]]) -> None:
    tmp, summaries = torch_family
    outputs, weights = TORCH_ARCHS[arch]
    blob = (tmp / arch / weights).read_bytes()
    if arch == "megatron_bert":
        assert blob[:2] == b"PK"  # torch >= 1.6 zip container
    else:  # the pre-1.6 legacy pickle, LayerNorm parameters named gamma/beta
        assert blob[:2] == b"\x80\x02" and b"LayerNorm.gamma" in blob and b"LayerNorm.weight" not in blob
    impl = "hf4" if arch == "megatron_bert" else "ppb"
    ref, one = np.load(tmp / f"{arch}.{impl}.in.npz"), np.load(tmp / f"{arch}.{impl}.in1.npz")
    assert set(ref.files) == outputs
    assert ref["last_hidden_state"].shape == (2, 10, 32)
    assert ref["mlm_logits"].shape == (2, 10, 120)
    np.testing.assert_array_equal(ref["hidden_states"][-1], ref["last_hidden_state"])
    for k in ref.files:
        assert np.isfinite(ref[k]).all() and ref[k].std() > 1e-3, k
        if ref[k].ndim >= 3:
            np.testing.assert_allclose(ref[k][..., 0:1, :8, :], one[k], atol=2e-5, rtol=1e-5, err_msg=k)
    mine = [s for s in summaries if s.get("ckpt") == str(tmp / arch)]
    assert all(s["unset_parameters"] == [] and s["loaded_variables"] > 30 for s in mine)
    if arch != "megatron_bert":  # pytorch-pretrained-bert 0.6.2 and transformers 4.46.3 agree
        other = np.load(tmp / f"{arch}.hf4.in.npz")
        for k in outputs:
            np.testing.assert_allclose(ref[k], other[k], atol=1e-5, rtol=1e-5, err_msg=k)


def test_structbert_flavors(torch_family: tuple[Path, list[dict[str, Any]]]) -> None:
    """A bare ``model.bert`` state dict gives the encoder outputs only; a ``module.`` prefix changes nothing."""
    tmp, _ = torch_family
    full = np.load(tmp / "structbert.ppb.in.npz")
    bare, module = np.load(tmp / "bert_only.npz"), np.load(tmp / "module.npz")
    assert set(bare.files) == {"last_hidden_state", "hidden_states", "pooler_output"}
    for k in full.files:
        np.testing.assert_array_equal(module[k], full[k])
        if k in bare.files:
            np.testing.assert_array_equal(bare[k], full[k])


@pytest.fixture(scope="module")
def ernie_family(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("oracles-ernie")
    (tmp / "in.json").write_text(json.dumps(INPUTS))
    (tmp / "in1.json").write_text(json.dumps(UNPADDED))
    d = tmp / "ernie"
    jobs = [
        ["write", "--arch", "ernie", "--out", str(d), "--seed", "5"],
        _forward("ernie", d, tmp / "in.json", tmp / "paddle.in.npz", "paddle"),
        _forward("ernie", d, tmp / "in1.json", tmp / "paddle.in1.npz", "paddle"),
        _forward("ernie", d, tmp / "in.json", tmp / "hf4.in.npz", "hf4"),
        _forward("ernie", d, tmp / "in.json", tmp / "paddlenlp.in.npz", "paddlenlp"),
    ]
    for arch in ("ernie1", "ernie_gram", "paddle_static"):
        jobs.append(["write", "--arch", arch, "--out", str(tmp / arch), "--seed", "6"])
        for impl in ("paddlenlp", "paddlenlp_repo_eps", "ernie_gen"):
            jobs.append(_forward(arch, tmp / arch, tmp / "in.json", tmp / f"{arch}.{impl}.npz", impl))
    return tmp, _run_batch("ernie_family.py", tmp, jobs)


def test_ernie_oracle(ernie_family: tuple[Path, list[dict[str, Any]]]) -> None:
    tmp, summaries = ernie_family
    blob = (tmp / "ernie" / "model_state.pdparams").read_bytes()
    assert blob[:1] == b"\x80"  # paddle.save: a plain pickle of numpy arrays
    assert b"ernie.encoder.layers.1.self_attn.q_proj.weight" in blob
    assert b"ernie.embeddings.task_type_embeddings.weight" in blob
    assert {p.name for p in (tmp / "ernie").iterdir()} >= {"model_state.pdparams", "config.json", "vocab.txt"}
    ref, one = np.load(tmp / "paddle.in.npz"), np.load(tmp / "paddle.in1.npz")
    assert set(ref.files) == {"last_hidden_state", "hidden_states", "pooler_output"}
    assert ref["hidden_states"].shape == (3, 2, 10, 32)
    np.testing.assert_array_equal(ref["hidden_states"][-1], ref["last_hidden_state"])
    for k in ref.files:
        assert np.isfinite(ref[k]).all() and ref[k].std() > 1e-3, k
        if ref[k].ndim >= 3:
            np.testing.assert_allclose(ref[k][..., 0:1, :8, :], one[k], atol=2e-5, rtol=1e-5, err_msg=k)
    # Paddle's own layers and transformers 4.46.3 ErnieModel (through the nghuyong-style mapping) agree
    other = np.load(tmp / "hf4.in.npz")
    for k in ref.files:
        np.testing.assert_allclose(ref[k], other[k], atol=1e-5, rtol=1e-5, err_msg=k)
    assert all(s["loaded_variables"] == 40 for s in summaries if "outputs" in s and s["arch"] == "ernie")
    # PaddleNLP 2.8.1's own ErnieModel is the default reference; it agrees with the Paddle-layer assembly
    pnlp = np.load(tmp / "paddlenlp.in.npz")
    real = np.array(INPUTS["attention_mask"], dtype=bool)  # PaddleNLP zeroes the [PAD] embedding
    for k in ref.files:
        a, b = (np.moveaxis(x[k], 0, 2) if k == "hidden_states" else x[k] for x in (pnlp, ref))
        np.testing.assert_allclose(
            a[real] if a.ndim >= 3 else a, b[real] if b.ndim >= 3 else b, atol=2e-6, err_msg=k
        )


@pytest.mark.parametrize("arch", ["ernie1", "ernie_gram", "paddle_static"])
def test_ernie_repo_references_agree(arch: str, ernie_family: tuple[Path, list[dict[str, Any]]]) -> None:
    """PaddleNLP's classes (names mapped by PaddleNLP's matching_param_name) and the ERNIE repository's model
    (PaddleNLP's ernie_gen port, by its own names) give the same encoder on the same file once their LayerNorm
    eps is the same: the mapping is right. ERNIE 1.0 is where PaddleNLP's eps (1e-12) differs."""
    tmp, summaries = ernie_family
    eps = {s["impl"]: s["layer_norm_eps"] for s in summaries if s.get("arch") == arch and "impl" in s}
    assert eps["ernie_gen"] == eps["paddlenlp_repo_eps"] == 1e-5
    assert eps["paddlenlp"] == (1e-12 if arch == "ernie1" else 1e-5)
    gen, same = np.load(tmp / f"{arch}.ernie_gen.npz"), np.load(tmp / f"{arch}.paddlenlp_repo_eps.npz")
    real = np.array(INPUTS["attention_mask"], dtype=bool)
    for k in gen.files:
        a, b = (np.moveaxis(x[k], 0, 2) if k == "hidden_states" else x[k] for x in (gen, same))
        np.testing.assert_allclose(a[real], b[real], atol=2e-6, err_msg=k)
    other = np.load(tmp / f"{arch}.paddlenlp.npz")
    gap = np.abs(other["last_hidden_state"][real] - same["last_hidden_state"][real]).max()
    assert (gap > 5e-6) if arch == "ernie1" else (gap == 0.0)


def test_single_command_with_a_given_config(tmp_path: Path) -> None:
    """The plain CLI (no batch) and ``--config``: the original config is copied under its original name."""
    cfg = {
        "discriminator": {
            "embedding_size": 8,
            "hidden_act": "gelu",
            "hidden_size": 16,
            "intermediate_size": 32,
            "max_position_embeddings": 32,
            "num_attention_heads": 2,
            "num_hidden_layers": 1,
            "type_vocab_size": 2,
            "vocab_size": 64,
        },
        "generator": {
            "embedding_size": 8,
            "hidden_act": "gelu",
            "hidden_size": 8,
            "intermediate_size": 16,
            "max_position_embeddings": 32,
            "num_attention_heads": 1,
            "num_hidden_layers": 1,
            "type_vocab_size": 2,
            "vocab_size": 64,
        },
    }
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    out = run_oracle(
        "bert_family.py",
        "write",
        "--arch",
        "electra",
        "--config",
        tmp_path / "cfg.json",
        "--out",
        tmp_path / "d",
    )
    assert json.loads(out.splitlines()[-1])["arch"] == "electra"
    assert json.loads((tmp_path / "d" / "discriminator_config.json").read_text()) == cfg["discriminator"]
    assert json.loads((tmp_path / "d" / "generator_config.json").read_text()) == cfg["generator"]
    assert len((tmp_path / "d" / "vocab.txt").read_text(encoding="utf-8").splitlines()) == 64


SPAWN_CHECK = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import _common as C


def rank(r, url, out):
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=url, world_size=2, rank=r)
    group = dist.new_group([0, 1])  # a second group, as mpu makes
    x = torch.full((1000,), float(r + 1))
    dist.all_reduce(x, group=group)
    if r == 0:
        Path(out).write_text(json.dumps(float(x[0])))


if __name__ == "__main__":
    out = Path(sys.argv[2])
    for i in range(int(sys.argv[3])):
        C.spawn_ranks(rank, (C.rendezvous(), str(out / f"{i}.json")), 2)
        print(json.loads((out / f"{i}.json").read_text()))
"""


def test_spawned_gloo_ranks_end_without_aborting(tmp_path: Path) -> None:
    """Every multi-rank oracle spawns through ``spawn_ranks``. Bare, a 2-rank gloo spawn lost rank 1 to SIGABRT at
    interpreter exit in 10 of 60 runs here (3 CI runs hit it); eight in a row must all end cleanly and reduce."""
    import subprocess

    from oracle import ORACLES, ref_python

    script = tmp_path / "spawn_check.py"
    script.write_text(SPAWN_CHECK)
    proc = subprocess.run(
        [str(ref_python()), str(script), str(ORACLES), str(tmp_path), "8"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["3.0"] * 8
