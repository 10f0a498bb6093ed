"""An original repository's own ``tokenization.py`` (Google BERT's ``FullTokenizer`` as each author shipped
it) as the oracle for the tokenizer of a converted folder.

Usage: ``tokenize_original.py OWNER/NAME PATH VOCAB.txt LOWER TEXTS.json OUT.json``: ``PATH`` (e.g.
``tokenization/tokenization.py`` of imcaspar/gpt2-ml, ``NEZHA-Gen-TensorFlow/tokenization.py`` of
huawei-noah/Pretrained-Language-Model) is written from the snapshot pinned in SNAPSHOTS.txt into a temporary
folder and imported from there; ``LOWER`` (``true``/``false``) is the ``do_lower_case`` the authors' scripts
pass. OUT holds, per text, ``tokens`` (``FullTokenizer.tokenize``) and ``ids`` (``convert_tokens_to_ids``).

The files were written for TensorFlow 1 (``tf.gfile`` reads the vocabulary): gpt2-ml's imports
``tensorflow.compat.v1`` itself; NEZHA-Gen's ``import tensorflow as tf`` is given ``tf.compat.v1``, nothing else.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C


def main() -> None:
    repo, path, vocab, lower, texts_path, out = sys.argv[1:7]
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        commit = C.write_original(repo, [path], Path(tmp), flatten=True)
        real_tf = sys.modules["tensorflow"]
        sys.modules["tensorflow"] = tf.compat.v1  # type: ignore[assignment]
        try:
            spec = importlib.util.spec_from_file_location(
                "original_tokenization", Path(tmp) / Path(path).name
            )
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        finally:
            sys.modules["tensorflow"] = real_tf
    tok = module.FullTokenizer(vocab_file=vocab, do_lower_case=lower == "true")
    with open(texts_path, encoding="utf-8") as fh:
        texts = json.load(fh)
    result = []
    for text in texts:
        tokens = tok.tokenize(module.convert_to_unicode(text))
        result.append({"tokens": tokens, "ids": tok.convert_tokens_to_ids(tokens)})
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(result, fh, ensure_ascii=False)
    print(json.dumps({"repo": repo, "commit": commit, "texts": len(texts), "out": out}))


if __name__ == "__main__":
    main()
