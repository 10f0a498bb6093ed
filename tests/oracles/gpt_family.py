"""Oracle for the HF-era GPT releases: CDial-GPT (OpenAI-GPT and GPT-2), GPT2-chitchat, GPT2-Chinese.

    write     --flavor F --vocab VOCAB.txt --out DIR [--seed N]
    reference --flavor F --ckpt DIR --inputs IN.json --out REF.npz     (prints one JSON line)
    tokenize  --flavor F --vocab VOCAB.txt --texts TEXTS.json          (prints one JSON line)

Flavors: ``cdial`` (OpenAIGPTLMHeadModel), ``cdial2`` (GPT2LMHeadModel, CDial-GPT2), ``chitchat``
(GPT2LMHeadModel, config of transformers 4.2.0), ``gpt2chinese`` (GPT2LMHeadModel, GPT2-Chinese's
``model_config_small.json`` keys, a pre-zip legacy pickle as torch < 1.6 wrote it).

``write``: transformers 4.46.3 builds the class, every parameter gets a seeded random value, and
``save_pretrained(safe_serialization=False)`` writes ``pytorch_model.bin``; the state dict is then given
what the releases' transformers 2.x–4.2 saved with it (the persistent ``h.N.attn.bias`` causal mask and,
for GPT-2, ``h.N.attn.masked_bias``) and ``config.json`` is replaced by one with the keys of that era (no
``model_type`` before 3.x). The real vocabulary is copied in as ``vocab.txt``.

``reference``: the 4.46.3 class ``from_pretrained(DIR)`` (every parameter checked to come from the file):
``logits`` for ``IN.json``'s rows; greedy ``generate`` (KV cache) for each of ``IN.json["prompts"]`` with its
``eos_token_id``/``bad_words_ids``; and, where the authors' own inference code can run, their loop on the same
prompts: CDial-GPT's ``interact.py::sample_sequence`` (``--no_sample``) and GPT2-Chinese's
``generate.py::sample_sequence`` (top-k 1 = greedy), imported from the git snapshots in ``$ZHPLM_ORIGINALS``.

``tokenize``: the tokenizer each project used, on the real vocabulary: CDial-GPT and UER-py (``--flavor uer``:
GPT2-Chinese's poem and couplet models were trained by UER-py) ``BertTokenizer.from_pretrained(dir,
do_lower_case=True)`` (interact.py), GPT2-chitchat ``BertTokenizerFast(vocab_file,
sep_token, pad_token, cls_token)`` (interact.py), GPT2-Chinese the repository's own
``tokenizations/tokenization_bert.py`` (its ``BasicTokenizer`` + ``WordpieceTokenizer``: the class itself no
longer constructs under transformers 4.x), which splits every digit apart (``char.isdigit()``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _peer
import torch
import transformers

POSITION_SCALE = 4.0
TINY = {"n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 64}
CLASSES = {
    "cdial": "OpenAIGPTLMHeadModel",
    "cdial2": "GPT2LMHeadModel",
    "chitchat": "GPT2LMHeadModel",
    "gpt2chinese": "GPT2LMHeadModel",
}
REPOS = {
    "cdial": "thu-coai/CDial-GPT",
    "cdial2": "thu-coai/CDial-GPT",
    "chitchat": "yangjianxin1/GPT2-chitchat",
    "gpt2chinese": "Morizeyao/GPT2-Chinese",
}


def _vocab_size(vocab: Path) -> int:
    return len([line for line in vocab.read_text(encoding="utf-8").split("\n") if line != ""])


def era_config(flavor: str, vocab_size: int) -> dict[str, Any]:
    """The config.json the release shipped, scaled down (same keys, same era)."""
    n = TINY
    if flavor == "cdial":  # thu-coai/CDial-GPT config/cgpt/config.json (transformers 2.1.1)
        return {
            "afn": "gelu",
            "attn_pdrop": 0.1,
            "embd_pdrop": 0.1,
            "resid_pdrop": 0.1,
            "initializer_range": 0.02,
            "layer_norm_epsilon": 1e-05,
            "n_ctx": n["n_positions"],
            "n_embd": n["n_embd"],
            "n_head": n["n_head"],
            "n_layer": n["n_layer"],
            "n_positions": n["n_positions"],
            "n_special": 0,
            "vocab_size": vocab_size,
        }
    if flavor == "cdial2":
        return {
            "attn_pdrop": 0.1,
            "embd_pdrop": 0.1,
            "resid_pdrop": 0.1,
            "initializer_range": 0.02,
            "layer_norm_epsilon": 1e-05,
            "n_ctx": n["n_positions"],
            "n_embd": n["n_embd"],
            "n_head": n["n_head"],
            "n_layer": n["n_layer"],
            "n_positions": n["n_positions"],
            "vocab_size": vocab_size,
        }
    if flavor == "chitchat":  # GPT2-chitchat config/config.json (transformers 4.2.0)
        return {
            "_name_or_path": "model/epoch29",
            "activation_function": "gelu_new",
            "architectures": ["GPT2LMHeadModel"],
            "attn_pdrop": 0.1,
            "bos_token_id": 50256,
            "embd_pdrop": 0.1,
            "eos_token_id": 50256,
            "gradient_checkpointing": False,
            "initializer_range": 0.02,
            "layer_norm_epsilon": 1e-05,
            "model_type": "gpt2",
            "n_ctx": n["n_positions"],
            "n_embd": n["n_embd"],
            "n_head": n["n_head"],
            "n_inner": None,
            "n_layer": n["n_layer"],
            "n_positions": n["n_positions"],
            "output_past": True,
            "resid_pdrop": 0.1,
            "tokenizer_class": "BertTokenizer",
            "transformers_version": "4.2.0",
            "use_cache": True,
            "vocab_size": vocab_size,
        }
    if flavor == "gpt2chinese":  # GPT2-Chinese config/model_config_small.json
        return {
            "initializer_range": 0.02,
            "layer_norm_epsilon": 1e-05,
            "n_ctx": n["n_positions"],
            "n_embd": n["n_embd"],
            "n_head": n["n_head"],
            "n_layer": n["n_layer"],
            "n_positions": n["n_positions"],
            "vocab_size": vocab_size,
        }
    raise SystemExit(f"unknown flavor {flavor!r}; known: {', '.join(CLASSES)}")


def write(flavor: str, vocab: Path, out: Path, seed: int) -> dict[str, Any]:
    cls = getattr(transformers, CLASSES[flavor])
    cfg = era_config(flavor, _vocab_size(vocab))
    torch.manual_seed(seed)
    model = cls(cls.config_class(**{k: v for k, v in cfg.items() if not k.startswith("_")})).eval()
    _peer.randomize(model, seed=seed + 1)
    with torch.no_grad():  # positions outweigh the tied token table: the greedy text varies, not one token
        table = (
            model.transformer.wpe if hasattr(model.transformer, "wpe") else model.transformer.positions_embed
        )
        table.weight.mul_(POSITION_SCALE)
    model.tie_weights()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=False)
    sd = torch.load(out / "pytorch_model.bin", map_location="cpu", weights_only=True)
    ctx = cfg["n_positions"]
    for i in range(cfg["n_layer"]):  # buffers the 2.x–4.2 state dicts carried
        sd[f"transformer.h.{i}.attn.bias"] = torch.tril(torch.ones(ctx, ctx)).view(1, 1, ctx, ctx)
        if flavor != "cdial":
            sd[f"transformer.h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    sd["lm_head.weight"] = sd[
        next(k for k in sd if k.endswith(("wte.weight", "tokens_embed.weight")))
    ].clone()
    legacy = flavor == "gpt2chinese"  # trained in 2019 with torch < 1.6: the pre-zip pickle
    torch.save(sd, out / "pytorch_model.bin", _use_new_zipfile_serialization=not legacy)
    (out / "config.json").write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    (out / "generation_config.json").unlink(missing_ok=True)  # 4.x writes it; the releases had none
    shutil.copyfile(vocab, out / "vocab.txt")
    return {"flavor": flavor, "tensors": len(sd), "legacy_pickle": legacy}


def _snapshot_file(repo: str, path: str, dest: Path) -> Path | None:
    root = Path(os.environ.get("ZHPLM_ORIGINALS") or "/work/.mirror") / repo.replace("/", "+")
    git_dir = root / "repo" if (root / "repo").exists() else root
    if not git_dir.exists():
        return None
    text = subprocess.run(
        ["git", "--git-dir", str(git_dir), "show", f"HEAD:{path}"], capture_output=True, check=True
    ).stdout
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(text)
    return dest


def _import(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _verify(model: Any, ckpt: Path) -> None:
    """Every parameter of the reference model equals a tensor of the file (nothing left random)."""
    sd = torch.load(ckpt / "pytorch_model.bin", map_location="cpu", weights_only=True)
    stored = {(tuple(v.shape), float(v.float().sum()), float(v.float().abs().max())) for v in sd.values()}
    unset = [
        n
        for n, p in model.named_parameters()
        if (tuple(p.shape), float(p.detach().sum()), float(p.detach().abs().max())) not in stored
    ]
    if unset:
        raise SystemExit(f"reference load incomplete: {unset}")


def authors_loop(flavor: str, model: Any, vocab: Path, prompt: dict[str, Any], tmp: Path) -> list[int] | None:
    """The authors' own decoding loop on the prompt, greedy, where it can run."""
    if flavor in ("cdial", "cdial2") and "history_ids" in prompt:
        src = _snapshot_file(REPOS[flavor], "interact.py", tmp / "cdial_interact.py")
        if src is None:
            return None
        interact = _import(src, "cdial_interact")
        tokenizer = transformers.BertTokenizer.from_pretrained(str(vocab.parent), do_lower_case=True)
        args = argparse.Namespace(
            max_length=prompt["max_new_tokens"], min_length=1, temperature=1.0, top_k=0, top_p=0.0,
            no_sample=True, device="cpu",
        )  # fmt: skip
        model.config.return_dict = False  # written for transformers 2.x, whose models returned tuples
        try:
            with torch.no_grad():
                out: list[int] = interact.sample_sequence(prompt["history_ids"], tokenizer, model, args)
        finally:
            model.config.return_dict = True
        return out
    if flavor == "gpt2chinese" and prompt.get("bad_words_ids"):  # the loop bans [UNK], as the format does
        src = _snapshot_file(REPOS[flavor], "generate.py", tmp / "g2c_generate.py")
        tok = _snapshot_file(REPOS[flavor], "tokenizations/tokenization_bert.py", tmp / "g2c_tok.py")
        if src is None or tok is None:
            return None
        generate = _import(src, "g2c_generate")
        model.config.return_dict = False
        try:
            ids = generate.sample_sequence(
                model, prompt["input_ids"], prompt["max_new_tokens"], model.config.n_ctx,
                _VocabOnly(vocab), temperature=1.0, top_k=1, top_p=0.0, repitition_penalty=1.0,
            )  # fmt: skip
        finally:
            model.config.return_dict = True
        return list(ids[len(prompt["input_ids"]) :])
    return None


