"""Who is acting: the one place that answers it for alert actions and anything else audited."""

from __future__ import annotations


def current_user() -> str | None:
    """The signed-in user's name for the audit trail, or None when nobody is signed in.

    Only the server-side session says who acts (`dashboard.web.auth.guard`, set per request by the
    sign-in middleware that `create_app` always installs): nothing a browser sends can choose whose
    name goes into the audit trail.
    """
    from dashboard.web.auth.guard import current_user as signed_in

    user = signed_in()
    return user.username if user is not None else None
