"""The one boundary where problems become ours.

Everything the analyzer raises on purpose derives from :class:`AnalyzerError`
and carries a message a person can act on plus an optional ``hint``. The CLI
catches this tree only, prints message and hint to stderr and exits 2; any
other exception escaping is a bug.
"""

from __future__ import annotations


class AnalyzerError(Exception):
    """A problem we can explain to the user."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class CaptureFormatError(AnalyzerError):
    """The input is not a capture we can read (wrong magic, empty, cut in the header)."""


class CaptureOpenError(AnalyzerError):
    """The input could not be opened (missing file, permissions)."""


class UsageError(AnalyzerError):
    """The command line asks for something that cannot be done."""
