"""Batch jobs (zhplm.jobs): the same Parquet results locally and on a 2-CPU Ray instance, a Ray worker killed
mid-job without losing or duplicating a row, resuming after an interruption, refusing to mix two jobs in
one folder, and the ``zhplm embed --engine`` command. Expected vectors come from transformers' own forward
on the same folder, not from the code under test."""

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
from zhplm import jobs
from zhplm.cli.main import main
from zhplm.errors import ConversionError

SMALL_VOCAB = Path(__file__).resolve().parents[2] / "shared" / "assets" / "Morizeyao+GPT2-Chinese" / "cache" / "vocab_small.txt"  # fmt: skip
LINES = 3000


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
