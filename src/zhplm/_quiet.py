"""Keep transformers' and huggingface_hub's chatter (load reports, warnings, progress bars) out of the
user's terminal while zhplm drives them, and put their settings back afterwards.

zhplm loads folders it converted itself: the "UNEXPECTED keys" table transformers prints when a
pre-training checkpoint's pooler or NSP head is loaded into a masked-LM class is expected, not news.
Whoever wants it anyway turns the ``zhplm`` logger up to DEBUG (``zhplm --verbose`` does). Nothing here
imports torch or transformers: only libraries that are already imported are touched.
"""

from __future__ import annotations

import importlib
import logging
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("zhplm")

# loggers that speak on import, with nothing a CPU user can act on: torchao's missing GPU kernels ("Failed to
# load …_C_cutlass_90a.abi3.so") and torch's pytree deprecation notes for torchao's enums
NOISY_LOGGERS = ("torchao", "torch.utils._pytree")


def verbose() -> bool:
    """True when the user asked zhplm for debug output (``--verbose``, or a DEBUG logging config)."""
    return log.isEnabledFor(logging.DEBUG)


@contextmanager
def quiet_libraries(enabled: bool | None = None) -> Iterator[None]:
    """Silence transformers/huggingface_hub logging below ERROR, their progress bars, Python warnings and
    :data:`NOISY_LOGGERS` for the duration of the block (unless :func:`verbose`), restoring every setting after."""
    if enabled is None:
        enabled = not verbose()
    if not enabled:
        yield
        return
    with ExitStack() as stack:
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        # transformers imports torchao on its first model build
        stack.enter_context(quiet_loggers(*NOISY_LOGGERS))
        if "huggingface_hub" in sys.modules:  # restored last: transformers' restore touches it
            _quiet_hub(stack)
        if "transformers" in sys.modules:
            _quiet_transformers(stack)
        yield


def import_model_machinery() -> None:
    """Import transformers' model machinery once, quietly: ``transformers.modeling_utils`` imports its quantizers
    and with them torchao, whose import logs its missing GPU kernels ("Failed to load …_C_cutlass_90a.abi3.so")
    and torch's pytree notes — four stray lines on the stderr of a plain ``zhplm.load`` or ``zhplm.convert``
    in a Python program (the CLI quiets them for its whole run). Later imports find the modules loaded."""
    if "transformers.modeling_utils" not in sys.modules:
        with quiet_libraries():
            importlib.import_module("transformers.modeling_utils")


def quietly(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` inside :func:`quiet_libraries` (``quietly(cls.from_pretrained, path)``)."""
    with quiet_libraries():
        return fn(*args, **kwargs)


@contextmanager
def quiet_loggers(*names: str) -> Iterator[None]:
    """Raise the named loggers to ERROR for the block (unless :func:`verbose`): libraries that log their
    own import troubles (torchao's missing GPU kernels on a CPU machine) say nothing the user can act on."""
    if verbose():
        yield
        return
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _quiet_transformers(stack: ExitStack) -> None:
    """transformers to ERROR and no bars; ``stack`` puts both back."""
    tlog: Any = importlib.import_module("transformers.utils.logging")  # untyped functions
    stack.callback(tlog.set_verbosity, tlog.get_verbosity())
    if tlog.is_progress_bar_enabled():  # (also re-enables the hub's bars; _quiet_hub restores them after)
        stack.callback(tlog.enable_progress_bar)
    tlog.set_verbosity(logging.ERROR)
    tlog.disable_progress_bar()


def _quiet_hub(stack: ExitStack) -> None:
    """huggingface_hub to ERROR and no bars; ``stack`` puts back the level and every per-group switch."""
    hlog: Any = importlib.import_module("huggingface_hub.utils.logging")
    # (huggingface_hub.utils.tqdm is the class; the module of that name holds the switches)
    bars: Any = importlib.import_module("huggingface_hub.utils.tqdm")
    stack.callback(hlog.set_verbosity, hlog.get_verbosity())
    states: dict[str, Any] | None = getattr(bars, "progress_bar_states", None)
    if states is not None:
        saved = dict(states)
        stack.callback(states.update, saved)
        stack.callback(states.clear)
    hlog.set_verbosity(logging.ERROR)
    bars.disable_progress_bars()


__all__ = ["quiet_libraries", "quiet_loggers", "quietly", "verbose"]
