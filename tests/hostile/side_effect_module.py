"""A module whose mere import writes a file: a pickle naming it must never get it imported."""

import os
from pathlib import Path

_target = os.environ.get("ZHPLM_HOSTILE_SENTINEL")
if _target:
    Path(_target).write_text("imported")


class Anything:
    pass
