"""The open API's endpoints: each reads one `dashboard.core.opendata` function and answers in the
format asked for. Everything here is public and read-only (GET, HEAD, OPTIONS)."""

from __future__ import annotations

import time

import flask

from dashboard.core.opendata import alerts, hourly, kpis, public
from dashboard.web import runtime
from dashboard.web.open_api import params, responses, spec

# Seconds a client or proxy may reuse an answer. Positions move every tick but are two minutes old
# anyway; a past day's figures no longer change once rolled up.
LIVE_MAX_AGE = 5
TRIALS_MAX_AGE = 60
TODAY_MAX_AGE = 300
PAST_MAX_AGE = 3_600
SPEC_MAX_AGE = 3_600
# Longest ranges one request may ask for (days).
MAX_DAILY_DAYS = 366
MAX_ALERT_DAYS = 366

DAILY_COLUMNS = ("trial", "day", "kpi", "value", "unit")
HOURLY_COLUMNS = ("trial", "hour", "kpi", "value", "unit")
ALERT_COLUMNS = ("day", "trial", "kind", "severity", "count")
TRIAL_COLUMNS = ("id", "name", "title", "description", "asset_kind", "colour", "sentence")


def _range_max_age(last) -> int:
    return TODAY_MAX_AGE if last >= params.today() else PAST_MAX_AGE


def index():
    base = flask.request.host_url.rstrip("/") + spec.BASE
    return responses.document(
        {
            "name": "Milton Keynes smart-city open data",
            "openapi": base + "/openapi.json",
            "docs": base + "/docs",
            "endpoints": {name: base + path for name, path in spec.ENDPOINTS.items()},
        },
        SPEC_MAX_AGE,
    )


def trials():
    rt = runtime.get()
    fmt = params.output_format(flask.request.args, flask.request.headers.get("Accept", ""))
    page = params.page(flask.request.args)
    view = public.view(rt.snapshots.current(), rt.settings)
    rows = public.trials(view, rt.settings)
    if fmt == "csv":
        flat = [{**{k: r.get(k) for k in TRIAL_COLUMNS}, "sentence": r["now"]["sentence"]} for r in rows]
        return responses.listing(flat, TRIAL_COLUMNS, page, fmt, TRIALS_MAX_AGE)
    return responses.listing(rows, TRIAL_COLUMNS, page, fmt, TRIALS_MAX_AGE, {"taken_at": view["taken_at"]})


def trial(trial_id: str):
    rt = runtime.get()
    view = public.view(rt.snapshots.current(), rt.settings)
    found = next((t for t in public.trials(view, rt.settings) if t["id"] == trial_id), None)
    if found is None:
        return responses.error(404, f"no trial {trial_id[:40]!r}; see {spec.BASE}/trials", "trial_id")
    return responses.document(found, TRIALS_MAX_AGE)


def assets():
    rt = runtime.get()
    args = flask.request.args
    fmt = params.output_format(args, flask.request.headers.get("Accept", ""), params.GEO_FORMATS)
    chosen = set(params.trial(args, rt.settings.trials))
    page = params.page(args)
    view = public.view(rt.snapshots.current(), rt.settings)
    rows = [p for p in public.positions(view) if p["trial"] in chosen]
    meta = {"taken_at": view["taken_at"], "delay_min": view["delay_min"]}
    return responses.listing(
        rows, public.POSITION_FIELDS, page, fmt, LIVE_MAX_AGE, meta, geojson=public.feature_collection
    )


def _per_day(columns, period_key, max_days, default_days, trials, read):
    """A listing over a date range: `read(trial, first, last)` for each trial asked for, in time order.

    The dated endpoints differ only in what they read and how far back they may go; the paging, the
    range check, the order and the caching rule are theirs in common."""
    args = flask.request.args
    fmt = params.output_format(args, flask.request.headers.get("Accept", ""))
    chosen = params.trial(args, trials) if trials else ()
    first, last = params.date_range(args, max_days, default_days)
    page = params.page(args)
    rows = [row for trial_id in chosen for row in read(trial_id, first, last)]
    rows.sort(key=lambda r: (r[period_key], r["trial"]))
    meta = {"from": first.isoformat(), "to": last.isoformat()}
    return responses.listing(rows, columns, page, fmt, _range_max_age(last), meta)


def daily_kpis():
    rt = runtime.get()
    now = time.time()
    return _per_day(
        DAILY_COLUMNS,
        "day",
        MAX_DAILY_DAYS,
        params.DEFAULT_DAYS,
        rt.settings.trials,
        lambda trial_id, first, last: kpis.daily(
            rt.engine, rt.settings, rt.settings.trial_model[trial_id], first, last, now
        ),
    )


def hourly_kpis():
    rt = runtime.get()
    now = time.time()
    return _per_day(
        HOURLY_COLUMNS,
        "hour",
        hourly.MAX_DAYS,
        1,
        tuple(t.id for t in hourly.hourly_trials(rt.settings)),
        lambda trial_id, first, last: hourly.hourly(
            rt.engine, rt.settings, rt.settings.trial_model[trial_id], first, last, now
        ),
    )


def alert_counts():
    rt = runtime.get()
    args = flask.request.args
    fmt = params.output_format(args, flask.request.headers.get("Accept", ""))
    chosen = params.trial(args, rt.settings.trials)
    first, last = params.date_range(args, MAX_ALERT_DAYS)
    page = params.page(args)
    rows = alerts.counts(rt.engine, first, last, chosen)
    meta = {"from": first.isoformat(), "to": last.isoformat()}
    return responses.listing(rows, ALERT_COLUMNS, page, fmt, _range_max_age(last), meta)


def openapi():
    return responses.document(spec.document(runtime.get().settings), SPEC_MAX_AGE)


def not_found(rest: str):
    return responses.error(404, f"no such endpoint; see {spec.BASE}/docs")
