"""The project's errors: one base class for every problem a user can fix.

``AppError`` is what the core raises for a bad input (a malformed file, an unknown option, a dataset that is not
there, weights that do not fit). Its message is complete and is shown as it is: the headless commands print
``error: <message>`` and exit with code 2 (``app.cli.run``); the desktop app shows it in a dialog or a banner.
Anything else that escapes is a bug of ours and keeps its traceback.

Every user-facing error class of the core subclasses ``AppError`` (some also subclass ``ValueError`` for callers
that catch that). ``Cancelled`` (``app.tasks``) is not an error: the user asked to stop.
"""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class AppError(Exception):
    """A problem the user can fix; the message says what is wrong and, where it helps, what to do."""


class UserError(AppError):
    """A bad command-line argument or option (the headless commands)."""


class UnknownNameError(AppError, KeyError):
    """A name that is not registered (a backbone, a kernel kind ...); a ``KeyError`` too for callers that catch
    that. The message lists the known names."""


class LimitError(AppError, ValueError):
    """A declared size (image pixels, array bytes, feature count) is over a safety limit; nothing was allocated.

    The message names the limit and how to raise it (``FILTER_EXPLORER_LIMITS=off`` or the specific option)."""


def message(exc: BaseException) -> str:
    """The text to show for an error: its message, or its class name when it has none."""
    if isinstance(exc, KeyError) and len(exc.args) == 1:  # str(KeyError) quotes its argument: show it bare
        text = str(exc.args[0]).strip()
    else:  # a message may end in a quoted value ("got 'cs'"): keep its quotes
        text = str(exc).strip()
    text = _ANSI.sub("", text)  # a library's terminal colours (torch's weights-only refusal) are no text
    return text or exc.__class__.__name__
