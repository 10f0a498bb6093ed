"""Zhouwenwang oracle: the ORIGINAL fengshen ``RoFormer`` code of IDEA-CCNL/Fengshenbang-LM
(``fengshen/models/roformer/{configuration,modeling}_roformer.py``), run from a temporary checkout of the git
snapshot pinned in ``SNAPSHOTS.txt`` in ``.venv-ref`` (transformers 4.46.3). Never copied into zhplm.

    write   --out DIR [--seed N]
    forward --ckpt DIR --inputs IN.json --out REF.npz

Stubs, and nothing else (the two files are imported unmodified):
* the package ``__init__.py`` (transformers' old ``_LazyModule`` layout, which also pulls in the tokenizer) is
  replaced by an empty one, so that ``modeling_roformer``'s ``from .configuration_roformer import …`` resolves;
* ``transformers.file_utils.add_code_sample_docstrings``: its keyword ``tokenizer_class`` was renamed in
  transformers 4.x; the docstring decorator is replaced by one that returns the function unchanged.

``write``: the original ``RoFormerForMaskedLM`` from a tiny ``RoFormerConfig``, every parameter seeded random
(the decoder follows the tied word embedding), saved by its own ``save_pretrained(safe_serialization=False)``
(``pytorch_model.bin`` + ``config.json``, the 2022 releases' layout, buffers ``position_ids`` and
``rope_emb.div_term`` included) and ``vocab.txt`` (the tiny one, its last token ``。``).

``forward`` (IN.json: ``input_ids``; token types 0 and no padding: fengshen ADDS its boolean mask to the
scores, +1 where it means "blocked", instead of masking, so only inputs whose mask blocks nothing have a
meaning to compare): the model loaded by the original ``from_pretrained`` gives ``hidden_states`` [L+1, B, T, H],
``last_hidden_state``, ``mlm_logits``, ``lm_logits`` (``F.linear(h, word_embeddings.weight)``, the LM head of
the Zhouwenwang model card); ``greedy_ids`` [P, steps]: the model card's generation loop for each id list in
``prompts`` (the whole text re-encoded every step, the last position's LM logits), argmax instead of sampling.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

REPO = "IDEA-CCNL/Fengshenbang-LM"
FILES = [
    "fengshen/models/roformer/configuration_roformer.py",
    "fengshen/models/roformer/modeling_roformer.py",
]
CONFIG = dict(
    vocab_size=120,
    hidden_size=32,
    num_hidden_layers=3,
    num_attention_heads=4,
    intermediate_size=64,
    max_position_embeddings=64,
    type_vocab_size=2,
    hidden_act="gelu",
    layer_norm_eps=1e-12,
)


def _keep(*_a: object, **_k: object) -> Any:  # a decorator factory that changes nothing
    return lambda fn: fn


def import_original(workdir: Path) -> tuple[ModuleType, str]:
    import transformers.file_utils as file_utils

    commit = C.write_original(REPO, FILES, workdir / "fs_roformer", flatten=True)
    (workdir / "fs_roformer" / "__init__.py").write_text("")  # stub: the lazy-module __init__
    file_utils.add_code_sample_docstrings = _keep  # stub: keyword renamed since transformers 4.8
    sys.path.insert(0, str(workdir))
    import fs_roformer.modeling_roformer as modeling

    return modeling, commit


def write(out: Path, seed: int) -> dict[str, Any]:
    import _peer

    with tempfile.TemporaryDirectory() as tmp:
        modeling, commit = import_original(Path(tmp))
        from fs_roformer.configuration_roformer import RoFormerConfig

        model = modeling.RoFormerForMaskedLM(RoFormerConfig(**CONFIG)).eval()
        _peer.randomize(model, seed=seed)
        model.tie_weights()
        out.mkdir(parents=True, exist_ok=True)
        with C.stdout_to_stderr():
            model.save_pretrained(str(out), safe_serialization=False)
        tokens = [*C.tiny_vocab(CONFIG["vocab_size"] - 1), "。"]  # the model card's loop stops at 。
        (out / "vocab.txt").write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    return {"cmd": "write", "original": f"{REPO}@{commit}", "out": str(out)}


def forward(ckpt: Path, inputs: Path, out: Path) -> dict[str, Any]:
    import numpy as np
    import torch

    data = json.loads(inputs.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        modeling, commit = import_original(Path(tmp))
        with C.stdout_to_stderr():
            model, info = modeling.RoFormerForMaskedLM.from_pretrained(str(ckpt), output_loading_info=True)
        model.eval()
        assert not any(info.values()), info  # every weight of the file used, every parameter set
        words = model.bert.embeddings.word_embeddings.weight

        def lm_logits(ids: torch.Tensor) -> tuple[torch.Tensor, Any]:
            outputs = model.bert(ids, output_hidden_states=True)
            return torch.nn.functional.linear(outputs[0], words), outputs

        with torch.no_grad():
            ids = torch.tensor(data["input_ids"])
            lm, outputs = lm_logits(ids)
            mlm = model(ids).logits
            greedy = []
            for prompt in data["prompts"]:
                seq = list(prompt)
                for _ in range(int(data["steps"])):
                    seq.append(int(lm_logits(torch.tensor([seq]))[0][0, -1].argmax()))
                greedy.append(seq[len(prompt) :])
    C.save_outputs(
        out,
        {
            "hidden_states": torch.stack(outputs.hidden_states),
            "last_hidden_state": outputs.last_hidden_state,
            "mlm_logits": mlm,
            "lm_logits": lm,
            "greedy_ids": np.array(greedy, dtype=np.int64),
        },
    )
    return {"cmd": "forward", "original": f"{REPO}@{commit}", "ckpt": str(ckpt)}


def main() -> None:
    args = C.original_args(__doc__ or "", "zhouwenwang")
    if args.cmd == "write":
        C.report(write(args.out, args.seed))
    else:
        C.report(forward(args.ckpt, args.inputs, args.out))


if __name__ == "__main__":
    main()
