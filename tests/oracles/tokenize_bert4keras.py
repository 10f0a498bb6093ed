"""bert4keras 0.11.5's Tokenizer with WoBERT's recipe (``do_lower_case=True``,
``pre_tokenize=lambda s: jieba.cut(s, HMM=False)``, as ZhuiyiTechnology/WoBERT and RoFormer use it).

Usage: ``tokenize_bert4keras.py VOCAB.txt TEXTS.json OUT.json``; OUT holds, per text, the tokens and ids
of ``Tokenizer.encode`` ([CLS] … [SEP], no truncation).
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jieba
from bert4keras.tokenizers import Tokenizer


def main() -> None:
    vocab, texts_path, out = sys.argv[1:4]
    jieba.setLogLevel(60)
    tok = Tokenizer(vocab, do_lower_case=True, pre_tokenize=lambda s: jieba.cut(s, HMM=False))
    with open(texts_path, encoding="utf-8") as fh:
        texts = json.load(fh)
    result = []
    for text in texts:
        ids, segments = tok.encode(text)
        result.append({"tokens": tok.tokenize(text), "ids": ids, "segments": segments})
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(result, fh, ensure_ascii=False)
    print(json.dumps({"texts": len(texts), "out": out}))


if __name__ == "__main__":
    main()
