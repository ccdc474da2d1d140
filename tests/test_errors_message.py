"""``app.errors.message``: the text a user reads (a message ending in a quoted value once lost its closing quote)."""

from __future__ import annotations

from app.errors import AppError, message


def test_message_keeps_quotes_of_a_value_and_unquotes_a_key_error():
    assert message(ValueError("svm: multiclass must be one of ovr, ww, got 'cs'")) == \
        "svm: multiclass must be one of ovr, ww, got 'cs'"
    assert message(AppError("unknown preset 'x'")) == "unknown preset 'x'"
    assert message(KeyError("no such layer")) == "no such layer"
    assert message(RuntimeError("  padded  ")) == "padded"
    assert message(ValueError()) == "ValueError" and message(KeyError("")) == "KeyError"
