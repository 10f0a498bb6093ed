"""Process-wide settings read from the environment (one place, read when asked, never cached).

``ZHPLM_HOME``     the store: downloads, extracted and converted folders, the index, the user catalog.
``ZHPLM_OFFLINE``  ``1`` forbids every network access: only what the store holds is used.
``ZHPLM_SOURCES``  the source kinds to try, in order (``modelscope,hf,http``); kinds left out are not tried
                   (manual steps are always shown). Else ``sources = [...]`` in the config file, else all.
``ZHPLM_CONFIG``   the config file (TOML), default ``<ZHPLM_HOME>/config.toml``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from zhplm.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_flag(name: str, default: bool = False) -> bool:
    """A yes/no environment switch: ``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off`` (any case);
    unset, empty or anything else is ``default`` — every ``ZHPLM_*`` switch reads the same words."""
    value = os.environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return default


def home() -> Path:
    """The store root: ``$ZHPLM_HOME``, else the platform's user cache folder for zhplm."""
    env = os.environ.get("ZHPLM_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("zhplm"))


def offline() -> bool:
    return env_flag("ZHPLM_OFFLINE")


def user_catalog_path() -> Path:
    """Where ``zhplm catalog add`` keeps user records (a JSON list, same schema as the json export)."""
    return home() / "catalog" / "user-records.json"


def config_path() -> Path:
    """The config file: ``$ZHPLM_CONFIG``, else ``config.toml`` in the store root."""
    env = os.environ.get("ZHPLM_CONFIG")
    return Path(env).expanduser() if env else home() / "config.toml"


def _config_file() -> dict[str, object]:
    path = config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix or remove it") from exc


def sources() -> tuple[str, ...] | None:
    """The source kinds the user wants tried, in order (``ZHPLM_SOURCES``, else the config file's
    ``sources``), or None for every source in the built-in order. Names are checked by the planner."""
    env = os.environ.get("ZHPLM_SOURCES")
    if env is not None and env.strip():
        return tuple(k.strip().lower() for k in env.split(",") if k.strip())
    path = config_path()
    value = _config_file().get("sources")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value) or not value:
        raise ConfigError(
            f'{path}: sources must be a non-empty list of source names, e.g. ["modelscope", "hf"]'
        )
    return tuple(k.strip().lower() for k in value)
