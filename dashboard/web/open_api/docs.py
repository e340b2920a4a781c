"""The developers' page (/api/open/v1/docs): the OpenAPI description rendered as HTML, with examples.

Rendered on the server from the same `spec.document` the API serves, so the page cannot describe an
endpoint or parameter the API does not have. No script: the page obeys the app's CSP as it is.
"""

from __future__ import annotations

from importlib import resources

import flask

from dashboard.web import runtime
from dashboard.web.open_api import responses, spec

TEMPLATE = "docs.html"


def _operations(document: dict) -> list[dict]:
    parameters = document["components"]["parameters"]
    out = []
    for path, item in document["paths"].items():
        operation = item["get"]
        own = [parameters[p["$ref"].rsplit("/", 1)[1]] for p in operation["parameters"]] + item.get("parameters", [])
        formats = [c for c in operation["responses"]["200"]["content"]]
        out.append(
            {
                "path": spec.BASE + path.rstrip("/") if path != "/" else spec.BASE + "/",
                "summary": operation["summary"],
                "description": operation["description"],
                "parameters": [
                    {
                        "name": p["name"],
                        "where": p["in"],
                        "description": p.get("description", ""),
                        "values": ", ".join(str(v) for v in p["schema"].get("enum", [])),
                    }
                    for p in own
                ],
                "formats": formats,
            }
        )
    return out


def page():
    settings = runtime.get().settings
    document = spec.document(settings)
    template = resources.files(__package__).joinpath(TEMPLATE).read_text(encoding="utf-8")
    html = flask.render_template_string(
        template,
        info=document["info"],
        base=flask.request.host_url.rstrip("/") + spec.BASE,
        operations=_operations(document),
        rate=settings.open_api_rate_per_min,
        burst=settings.open_api_burst,
        delay_min=round(settings.kiosk_delay_s / 60.0, 1),
        snap_m=round(settings.kiosk_coarsen_m),
    )
    return responses.finish(html, "text/html; charset=utf-8", 300)
