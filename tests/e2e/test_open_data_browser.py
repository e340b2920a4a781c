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


def test_another_site_follows_the_live_stream(live_server, watched, other_site):
    page = watched.page
    page.goto(other_site)
    events = page.evaluate(
        """(url) => new Promise((resolve, reject) => {
            const seen = [];
            const source = new EventSource(url);
            const done = () => { source.close(); resolve(seen); };
            for (const kind of ["trial", "positions"]) {
                source.addEventListener(kind, (e) => {
                    const data = JSON.parse(e.data);
                    seen.push([kind, data.trial, e.lastEventId, kind === "positions" ? data.type : data.title]);
                    if (seen.length === 2) done();
                });
            }
            source.onerror = () => { source.close(); reject(new Error("stream failed")); };
            setTimeout(() => { source.close(); reject(new Error("no events in 20 s")); }, 20000);
        })""",
        live_server + API + "/stream?trial=mark",
    )
    assert [e[0] for e in events] == ["trial", "positions"]
    assert events[0][1] == "mark" and events[0][3] == "5G research network"
    assert events[1][3] == "FeatureCollection" and events[1][2].isdigit()
    assert not watched.errors
