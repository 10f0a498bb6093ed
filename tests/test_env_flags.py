"""Every ``ZHPLM_*`` yes/no switch reads the same words through ``zhplm.config.env_flag``."""

from __future__ import annotations

import pytest

from zhplm import allocator, compiled, config


@pytest.mark.parametrize("value", ["1", "true", "TRUE", " yes ", "On"])
def test_yes_words_switch_on(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ZHPLM_OFFLINE", value)
    monkeypatch.setenv("ZHPLM_COMPILE", value)
    assert config.offline() and compiled.compile_wanted(None)
    assert config.env_flag("ZHPLM_OFFLINE", default=False)


@pytest.mark.parametrize("value", ["0", "false", "No", " off"])
def test_no_words_switch_off_even_where_the_default_is_on(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("ZHPLM_KEEP_FREED_MEMORY", value)
    monkeypatch.setenv("ZHPLM_OFFLINE", value)
    assert allocator._switched_off()
    assert not config.offline()
    assert not config.env_flag("ZHPLM_OFFLINE", default=True)


@pytest.mark.parametrize("value", [None, "", "maybe"])
def test_unset_or_unknown_is_the_default(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    for name in ("ZHPLM_OFFLINE", "ZHPLM_COMPILE", "ZHPLM_KEEP_FREED_MEMORY"):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert not config.offline() and not compiled.compile_wanted(None)
    assert not allocator._switched_off()  # keeping freed memory is on unless switched off
    assert compiled.compile_wanted(True)  # an explicit argument wins over the environment
