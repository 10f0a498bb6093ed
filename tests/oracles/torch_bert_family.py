"""Oracle for BERT-architecture checkpoints published as PyTorch pickles (see tests/oracles/README.md).

    write   --arch A [--config CFG.json] --out DIR [--seed N] [--flavor F]
    forward --arch A --ckpt DIR --inputs IN.json --out REF.npz

* ``bert_pt_legacy`` (OpenCLaP ms/xs, pytorch-pretrained-BERT era) and ``structbert`` (AliceMind ``ch_model``):
  a state dict with ``LayerNorm.gamma/beta`` names, written with ``torch.save(...,
  _use_new_zipfile_serialization=False)`` (the pre-1.6 legacy pickle); reference = pytorch-pretrained-bert
  0.6.2, the library those checkpoints were made with.
* ``megatron_bert`` (IDEA-CCNL Erlangshen-MegatronBert): already a transformers folder; the reference is
  transformers 4.46.3 ``MegatronBertForMaskedLM.from_pretrained`` on a random state dict saved with torch.save.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

BERT_CONFIG = {
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 32,
    "initializer_range": 0.02,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "type_vocab_size": 2,
    "vocab_size": 120,
}
MEGATRON_CONFIG = {
    "architectures": ["MegatronBertForMaskedLM"],
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 32,
    "initializer_range": 0.02,
    "intermediate_size": 64,
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": 64,
    "model_type": "megatron-bert",
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "pad_token_id": 0,
    "position_embedding_type": "absolute",
    "tokenizer_class": "BertTokenizer",
    "type_vocab_size": 2,
    "vocab_size": 120,
}
ARCHS = ("bert_pt_legacy", "structbert", "megatron_bert")


def _ppb_state_dict(cfg: dict[str, Any], seed: int, names: str) -> dict[str, Any]:
    """pytorch-pretrained-bert 0.6.2 builds ``BertForPreTraining`` itself and hands out its own
    ``state_dict()``; we only overwrite the values (seeded) so that every weight is visible.

    ``names="gamma"``: the LayerNorm parameters under the names pytorch-pretrained-BERT <= 0.4 gave them
    (``BertLayerNorm.gamma/beta``; OpenCLaP and StructBERT were saved then) — the exact inverse of the
    rename 0.6.2's own ``from_pretrained`` applies when it loads such a file. ``names="weight"``: as 0.6.2
    saves it. The tied MLM decoder stays what the library makes it: the same tensor as the word embeddings
    (``torch.save`` stores it once, shared).
    """
    import torch
    from pytorch_pretrained_bert.modeling import BertConfig, BertForPreTraining

    torch.manual_seed(seed)
    model = BertForPreTraining(BertConfig.from_dict(cfg))
    r = C.rng(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():  # tied weights appear once here
            leaf = "gamma" if name.endswith("LayerNorm.weight") else name
            param.copy_(torch.from_numpy(C.random_value(r, leaf, tuple(param.shape))))
    sd = model.state_dict()
    if names == "gamma":
        renamed = {}
        for k, v in sd.items():
            if ".LayerNorm." in k:
                k = k.replace("LayerNorm.weight", "LayerNorm.gamma").replace(
                    "LayerNorm.bias", "LayerNorm.beta"
                )
            renamed[k] = v
        sd = type(sd)(renamed)
    return sd


def _random_state_dict(names: list[tuple[str, tuple[int, ...]]], seed: int) -> dict[str, Any]:
    import torch

    r = C.rng(seed)
    sd = {n: torch.from_numpy(C.random_value(r, n, shape)) for n, shape in names}
    if "cls.predictions.decoder.weight" in sd:
        sd["cls.predictions.decoder.weight"] = sd["bert.embeddings.word_embeddings.weight"].clone()
    return sd


def write(arch: str, cfg_path: Path | None, out: Path, seed: int, flavor: str | None) -> dict[str, Any]:
    import torch

    out.mkdir(parents=True, exist_ok=True)
    if arch == "megatron_bert":
        from transformers import MegatronBertConfig, MegatronBertForMaskedLM

        cfg = C.load_config(cfg_path, MEGATRON_CONFIG)
        torch.manual_seed(seed)
        model = MegatronBertForMaskedLM(MegatronBertConfig.from_dict(cfg))
        names = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
        sd = _random_state_dict(names, seed)
        # tied in the class and so saved twice with one value: decoder.weight = word embeddings, decoder.bias = bias
        sd["cls.predictions.decoder.weight"] = sd["bert.embeddings.word_embeddings.weight"].clone()
        sd["cls.predictions.decoder.bias"] = sd["cls.predictions.bias"].clone()
        C.dump_json(out / "config.json", cfg)
        C.write_vocab(out / "vocab.txt", cfg["vocab_size"])
        torch.save(sd, out / "pytorch_model.bin")  # zip format (Erlangshen was saved with torch >= 1.6)
        return {"arch": arch, "tensors": len(sd)}
    cfg = C.load_config(cfg_path, BERT_CONFIG)
    if arch == "bert_pt_legacy":
        # --flavor weight: LayerNorm.weight/bias, as pytorch-pretrained-bert 0.5+ saved (still a legacy pickle)
        sd = _ppb_state_dict(cfg, seed, "weight" if flavor == "weight" else "gamma")
        target, cfg_name = out / "pytorch_model.bin", "bert_config.json"
    elif arch == "structbert":
        sd = _ppb_state_dict(cfg, seed, "gamma")
        # AliceMind: a bare file ``ch_model``; config/vocab live in the repo (ch_large_bert_config.json)
        target, cfg_name = out / "ch_model", "bert_config.json"
        flavor = flavor or "full"
        if flavor == "bert_only":  # a state dict of ``model.bert``: no prefix, no heads
            sd = {k[len("bert.") :]: v for k, v in sd.items() if k.startswith("bert.")}
        elif flavor == "module":  # saved from a DataParallel wrapper
            sd = {f"module.{k}": v for k, v in sd.items()}
        elif flavor != "full":
            raise SystemExit(f"unknown flavor {flavor!r} for structbert (full|bert_only|module)")
    else:
        raise SystemExit(f"write: unknown arch {arch}")
    C.dump_json(out / cfg_name, cfg)
    C.write_vocab(out / "vocab.txt", cfg["vocab_size"])
    torch.save(sd, target, _use_new_zipfile_serialization=False)
    return {"arch": arch, "flavor": flavor, "tensors": len(sd), "file": target.name}


def _fingerprint(a: Any) -> str:
    a = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
    return hashlib.sha1(a.tobytes()).hexdigest() + str(a.shape)


def _verify(model: Any, sd: dict[str, Any]) -> dict[str, Any]:
    """Every model parameter equals a file tensor and every file tensor reached the model."""
    params = {n: _fingerprint(p.detach().numpy()) for n, p in model.named_parameters()}
    file_prints = {k: _fingerprint(v.numpy()) for k, v in sd.items()}
    unset = [n for n, f in params.items() if f not in set(file_prints.values())]
    unused = [k for k, f in file_prints.items() if f not in set(params.values())]
    if unset or unused:
        raise SystemExit(
            f"reference load incomplete:\n  unset parameters: {unset}\n  unused tensors: {unused}"
        )
    return {"loaded_variables": len(sd), "unset_parameters": []}


def _torch_inputs(inp: dict[str, np.ndarray]) -> dict[str, Any]:
    import torch

    return {k: torch.from_numpy(v) for k, v in inp.items()}


def forward_hf4_legacy(
    sd: dict[str, Any], d: Path, t: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Second opinion for the legacy pickles: transformers 4.46.3 ``BertForPreTraining`` (it renames
    ``gamma``/``beta`` itself when loading a state dict)."""
    import torch
    from transformers import BertConfig, BertForPreTraining

    config = BertConfig.from_json_file(str(d / "bert_config.json"))
    model = BertForPreTraining.from_pretrained(None, config=config, state_dict=dict(sd)).eval()
    summary = _verify(model, sd)
    with torch.no_grad():
        out = model(**t, output_hidden_states=True)
        base = model.bert(**t)
    hs = torch.stack(out.hidden_states)
    return {
        "last_hidden_state": hs[-1],
        "hidden_states": hs,
        "pooler_output": base.pooler_output,
        "mlm_logits": out.prediction_logits,
        "nsp_logits": out.seq_relationship_logits,
    }, summary


