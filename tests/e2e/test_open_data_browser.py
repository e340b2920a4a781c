"""The open data API in a real browser: the developers' page, and a page of another site reading the API."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytestmark = pytest.mark.e2e

API = "/api/open/v1"


@pytest.fixture
def other_site():
    """A page on another origin (another port), as a developer's own site would be."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<!DOCTYPE html><html><body><p>a developer's site</p></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://localhost:{server.server_port}/"
    server.shutdown()
    server.server_close()


def test_docs_page(live_server, watched, screenshots):
    page = watched.page
    response = page.goto(live_server + API + "/docs")
    assert response.status == 200
    spec = page.evaluate(f"fetch('{API}/openapi.json').then(r => r.json())")
    sections = page.locator("section.op h3 code").all_inner_texts()
    assert len(sections) == len(spec["paths"])
    assert page.locator("h1").inner_text() == spec["info"]["title"]
    page.screenshot(path=str(screenshots / "open-data-docs.png"))
    assert not watched.errors and not watched.external


def test_another_site_reads_the_api(live_server, watched, other_site):
    page = watched.page
    page.goto(other_site)
    result = page.evaluate(
        """async (base) => {
            const geo = await fetch(base + "/assets?format=geojson");
            const csv = await fetch(base + "/kpis/daily?format=csv", {headers: {"If-None-Match": "\\"x\\""}});
            return {
                status: [geo.status, csv.status],
                features: (await geo.json()).features.length,
                header: (await csv.text()).split("\\r\\n")[0],
                total: csv.headers.get("X-Total-Count"),
            };
        }""",
        live_server + API,
    )
    assert result["status"] == [200, 200]
    assert result["features"] > 0
    assert result["header"] == "trial,day,kpi,value,unit"
    assert int(result["total"]) > 0, "exposed headers are readable from another site"
    assert not watched.errors
