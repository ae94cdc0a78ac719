"""Errors a user can fix. The CLI prints them as one clear message and exits 2."""
from __future__ import annotations

import difflib


class UserError(Exception):
    """A mistake in the user's input or environment: what, where, what is allowed."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message + (f"\n  hint: {self.hint}" if self.hint else "")


def unknown(kind: str, name: str, valid, *, where: str = "") -> UserError:
    """The error for an unknown registry name: names the valid ones and the closest match."""
    valid = sorted(valid)
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f"did you mean {close[0]!r}?" if close else None
    at = f" {where}" if where else ""
    return UserError(f"unknown {kind} {name!r}{at}; valid {kind}s: {', '.join(valid)}", hint=hint)
