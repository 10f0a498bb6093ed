"""The authors' own code as the oracle for RWKV-1 / AI-Writer (the ``rwkv1`` architecture).

    rwkv1_original.py write --out DIR --table TABLE.json [--seed N] [--config CFG.json]
    rwkv1_original.py run   --ckpt DIR --inputs IN.json --out REF.npz [--config CFG.json]

``--config`` overrides :data:`CONFIG` (``ctx_len``, ``n_layer``, ``n_head``; bench/bench_rwkv1.py uses the
release's 512 / 12-wide heads). The summary of ``run`` carries ``step_times`` (``time.perf_counter()`` at each
of the loop's sampling calls), which the benchmark reads.

``write``: the release is a whole model pickled by RWKV-LM's ``RWKV-v1`` trainer (``torch.save(raw_model, …)``
in ``src/trainer.py``). The class it pickled, ``RWKV-v1/src/model.py`` of https://github.com/BlinkDL/RWKV-LM
(snapshot pinned in SNAPSHOTS.txt), is extracted as the package ``src`` into a temporary folder and builds
``GPT(GPTConfig(vocab, ctx_len, model_type='RWKV', …))`` at tiny sizes (:data:`CONFIG`, vocabulary = the
table's size); every parameter gets a seeded value (``time_w`` a positive decay curve, the other time
parameters around 1, matrices N(0, 1/fan_in)); ``torch.save(model, DIR/tiny.pth)`` writes the pickle — so it
names ``src.model.GPT``, ``Block``, ``RWKV_TimeMix``, ``RWKV_ChannelMix``, ``GPTConfig`` as the release does.
The table (UTF-16 JSON) is copied to ``DIR/tiny.json``.

``run``: AI-Writer's ``run.py`` + ``src/model.py`` + ``src/utils.py`` (https://github.com/BlinkDL/AI-Writer at
7e145b1, pinned) are extracted and ``run.py`` itself is executed, its settings set by replacing their
assignment lines (each must match exactly once): ``RUN_DEVICE = 'cpu'``, ``MODEL_NAME``/``WORD_NAME`` =
``DIR/tiny``, ``NUM_OF_RUNS = 1``, ``LENGTH_OF_EACH`` = IN's ``length``, ``context`` = IN's ``context``,
``ctx_len``/``n_layer``/``n_head`` = :data:`CONFIG`. So the original loads the pickle (``torch.load`` into
AI-Writer's own ``src.model`` classes), folds the Toeplitz ``time_ww``, tokenizes with its
``stoi.get(c, UNKNOWN_CHAR)``, and runs its own sampling loop (window of the last ``ctx_len`` ids, unknown
character at -inf). Sampling is made greedy by replacing ``src.utils.sample_logits`` with the argmax of the
same ``logits[0][pos]`` it receives. Writes ``greedy`` (the ids the loop appended), ``prompt_ids`` (the
tokenized context), in the summary ``texts_ids`` (IN's ``texts`` through run.py's ``stoi`` and
``UNKNOWN_CHAR``) and, with the model run.py built, ``logits`` of IN's ``input_ids`` (at most ``ctx_len``
per row) and ``window_logits`` of IN's ``long_ids`` (row 0): position p's logits from the window of the
``ctx_len`` ids ending at p, as the loop computes them.

Stubs: ``torch.load`` with ``weights_only=False`` (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``; torch 1.x's default,
which run.py was written for); ``src.utils.sample_logits`` → argmax (greedy); run.py's prints go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

WRITER = "BlinkDL/AI-Writer"
TRAINER = "BlinkDL/RWKV-LM"
CONFIG = {"ctx_len": 24, "n_layer": 2, "n_head": 2}  # run.py: n_embd = n_attn = n_ffn = n_head * 64
STUBS = [
    "torch.load(weights_only=False) via TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1",
    "src.utils.sample_logits -> argmax of the logits it is given (greedy)",
]


def _fresh_src(workdir: Path) -> None:
    """Import ``src`` from ``workdir`` (nothing of another ``src`` package stays cached)."""
    for name in [m for m in sys.modules if m == "src" or m.startswith("src.")]:
        del sys.modules[name]
    sys.path.insert(0, str(workdir))


def write(out: Path, table: Path, seed: int) -> dict[str, Any]:
    import torch

    out.mkdir(parents=True, exist_ok=True)
    with open(table, encoding="utf-16") as fh:
        vocab = len(json.load(fh))
    with tempfile.TemporaryDirectory() as tmp:
        commit = C.extract_original(TRAINER, ["RWKV-v1/src"], Path(tmp))
        _fresh_src(Path(tmp) / "RWKV-v1")
        from src.model import GPT, GPTConfig

        width = CONFIG["n_head"] * 64
        with C.stdout_to_stderr():
            model = GPT(
                GPTConfig(vocab, CONFIG["ctx_len"], model_type="RWKV", n_layer=CONFIG["n_layer"],
                          n_head=CONFIG["n_head"], n_embd=width, n_attn=width, n_ffn=width, rwkv_emb_scale=1.0)
            )  # fmt: skip
        r = C.rng(seed)
        with torch.no_grad():
            for name, param in model.named_parameters():
                shape = tuple(param.shape)
                if name.endswith("time_w"):
                    value = np.exp(-r.uniform(0.0, 0.4, shape[:1])[:, None] * np.arange(shape[1])[::-1])
                elif ".time_" in name or name == "time_out":
                    value = 1.0 + 0.2 * r.standard_normal(shape)
                elif name.endswith(".weight") and len(shape) == 2 and "emb" not in name:
                    value = r.standard_normal(shape) / np.sqrt(shape[1])
                else:
                    value = C.random_value(r, name, shape)
                param.copy_(torch.from_numpy(np.asarray(value, dtype=np.float32)))
        torch.save(model, out / "tiny.pth")
        _fresh_src(Path("/nonexistent"))
    shutil.copyfile(table, out / "tiny.json")
    return {"cmd": "write", "commit": commit, "vocab": vocab, "config": CONFIG,
            "parameters": sorted(n for n, _ in model.named_parameters())}  # fmt: skip


def _settings(source: str, values: dict[str, str]) -> str:
    """Replace run.py's setting lines ``NAME = <literal>`` (a line assigning an expression, e.g. ``context =
    context.strip()…``, is not a setting and stays)."""
    for name, value in values.items():
        pattern = re.compile(rf"^{name} = (?:'[^']*'|\"[^\"]*\"|[\d.]+)\s*(?:#.*)?$", re.M)
        found = pattern.findall(source)
        if len(found) != 1:
            raise SystemExit(f"run.py: expected one line `{name} = …`, found {len(found)}")
        source = pattern.sub(lambda _m: f"{name} = {value}", source)  # noqa: B023
    return source


def run(ckpt: Path, inputs: Path, out: Path) -> dict[str, Any]:
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    import torch

    spec = json.loads(inputs.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        commit = C.extract_original(WRITER, ["run.py", "src"], Path(tmp))
        _fresh_src(Path(tmp))
        import src.utils

        chosen: list[int] = []

        stamps: list[float] = []

        def greedy(logits: Any, pos: int, temperature: float = 1.0, top_p: Any = None) -> Any:
            ix = torch.argmax(logits[0][pos, :])
            chosen.append(int(ix))
            stamps.append(time.perf_counter())
            return ix.cpu()

        src.utils.sample_logits = greedy
        source = (Path(tmp) / "run.py").read_text(encoding="utf-8")
        source = _settings(
            source,
            {
                "RUN_DEVICE": "'cpu'",
                "MODEL_NAME": repr(str(ckpt / "tiny")),
                "WORD_NAME": repr(str(ckpt / "tiny")),
                "NUM_OF_RUNS": "1",
                "LENGTH_OF_EACH": str(int(spec["length"])),
                "context": repr(spec["context"]),
                "ctx_len": str(CONFIG["ctx_len"]),
                "n_layer": str(CONFIG["n_layer"]),
                "n_head": str(CONFIG["n_head"]),
            },
        )
        scope: dict[str, Any] = {"__name__": "__main__"}
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            with C.stdout_to_stderr():
                exec(compile(source, str(Path(tmp) / "run.py"), "exec"), scope)
        finally:
            os.chdir(cwd)
        model = scope["model"].eval()
        stoi, unknown = scope["train_dataset"].stoi, scope["UNKNOWN_CHAR"]
        context = scope["context"]
        prompt_ids = [stoi.get(s, unknown) for s in context]  # run.py's own line, on its own table
        texts_ids = [[stoi.get(s, unknown) for s in text] for text in spec.get("texts", [])]
        outputs: dict[str, Any] = {
            "greedy": np.asarray(chosen, dtype=np.float32)[None],
            "prompt_ids": np.asarray(prompt_ids, dtype=np.float32)[None],
        }
        with torch.no_grad():
            ids = torch.tensor(spec["input_ids"], dtype=torch.long)
            outputs["logits"] = model(ids)[0]
            long_ids = torch.tensor(spec["long_ids"], dtype=torch.long)[:1]
            window = CONFIG["ctx_len"]
            rows = [
                model(long_ids[:, max(0, p - window + 1) : p + 1])[0][:, -1] for p in range(long_ids.shape[1])
            ]
            outputs["window_logits"] = torch.stack(rows, dim=1)
        _fresh_src(Path("/nonexistent"))
    C.save_outputs(out, outputs)
    return {"cmd": "run", "commit": commit, "stubs": STUBS, "context": context, "greedy": chosen,
            "unknown_char": unknown, "texts_ids": texts_ids, "outputs": sorted(outputs),
            "step_times": stamps}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--out", type=Path, required=True)
    w.add_argument("--table", type=Path, required=True)
    w.add_argument("--seed", type=int, default=0)
    g = sub.add_parser("run")
    g.add_argument("--ckpt", type=Path, required=True)
    g.add_argument("--inputs", type=Path, required=True)
    g.add_argument("--out", type=Path, required=True)
    for sp in (w, g):
        sp.add_argument("--config", type=Path, default=None)
    a = p.parse_args()
    if a.config is not None:
        CONFIG.update(json.loads(a.config.read_text(encoding="utf-8")))
    if a.cmd == "write":
        summary = write(a.out.resolve(), a.table.resolve(), a.seed)
    else:
        summary = run(a.ckpt.resolve(), a.inputs.resolve(), a.out.resolve())
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
