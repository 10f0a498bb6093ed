"""Oracle: TensorFlow reads a TF1 bundle and dumps every non-string tensor it holds.

Usage: tf1_read.py PREFIX OUT.npz [PREFIX OUT.npz ...]
Writes OUT.npz (bfloat16 as its uint16 bit pattern, keys in the order of OUT.npz.json) and prints
a JSON list with one name -> [dtype, shape] map per bundle. Runs in .venv-ref only (TensorFlow 2.15).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import tensorflow as tf


def dump(prefix, out):
    reader = tf.train.load_checkpoint(prefix)
    dtypes = reader.get_variable_to_dtype_map()
    arrays, listing, order = {}, {}, []
    for i, name in enumerate(sorted(dtypes)):
        dt = dtypes[name]
        listing[name] = [dt.name, list(reader.get_variable_to_shape_map()[name])]
        if dt == tf.string:
            continue
        a = reader.get_tensor(name)
        if dt == tf.bfloat16:
            a = np.asarray(a).view(np.uint16)
        arrays[f"t{i}"] = a
        order.append([name, f"t{i}"])
    np.savez(out, **arrays)
    with open(out + ".json", "w") as f:
        json.dump(order, f)
    return listing


def main():
    args = sys.argv[1:]
    json.dump([dump(args[i], args[i + 1]) for i in range(0, len(args), 2)], sys.stdout)


if __name__ == "__main__":
    main()
