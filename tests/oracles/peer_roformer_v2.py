"""RoFormerV2 peer: junnyu's ``roformer`` 0.4.3 ``RoFormerForMaskedLM`` in its V2 mode
(``norm_type="rms_norm"``, ``use_bias=False``) with a tiny random config. Usage: ``peer_roformer_v2.py OUT.npz``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _peer
import torch
from roformer import RoFormerConfig, RoFormerForMaskedLM

CONFIG = dict(
    vocab_size=60,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    hidden_act="relu",
    max_position_embeddings=64,
    type_vocab_size=2,
    layer_norm_eps=1e-12,
)
PEER_FLAGS = dict(norm_type="rms_norm", use_bias=False, rotary_value=False, embedding_size=32)


def main() -> None:
    out = _peer.out_path()
    torch.manual_seed(0)
    model = RoFormerForMaskedLM(RoFormerConfig(**CONFIG, **PEER_FLAGS)).eval()
    assert not any(n.endswith(".bias") for n, _ in model.named_parameters()), "V2 mode must have no biases"
    _peer.randomize(model, seed=1)
    assert model.cls.predictions.decoder.weight is model.roformer.embeddings.word_embeddings.weight
    feeds = _peer.inputs(CONFIG["vocab_size"], batch=3, length=13, seed=2, pad_rows={1: 9, 2: 4})
    with torch.no_grad():
        o = model(**feeds, output_hidden_states=True, output_attentions=True, return_dict=True)
    outputs = {"logits": o.logits, "hidden_states": o.hidden_states, "attentions": o.attentions}
    _peer.save(out, model.state_dict(), feeds, outputs, {"config": CONFIG, "peer": "roformer-0.4.3"})


if __name__ == "__main__":
    main()
