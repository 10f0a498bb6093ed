"""ChineseBERT peer: JunnYu's ``chinesebert`` 0.2.1 (a port of ShannonAI's ``GlyceBertForMaskedLM``) on
transformers 4.46.3, with ``pypinyin==0.38.1`` as the package pins it.

Commands::

    peer_chinesebert.py checkpoint DIR OUT.npz
        A tiny random ChineseBertForMaskedLM saved as a release folder: DIR/pytorch_model.bin (torch.save of
        the state dict, as ShannonAI published it), DIR/config.json (BERT keys only, like the release),
        DIR/vocab.txt and DIR/config/{pinyin_map,pinyin2tensor,id2pinyin}.json + three font .npy arrays whose
        stacked bitmaps ARE the glyph table (as the original GlyphEmbedding builds it). OUT.npz
        (``_peer.save`` layout): parameters, inputs (input_ids, pinyin_ids [B, L, 8], token_type_ids,
        attention_mask) and outputs (logits, hidden_states:i, pooler_output).

    peer_chinesebert.py checkpoint DIR OUT.npz TEXTS.json FILL.json
        The same, then the folder is loaded back the original way (model from pytorch_model.bin, glyph size
        from the font arrays) and each text with [MASK]s is tokenised as below and run: FILL.json holds, per
        text, the ids, pinyin ids, mask positions and the top-5 token ids and probabilities at each mask.

    peer_chinesebert.py tokenize DIR TEXTS.json OUT.json
        The original tokenisation of each text (or [text, pair]) with DIR's vocab.txt and pinyin maps:
        ``tokenizers.BertWordPieceTokenizer(vocab)`` (what ShannonAI's ``datasets/bert_dataset.py`` uses) for
        ids and offsets, and the package's own ``ChineseBertTokenizerFast.get_pinyin_ids`` for the 8 pinyin
        ids per token. (The package's patched ``__call__`` no longer runs on transformers 4.46: its
        ``_batch_encode_plus`` override lacks ``padding_side``; the pinyin code itself is unchanged.)
"""

from __future__ import annotations

import json
import string
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _peer
import numpy as np
import torch

CONFIG = dict(
    vocab_size=64,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    hidden_act="gelu",
    max_position_embeddings=40,
    type_vocab_size=2,
    layer_norm_eps=1e-12,
    pad_token_id=0,
)
FONTS, FONT_SIZE = 3, 4  # the release: 3 fonts of 24×24 (1728)
PINYIN_CHARS = list("012345") + list(string.ascii_lowercase)  # 32 symbols, the release's pinyin_map_len


def write_side_files(out: Path) -> list[str]:
    """vocab.txt and config/*.json of a tiny vocabulary: specials, Chinese characters, a few latin pieces."""
    chars = list("我喜欢猫北京是中国的首都今天气很好长行重还乐了得地着为没数便觉和朝调差参处")
    latin = ["a", "##b", "hello", "##lo", "1", "##2", "12", "，", "。"]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *latin]
    vocab += [f"[unused{i}]" for i in range(CONFIG["vocab_size"] - len(vocab))]
    assert len(vocab) == CONFIG["vocab_size"], len(vocab)
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    cfg = out / "config"
    cfg.mkdir(parents=True, exist_ok=True)
    char2idx = {c: i for i, c in enumerate(PINYIN_CHARS)}
    (cfg / "pinyin_map.json").write_text(json.dumps({"idx2char": PINYIN_CHARS, "char2idx": char2idx}))
    (cfg / "pinyin2tensor.json").write_text(json.dumps({"wo3": [28, 20, 3, 0, 0, 0, 0, 0]}))
    (cfg / "id2pinyin.json").write_text(json.dumps({}))
    return vocab


