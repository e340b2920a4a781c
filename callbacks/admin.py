"""Admin callbacks (/admin): users through `dashboard.core.auth.accounts`, the alert rules read-only.

Each callback checks its capability itself (`@requires`) as well as through the guard. Every change is
made by `accounts` with the signed-in admin as the actor, so it lands in `auth_events`; a reload of the
rules is recorded there too. An admin cannot disable their own account or change their own role here
(that is how an installation loses its last admin): the CLI can, deliberately.
"""

from __future__ import annotations

import logging

import flask
from dash import ALL, Input, Output, State, ctx, hooks, html, no_update

from callbacks.alerts import rules_file
from dashboard.core.auth import accounts, roles
from dashboard.core.auth import records as auth_db
from dashboard.web import runtime
from dashboard.web.auth.guard import requires
from layouts import admin as view
from layouts import ids

log = logging.getLogger(__name__)


USER_ACTIONS = ("disable", "enable", "reset", "role")


def _admin() -> str:
    user = flask.g.get("mk_user")
    if user is None:  # @requires has already refused anonymous callers; never record a blank actor
        raise PermissionError("no signed-in admin")
    return user.username


def _address() -> str:
    return flask.request.remote_addr or "unknown"


def _error(text: str) -> html.Div:
    return html.Div(text, className="admin-error", role="alert")


@hooks.callback(
    Output(ids.ADMIN_USERS, "children"),
    Input(ids.ADMIN_VERSION, "data"),
)
@requires(roles.MANAGE_USERS)
def show_users(_version):
    engine = runtime.get().engine
    return view.users_table(accounts.list_users(engine), accounts.last_sign_ins(engine), _admin())


@hooks.callback(
    Output(ids.ADMIN_MESSAGE, "children"),
    Output(ids.ADMIN_VERSION, "data"),
    Output(ids.ADMIN_NEW_NAME, "value"),
    Input(ids.ADMIN_ADD, "n_clicks"),
    State(ids.ADMIN_NEW_NAME, "value"),
    State(ids.ADMIN_NEW_ROLE, "value"),
    State(ids.ADMIN_VERSION, "data"),
    prevent_initial_call=True,
)
@requires(roles.MANAGE_USERS)
def add_user(n_clicks, username, role, version):
    if not n_clicks:
        return no_update, no_update, no_update
    actor = _admin()
    try:
        password = accounts.add_user(runtime.get().engine, username or "", role or "", actor=actor)
    except accounts.AccountError as exc:
        return _error(f"Not added: {exc}"), no_update, no_update
    name = auth_db.normalise(username)
    log.info("admin %s added user %r (%s) from %s", actor, name, role, _address())
    return view.password_once(name, password, f"Added {role}"), (version or 0) + 1, ""


@hooks.callback(
    Output(ids.ADMIN_MESSAGE, "children", allow_duplicate=True),
    Output(ids.ADMIN_VERSION, "data", allow_duplicate=True),
    Input(ids.admin_user_action(ALL, ALL), "n_clicks"),
    State(ids.admin_user_role(ALL), "value"),
    State(ids.ADMIN_VERSION, "data"),
    prevent_initial_call=True,
)
@requires(roles.MANAGE_USERS)
def change_user(_clicks, _roles, version):
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered[0]["value"]:
        return no_update, no_update  # a table re-render, not a click
    action, username = trigger["action"], trigger["user"]
    if action not in USER_ACTIONS or not isinstance(username, str):
        return _error("Not done: no such action."), no_update
    username = auth_db.normalise(username)  # the one form names are compared in, as stored
    actor = _admin()
    engine = runtime.get().engine
    if accounts.same_user(username, actor) and action in ("disable", "role"):
        return _error("Not done: you cannot disable your own account or change your own role."), no_update
    try:
        if action in ("disable", "enable"):
            accounts.set_disabled(engine, username, action == "disable", actor=actor)
            message = html.Div(
                f"{username} {action}d" + (": signed out everywhere" if action == "disable" else ""),
                className="admin-ok",
            )
        elif action == "reset":
            message = view.password_once(
                username, accounts.reset_password(engine, username, actor=actor), "New password for"
            )
        elif action == "role":
            role = _role_for(username)
            accounts.set_role(engine, username, role or "", actor=actor)
            message = html.Div(
                f"{username} is now {role}: signed out, to sign in again with the new role", className="admin-ok"
            )
    except accounts.AccountError as exc:
        return _error(f"Not done: {exc}"), no_update
    log.info("admin %s: %s %r from %s", actor, action, username, _address())
    return message, (version or 0) + 1


def _role_for(username: str):
    for item in ctx.states_list[0]:
        key = item.get("id")
        if isinstance(key, dict) and isinstance(key.get("user"), str) and accounts.same_user(key["user"], username):
            return item.get("value")
    return None


@hooks.callback(
    Output(ids.ADMIN_RULES, "children"),
    Input(ids.ADMIN_RULES_INTERVAL, "n_intervals"),
)
@requires(roles.MANAGE_RULES)
def show_rules(_n):
    current = rules_file()
    current.refresh()
    return view.rules_view(current.status())


@hooks.callback(
    Output(ids.ADMIN_RULES, "children", allow_duplicate=True),
    Input(ids.ADMIN_RELOAD, "n_clicks"),
    prevent_initial_call=True,
)
@requires(roles.MANAGE_RULES)
def reload_rules(n_clicks):
    if not n_clicks:
        return no_update
    actor = _admin()
    current = rules_file()
    current.reload()
    status = current.status()
    detail = f"{status.count} rules" + (f"; refused: {status.error}" if status.error else "")
    accounts.record_admin_event(
        runtime.get().engine, auth_db.RULES_RELOADED, actor=actor, detail=detail, address=_address()
    )
    log.info("admin %s reloaded the alert rules: %s", actor, detail)
    return view.rules_view(status)
