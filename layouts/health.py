"""System health (/health): is the pipeline alive, what is it rejecting, how big is the store."""

from __future__ import annotations

import pandas as pd
from dash import dcc, html

from dashboard.core.trials import Trials
from layouts import ids
from layouts.components import age_badge, date_time, fmt, page_header, table, trial_name, visible

# Characters of a rejected payload shown: enough to recognise the supplier's mistake.
EXCERPT_CHARS = 160


def layout(**_) -> html.Div:
    return html.Div(
        [
            page_header("/health", "System health", "bridge, rejected payloads and store"),
            html.Div(id=ids.HEALTH_BODY, className="health-body"),
            dcc.Interval(id=ids.HEALTH_INTERVAL, interval=5000),
        ],
        className="page-health",
    )


def excerpt(payload: bytes | None, limit: int = EXCERPT_CHARS) -> str:
    """Printable, escaped text of raw bytes: control and invalid bytes become \\x.. escapes."""
    raw = bytes(payload or b"")[: limit * 4]
    text = raw.decode("utf-8", errors="backslashreplace")
    text = visible(text)
    return text[:limit] + ("…" if len(text) > limit or len(payload or b"") > len(raw) else "")


def body(
    stats: pd.DataFrame,
    trials: pd.DataFrame,
    dead: pd.DataFrame,
    reasons: pd.DataFrame,
    db_bytes: int | None,
    now: float,
    trial_names: Trials | None = None,
) -> list:
    counter_cols = [
        ("worker", "Worker"),
        ("connected", "Connected"),
        ("received", "Received"),
        ("stored", "Stored"),
        ("duplicates", "Duplicates"),
        ("rejected", "Rejected"),
        ("queue_depth", "Queue"),
        ("commit_lag_ms", "Commit lag ms"),
        ("db_errors", "DB errors"),
        ("updated", "Updated"),
    ]
    counter_rows = [
        {
            **{
                k: fmt(r[k], 0) if isinstance(r[k], (int, float)) and not isinstance(r[k], bool) else str(r[k])
                for k, _ in counter_cols
                if k in r
            },
            "connected": "yes" if r["connected"] else "NO",
            "commit_lag_ms": fmt(r["commit_lag_ms"], 1),
            "updated": age_badge(now - r["updated_at"]),
        }
        for r in stats.to_dict("records")
    ]
    trial_rows = [
        {
            "trial": trial_name(r["trial"], trial_names),
            "assets": str(r["assets"]),
            "last": date_time(r["received_at"]),
            "age": age_badge(now - r["received_at"] if r["received_at"] is not None else None),
        }
        for r in trials.to_dict("records")
    ]
    dead_rows = [
        {
            "time": date_time(r["received_at"]),
            "topic": visible(r["topic"]),
            "code": visible(r["reason_code"]),
            "reason": visible(r["reason"]),
            "size": f"{r['payload_size']:,} B",
            "excerpt": html.Code(excerpt(r["payload"])),
        }
        for r in dead.to_dict("records")
    ]
    reason_rows = [
        {"code": r["reason_code"], "count": f"{r['count']:,}", "last": date_time(r["last"])}
        for r in reasons.to_dict("records")
    ]
    return [
        # Ten counters per worker: the bridge card spans the row (in a third of it the columns were cut off).
        html.Section(
            [
                html.H2("Bridge"),
                table(counter_cols, counter_rows, "data-table bridge-table")
                if counter_rows
                else html.P("No bridge has reported yet.", className="muted"),
            ],
            className="health-card wide" if counter_rows else "health-card",
        ),
        html.Section(
            [
                html.H2("Last message per trial"),
                table(
                    [("trial", "Trial"), ("assets", "Assets"), ("last", "Last received"), ("age", "Age")], trial_rows
                ),
            ],
            className="health-card",
        ),
        html.Section(
            [
                html.H2("Store"),
                html.P(["Database size: ", html.Strong(fmt((db_bytes or 0) / 1e6, 1, "MB"), id="health-db-size")]),
            ],
            className="health-card",
        ),
        html.Section(
            [
                html.H2("Rejected payloads by reason"),
                table([("code", "Reason"), ("count", "Count"), ("last", "Last")], reason_rows)
                if reason_rows
                else html.P("None", className="muted"),
            ],
            className="health-card",
        ),
        html.Section(
            [
                html.H2("Dead letters (newest first)"),
                table(
                    [
                        ("time", "Received"),
                        ("topic", "Topic"),
                        ("code", "Code"),
                        ("reason", "Reason"),
                        ("size", "Size"),
                        ("excerpt", "Payload excerpt"),
                    ],
                    dead_rows,
                    "data-table dead-table",
                )
                if dead_rows
                else html.P("No rejected payloads.", className="muted"),
            ],
            className="health-card wide",
        ),
    ]
