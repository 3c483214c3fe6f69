"""The one base of omnirank's own errors."""

from __future__ import annotations


class OmnirankError(Exception):
    """The one base of errors that are the user's to fix (bad input, bad data, a bundle not to serve),
    as opposed to bugs.

    Raise a subclass with a message that says what is wrong and, where it can, what to do; the
    command line prints it on one line and exits with code 2, where any other exception keeps its
    traceback (a bug must look like a bug). A subclass also keeps the builtin base its callers catch
    (``ValueError``, ``RuntimeError``, ``FileNotFoundError``).
    """


class InputError(OmnirankError, ValueError):
    """An input file or argument a command cannot use: a missing column, an unparseable value,
    options that contradict each other."""


class InputNotFound(OmnirankError, FileNotFoundError):
    """An input file that does not exist."""
