"""Exception types for codeer (minimal placeholder; the lead may replace it compatibly)."""

from __future__ import annotations


class CodeerError(Exception):
    """A user-facing error with a message and a process exit code.

    Args:
        message: Human-readable explanation of what went wrong and how to fix it.
        exit_code: Exit code the CLI should use when this error aborts a command.
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
