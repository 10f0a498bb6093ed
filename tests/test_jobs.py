"""Batch jobs (zhplm.jobs): the same Parquet results locally and on a 2-CPU Ray instance, a Ray worker killed
mid-job without losing or duplicating a row, resuming after an interruption, refusing to mix two jobs in
one folder, and the ``zhplm embed|generate|similarity|image-classify --input … --output …`` commands.
Expected vectors, scores and greedy tokens come from transformers' own forward/generate on the same
folders; image-classify rows are checked against the one-call pipeline (itself checked against cn_clip in
test_image_text.py), so the job layer must not change a score by blocking or batching."""

from __future__ import annotations

import builtins
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

import zhplm
from helpers_clip import clip_model, clip_release, make_images, write_broken
from helpers_converted import gpt2_release
from zhplm import jobs
from zhplm.cli.main import main
from zhplm.errors import ConversionError

SMALL_VOCAB = Path(__file__).resolve().parents[2] / "shared" / "assets" / "Morizeyao+GPT2-Chinese" / "cache" / "vocab_small.txt"  # fmt: skip
LINES = 3000
LABELS = ["猫", "狗", "汽车"]
__all__ = ["clip_model", "clip_release"]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("jobs")
    vocab = SMALL_VOCAB.read_text(encoding="utf-8").split("\n")
    cfg = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    torch.manual_seed(0)
    (tmp / "release").mkdir()
    torch.save(transformers.BertForMaskedLM(cfg).state_dict(), tmp / "release" / "pytorch_model.bin")
    (tmp / "release" / "config.json").write_text(cfg.to_json_string(), encoding="utf-8")
    shutil.copy(SMALL_VOCAB, tmp / "release" / "vocab.txt")
    zhplm.convert(tmp / "release", tmp / "bert")
    rng = random.Random(0)
    chars = "我们是中国人他在上海大国天气很好，。abc123"
    texts = ["".join(rng.choice(chars) for _ in range(rng.randint(1, 40))) for _ in range(LINES)]
    (tmp / "in.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    return tmp


def _expected(work: Path, texts: list[str]) -> np.ndarray:
    tok = transformers.AutoTokenizer.from_pretrained(work / "bert")
    model = transformers.AutoModel.from_pretrained(work / "bert").eval()
    rows = []
    with torch.inference_mode():
        for text in texts:
            v = model(**tok(text, return_tensors="pt")).last_hidden_state[0, 0].numpy()
            rows.append(v / np.linalg.norm(v))
    return np.stack(rows)


def _job(work: Path, out: str, **kw: object) -> jobs.Job:
    return jobs.Job("embed", str(work / "bert"), str(work / "in.txt"), str(work / out), block_lines=500, **kw)  # type: ignore[arg-type]


def test_local_job_writes_every_row_once_and_resumes(work: Path) -> None:
    report = jobs.run(_job(work, "local"))
    assert (report.blocks, report.computed, report.skipped, report.rows) == (6, 6, 0, LINES)
    table = jobs.read_results(work / "local")
    assert table.column("row").to_pylist() == list(range(LINES))
    texts = (work / "in.txt").read_text(encoding="utf-8").splitlines()
    assert table.column("text").to_pylist() == texts
    sample = [0, 1, 777, 1500, LINES - 1]
    got = np.asarray(table.column("embedding").to_pylist(), np.float32)[sample]
    assert np.allclose(got, _expected(work, [texts[i] for i in sample]), atol=1e-5)
    # an interrupted job: one part missing, a half-written temporary left behind
    (work / "local" / "part-000002.parquet").unlink()
    (work / "local" / ".part-000003.parquet.999.tmp").write_bytes(b"PAR1 half")
    again = jobs.run(_job(work, "local"))
    assert (again.computed, again.skipped) == (1, 5)
    assert not list((work / "local").glob(".*.tmp"))
    assert jobs.read_results(work / "local").equals(table)


def test_a_folder_holding_another_jobs_results_is_refused(work: Path) -> None:
    jobs.run(_job(work, "other"))
    with pytest.raises(ConversionError, match="another job's results \\(different options\\)"):
        jobs.run(_job(work, "other", options={"pooling": "mean"}))


def _ray_workers() -> list[int]:
    """PIDs of the Ray actors running our blocks (Ray titles them ray::MapWorker(MapBatches(BlockWorker)))."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"MapWorker(MapBatches(BlockWorker))" in cmdline:
                found.append(int(entry.name))
    return found


def test_ray_gives_the_local_results_even_when_a_worker_is_killed(work: Path) -> None:
    pytest.importorskip("ray")
    if not (work / "local" / "_job.json").exists():
        jobs.run(_job(work, "local"))
    out = work / "ray"
    killed: list[int] = []

    def killer() -> None:  # the first finished block means the actors are up: kill one mid-job
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not list(out.glob("part-*.parquet")):
            time.sleep(0.2)
        for pid in _ray_workers()[:1]:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    printer = builtins.print
    report = jobs.run(_job(work, "ray"), engine="ray", workers=2)
    assert builtins.print is printer  # Ray's own print does not outlive the job
    thread.join(timeout=5)
    assert killed, "no Ray worker was found to kill"
    assert report.rows == LINES and report.computed == 6
    table = jobs.read_results(out)
    assert table.column("row").to_pylist() == list(range(LINES))  # nothing lost, nothing twice
    assert table.equals(jobs.read_results(work / "local"))  # identical to the local engine


def test_cli_embed_job_from_jsonl(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts = (work / "in.txt").read_text(encoding="utf-8").splitlines()[:120]
    (work / "in.jsonl").write_text(
        "\n".join(json.dumps({"text": t}, ensure_ascii=False) for t in texts) + "\n"
    )
    args = ["embed", str(work / "bert"), "--input", str(work / "in.jsonl"), "--output", str(work / "cli")]
    assert main([*args, "--engine", "local", "--block-lines", "50", "--json", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["blocks"], report["rows"], report["computed"]) == (3, 120, 3)
    got = np.asarray(jobs.read_results(work / "cli").column("embedding").to_pylist(), np.float32)
    assert np.allclose(got[[0, 119]], _expected(work, [texts[0], texts[119]]), atol=1e-5)


def test_neither_import_zhplm_nor_the_local_engine_imports_ray(work: Path) -> None:
    code = (
        "import sys, zhplm; from zhplm import jobs;"
        f"jobs.run(jobs.Job('embed', {str(work / 'bert')!r}, {str(work / 'in.txt')!r}, {str(work / 'noray')!r}, 1000));"
        "print('ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"


# ------------------------------------------------------------------ generate, similarity, image-classify


@pytest.fixture(scope="module")
def ray_session() -> object:
    """One 2-CPU Ray instance for the Ray runs below (a job joins it instead of starting its own)."""
    ray = pytest.importorskip("ray")
    printer = builtins.print
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()
    builtins.print = printer


def _local_ray_and_resume(job: jobs.Job, blocks: int) -> object:
    """Run ``job`` locally, then on Ray into a sibling folder (identical table), then resume a lost part."""
    report = jobs.run(job)
    assert (report.blocks, report.computed, report.skipped) == (blocks, blocks, 0)
    table = jobs.read_results(job.output)
    on_ray = jobs.Job(**{**vars(job), "output": job.output + "-ray"})
    assert jobs.run(on_ray, engine="ray", workers=2).computed == blocks
    assert jobs.read_results(on_ray.output).equals(table)
    (Path(job.output) / "part-000001.parquet").unlink()
    again = jobs.run(job)
    assert (again.computed, again.skipped) == (1, blocks - 1)
    assert jobs.read_results(job.output).equals(table)
    return table


@pytest.fixture(scope="module")
def gpt2(work: Path) -> Path:
    gpt2_release(work / "gpt2-release", SMALL_VOCAB, seed=0)
    zhplm.convert(work / "gpt2-release", work / "gpt2")
    return work / "gpt2"


def test_generate_job_equals_transformers_greedy_on_ray_and_refuses_other_options(
    work: Path, gpt2: Path, ray_session: object, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(1)
    prompts = [
        "".join(rng.choice("今天天气我们是中国人很好") for _ in range(rng.randint(1, 8))) for _ in range(30)
    ]
    (work / "prompts.txt").write_text("\n".join(prompts) + "\n", encoding="utf-8")
    call = {"max_new_tokens": 6, "batch_size": 4}
    job = jobs.Job("generate", str(gpt2), str(work / "prompts.txt"), str(work / "gen"), 8, call=call)
    table = _local_ray_and_resume(job, blocks=4)
    assert table.column("text").to_pylist() == prompts
    tok = transformers.AutoTokenizer.from_pretrained(gpt2)
    model = transformers.GPT2LMHeadModel.from_pretrained(gpt2).eval()
    got = table.column("token_ids").to_pylist()
    for i in (0, 9, 29):
        ids = torch.tensor([tok(prompts[i], add_special_tokens=False)["input_ids"]])
        with torch.inference_mode():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=6, pad_token_id=0)
        assert got[i] == out[0, ids.shape[1] :].tolist()  # greedy, left-padded in batches of 4: the same
    # the CLI writes the same job; a rerun with other generation options is refused, nothing overwritten
    args = ["generate", str(gpt2), "--input", str(work / "prompts.txt"), "--output", str(work / "gen-cli")]
    args += ["--block-lines", "8", "--batch-size", "4", "--quiet", "--json"]
    assert main([*args, "--max-new-tokens", "6"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 30
    assert jobs.read_results(work / "gen-cli").select(table.column_names).equals(table)
    assert main([*args, "--max-new-tokens", "7"]) != 0
    assert "different call" in json.loads(capsys.readouterr().out)["message"]
    with pytest.raises(ConversionError, match="different call"):
        jobs.run(jobs.Job(**{**vars(job), "call": {**call, "sample": True, "seed": 1}}))


def test_similarity_job_reads_tsv_jsonl_and_parquet_pairs(
    work: Path, ray_session: object, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = (work / "in.txt").read_text(encoding="utf-8").splitlines()
    pairs = [(texts[i], texts[i + 1]) for i in range(0, 240, 2)]
    (work / "pairs.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in pairs), encoding="utf-8")
    job = jobs.Job("similarity", str(work / "bert"), str(work / "pairs.tsv"), str(work / "sim"), 50)
    table = _local_ray_and_resume(job, blocks=3)
    vectors = _expected(work, [t for pair in pairs[:3] + pairs[-2:] for t in pair])
    expected = [float(vectors[2 * k] @ vectors[2 * k + 1]) for k in range(5)]
    got = table.column("score").to_pylist()
    assert np.allclose(got[:3] + got[-2:], expected, atol=1e-5)
    assert table.column("text2").to_pylist() == [b for _, b in pairs]
    # the same pairs as JSONL objects and Parquet columns give the same rows
    (work / "pairs.jsonl").write_text(
        "".join(json.dumps({"text1": a, "text2": b}, ensure_ascii=False) + "\n" for a, b in pairs)
    )
    pq.write_table(
        pa.table({"text1": [a for a, _ in pairs], "text2": [b for _, b in pairs]}), work / "pairs.parquet"
    )
    for name in ("pairs.jsonl", "pairs.parquet"):
        cli = [
            "similarity",
            str(work / "bert"),
            "--input",
            str(work / name),
            "--output",
            str(work / name)[:-6],
        ]
        assert main([*cli, "--block-lines", "50", "--quiet", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["rows"] == len(pairs)
        assert np.allclose(
            jobs.read_results(str(work / name)[:-6]).column("score").to_pylist(), got, atol=1e-6
        )
    # a malformed line stops the job naming file and line; the blocks before it are kept
    lines = [f"{a}\t{b}" for a, b in pairs]
    lines[77] = "只有一段"
    (work / "bad.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    bad = jobs.Job("similarity", str(work / "bert"), str(work / "bad.tsv"), str(work / "bad"), 50)
    with pytest.raises(ConversionError, match=r"bad\.tsv:78: expected 2 texts separated by tabs, got 1"):
        jobs.run(bad)
    assert [p.name for p in sorted((work / "bad").glob("part-*"))] == ["part-000000.parquet"]
    with pytest.raises(ConversionError, match=r"bad\.tsv:78: expected 2 texts"):
        jobs.run(jobs.Job(**{**vars(bad), "output": str(work / "bad-ray")}), engine="ray", workers=1)


def test_image_classify_job_writes_an_error_row_for_a_bad_image_and_goes_on(
    work: Path, clip_model: Path, ray_session: object, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = work / "images"
    files = make_images(folder / "good")
    broken = write_broken(folder / "broken")
    job = jobs.Job(
        "image-classify", str(clip_model), str(folder), str(work / "clf"), 4, call={"labels": LABELS}
    )
    listed = sorted([*files.values(), *broken.values()])
    table = _local_ray_and_resume(job, blocks=(len(listed) + 3) // 4)
    assert table.column("image").to_pylist() == [str(p) for p in listed]
    clf = zhplm.pipeline("zero-shot-image-classification", clip_model)
    for row in table.to_pylist():
        one = clf([row["image"]], LABELS)[0]
        if Path(row["image"]).name in broken:
            assert row["labels"] == [] and row["error"] == one.error and row["image"] in row["error"]
        else:
            assert row["error"] is None and row["labels"] == [s.label for s in one.labels]
            assert np.allclose(row["scores"], [s.score for s in one.labels], atol=1e-6)
    # a list file, paths relative to it, through the CLI: the same rows; the exit code says some failed
    (folder / "list.txt").write_text("".join(f"{p.relative_to(folder)}\n" for p in listed), encoding="utf-8")
    args = [
        "image-classify",
        str(clip_model),
        "--input",
        str(folder / "list.txt"),
        "--output",
        str(work / "clf-list"),
    ]
    code = main([*args, "--labels", ",".join(LABELS), "--block-lines", "4", "--quiet", "--json"])
    assert code != 0 and json.loads(capsys.readouterr().out)["errors"] == len(broken)
    assert jobs.read_results(work / "clf-list").equals(table)
    with pytest.raises(ConversionError, match="different call"):
        jobs.run(jobs.Job(**{**vars(job), "call": {"labels": LABELS[:2]}}))


def test_malformed_records_are_named_by_file_and_line(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pairs = ("text1", "text2")
    cases = {
        "bytes.jsonl": (b'{"text": "\xe4\xb8\xad"}\n{"text": "\xff"}\n', ("text",), r":2: not UTF-8"),
        "list.jsonl": (b'{"text": "a"}\n["a"]\n', ("text",), r":2: the record has no 'text' field"),
        "broken.jsonl": (b'{"text": "a"}\n{"text": \n', ("text",), r":2: not a JSON object"),
        "half.jsonl": (b'{"text1": "a"}\n', pairs, r":1: the record has no 'text2' field"),
        "blank.jsonl": (b'{"text1": "a", "text2": "b"}\n\n', pairs, r":2: an empty line"),
        "three.tsv": (
            "甲\t乙\n甲\t乙\t丙\n".encode(),
            pairs,
            r":2: expected 2 texts separated by tabs, got 3",
        ),
    }
    for name, (data, fields, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        block = jobs.plan_blocks(tmp_path / name, 10)[0]
        with pytest.raises(ConversionError, match=f"{name}{message}"):
            jobs.read_block(tmp_path / name, block, fields)
    assert jobs.read_block(tmp_path / "three.tsv", jobs.Block(0, 0, 1, 0), pairs) == {
        "text1": ["甲"],
        "text2": ["乙"],
    }
    pq.write_table(pa.table({"text1": ["a"]}), tmp_path / "one.parquet")
    with pytest.raises(ConversionError, match="needs the column"):
        jobs.read_block(tmp_path / "one.parquet", jobs.Block(0, 0, 1, 0), pairs)
    with pytest.raises(ConversionError, match=r"give a \.txt/\.tsv"):
        jobs.plan_blocks(tmp_path / "in.csv", 10)
    with pytest.raises(ConversionError, match="needs labels"):
        jobs.Job("image-classify", "m", str(tmp_path), str(tmp_path / "out"))
    with pytest.raises(ConversionError, match="no such input"):
        jobs.run(jobs.Job("embed", "m", str(tmp_path / "missing.txt"), str(tmp_path / "never")))
    assert not (tmp_path / "never").exists()  # nothing created for a job that cannot start


def test_a_folder_from_an_older_parts_format_is_refused(tmp_path: Path) -> None:
    """Parts written before embeddings became float32 lists must not be mixed into a new result table."""
    (tmp_path / "in.txt").write_text("甲\n乙\n", encoding="utf-8")
    job = jobs.Job("embed", "m", str(tmp_path / "in.txt"), str(tmp_path / "out"))
    old = {k: v for k, v in job.identity().items() if k != "parts_format"}
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / jobs.MANIFEST).write_text(json.dumps(old), encoding="utf-8")
    with pytest.raises(ConversionError, match="different parts_format"):
        jobs.prepare(job)
