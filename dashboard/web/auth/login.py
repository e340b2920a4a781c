"""The sign-in and sign-out pages: plain server-rendered HTML forms, working without JavaScript."""

from __future__ import annotations

import time
from urllib.parse import quote, urlsplit

import flask
from markupsafe import Markup, escape

from dashboard.core.auth import policy, records, sessions, signin

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - MK control room</title>
<style>
body {{ background:#0b1016; color:#e8eef5; font:18px/1.4 system-ui, sans-serif; display:flex;
  align-items:center; justify-content:center; min-height:100vh; margin:0 }}
main {{ background:#151d27; padding:2rem 2.5rem; border-radius:12px; width:min(24rem, 90vw) }}
h1 {{ font-size:1.4rem; margin:0 0 1.2rem }} label {{ display:block; margin:.8rem 0 .3rem }}
input {{ width:100%; box-sizing:border-box; font-size:1.1rem; padding:.5rem; border-radius:6px;
  border:1px solid #51606f; background:#0b1016; color:inherit }}
button {{ margin-top:1.4rem; width:100%; font-size:1.1rem; padding:.6rem; border:0; border-radius:6px;
  background:#3d8bfd; color:#fff; cursor:pointer }}
.error {{ background:#5c1d24; padding:.6rem .8rem; border-radius:6px }} a {{ color:#8ab8ff }}
</style></head><body><main>{body}</main></body></html>"""


def _page(title: str, body: Markup, status: int = 200, headers: dict | None = None) -> flask.Response:
    html = PAGE.format(title=escape(title), body=body)
    return flask.Response(html, status=status, mimetype="text/html", headers=headers or {})


HOME = "/control"  # where an unsafe `next` goes when the caller names no other place
# What a browser's URL parser drops anywhere in a URL (so "/\t/host" is "//host" to it), and what it
# strips from both ends: C0 control characters and space.
_DROPPED = dict.fromkeys(map(ord, "\t\n\r"))
_C0_AND_SPACE = "".join(map(chr, range(0x21)))
_PATH_SAFE = "/%-._~!$&'()*+,;=:@"
_QUERY_SAFE = _PATH_SAFE + "?"


def safe_next(target: str | None, home: str = HOME) -> str:
    """A path on this site to go to after sign-in; anything else (other sites, odd schemes) goes `home`.

    The target is first normalised the way a browser reads a Location header, then accepted only as
    a path of this site, re-encoded so that no control, space or non-ASCII character is left in it."""
    text = (target or "")[:2048].translate(_DROPPED).strip(_C0_AND_SPACE)
    if not text.startswith("/") or text.startswith("//") or "\\" in text:
        return home
    parts = urlsplit(text)
    if parts.scheme or parts.netloc:
        return home
    path = quote(parts.path, safe=_PATH_SAFE)
    if not path.startswith("/") or path.startswith("//"):
        return home
    return path + ("?" + quote(parts.query, safe=_QUERY_SAFE) if parts.query else "")


def _form(next_path: str, username: str = "", error: str = "") -> Markup:
    err = Markup('<p class="error" role="alert">{}</p>').format(error) if error else Markup("")
    return Markup(
        "<h1>Milton Keynes control room</h1>{err}"
        '<form method="post" action="/login">'
        '<input type="hidden" name="next" value="{next}">'
        '<label for="username">User name</label>'
        '<input id="username" name="username" autocomplete="username" required autofocus value="{user}">'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password" autocomplete="current-password" required>'
        '<button type="submit">Sign in</button></form>'
        '<p><a href="/kiosk">Experience centre (no sign-in)</a></p>'
    ).format(err=err, next=next_path, user=username)


def blueprint(engine, settings, lockout_policy, session_policy) -> flask.Blueprint:
    bp = flask.Blueprint("auth", __name__)

    def secure_cookie() -> bool:
        return settings.cookie_secure == "always" or (settings.cookie_secure == "auto" and flask.request.is_secure)

    @bp.route("/login", methods=["GET", "POST"])
    def login():
        request = flask.request
        # Empty when no page was asked for: the user's role then chooses where they start.
        next_path = safe_next(request.values.get("next"), home="")
        if request.method != "POST":  # GET and HEAD only show the form: only POST signs in
            return _page("Sign in", _form(next_path))
        username = request.form.get("username", "")[:128]
        password = request.form.get("password", "")[:1024]
        address = request.remote_addr or "unknown"
        outcome = signin.authenticate(engine, lockout_policy, username, password, address, time.time())
        if outcome.user is None:
            headers = {}
            status = 401
            if outcome.retry_after_s > 0:
                status, headers = 429, {"Retry-After": str(max(1, round(outcome.retry_after_s)))}
            return _page("Sign in", _form(next_path, username[:64], outcome.message), status, headers)
        # One session per browser: signing in (as anyone) ends the session this browser had.
        sessions.end(engine, request.cookies.get(sessions.COOKIE))
        token = sessions.start(engine, outcome.user.id, address, time.time(), session_policy)
        response = flask.redirect(next_path or policy.landing_page(outcome.user.role), code=303)
        response.set_cookie(
            sessions.COOKIE,
            token,
            max_age=int(session_policy.max_s),
            path="/",
            httponly=True,
            samesite="Lax",
            secure=secure_cookie(),
        )
        return response

    @bp.route("/logout", methods=["GET", "POST"])
    def logout():
        if flask.request.method != "POST":  # GET and HEAD only ask: only POST signs out
            return _page(
                "Sign out",
                Markup(
                    '<h1>Sign out?</h1><form method="post" action="/logout"><button type="submit">Sign out</button>'
                    "</form>"
                ),
            )
        user = flask.g.get("mk_user")
        sessions.end(engine, flask.request.cookies.get(sessions.COOKIE))
        if user is not None:
            with engine.begin() as conn:
                records.record_event(
                    conn, records.LOGOUT, user.username, flask.request.remote_addr or "unknown", time.time()
                )
        response = flask.redirect("/login", code=303)
        response.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="Lax", secure=secure_cookie())
        return response

    return bp
