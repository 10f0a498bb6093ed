"""Process-wide settings read from the environment (one place, read when asked, never cached).

``ZHPLM_HOME``     the store: downloads, extracted and converted folders, the index, the user catalog.
``ZHPLM_OFFLINE``  ``1`` forbids every network access: only what the store holds is used.
"""

from __future__ import annotations

import os
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}


def home() -> Path:
    """The store root: ``$ZHPLM_HOME``, else the platform's user cache folder for zhplm."""
    env = os.environ.get("ZHPLM_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("zhplm"))


def offline() -> bool:
    return os.environ.get("ZHPLM_OFFLINE", "").strip().lower() in _TRUE


def user_catalog_path() -> Path:
    """Where ``zhplm catalog add`` keeps user records (a JSON list, same schema as the json export)."""
    return home() / "catalog" / "user-records.json"
