"""NEZHA peer: transformers 4.46.3 ``NezhaForPreTraining`` (the port of Huawei's TF code, since removed
from transformers 5) with a tiny random config. Usage: ``peer_nezha.py OUT.npz``.

The sequence (13) is longer than 2·max_relative_position+1 (9), so clipped distances are exercised;
two rows are right-padded.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _peer
import torch
from transformers.models.deprecated.nezha import NezhaConfig, NezhaForPreTraining

CONFIG = dict(
    vocab_size=60,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    hidden_act="gelu",
    max_position_embeddings=64,
    max_relative_position=4,
    type_vocab_size=2,
    layer_norm_eps=1e-12,
)


def main() -> None:
    out = _peer.out_path()
    torch.manual_seed(0)
    model = NezhaForPreTraining(NezhaConfig(**CONFIG)).eval()
    _peer.randomize(model, seed=1)
    feeds = _peer.inputs(CONFIG["vocab_size"], batch=3, length=13, seed=2, pad_rows={1: 9, 2: 4})
    with torch.no_grad():
        o = model(**feeds, output_hidden_states=True, output_attentions=True, return_dict=True)
        base = model.nezha(**feeds, return_dict=True)
    outputs = {
        "prediction_logits": o.prediction_logits,
        "seq_relationship_logits": o.seq_relationship_logits,
        "hidden_states": o.hidden_states,
        "attentions": o.attentions,
        "pooler_output": base.pooler_output,
    }
    _peer.save(out, model.state_dict(), feeds, outputs, {"config": CONFIG, "peer": "transformers-4.46.3"})


if __name__ == "__main__":
    main()
