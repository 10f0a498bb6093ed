"""fnlp's Chinese BART and CPT, written and run by what the authors published: transformers 4.46.3's
``BartForConditionalGeneration`` (BART is a plain HF-era folder) and the ORIGINAL ``finetune/modeling_cpt.py``
of fastnlp/CPT (from the git snapshot pinned in ``SNAPSHOTS.txt``; never copied into zhplm).

    fnlp_seq2seq.py ARCH CONFIG.json DIR SEED       # ARCH: bart | cpt

Builds the model from CONFIG (``BartConfig`` keys: the original ``CPTConfig`` *is* ``BartConfig``), sets every
parameter to seeded random values (``_peer.randomize``; the tied LM head follows the shared embedding),
writes ``DIR/pytorch_model.bin`` + ``DIR/config.json`` with 4.46.3's ``save_pretrained(safe_serialization=
False)`` (the format of the 2021 releases) and ``DIR/vocab.txt``, then computes on fixed inputs and saves to
``DIR/../ref.npz``: ``input:*`` (``input_ids``, ``attention_mask``, ``decoder_input_ids``), the encoder
outputs (``encoder_last_hidden_state``; CPT also ``encoder_hidden_states [L+1,B,T,H]`` and the S-Enc output
``shared_encoder_state`` the G-Dec attends to), ``logits`` (decoder logits for ``decoder_input_ids``; CPT:
``CPTForConditionalGeneration``), CPT's ``CPTForMaskedLM`` logits ``mlm_enc_logits`` / ``mlm_dec_logits``
(the same weights through the understanding head), and ``generated``: the original's
``generate(do_sample=False, num_beams=1, max_new_tokens=N, min_new_tokens=N)`` on ``input_ids``, and
``generated_norepeat``: the same with ``no_repeat_ngram_size=1`` (tiny random models repeat one token; this makes
every step pick a new one).

Shims for ``modeling_cpt.py`` (written for transformers 4.4.1), each for something that moved, nothing else:
* ``transformers.file_utils.add_code_sample_docstrings``: 4.46 renamed its ``tokenizer_class`` keyword to
  ``processor_class``; the docstring decorators are replaced by ones that return the function unchanged.
The file is imported unmodified from a temporary folder.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
import _peer
import numpy as np
import torch
import transformers

REPO = "fastnlp/CPT"
NEW_TOKENS = 12


def _keep(*_a: object, **_k: object):  # a decorator factory that changes nothing
    return lambda fn: fn


def import_cpt(workdir: Path):
    commit = C.extract_original(REPO, ["finetune/modeling_cpt.py"], workdir)
    import transformers.file_utils as fu

    fu.add_code_sample_docstrings = _keep  # shim: 4.4.1's keyword `tokenizer_class` is gone in 4.46
    sys.path.insert(0, str(workdir / "finetune"))
    import modeling_cpt

    return modeling_cpt, commit


def main() -> None:
    arch, cfg_path, out, seed = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]).resolve(), int(sys.argv[4])
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    config = transformers.BartConfig(**cfg)
    meta: dict[str, object] = {"arch": arch, "transformers": transformers.__version__}
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        if arch == "bart":
            model = transformers.BartForConditionalGeneration(config).eval()
            mlm = None
        elif arch == "cpt":
            cpt, commit = import_cpt(Path(tmp))
            meta["original"] = f"{REPO}@{commit} finetune/modeling_cpt.py"
            model = cpt.CPTForConditionalGeneration(config).eval()
            mlm = cpt.CPTForMaskedLM
        else:
            raise SystemExit(f"unknown arch {arch!r}")
        _peer.randomize(model, seed=seed + 1)
        model.tie_weights()
        out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(str(out), safe_serialization=False)
        C.write_vocab(out / "vocab.txt", config.vocab_size)
        g = torch.Generator().manual_seed(seed + 2)
        ids = torch.randint(5, config.vocab_size, (2, 9), generator=g)
        ids[:, 0] = 2  # [CLS]
        ids[0, -1] = 3  # [SEP]
        ids[1, 6] = 3
        ids[1, 7:] = config.pad_token_id
        mask = (torch.arange(9)[None, :] < torch.tensor([[9], [7]])).long()
        dec = torch.randint(5, config.vocab_size, (2, 6), generator=g)
        dec[:, 0] = config.decoder_start_token_id
        outputs: dict[str, object] = {}
        with torch.no_grad():
            o = model(input_ids=ids, attention_mask=mask, decoder_input_ids=dec, output_hidden_states=True)
            outputs["logits"] = o.logits
            outputs["encoder_last_hidden_state"] = o.encoder_last_hidden_state
            if arch == "cpt":
                hs = o.encoder_hidden_states
                outputs["encoder_hidden_states"] = torch.stack(hs)
                outputs["shared_encoder_state"] = hs[-config.decoder_layers - 1]
                m = mlm.from_pretrained(str(out)).eval()
                mo = m(input_ids=ids, attention_mask=mask)
                outputs["mlm_enc_logits"], outputs["mlm_dec_logits"] = mo.logits
            gen = model.generate(
                input_ids=ids,
                attention_mask=mask,
                do_sample=False,
                num_beams=1,
                max_new_tokens=NEW_TOKENS,
                min_new_tokens=NEW_TOKENS,
            )
            outputs["generated"] = gen
            # the same, no token twice: every step's argmax is a different token (a stronger check of the cache)
            outputs["generated_norepeat"] = model.generate(
                input_ids=ids,
                attention_mask=mask,
                do_sample=False,
                num_beams=1,
                max_new_tokens=NEW_TOKENS,
                min_new_tokens=NEW_TOKENS,
                no_repeat_ngram_size=1,
            )
    arrays = {
        f"input:{k}": v.numpy()
        for k, v in {"input_ids": ids, "attention_mask": mask, "decoder_input_ids": dec}.items()
    }
    for k, v in outputs.items():
        t = v if isinstance(v, torch.Tensor) else torch.as_tensor(v)
        arrays[k] = t.numpy() if k.startswith("generated") else t.float().numpy()
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(out.parent / "ref.npz", **arrays)
    print(json.dumps({**meta, "outputs": sorted(outputs), "state_dict": sorted(model.state_dict())[:3]}))


if __name__ == "__main__":
    main()