def checkpoint(out: Path, npz: Path) -> None:
    from chinesebert import ChineseBertConfig, ChineseBertForMaskedLM

    out.mkdir(parents=True, exist_ok=True)
    write_side_files(out)
    glyph_dim = FONTS * FONT_SIZE * FONT_SIZE
    config = ChineseBertConfig(**CONFIG, glyph_embedding_dim=glyph_dim, pinyin_map_len=len(PINYIN_CHARS))
    torch.manual_seed(0)
    model = ChineseBertForMaskedLM(config).eval()
    _peer.randomize(model, seed=1)
    # the glyph table is the three fonts' bitmaps stacked per token (ShannonAI GlyphEmbedding)
    rng = np.random.default_rng(3)
    fonts = [
        (rng.random((CONFIG["vocab_size"], FONT_SIZE, FONT_SIZE)) > 0.5).astype(np.float32) for _ in range(3)
    ]
    for i, font in enumerate(fonts):
        np.save(out / "config" / f"font{i}.npy", font)
    table = np.stack(fonts, axis=1).reshape(CONFIG["vocab_size"], -1)
    with torch.no_grad():
        model.bert.embeddings.glyph_embeddings.embedding.weight.copy_(torch.from_numpy(table))
    state = {k: v for k, v in model.state_dict().items()}
    torch.save(state, out / "pytorch_model.bin")
    (out / "config.json").write_text(json.dumps({**CONFIG, "model_type": "bert"}, indent=2))

    feeds = _peer.inputs(CONFIG["vocab_size"], batch=3, length=11, seed=2, pad_rows={1: 8, 2: 4})
    g = torch.Generator().manual_seed(4)
    pinyin = torch.randint(0, len(PINYIN_CHARS), (3, 11, 8), generator=g)
    pinyin[:, 0] = 0  # [CLS]
    pinyin[feeds["attention_mask"] == 0] = 0
    with torch.no_grad():
        o = model(
            input_ids=feeds["input_ids"],
            pinyin_ids=pinyin.reshape(3, -1),  # the flat layout the original tokenizer gives
            attention_mask=feeds["attention_mask"],
            token_type_ids=feeds["token_type_ids"],
            output_hidden_states=True,
            return_dict=True,
        )
        base = model.bert(
            input_ids=feeds["input_ids"],
            pinyin_ids=pinyin,
            attention_mask=feeds["attention_mask"],
            token_type_ids=feeds["token_type_ids"],
            return_dict=True,
        )
    feeds["pinyin_ids"] = pinyin
    outputs = {"logits": o.logits, "hidden_states": o.hidden_states, "pooler_output": base.pooler_output}
    meta = {"config": {**CONFIG, "glyph_embedding_dim": glyph_dim}, "peer": "chinesebert-0.2.1"}
    _peer.save(npz, model.state_dict(), feeds, outputs, meta)


def fill(folder: Path, texts_path: Path, out: Path) -> None:
    from chinesebert import ChineseBertConfig, ChineseBertForMaskedLM

    cfg = json.loads((folder / "config.json").read_text())
    fonts = sorted((folder / "config").glob("*.npy"))
    glyph_dim = sum(int(np.prod(np.load(f).shape[1:])) for f in fonts)
    pinyin_map = json.loads((folder / "config" / "pinyin_map.json").read_text())
    config = ChineseBertConfig(
        **cfg, glyph_embedding_dim=glyph_dim, pinyin_map_len=len(pinyin_map["idx2char"])
    )
    model = ChineseBertForMaskedLM(config).eval()
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and set(missing) <= {
        "cls.predictions.decoder.weight",
        "cls.predictions.decoder.bias",
    }
    texts = json.loads(texts_path.read_text(encoding="utf-8"))
    encoded = _original_tokenize(folder, texts)
    result = []
    for enc in encoded:
        ids = torch.tensor([enc["ids"]])
        with torch.no_grad():
            logits = model(input_ids=ids, pinyin_ids=torch.tensor([enc["pinyin_ids"]])).logits[0]
        positions = [i for i, t in enumerate(enc["tokens"]) if t == "[MASK]"]
        probs, best = logits[positions].softmax(-1).topk(5, dim=-1)
        result.append({**enc, "positions": positions, "top_ids": best.tolist(), "top_probs": probs.tolist()})
    out.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")


def _original_tokenize(folder: Path, texts: list) -> list[dict]:
    from chinesebert import ChineseBertTokenizerFast
    from tokenizers import BertWordPieceTokenizer

    side = folder / "config" if (folder / "config").is_dir() else folder
    maps = {
        name: json.loads((side / f"{name}.json").read_text(encoding="utf-8"))
        for name in ("pinyin_map", "id2pinyin", "pinyin2tensor")
    }
    vocab = str(folder / "vocab.txt")
    wordpiece = BertWordPieceTokenizer(vocab)
    peer = ChineseBertTokenizerFast(vocab, **maps)
    result = []
    for item in texts:
        if isinstance(item, list):
            enc = wordpiece.encode(item[0], item[1])
            pinyin = peer.get_pinyin_ids(tuple(item), enc)
            backend = peer._tokenizer.encode(item[0], item[1])
        else:
            enc = wordpiece.encode(item)
            pinyin = peer.get_pinyin_ids(item, enc)
            backend = peer._tokenizer.encode(item)
        assert backend.ids == enc.ids, (item, backend.ids, enc.ids)  # the package's own WordPiece agrees
        result.append({"ids": enc.ids, "type_ids": enc.type_ids, "tokens": enc.tokens, "pinyin_ids": pinyin})
    return result


def tokenize(folder: Path, texts_path: Path, out: Path) -> None:
    import pypinyin

    result = _original_tokenize(folder, json.loads(texts_path.read_text(encoding="utf-8")))
    out.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    print(json.dumps({"texts": len(result), "pypinyin": pypinyin.__version__, "out": str(out)}))


def main() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "checkpoint" and len(sys.argv) in (4, 6):
        checkpoint(Path(sys.argv[2]), Path(sys.argv[3]))
        if len(sys.argv) == 6:
            fill(Path(sys.argv[2]), Path(sys.argv[4]), Path(sys.argv[5]))
    elif len(sys.argv) >= 2 and sys.argv[1] == "tokenize" and len(sys.argv) == 5:
        tokenize(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
