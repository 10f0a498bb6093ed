"""UER-py's own code as the oracle for native UER checkpoints (the ``uer`` scheme of zhplm's BERT converter).

    uer_original.py write   --out DIR [--seed N]
    uer_original.py forward --ckpt DIR --inputs IN.json --out REF.npz

The ``uer`` package is read from the git snapshot of https://github.com/dbiir/UER-py pinned in
tests/oracles/SNAPSHOTS.txt (``$ZHPLM_ORIGINALS/dbiir+UER-py/repo``, default ``/work/.mirror``), extracted
with ``git archive`` into a temporary folder and imported from there — never copied into the project.

``write``: UER's ``uer.opts.model_opts`` defaults + a config shaped like UER's ``models/bert/*_config.json``
(``embedding [word, pos, seg]``, ``target [mlm, sp]``, ``tie_weights``), ``uer.model_builder.build_model``
builds the model, every parameter gets a seeded value (embeddings std 0.02 — the BERT init range, which
keeps the embedding LayerNorm's variance small enough that its epsilon shows — LayerNorm gammas 1 ± 0.1,
biases N(0, 0.1), matrices N(0, 1/fan_in)), and ``uer.model_saver.save_model`` writes ``DIR/model.bin``
(UER's names: ``embedding.word.embedding.weight``, ``encoder.transformer.N.self_attn.linear_layers.K``,
``layer_norm_{1,2}.{gamma,beta}``, ``target.mlm.*``, ``target.sp.*``). DIR also gets ``config.json`` (the
UER config) and ``vocab.txt``.

``forward``: the same build, ``load_state_dict(strict=True)``, eval; UER's segment ids are ``type + 1`` on
real tokens and 0 on padding (its encoder masks ``seg > 0``). Outputs: ``hidden_states`` ``[L+1, B, T, H]``
(``model.embedding`` and each ``encoder.transformer[i]``), ``last_hidden_state``, ``mlm_logits`` (UER's
``MlmTarget`` layers: ``linear_2(layer_norm(act(linear_1(h))))``, its ``mlm()`` only returns a loss),
``pooler_output`` (``tanh(sp.linear_1(h[:, 0]))``) and ``nsp_logits`` (``sp.linear_2``), as ``SpTarget``.

UER's LayerNorm is ``gamma · (x − mean) / (std + 1e-6) + beta`` with torch's default *unbiased* ``std``
(``uer/layers/layer_norm.py``, unchanged since 2019) — not ``nn.LayerNorm``.

Shim (named): ``args.tokenizer`` is a ``types.SimpleNamespace(vocab=...)``: ``build_model`` only reads
``len(args.tokenizer.vocab)``; UER's own tokenizers import ``regex``/``six`` and need more args.
"""

from __future__ import annotations

import argparse
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

REPO = "dbiir/UER-py"
CONFIG = {  # models/bert/tiny_config.json's keys, tinier
    "emb_size": 32,
    "feedforward_size": 64,
    "hidden_size": 32,
    "hidden_act": "gelu",
    "heads_num": 4,
    "layers_num": 2,
    "max_seq_length": 64,
    "dropout": 0.1,
    "data_processor": "bert",
    "embedding": ["word", "pos", "seg"],
    "encoder": "transformer",
    "mask": "fully_visible",
    "target": ["mlm", "sp"],
    "tie_weights": True,
}
VOCAB = 120


def import_uer(workdir: Path) -> str:
    commit = C.extract_original(REPO, ["uer", "models/special_tokens_map.json"], workdir)
    sys.path.insert(0, str(workdir))
    os.chdir(workdir)  # uer/utils/constants.py opens models/special_tokens_map.json relative to the cwd
    return commit


def build(config: dict[str, Any]) -> Any:
    from uer.model_builder import build_model
    from uer.opts import model_opts

    parser = argparse.ArgumentParser()
    model_opts(parser)
    args = parser.parse_args([])
    for k, v in config.items():
        setattr(args, k, v)
    args.tokenizer = types.SimpleNamespace(vocab=[None] * config["vocab_size"])  # shim, see docstring
    return build_model(args)


def write(out: Path, seed: int) -> dict[str, Any]:
    import torch
    from uer.model_saver import save_model

    out.mkdir(parents=True, exist_ok=True)
    config = {**CONFIG, "vocab_size": VOCAB}
    torch.manual_seed(seed)
    model = build(config)
    r = C.rng(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():  # the tied MLM decoder appears once
            value = C.random_value(r, name, tuple(p.shape))
            if name.startswith("embedding.") and name.endswith("embedding.weight"):
                value = value * np.float32(0.04)  # std 0.02
            p.copy_(torch.from_numpy(value))
    save_model(model, str(out / "model.bin"))
    C.dump_json(out / "config.json", config)
    C.write_vocab(out / "vocab.txt", VOCAB)
    return {"arch": "uer", "tensors": len(model.state_dict())}


def forward(ckpt: Path, inputs: Path, out: Path) -> dict[str, Any]:
    import torch

    config = json.loads((ckpt / "config.json").read_text())
    model = build(config)
    sd = torch.load(ckpt / "model.bin", map_location="cpu", weights_only=True)
    model.load_state_dict(sd, strict=True)
    model.eval()
    inp = C.read_inputs(inputs)
    src = torch.from_numpy(inp["input_ids"])
    seg = torch.from_numpy(np.where(inp["attention_mask"] > 0, inp["token_type_ids"] + 1, 0))
    layers: list[Any] = []
    hooks = [
        t.register_forward_hook(lambda _m, _i, o: layers.append(o[0])) for t in model.encoder.transformer
    ]
    with torch.no_grad():
        emb = model.embedding(src, seg)
        h = model.encoder(emb, seg)
        mlm = model.target.mlm
        logits = mlm.linear_2(mlm.layer_norm(mlm.act(mlm.linear_1(h))))
        pooled = torch.tanh(model.target.sp.linear_1(h[:, 0, :]))
        nsp = model.target.sp.linear_2(pooled)
    for hook in hooks:
        hook.remove()
    hs = torch.stack([emb, *layers])
    assert torch.equal(hs[-1], h)
    C.save_outputs(
        out,
        {
            "hidden_states": hs,
            "last_hidden_state": h,
            "mlm_logits": logits,
            "pooler_output": pooled,
            "nsp_logits": nsp,
        },
    )
    return {"loaded_variables": len(sd), "unset_parameters": [], "layer_norm_eps": 1e-6}


def main() -> None:
    args = C.original_args(__doc__, "uer")
    with tempfile.TemporaryDirectory() as tmp:
        commit = import_uer(Path(tmp))
        if args.cmd == "write":
            summary = write(args.out, args.seed)
        else:
            summary = forward(args.ckpt, args.inputs, args.out)
        summary.update({"impl": f"UER-py {commit[:10]}", "cmd": args.cmd})
        C.report(summary)


if __name__ == "__main__":
    main()
