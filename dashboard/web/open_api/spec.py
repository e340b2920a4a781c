"""The open API's OpenAPI 3 description, served at /api/open/v1/openapi.json and rendered as the docs page.

Every object schema is closed (`additionalProperties: false`): a client, or schemathesis in the tests,
checking answers against it would see any field added to an answer that the description does not
name. The trial ids are listed from the trials file in force.
"""

from __future__ import annotations

from typing import Any

from dashboard.core.opendata import hourly
from dashboard.core.settings import Settings
from dashboard.web.open_api import params

BASE = "/api/open/v1"
VERSION = "1.0.0"
# Endpoint name -> path below BASE (the index lists them).
ENDPOINTS = {
    "trials": "/trials",
    "assets": "/assets",
    "daily_kpis": "/kpis/daily",
    "hourly_kpis": "/kpis/hourly",
    "alert_counts": "/alerts/counts",
    "stream": "/stream",
}

_NUMBER_OR_NULL = {"type": "number", "nullable": True}


def _obj(properties: dict, required: list[str] | None = None) -> dict:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required if required is not None else list(properties),
        "properties": properties,
    }


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _schemas() -> dict:
    string = {"type": "string"}
    url_or_null = {"type": "string", "nullable": True}
    meta_common = {
        "total": {"type": "integer", "minimum": 0},
        "count": {"type": "integer", "minimum": 0},
        "limit": {"type": "integer", "minimum": 1},
        "offset": {"type": "integer", "minimum": 0},
        "next": url_or_null,
        "prev": url_or_null,
    }
    ranged = {**meta_common, "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"}}
    live = {**meta_common, "taken_at": {"type": "integer"}, "delay_min": {"type": "number"}}
    return {
        "Error": _obj({"error": string, "parameter": string}, ["error"]),
        "KpiDefinition": _obj(
            {
                "key": string,
                "label": string,
                "unit": string,
                "definition": string,
                "higher_is_better": {"type": "boolean", "nullable": True},
            }
        ),
        "Trial": _obj(
            {
                "id": string,
                "name": string,
                "title": string,
                "description": string,
                "asset_kind": string,
                "colour": string,
                "now": _obj({"number": string, "unit": string, "sentence": string}),
                "kpis": {"type": "array", "items": _ref("KpiDefinition")},
            }
        ),
        "Position": _obj(
            {
                "trial": string,
                "label": {"type": "string", "description": "a generic label, never an asset's id"},
                "lat": {"type": "number", "minimum": -90, "maximum": 90},
                "lon": {"type": "number", "minimum": -180, "maximum": 180},
            }
        ),
        "DailyKpi": _obj(
            {
                "trial": string,
                "day": {"type": "string", "format": "date"},
                "kpi": string,
                "value": _NUMBER_OR_NULL,
                "unit": string,
            }
        ),
        "HourlyKpi": _obj(
            {
                "trial": string,
                "hour": {"type": "string", "format": "date-time"},
                "kpi": string,
                "value": _NUMBER_OR_NULL,
                "unit": string,
            }
        ),
        "AlertCount": _obj(
            {
                "day": {"type": "string", "format": "date"},
                "trial": string,
                "kind": string,
                "severity": string,
                "count": {"type": "integer", "minimum": 1},
            }
        ),
        "TrialMeta": _obj({**meta_common, "taken_at": {"type": "integer"}}),
        "LiveMeta": _obj(live),
        "RangeMeta": _obj(ranged),
        "TrialList": _obj({"data": {"type": "array", "items": _ref("Trial")}, "meta": _ref("TrialMeta")}),
        "PositionList": _obj({"data": {"type": "array", "items": _ref("Position")}, "meta": _ref("LiveMeta")}),
        "DailyKpiList": _obj({"data": {"type": "array", "items": _ref("DailyKpi")}, "meta": _ref("RangeMeta")}),
        "HourlyKpiList": _obj({"data": {"type": "array", "items": _ref("HourlyKpi")}, "meta": _ref("RangeMeta")}),
        "AlertCountList": _obj({"data": {"type": "array", "items": _ref("AlertCount")}, "meta": _ref("RangeMeta")}),
        "PositionCollection": _obj(
            {
                "type": {"type": "string", "enum": ["FeatureCollection"]},
                "features": {
                    "type": "array",
                    "items": _obj(
                        {
                            "type": {"type": "string", "enum": ["Feature"]},
                            "geometry": _obj(
                                {
                                    "type": {"type": "string", "enum": ["Point"]},
                                    "coordinates": {
                                        "type": "array",
                                        "items": {"type": "number"},
                                        "minItems": 2,
                                        "maxItems": 2,
                                    },
                                }
                            ),
                            "properties": _obj({"trial": string, "label": string}),
                        }
                    ),
                },
                "meta": _ref("LiveMeta"),
            }
        ),
        "Index": _obj(
            {
                "name": string,
                "openapi": string,
                "docs": string,
                "endpoints": {"type": "object", "additionalProperties": string},
            }
        ),
    }


