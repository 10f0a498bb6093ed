"""An original Hugging Face PyTorch checkpoint written and run by transformers 4.46.3.

Usage: ``peer_hf4_checkpoint.py CLASS CONFIG.json DIR SEED [MAX_SHARD_SIZE]``. Builds ``transformers.CLASS`` (4.46.3)
from the config, fills every parameter with seeded random values (``_peer.randomize``), writes
``DIR/pytorch_model.bin`` (``torch.save`` of the state dict, as the 4.x ``save_pretrained`` did with
``safe_serialization=False``; with ``MAX_SHARD_SIZE``, e.g. ``20KB``, its ``save_pretrained`` shards them as
``pytorch_model-0000X-of-0000N.bin`` + ``pytorch_model.bin.index.json``, the layout of Wenzhong/Yuyuan-3.5B)
and ``DIR/config.json``, runs fixed inputs and saves parameters, inputs and
outputs to ``DIR/../CLASS.npz`` (the ``_peer.save`` layout). Used for checkpoints published in HF layout
(MegatronBERT / Erlangshen, RoBERTa / guwenbert), where the converter only renames.
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _peer
import torch
import transformers


def main() -> None:
    if len(sys.argv) not in (5, 6):
        raise SystemExit(f"usage: {sys.argv[0]} CLASS CONFIG.json DIR SEED [MAX_SHARD_SIZE]")
    cls_name, cfg_path, out, seed = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    shard = {"max_shard_size": sys.argv[5]} if len(sys.argv) == 6 else {}
    cls = getattr(transformers, cls_name)
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    config = cls.config_class(**cfg)
    torch.manual_seed(seed)
    model = cls(config).eval()
    _peer.randomize(model, seed=seed + 1)
    model.tie_weights()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=False, **shard)
    pad = config.pad_token_id if config.pad_token_id is not None else 0
    feeds = _peer.inputs(config.vocab_size, batch=2, length=9, seed=seed + 2, pad_rows={1: 6})
    feeds["input_ids"][feeds["input_ids"] == pad] = pad + 1
    feeds["input_ids"][1, 6:] = pad
    if getattr(config, "type_vocab_size", 2) < 2:
        feeds["token_type_ids"].zero_()
    if "token_type_ids" not in inspect.signature(model.forward).parameters:  # decoders (BLOOM, GPT-2)
        del feeds["token_type_ids"]
    with torch.no_grad():
        o = model(**feeds, output_hidden_states=True, return_dict=True)
    outputs = {"hidden_states": o.hidden_states}
    for key in ("logits", "prediction_logits", "seq_relationship_logits"):
        if getattr(o, key, None) is not None:
            outputs[key] = getattr(o, key)
    _peer.save(
        out.parent / f"{cls_name}.npz",
        model.state_dict(),
        feeds,
        outputs,
        {"config": cfg, "class": cls_name, "peer": f"transformers-{transformers.__version__}"},
    )


if __name__ == "__main__":
    main()
