"""The WebSocket candidate of the push bench: the app of `dashboard.web.wsgi` plus /push-ws/control.

Same broadcaster, same channels and messages as /push/control (`dashboard.web.push`); only the
transport differs (flask-sock on gunicorn's threaded workers: a socket holds a thread, as a stream
does). Bench only: the product ships server-sent events (docs/benchmarks.md says why).
"""

from __future__ import annotations

import flask
from flask_sock import Sock

from dashboard.core.auth import policy, roles, sessions
from dashboard.web import push
from dashboard.web.auth import guard
from dashboard.web.push import stream
from dashboard.web.wsgi import server

ENDPOINT = "push_ws_control"
# The guard refuses a route without a rule: the candidate gets the wall stream's.
policy.ROUTES[ENDPOINT] = roles.VIEW_CONTROL
sock = Sock(server)


@sock.route("/push-ws/control", endpoint=ENDPOINT)
def push_ws_control(ws) -> None:
    streams = server.extensions[push.EXTENSION]
    token = flask.request.cookies.get(sessions.COOKIE)
    body = streams.open(stream.channels_for("control", guard.current_role()), token, roles.VIEW_CONTROL)
    if body is None:
        ws.close(reason=1013, message="every live stream of this server is taken")
        return
    try:
        for text in body:
            if text.startswith("event: update"):
                ws.send(text.split("data: ", 1)[1].rstrip("\n"))
    finally:
        body.close()
