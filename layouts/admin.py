"""The admin page (/admin): users (list, add, disable/enable, reset password, change role) and the alert
rules in force, read-only with a reload button. Pure: rows in, components out."""

from __future__ import annotations

from dash import dcc, html

from dashboard.core.auth.accounts import same_user
from layouts import ids
from layouts.components import date_time, page_header

ROLE_CHOICES = ("operator", "manager", "admin")


def layout(user=None, **_) -> html.Div:
    who = f"signed in as {user.username} ({user.role})" if user is not None else ""
    return html.Div(
        [
            page_header("/admin", "Admin", "users and alert rules", html.Span(who, className="admin-who")),
            html.Main(
                [
                    html.Section(
                        [
                            html.H2("Users"),
                            html.Div(
                                [
                                    dcc.Input(
                                        id=ids.ADMIN_NEW_NAME,
                                        placeholder="new user name",
                                        maxLength=64,
                                        className="admin-input",
                                        autoComplete="off",
                                    ),
                                    dcc.Dropdown(
                                        id=ids.ADMIN_NEW_ROLE,
                                        options=[{"label": r, "value": r} for r in ROLE_CHOICES],
                                        value="operator",
                                        clearable=False,
                                        searchable=False,
                                        className="admin-role",
                                    ),
                                    html.Button("Add user", id=ids.ADMIN_ADD, n_clicks=0, className="btn btn-primary"),
                                ],
                                className="admin-add",
                            ),
                            html.Div(id=ids.ADMIN_MESSAGE, className="admin-message", role="status"),
                            html.Div(id=ids.ADMIN_USERS, className="admin-users"),
                        ],
                        className="admin-card",
                    ),
                    html.Section(
                        [
                            html.H2("Alert rules in force"),
                            html.Div(id=ids.ADMIN_RULES, className="admin-rules"),
                            html.Button("Reload rules now", id=ids.ADMIN_RELOAD, n_clicks=0, className="btn"),
                            html.P(
                                "The alert service reloads the rules file itself when it changes; this page checks the same "
                                "file with the same validation.",
                                className="muted",
                            ),
                        ],
                        className="admin-card",
                    ),
                ],
                className="admin-main",
            ),
            dcc.Store(id=ids.ADMIN_VERSION, data=0),
            dcc.Interval(id=ids.ADMIN_RULES_INTERVAL, interval=10_000),
        ],
        className="page-admin",
    )


def users_table(users, last_sign_in: dict[str, float], me: str | None) -> html.Table | html.P:
    """One row per user with what an admin can do to it; no action on one's own account that would
    lock oneself out (disable, change role)."""
    if not users:
        return html.P("No users yet.", className="muted")
    head = ("User", "Role", "State", "Last sign-in", "Created", "")
    body = []
    for u in users:
        own = me is not None and same_user(u.username, me)
        actions = [
            html.Button(
                "Enable" if u.disabled else "Disable",
                id=ids.admin_user_action("enable" if u.disabled else "disable", u.username),
                n_clicks=0,
                className="btn",
                disabled=own,
            ),
            html.Button("Reset password", id=ids.admin_user_action("reset", u.username), n_clicks=0, className="btn"),
            dcc.Dropdown(
                id=ids.admin_user_role(u.username),
                options=[{"label": r, "value": r} for r in ROLE_CHOICES],
                value=u.role,
                clearable=False,
                searchable=False,
                className="admin-role",
                disabled=own,
            ),
            html.Button(
                "Change role", id=ids.admin_user_action("role", u.username), n_clicks=0, className="btn", disabled=own
            ),
        ]
        body.append(
            html.Tr(
                [
                    html.Td(u.username + (" (you)" if own else ""), className="user-name"),
                    html.Td(u.role, className="user-role"),
                    html.Td(
                        "disabled" if u.disabled else "enabled", className=f"user-state {'off' if u.disabled else 'on'}"
                    ),
                    html.Td(date_time(last_sign_in[u.username]) if u.username in last_sign_in else "never"),
                    html.Td(date_time(u.created_at)),
                    html.Td(html.Div(actions, className="admin-actions")),
                ],
                id=f"user-{u.username}",
            )
        )
    return html.Table([html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(body)], className="data-table")


def password_once(username: str, password: str, what: str) -> html.Div:
    """A generated password, shown once: it is not stored anywhere it could be read again."""
    return html.Div(
        [
            html.Span(f"{what} {username}. Password (shown once, give it to them now): "),
            html.Code(password, id="admin-new-password", className="password"),
        ],
        className="admin-ok",
    )


def rules_view(status) -> list:
    facts = [
        html.Dt("File"),
        html.Dd(html.Code(status.path)),
        html.Dt("Rules in force"),
        html.Dd(str(status.count), id="admin-rules-count"),
        html.Dt("Last loaded"),
        html.Dd(date_time(status.loaded_at) if status.loaded_at else "never"),
    ]
    if status.error:
        line = f"line {status.error_line}: " if status.error_line else ""
        facts += [
            html.Dt("Refused"),
            html.Dd(
                [html.Span(line, className="rules-error-line"), html.Span(status.error, className="rules-error")],
                id="admin-rules-error",
            ),
        ]
    return [html.Dl(facts, className="admin-facts")]