def forward(
    arch: str, d: Path, inp: dict[str, np.ndarray], impl: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    import torch

    t = _torch_inputs(inp)
    if arch == "megatron_bert":
        from transformers import MegatronBertForMaskedLM

        model = MegatronBertForMaskedLM.from_pretrained(d).eval()
        sd = torch.load(d / "pytorch_model.bin", map_location="cpu", weights_only=True)
        summary = _verify(model, sd)
        with torch.no_grad():
            out = model(**t, output_hidden_states=True)
        hs = torch.stack(out.hidden_states)
        return {"last_hidden_state": hs[-1], "hidden_states": hs, "mlm_logits": out.logits}, summary

    import pytorch_pretrained_bert
    from pytorch_pretrained_bert.modeling import BertForPreTraining, BertModel

    fname = "ch_model" if arch == "structbert" else "pytorch_model.bin"
    sd = torch.load(d / fname, map_location="cpu", weights_only=True)
    # AliceMind's own loader strips a DataParallel ``module.`` prefix before loading; so do we.
    sd = {k[len("module.") :] if k.startswith("module.") else k: v for k, v in sd.items()}
    full = any(k.startswith("cls.") for k in sd)
    if impl == "hf4":
        if not full:
            raise SystemExit("--impl hf4 needs a full BertForPreTraining state dict")
        return forward_hf4_legacy(sd, d, t)
    cls = BertForPreTraining if full else BertModel
    with C.stdout_to_stderr():
        model = cls.from_pretrained(str(d), state_dict=dict(sd)).eval()
    summary = _verify(model, sd)
    summary["reference"] = f"pytorch-pretrained-bert {pytorch_pretrained_bert.__version__}"
    bert = model.bert if full else model
    with torch.no_grad():
        emb = bert.embeddings(t["input_ids"], t["token_type_ids"])
        layers, pooled = bert(t["input_ids"], t["token_type_ids"], t["attention_mask"])
        hs = torch.stack([emb, *layers])
        res = {"last_hidden_state": hs[-1], "hidden_states": hs, "pooler_output": pooled}
        if full:
            mlm, nsp = model(t["input_ids"], t["token_type_ids"], t["attention_mask"])
            res.update({"mlm_logits": mlm, "nsp_logits": nsp})
    return res, summary


def run(argv: list[str]) -> None:
    args = C.base_parser(ARCHS).parse_args(argv)
    if args.cmd == "write":
        C.report(write(args.arch, args.config, args.out, args.seed, args.flavor))
    else:
        res, summary = forward(args.arch, args.ckpt, C.read_inputs(args.inputs), args.impl)
        C.save_outputs(args.out, res)
        impl = "hf4" if args.arch == "megatron_bert" or args.impl == "hf4" else "ppb"
        summary.update({"arch": args.arch, "ckpt": str(args.ckpt), "outputs": sorted(res), "impl": impl})
        C.report(summary)


if __name__ == "__main__":
    C.main_with_batch(run)
