"""The open data API (/api/open/v1/): public, read-only, for any site to read (CORS), rate-limited.

`blueprint(settings)` is registered by `create_app`. The access guard lets these routes through for
everyone (`policy.ROUTES`); the session cookie is not even read for them, so a signed-in browser and an
anonymous one get the same, cacheable answers.
"""

from __future__ import annotations

import logging

import flask

from dashboard.core.settings import Settings
from dashboard.web.open_api import docs, params, responses, spec, stream, views
from dashboard.web.open_api.ratelimit import RateLimiter

log = logging.getLogger(__name__)

NAME = "open_api"
PREFIX = spec.BASE
# (rule, view): endpoint names are `open_api.<view name>` (the access table lists them).
RULES = (
    ("/", views.index),
    ("/trials", views.trials),
    ("/trials/<trial_id>", views.trial),
    ("/assets", views.assets),
    ("/kpis/daily", views.daily_kpis),
    ("/kpis/hourly", views.hourly_kpis),
    ("/alerts/counts", views.alert_counts),
    ("/openapi.json", views.openapi),
    ("/docs", docs.page),
    ("/stream", stream.stream),
    ("/<path:rest>", views.not_found),
)
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "ETag, Link, X-Total-Count, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining",
    # Browsers may read these answers from any origin: CORS says so, and so must resource policy.
    "Cross-Origin-Resource-Policy": "cross-origin",
}
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Accept, If-None-Match, Last-Event-ID",
    "Access-Control-Max-Age": "86400",
}


def blueprint(settings: Settings) -> flask.Blueprint:
    bp = flask.Blueprint(NAME, __name__, url_prefix=PREFIX)
    for rule, view in RULES:
        bp.add_url_rule(rule, view.__name__, view, methods=["GET"])
    limiter = RateLimiter(settings.open_api_rate_per_min, settings.open_api_burst)

    @bp.before_request
    def _rate_limit():
        if flask.request.method == "OPTIONS":
            return None
        decision = limiter.take(flask.request.remote_addr or "unknown")
        flask.g.open_api_remaining = decision.remaining
        if not decision.allowed:
            return responses.error(
                429,
                f"too many requests: at most {settings.open_api_rate_per_min:g} a minute; retry in {decision.retry_after_s} s",
                headers={"Retry-After": str(decision.retry_after_s)},
            )
        return None

    @bp.after_request
    def _cors(response: flask.Response) -> flask.Response:
        response.headers.update(CORS_HEADERS)
        if flask.request.method == "OPTIONS":
            response.headers.update(PREFLIGHT_HEADERS)
        if limiter.enabled:
            response.headers["X-RateLimit-Limit"] = f"{settings.open_api_rate_per_min:g}"
            response.headers["X-RateLimit-Remaining"] = str(flask.g.get("open_api_remaining", limiter.burst))
        return response

    @bp.errorhandler(params.BadParameter)
    def _bad_parameter(exc: params.BadParameter):
        return responses.error(400, exc.message, exc.parameter)

    return bp