class _VocabOnly:
    """What GPT2-Chinese's ``sample_sequence`` asks of its tokenizer: the id of ``[UNK]``."""

    def __init__(self, vocab: Path) -> None:
        self.ids = {t: i for i, t in enumerate(vocab.read_text(encoding="utf-8").split("\n"))}

    def convert_tokens_to_ids(self, token: str) -> int:
        return self.ids[token]


def reference(flavor: str, ckpt: Path, inputs: Path, out: Path) -> dict[str, Any]:
    cls = getattr(transformers, CLASSES[flavor])
    model = cls.from_pretrained(str(ckpt)).eval()
    _verify(model, ckpt)
    data = json.loads(inputs.read_text(encoding="utf-8"))
    feeds = {"input_ids": torch.tensor(data["input_ids"])}
    if "token_type_ids" in data:
        feeds["token_type_ids"] = torch.tensor(data["token_type_ids"])
    with torch.no_grad():
        logits = model(**feeds).logits
    generated, authors = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for prompt in data["prompts"]:
            ids = torch.tensor([prompt["input_ids"]])
            kwargs: dict[str, Any] = {
                "max_new_tokens": prompt["max_new_tokens"],
                "do_sample": False,
                "eos_token_id": prompt.get("eos_token_id"),
                "pad_token_id": prompt.get("pad_token_id", 0),
                "attention_mask": torch.ones_like(ids),
            }
            if prompt.get("bad_words_ids"):
                kwargs["bad_words_ids"] = prompt["bad_words_ids"]
            if prompt.get("token_type_ids") is not None:
                kwargs["token_type_ids"] = torch.tensor([prompt["token_type_ids"]])
            with torch.no_grad():
                seq = model.generate(ids, **kwargs)[0, ids.shape[1] :].tolist()
            generated.append(seq)
            authors.append(authors_loop(flavor, model, ckpt / "vocab.txt", prompt, Path(tmp)))
    _peer_save(out, logits)
    return {
        "flavor": flavor,
        "class": CLASSES[flavor],
        "transformers": transformers.__version__,
        "generated": generated,
        "authors": authors,
    }


