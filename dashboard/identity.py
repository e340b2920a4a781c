"""Who is acting: the one place that answers it, so sign-in (issue 5) changes only this function."""

from __future__ import annotations


def current_user(typed: str | None = None, fallback: str | None = None) -> str | None:
    """The name recorded against an operator action, or None when nobody has said who they are.

    Until sign-in exists it is the name typed in the operator field, else the `operator_name`
    setting (`fallback`). With sign-in, this returns the authenticated user from the server-side
    session and ignores `typed`: a browser must not be able to choose whose name goes in the audit.
    """
    name = (typed or "").strip() or (fallback or "").strip()
    return name[:64] or None
