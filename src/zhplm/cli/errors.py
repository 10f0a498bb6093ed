"""Exceptions → exit codes and messages, in one table (first match wins, so subclasses come first)."""

from __future__ import annotations

import argparse
import sys

from zhplm import errors as E
from zhplm.cli.output import emit

EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (E.UnknownModelError, 2),
    (E.MarkdownParseError, 3),
    (E.CatalogError, 3),
    (E.ConfigError, 3),
    (E.ManualDownloadRequired, 4),
    (E.OfflineError, 5),
    (E.ChecksumMismatchError, 6),
    (E.SourceError, 7),
    (E.StoreError, 8),
    (E.UnsafeContentError, 9),
    (E.EncryptedCheckpointError, 10),
    (E.FormatError, 10),
    (E.MappingError, 11),
    (E.ParityError, 12),
    (E.ConversionError, 11),
    (E.MissingDependencyError, 13),
    (E.ImageError, 15),
    (E.InsufficientMemoryError, 16),
    (E.TooSlowError, 17),
    (E.ZhplmError, 1),
    (FileNotFoundError, 14),
    (KeyboardInterrupt, 130),
)


def exit_code(exc: BaseException) -> int:
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return 1


def report(exc: BaseException, args: argparse.Namespace | None = None) -> int:
    """Print a one-paragraph message (no traceback) to stderr and return the exit code; under
    ``--json``, a JSON object with the error's type, message and exit code on stdout instead."""
    code = exit_code(exc)
    message = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
    human = f"zhplm: {message}" if isinstance(exc, KeyboardInterrupt) else f"zhplm: error: {message}"
    emit(
        args or argparse.Namespace(),
        {"error": type(exc).__name__, "message": message, "exit_code": code},
        lambda: print(human, file=sys.stderr),
    )
    return code
