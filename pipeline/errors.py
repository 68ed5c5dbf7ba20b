"""The one exception type that reaches the researcher: a message and an exit code.

Every stage raises :class:`CodeerError` for bad input, in scikit-learn's wording ("... must be
X. Got Y instead."), naming the file and line where there is one and the fix; the command line
(:func:`pipeline.cli.command`) prints its message on one line and exits with its code. Exit
codes: 1 for ``--strict`` input problems, 2 for bad input or arguments, 3 for an unexpected
error (a bug), 130 when interrupted.
"""

from __future__ import annotations


class CodeerError(Exception):
    """A user-facing error with a message and a process exit code.

    Args:
        message: What went wrong and how to fix it, in scikit-learn's wording.
        exit_code: Exit code of the command this error aborts (default 2: bad input).
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