def _peer_save(out: Path, logits: torch.Tensor) -> None:
    import numpy as np

    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, logits=logits.float().numpy())


def tokenize(flavor: str, vocab: Path, texts: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        if flavor in ("cdial", "cdial2", "uer"):  # UER-py (GPT2-Chinese poem/couplet): BERT's tokenizer
            shutil.copyfile(vocab, Path(tmp) / "vocab.txt")
            tok = transformers.BertTokenizer.from_pretrained(tmp, do_lower_case=True)
            tokens = [tok.tokenize(t) for t in texts]
            ids = [tok.convert_tokens_to_ids(t) for t in tokens]
        elif flavor == "chitchat":
            tok = transformers.BertTokenizerFast(
                vocab_file=str(vocab), sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]"
            )
            ids = [tok.encode(t, add_special_tokens=False) for t in texts]
            tokens = [tok.convert_ids_to_tokens(i) for i in ids]
        elif flavor == "gpt2chinese":
            src = _snapshot_file(
                REPOS[flavor], "tokenizations/tokenization_bert.py", Path(tmp) / "g2c_tok.py"
            )
            if src is None:
                raise SystemExit("no GPT2-Chinese snapshot: set ZHPLM_ORIGINALS")
            m = _import(src, "g2c_tok")
            vocab_map = m.load_vocab(str(vocab))
            basic = m.BasicTokenizer(
                do_lower_case=True, never_split=["[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"]
            )
            wordpiece = m.WordpieceTokenizer(vocab=vocab_map, unk_token="[UNK]")
            tokens = [[p for w in basic.tokenize(t) for p in wordpiece.tokenize(w)] for t in texts]
            ids = [[vocab_map.get(p, vocab_map["[UNK]"]) for p in ts] for ts in tokens]
        else:
            raise SystemExit(f"unknown flavor {flavor!r}")
    return {"flavor": flavor, "tokens": tokens, "ids": ids}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=("write", "reference", "tokenize"))
    p.add_argument("--flavor", required=True, choices=(*CLASSES, "uer"))  # uer: tokenize only
    p.add_argument("--vocab", type=Path)
    p.add_argument("--out", type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ckpt", type=Path)
    p.add_argument("--inputs", type=Path)
    p.add_argument("--texts", type=Path)
    a = p.parse_args()
    if a.command == "write":
        result = write(a.flavor, a.vocab, a.out, a.seed)
    elif a.command == "reference":
        result = reference(a.flavor, a.ckpt, a.inputs, a.out)
    else:
        result = tokenize(a.flavor, a.vocab, json.loads(a.texts.read_text(encoding="utf-8")))
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
