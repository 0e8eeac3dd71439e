"""The one base class of errors a user can fix by changing their input, so every entry point reports them the
same way: one or two lines naming the file (episode, field) and the fix, never a traceback."""

from __future__ import annotations

__all__ = ["InputError", "error_reason"]


class InputError(Exception):
    """Bad input (a dataset, a config or embodiment file, a command-line value): the message says what is wrong,
    where, and what to do about it."""


def error_reason(error: BaseException) -> str:
    """An exception's message as a reason to record or print (a ``KeyError``'s without the quotes of its repr)."""
    return str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
