"""Who is acting: the one place that answers it for alert actions and anything else audited."""

from __future__ import annotations


def current_user(typed: str | None = None, fallback: str | None = None) -> str | None:
    """The name recorded against an operator action, or None when nobody has said who they are.

    When someone is signed in (`dashboard.auth`), it is always their username and `typed` is
    ignored: a browser must not choose whose name goes into the audit trail. Without sign-in (tests,
    a bare demo) it is the name typed in the operator field, else the `operator_name` setting.
    """
    try:
        from dashboard.auth.guard import current_user as signed_in
    except ImportError:  # the web app without the auth package
        signed_in = None
    user = signed_in() if signed_in else None
    if user is not None:
        return user.username
    name = (typed or "").strip() or (fallback or "").strip()
    return name[:64] or None
