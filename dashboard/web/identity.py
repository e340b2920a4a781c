"""Who is acting: the one place that answers it for alert actions and anything else audited."""

from __future__ import annotations

from dashboard.web.auth import guard


def actor_name() -> str | None:
    """The signed-in user's name for the audit trail, or None when nobody is signed in.

    Only the server-side session says who acts (`guard.current_user`, set per request by the sign-in
    middleware that `create_app` always installs): nothing a browser sends can choose whose name goes
    into the audit trail.
    """
    user = guard.current_user()
    return user.username if user is not None else None
