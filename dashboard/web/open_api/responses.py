"""How the open API answers: JSON envelopes, CSV and GeoJSON, pages, validators and caching headers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from urllib.parse import urlencode

import flask

from dashboard.web.open_api.params import Page
from layouts import csv_export

MEDIA = {"json": "application/json", "csv": "text/csv; charset=utf-8", "geojson": "application/geo+json"}


def _page_url(offset: int, limit: int) -> str:
    args = {k: v for k, v in flask.request.args.items() if k not in ("offset", "limit")}
    args.update(offset=str(offset), limit=str(limit))
    return flask.request.base_url + "?" + urlencode(args)


def page_links(total: int, page: Page) -> dict[str, str | None]:
    following = page.offset + page.limit
    return {
        "next": _page_url(following, page.limit) if following < total else None,
        "prev": _page_url(max(page.offset - page.limit, 0), page.limit) if page.offset > 0 else None,
    }


def csv_text(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """The rows as CSV, written like every export of the app (`layouts.csv_export`): a text cell that
    a spreadsheet would run as a formula is kept as text."""
    for row in rows:
        extra = set(row) - set(columns)
        if extra:
            raise ValueError(f"CSV row has columns not in the listing: {sorted(extra)}")
    return csv_export.text([[list(columns), *([row.get(k) for k in columns] for row in rows)]])


def finish(body: str, media: str, max_age: int, extra: dict[str, str] | None = None) -> flask.Response:
    """A cacheable answer: strong ETag over the body, 304 when the client holds it already."""
    etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
    headers = {"Cache-Control": f"public, max-age={max_age}", "ETag": etag, "Vary": "Accept", **(extra or {})}
    if etag in [t.strip() for t in flask.request.headers.get("If-None-Match", "").split(",")]:
        return flask.Response(status=304, headers=headers)
    return flask.Response(body, status=200, mimetype=None, content_type=media, headers=headers)


def listing(
    rows: list[dict],
    columns: Sequence[str],
    page: Page,
    fmt: str,
    max_age: int,
    meta: dict | None = None,
    geojson=None,
) -> flask.Response:
    """One page of `rows` as JSON ({data, meta}), CSV (pages in Link) or GeoJSON (`geojson(rows)`)."""
    total = len(rows)
    chosen = rows[page.offset : page.offset + page.limit]
    links = page_links(total, page)
    headers = {"X-Total-Count": str(total)}
    link = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items() if url)
    if link:
        headers["Link"] = link
    if fmt == "csv":
        return finish(csv_text(chosen, columns), MEDIA["csv"], max_age, headers)
    info = {"total": total, "count": len(chosen), "limit": page.limit, "offset": page.offset, **links, **(meta or {})}
    if fmt == "geojson" and geojson is not None:
        collection = geojson(chosen)
        collection["meta"] = info
        return finish(json.dumps(collection, separators=(",", ":")), MEDIA["geojson"], max_age, headers)
    return finish(json.dumps({"data": chosen, "meta": info}, separators=(",", ":")), MEDIA["json"], max_age, headers)


def document(data: dict, max_age: int) -> flask.Response:
    return finish(json.dumps(data, separators=(",", ":")), MEDIA["json"], max_age)


def error(status: int, message: str, parameter: str | None = None, headers: dict | None = None) -> flask.Response:
    body: dict = {"error": message}
    if parameter is not None:
        body["parameter"] = parameter
    response = flask.Response(json.dumps(body), status=status, content_type=MEDIA["json"], headers=headers or {})
    response.headers["Cache-Control"] = "no-store"
    return response