def _one_of(values: tuple[str, ...]) -> dict:
    """A string among `values` (an empty enum is not valid OpenAPI: then any string, answered with 400)."""
    return {"type": "string", "enum": list(values)} if values else {"type": "string"}


def _parameters(trials: tuple[str, ...], network: tuple[str, ...]) -> dict:
    def query(name: str, description: str, schema: dict) -> dict:
        return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}

    day = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
    return {
        "limit": query(
            "limit",
            f"Rows per page (default {params.DEFAULT_LIMIT}).",
            {"type": "integer", "minimum": 1, "maximum": params.MAX_LIMIT},
        ),
        "offset": query("offset", "Rows to skip.", {"type": "integer", "minimum": 0, "maximum": params.MAX_OFFSET}),
        "from": query("from", "First UTC day (inclusive). Default: a week before `to`.", day),
        "to": query("to", "Last UTC day (inclusive). Default: today.", day),
        "trial": query("trial", "Only this trial.", _one_of(trials)),
        "network_trial": query("trial", "Only this network trial.", _one_of(network)),
        "format": query(
            "format",
            "json (default) or csv; Accept: text/csv works too.",
            {"type": "string", "enum": list(params.FORMATS)},
        ),
        "geo_format": query(
            "format",
            "json (default), csv or geojson; Accept: application/geo+json works too.",
            {"type": "string", "enum": list(params.GEO_FORMATS)},
        ),
    }


def _responses(ok: dict, *, bad_request: bool = True, not_found: bool = False) -> dict:
    headers = {
        "ETag": {
            "description": "Send it back in If-None-Match to get 304 while unchanged.",
            "schema": {"type": "string"},
        },
        "Cache-Control": {"description": "How long the answer may be reused.", "schema": {"type": "string"}},
        "Link": {"description": "Pages: rel=next and rel=prev (lists only).", "schema": {"type": "string"}},
        "X-Total-Count": {"description": "Rows in all pages (lists only).", "schema": {"type": "integer"}},
    }
    error = {"application/json": {"schema": _ref("Error")}}
    out: dict[str, Any] = {
        "200": {"description": "OK", "headers": headers, "content": ok},
        "304": {"description": "Not modified since the ETag given in If-None-Match."},
        "429": {
            "description": "Too many requests from this address: wait Retry-After seconds.",
            "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
            "content": error,
        },
    }
    if bad_request:
        out["400"] = {"description": "A parameter is not valid; `parameter` names it.", "content": error}
    if not_found:
        out["404"] = {"description": "No such trial.", "content": error}
    return out


def _list(schema: str, csv: bool = True, geojson: str | None = None) -> dict:
    content = {"application/json": {"schema": _ref(schema)}}
    if csv:
        content["text/csv"] = {"schema": {"type": "string"}}
    if geojson:
        content["application/geo+json"] = {"schema": _ref(geojson)}
    return content


def _get(operation_id: str, summary: str, description: str, parameters: list[str], responses: dict) -> dict:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "description": description,
            "parameters": [{"$ref": f"#/components/parameters/{p}"} for p in parameters],
            "responses": responses,
        }
    }


