"""Run ``zhplm.get.download`` on a record given as JSON (argv[1]) in a fresh process.

Used by the concurrency and SIGKILL tests; ZHPLM_HOME comes from the environment. Prints the path.
"""

from __future__ import annotations

import json
import sys

from zhplm.catalog.schema import record_from_dict
from zhplm.get import download

if __name__ == "__main__":
    record = record_from_dict(json.loads(sys.argv[1]))
    path = download(record, convert=False, quiet=True, backoff=0.05, timeout=10)
    print(path)
