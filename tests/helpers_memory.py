"""Peak memory of one conversion or one load, measured in a fresh process (Linux ``/proc``).

    python tests/helpers_memory.py convert SRC OUT [ARCH [MAX_SHARD_BYTES]]
    python tests/helpers_memory.py load FOLDER DTYPE

Everything a conversion imports is imported first (a dry run plans the same conversion), then the peak-RSS
counter is reset (``/proc/self/clear_refs`` ← ``5``) and the real work runs; stdout is one JSON line with the
RSS before (``before``), the peak during (``peak``) and ``largest_tensor``/``total`` bytes of the checkpoint.
``peak - before`` is what the work itself held at most. ``peak_anon`` samples ``RssAnon`` every 2 ms: the
process's own memory without the file pages a load maps (safetensors are mmapped; those pages are the page
cache, shared and reclaimable, yet ``VmHWM`` counts them).
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def _sampled(work: Callable[[], Any]) -> tuple[Any, int]:
    """Run ``work`` while a thread samples RssAnon; return its result and the highest sample."""
    peak = [_status("RssAnon")]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.002):
            peak[0] = max(peak[0], _status("RssAnon"))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        result = work()
    finally:
        done.set()
        thread.join()
    return result, max(peak[0], _status("RssAnon"))


def convert(src: str, out: str, arch: str | None, max_shard_bytes: int | None = None) -> dict[str, int]:
    import zhplm
    from zhplm.formats import open_checkpoint

    with open_checkpoint(src) as reader:
        sizes = [reader.numel(n) * reader.dtype(n).itemsize for n in reader]
    zhplm.convert(src, out, arch=arch, dry_run=True)  # imports and builds everything once
    _reset_peak()
    before, anon = _status("VmRSS"), _status("RssAnon")
    _, peak_anon = _sampled(lambda: zhplm.convert(src, out, arch=arch, max_shard_bytes=max_shard_bytes))
    return {
        "before": before,
        "peak": _status("VmHWM"),
        "before_anon": anon,
        "peak_anon": peak_anon,
        "largest_tensor": max(sizes),
        "total": sum(sizes),
    }


def load(folder: str, dtype: str) -> dict[str, int | str]:
    import transformers

    import zhplm
    from zhplm.loader import model_class_for

    model_class_for(Path(folder))  # imports the model's transformers module
    transformers.AutoTokenizer  # noqa: B018 - imported before measuring
    _reset_peak()
    before, anon = _status("VmRSS"), _status("RssAnon")
    loaded, peak_anon = _sampled(lambda: zhplm.load(folder, dtype=dtype))
    params = sum(p.numel() * p.element_size() for p in loaded.model.parameters())
    dtypes = sorted({str(p.dtype) for p in loaded.model.parameters()})
    return {
        "before": before,
        "peak": _status("VmHWM"),
        "before_anon": anon,
        "peak_anon": peak_anon,
        "params_bytes": params,
        "dtypes": ",".join(dtypes),
    }


def main() -> None:
    cmd, *args = sys.argv[1:]
    if cmd == "convert":
        arch = args[2] if len(args) > 2 else None
        shard = int(args[3]) if len(args) > 3 else None
        result: dict[str, int | str] = dict(convert(args[0], args[1], arch, shard))
    else:
        result = load(args[0], args[1])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
