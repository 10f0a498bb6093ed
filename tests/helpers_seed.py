"""Where the catalog tests find the seed list (the Awesome list's README, which the catalog was built from):
``$ZHPLM_SEED`` when set, else ``../shared/seed/awesome-pretrained-chinese-nlp-models.md`` from the project
root (the layout of the checkouts, with ``shared/`` beside them), never an absolute path of one machine."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = Path(
    os.environ.get("ZHPLM_SEED")
    or ROOT.parent / "shared" / "seed" / "awesome-pretrained-chinese-nlp-models.md"
)
