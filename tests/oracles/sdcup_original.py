"""SDCUP's own code as the oracle for its released checkpoints (``sdcup_{base,large}_model.bin-N``).

    sdcup_original.py write   --out DIR [--seed N] [--hidden H] [--layers L]
    sdcup_original.py forward --ckpt DIR --inputs IN.json --out REF.npz

The code is read from the git snapshot of https://github.com/alibaba/AliceMind pinned in
tests/oracles/SNAPSHOTS.txt (``SDCUP/uer``, ``SDCUP/tableModel.py``, ``SDCUP/sqlova``, the vocabulary
``SDCUP/models/google_zh_vocab.txt``), extracted into a temporary folder and imported from there.

``write``: ``uer.model_builder.build_model`` (embedding ``bert``, encoder ``bert``, target ``bert``: SDCUP's
``BertEncoderModel``) sized by ``--hidden``/``--layers`` (64-wide heads, as base and large), saved and fed to
``tableModel.TableTextPretraining(args)`` exactly as ``train.get_table_bert`` does; every parameter of the
whole pre-training model (``pre_encoder.*`` plus its heads: ``mlm_linear_*``, ``layer_norm``, the ``enc_h`` /
``enc_n`` LSTMs, ``mlp_all``) gets a seeded value (word/position/segment embeddings std 0.05, near a trained
BERT's, so the LayerNorm epsilon is not hidden by large activations) and ``torch.save(model.state_dict())``
writes ``DIR/sdcup_base_model.bin-50000`` (the release's name). DIR also gets ``google_zh_vocab.txt``.

``forward``: the model rebuilt and loaded as ``get_table_bert`` does (``strict=False`` over the names the model
has), its ``pre_encoder`` in eval mode, then SDCUP's own ``sqlova.utils.utils_wikisql.get_bert_output`` on
IN.json ``{"questions": [...], "headers": [[...], ...], "max_seq_length": N}`` (each question split into
characters, as CBANK's ``question_tok`` is; the headers get SDCUP's appended ``空列`` column). Outputs:
``input_ids`` / ``segment_ids`` (from the returned tokens), ``layers`` ``[L, B, T, H]`` (every encoder layer),
``last_hidden_state``, and ``spans`` (``[question start, end, header starts/ends…]`` per row, -1 padded).

SDCUP's LayerNorm (``uer/layers/layer_norm.py`` in this snapshot) is ``gamma (x − mean) / (std + 1e-6) + beta``
with the *biased* std (``unbiased=False``), unlike UER-py's (unbiased).

Shims (named): ``matplotlib.pylab`` (star-imported by tableModel.py and the sqlova utils for numpy names) is a
module exposing numpy's namespace; ``torchvision.datasets`` (imported, unused) is an empty module;
``uer.utils.tokenizer.BertTokenizer`` gets ``args`` with ``vocab_path`` only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

REPO = "alibaba/AliceMind"
RELEASE = "sdcup_base_model.bin-50000"
VOCAB = "google_zh_vocab.txt"


def _shims() -> None:
    pylab = types.ModuleType("matplotlib.pylab")
    for name in dir(np):
        if not name.startswith("_"):
            setattr(pylab, name, getattr(np, name))
    matplotlib = types.ModuleType("matplotlib")
    matplotlib.__path__ = []  # type: ignore[attr-defined]
    matplotlib.pylab = pylab  # type: ignore[attr-defined]
    sys.modules.setdefault("matplotlib", matplotlib)
    sys.modules.setdefault("matplotlib.pylab", pylab)
    tv = types.ModuleType("torchvision")
    tv.__path__ = []  # type: ignore[attr-defined]
    datasets = types.ModuleType("torchvision.datasets")
    tv.datasets = datasets  # type: ignore[attr-defined]
    sys.modules.setdefault("torchvision", tv)
    sys.modules.setdefault("torchvision.datasets", datasets)


def import_sdcup(workdir: Path) -> str:
    paths = ["SDCUP/uer", "SDCUP/tableModel.py", "SDCUP/sqlova", f"SDCUP/models/{VOCAB}"]
    commit = C.extract_original(REPO, paths, workdir)
    _shims()
    sys.path.insert(0, str(workdir / "SDCUP"))
    os.chdir(workdir / "SDCUP")
    return commit


def _args(hidden: int, layers: int, workdir: Path, pretrained: Path) -> Any:
    import torch
    from uer.utils.vocab import Vocab

    vocab = Vocab()
    vocab.load(str(workdir / "SDCUP" / "models" / VOCAB), is_quiet=True)
    return types.SimpleNamespace(
        emb_size=hidden,
        hidden_size=hidden,
        feedforward_size=2 * hidden,
        heads_num=hidden // 64,
        layers_num=layers,
        dropout=0.1,
        subword_type="none",
        embedding="bert",
        encoder="bert",
        target="bert",
        vocab=vocab,
        vocab_size=len(vocab),
        vocab_path=str(workdir / "SDCUP" / "models" / VOCAB),
        use_cuda=False,
        device=torch.device("cpu"),
        pretrained_model_path=str(pretrained),
        lS=2,
        dr=0.3,
    )


def write(args: argparse.Namespace, workdir: Path) -> None:
    import shutil

    import torch

    commit = import_sdcup(workdir)
    from _peer import randomize
    from uer.model_builder import build_model

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    pretrained = workdir / "encoder.bin"
    a = _args(args.hidden, args.layers, workdir, pretrained)
    torch.save(build_model(a).state_dict(), pretrained)
    with contextlib.redirect_stdout(sys.stderr):
        from tableModel import TableTextPretraining

        model = TableTextPretraining(a)
    randomize(model, args.seed)
    g = torch.Generator().manual_seed(args.seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith("pre_encoder.embedding.") and name.endswith("embedding.weight"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out / RELEASE)
    shutil.copy(Path(a.vocab_path), args.out / VOCAB)
    C.report({"written": str(args.out), "commit": commit, "tensors": len(model.state_dict())})


def forward(args: argparse.Namespace, workdir: Path) -> None:
    import torch

    commit = import_sdcup(workdir)
    from uer.utils.tokenizer import BertTokenizer

    ckpt = args.ckpt.resolve()
    a = _args(0, 0, workdir, ckpt / RELEASE)
    state = torch.load(ckpt / RELEASE, map_location="cpu")
    a.hidden_size = a.emb_size = int(state["pre_encoder.embedding.word_embedding.weight"].shape[1])
    a.feedforward_size = int(state["pre_encoder.encoder.transformer.0.feed_forward.linear_1.weight"].shape[0])
    a.heads_num = a.hidden_size // 64
    a.layers_num = a.num_hidden_layers = 1 + max(
        int(k.split(".")[3]) for k in state if k.startswith("pre_encoder.encoder.transformer.")
    )
    with contextlib.redirect_stdout(sys.stderr):
        from sqlova.utils import utils_wikisql as U
        from tableModel import TableTextPretraining

        model = TableTextPretraining(a)  # loads the file into pre_encoder (strict=False), as the original
        model.load_state_dict({k: v for k, v in state.items() if k in model.state_dict()}, strict=False)
        encoder = model.pre_encoder.eval()
        tokenizer = BertTokenizer(a)
        spec = json.loads(args.inputs.read_text(encoding="utf-8"))
        nlu_t = [list(q) for q in spec["questions"]]
        with torch.no_grad():
            layers, last, tokens, i_nlu, i_hds, *_ = U.get_bert_output(
                encoder, tokenizer, nlu_t, [list(h) for h in spec["headers"]], spec["max_seq_length"]
            )
    n = spec["max_seq_length"]
    ids = np.zeros((len(tokens), n), np.int64)
    segs = np.zeros((len(tokens), n), np.int64)
    spans = np.full((len(tokens), 2 + 2 * max(len(h) for h in i_hds)), -1, np.int64)
    for b, toks in enumerate(tokens):
        ids[b, : len(toks)] = tokenizer.convert_tokens_to_ids(toks)
        first_header = i_hds[b][0][0]
        segs[b, : len(toks)] = [1 if i < first_header else 2 for i in range(len(toks))]
        flat = [i_nlu[b][0], i_nlu[b][1], *[x for span in i_hds[b] for x in span]]
        spans[b, : len(flat)] = flat
    np.savez(
        args.out,
        input_ids=ids,
        segment_ids=segs,
        layers=layers.numpy(),
        last_hidden_state=last.numpy(),
        spans=spans,
    )
    C.report({"out": str(args.out), "commit": commit, "rows": len(tokens)})


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--out", type=Path, required=True)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--hidden", type=int, default=128)
    w.add_argument("--layers", type=int, default=2)
    f = sub.add_parser("forward")
    f.add_argument("--ckpt", type=Path, required=True)
    f.add_argument("--inputs", type=Path, required=True)
    f.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    for name in ("out", "ckpt", "inputs"):
        if getattr(args, name, None) is not None:
            setattr(args, name, getattr(args, name).resolve())
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        try:
            (write if args.cmd == "write" else forward)(args, Path(tmp))
        finally:
            os.chdir(cwd)


if __name__ == "__main__":
    main(sys.argv[1:])
