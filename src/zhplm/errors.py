"""The one exception tree of zhplm.

Every error a user can meet is a :class:`ZhplmError`. Each also subclasses the builtin it resembles
(``LookupError``, ``OSError``, ``ValueError``, ``ImportError``), so callers may catch either. Messages
say what went wrong *and* what to do next; the CLI maps these classes to exit codes in one table
(:mod:`zhplm.cli.errors`).
"""

from __future__ import annotations

from collections.abc import Sequence


class ZhplmError(Exception):
    """Base class of every zhplm error."""


# --------------------------------------------------------------------------- catalog


class CatalogError(ZhplmError, ValueError):
    """A catalog record or data file is invalid; the message names the file and the field."""

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None) -> None:
        self.file = file
        self.field = field
        where = ": ".join(p for p in (file, field) if p)
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(ZhplmError, ValueError):
    """A setting (environment variable or config file) has a value zhplm cannot use; the message names it."""


class MarkdownParseError(CatalogError):
    """The awesome-list markdown has lines that could not be parsed.

    ``problems`` is a list of ``(line_number, message)``; nothing is dropped silently.
    """

    def __init__(self, problems: Sequence[tuple[int, str]], *, file: str | None = None) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  line {n}: {msg}" for n, msg in self.problems)
        super().__init__(f"{len(self.problems)} line(s) could not be parsed:\n{lines}", file=file)


class UnknownModelError(ZhplmError, LookupError):
    """No catalog record has this id or alias. ``suggestions`` holds the closest ids."""

    def __init__(self, query: str, suggestions: Sequence[str] = ()) -> None:
        self.query = query
        self.suggestions = list(suggestions)
        hint = f" Did you mean: {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"unknown model {query!r}.{hint} Run `zhplm search {query}` to look for it.")

    def __str__(self) -> str:  # LookupError would otherwise repr() the message
        return str(self.args[0])


# --------------------------------------------------------------------------- sources / store


class SourceError(ZhplmError, OSError):
    """Fetching bytes from a source failed."""


class OfflineError(SourceError):
    """The model is not in the store and ``ZHPLM_OFFLINE=1`` forbids the network."""


class RemoteNotFoundError(SourceError):
    """The remote file or repository does not exist (HTTP 404, missing repo)."""


class DownloadError(SourceError):
    """A download failed after retries (connection, timeout, HTTP status, truncated body)."""


class UnexpectedContentError(DownloadError):
    """The server sent something other than the expected data (an HTML page, a quota notice)."""


class ChecksumMismatchError(SourceError):
    """A file's size or sha256 differs from what the catalog or the server promised."""

    def __init__(self, path: str, *, expected: str, actual: str, what: str = "sha256") -> None:
        self.path = path
        self.expected = expected
        self.actual = actual
        self.what = what
        super().__init__(f"{what} mismatch for {path}: expected {expected}, got {actual}")


class ManualDownloadRequired(SourceError):
    """The host cannot be scripted (Baidu pan, iFlytek, login or application walls).

    ``steps`` tells the user exactly what to fetch by hand and how to hand it to ``zhplm import``.
    """

    def __init__(self, model_id: str, steps: str) -> None:
        self.model_id = model_id
        self.steps = steps
        super().__init__(steps)


class StoreError(ZhplmError, OSError):
    """The local store (``ZHPLM_HOME``) is inconsistent or cannot be written."""


# --------------------------------------------------------------------------- formats


class FormatError(ZhplmError, ValueError):
    """A checkpoint or archive cannot be read as its format requires."""


class UnsupportedFormatError(FormatError):
    """No reader recognises the file; the message lists what was tried."""


class CorruptCheckpointError(FormatError):
    """A checkpoint is truncated, fails a checksum, or contradicts itself."""


class UnsafeContentError(FormatError):
    """A file asks for something we never do: a pickle importing code, an archive escaping its folder,
    an HDF5 external link. Nothing was executed or written outside the destination."""


class EncryptedCheckpointError(FormatError):
    """The checkpoint is encrypted (MindSpore ``enc_key``); decrypt it with the original framework."""


# --------------------------------------------------------------------------- convert / load


class ConversionError(ZhplmError, ValueError):
    """A checkpoint could not be converted (unknown architecture, missing config)."""


class MappingError(ConversionError):
    """Source and target names or shapes do not line up. Lists are sorted for stable messages."""

    def __init__(
        self,
        message: str,
        *,
        missing: Sequence[str] = (),
        unexpected: Sequence[str] = (),
        shape_mismatch: Sequence[str] = (),
    ) -> None:
        self.missing = sorted(missing)
        self.unexpected = sorted(unexpected)
        self.shape_mismatch = sorted(shape_mismatch)
        parts = [message]
        for label, items in (
            ("missing target parameters", self.missing),
            ("unexpected source tensors", self.unexpected),
            ("shape mismatches", self.shape_mismatch),
        ):
            if items:
                shown = ", ".join(items[:20]) + (f", … ({len(items) - 20} more)" if len(items) > 20 else "")
                parts.append(f"{label}: {shown}")
        super().__init__("\n".join(parts))


class ImageError(ZhplmError, ValueError):
    """An input image cannot be read (missing, corrupt, not an image); ``path`` names the file."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"cannot read image {path}: {reason} (give a JPEG, PNG, WebP, BMP, GIF or TIFF file)"
        )


class ParityError(ConversionError):
    """A converted model's outputs differ from the reference beyond tolerance."""


class MissingDependencyError(ZhplmError, ImportError):
    """An optional dependency is missing; the message gives the exact ``pip install`` line."""

    def __init__(self, package: str, extra: str, purpose: str = "") -> None:
        self.package = package
        self.extra = extra
        why = f" to {purpose}" if purpose else ""
        super().__init__(f"{package} is needed{why}: pip install 'zhplm[{extra}]'")


class InsufficientMemoryError(ZhplmError, MemoryError):
    """A model is larger than the memory this machine has free; the message gives both sizes and what to do
    (another dtype, a bigger machine; the converted folder itself is fine)."""


class TooSlowError(ZhplmError, RuntimeError):
    """A task would run for far too long on this device (e.g. CogView text-to-image on a CPU); the message
    gives the expected time and the opt-in that starts it anyway."""


# --------------------------------------------------------------------------- serving


class RequestError(ZhplmError, ValueError):
    """A request the server refuses; ``status`` is its HTTP status, ``headers`` go with the answer
    (``Retry-After`` on overload). The message says what to change."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.kind = kind
        self.headers = dict(headers or {})
        super().__init__(message)