def document(settings: Settings) -> dict:
    """The OpenAPI 3.0 description for the trials in force."""
    trials = settings.trials
    network = tuple(t.id for t in hourly.hourly_trials(settings))
    paged = ["limit", "offset"]
    paths = {
        "/": _get(
            "index",
            "Where everything is",
            "Links to the endpoints, this description and the docs.",
            [],
            _responses({"application/json": {"schema": _ref("Index")}}, bad_request=False),
        ),
        "/trials": _get(
            "listTrials",
            "The trials",
            "Every trial: what it is, what it is doing now (the experience centre's sentence) and the KPIs it publishes, with their definitions.",
            ["format", *paged],
            _responses(_list("TrialList")),
        ),
        "/trials/{trial_id}": {
            "parameters": [{"name": "trial_id", "in": "path", "required": True, "schema": _one_of(trials)}],
            **_get(
                "getTrial",
                "One trial",
                "One trial, as in the list.",
                [],
                _responses({"application/json": {"schema": _ref("Trial")}}, bad_request=False, not_found=True),
            ),
        },
        "/assets": _get(
            "listAssets",
            "Where the trial vehicles are (delayed, coarsened)",
            "Positions as the experience centre shows them: at least `delay_min` minutes old, snapped to a grid, "
            "with a generic label and no identifier. Vehicles that have lost their link are left out.",
            ["trial", "geo_format", *paged],
            _responses(_list("PositionList", geojson="PositionCollection")),
        ),
        "/kpis/daily": _get(
            "listDailyKpis",
            "KPIs per trial and UTC day",
            "One row per day and KPI (long format). Only KPIs that read no field a trial keeps private are published.",
            ["trial", "from", "to", "format", *paged],
            _responses(_list("DailyKpiList")),
        ),
        "/kpis/hourly": _get(
            "listHourlyKpis",
            "Hourly KPIs of the 5G research network",
            f"One row per UTC hour and KPI of the network trials, plus `{hourly.ASSETS_KEY}` and `{hourly.MESSAGES_KEY}`. "
            f"At most {hourly.MAX_DAYS} days per request; default: today.",
            ["network_trial", "from", "to", "format", *paged],
            _responses(_list("HourlyKpiList")),
        ),
        "/stream": _get(
            "streamFeed",
            "The live feed as server-sent events",
            "An EventSource stream of the live feed: a `trial` event (the trial's sentence now) and a `positions` "
            "event (a GeoJSON FeatureCollection of its delayed positions) per trial at once, then each again when it "
            "changes. The same messages as the MQTT topics open/v1/trial/{id} and open/v1/positions/{id}. "
            "A stream ends after five minutes (EventSource reconnects); each server takes a few at a time (503 beyond).",
            ["trial"],
            {
                "200": {
                    "description": "text/event-stream",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                "400": {
                    "description": "A parameter is not valid.",
                    "content": {"application/json": {"schema": _ref("Error")}},
                },
                "429": {
                    "description": "Too many requests from this address.",
                    "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
                    "content": {"application/json": {"schema": _ref("Error")}},
                },
                "503": {
                    "description": "Every live stream of this server is taken: retry after Retry-After seconds.",
                    "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
                    "content": {"application/json": {"schema": _ref("Error")}},
                },
            },
        ),
        "/alerts/counts": _get(
            "listAlertCounts",
            "How many alerts were raised",
            "Alerts raised per UTC day, trial, rule kind and severity. Counts only: no asset, text or position.",
            ["trial", "from", "to", "format", *paged],
            _responses(_list("AlertCountList")),
        ),
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Milton Keynes smart-city open data",
            "version": VERSION,
            "description": "Anonymised, read-only data from the city's trials: self-driving shuttles, drones and "
            "the 5G research network. Free to use from any site (CORS). See the docs page for limits.",
        },
        "servers": [{"url": BASE}],
        "paths": paths,
        "components": {"schemas": _schemas(), "parameters": _parameters(trials, network)},
    }
