"""`create_app(settings)`: the Dash app with its four pages, served entirely from this machine.

Nothing heavy happens at import: the engine, the snapshot service and the trial-area overlay are
made here, once per process, and handed to callbacks through `dashboard.web.runtime`.
"""

from __future__ import annotations

import importlib
import json
import logging
from functools import partial
from importlib import resources
from pathlib import Path

import dash
import flask
from dash import Dash, html
from sqlalchemy import Engine

from dashboard.core import geo
from dashboard.core.auth import policy, roles
from dashboard.core.kpis.report import KpiReports
from dashboard.core.settings import Settings
from dashboard.core.snapshot import FileSnapshotCache, SnapshotService
from dashboard.core.store.db import make_engine, migrate
from dashboard.core.tiles import open_tiles
from dashboard.core.trials import Trials, default_trials
from dashboard.web import push, runtime
from dashboard.web.auth import guard
from dashboard.web.auth.guard import current_user
from dashboard.web.auth.install import install as install_auth
from dashboard.web.basemap import blueprint as basemap_blueprint
from dashboard.web.open_api import blueprint as open_api_blueprint
from layouts import admin, alerts, control, correlation, health, home, kiosk, kpis, replay

log = logging.getLogger(__name__)

# The CSS and GeoJSON Dash serves from /assets/: the installed `assets` package. Dash needs a directory on
# disk, which the package is in any normal install (a wheel unpacks it; zip imports are not supported).
ASSETS = Path(str(resources.files("assets")))
# The page callback modules, imported by `create_app`: exactly those the access table has a rule for
# (a module without one would be refused by the guard anyway), so the two cannot drift apart.
CALLBACK_MODULES = tuple(policy.CALLBACK_MODULES)


def load_overlay(path: Path | None = None, trials: Trials | None = None) -> dict | None:
    """The trial areas as one GeoJSON dict for map layers: each trial's, from the file its trials-file
    entry names (or the one file at `path`); None when there are none (maps then show assets only)."""
    if path is not None:
        if not path.exists():
            log.warning("no trial-area overlay at %s: maps show assets only", path)
            return None
        geo.load_trial_areas(path)  # raises GeoDataError naming what is missing
        return json.loads(path.read_text(encoding="utf-8"))
    found = geo.overlay(trials or default_trials())
    if not found["features"]:
        log.warning("no trial areas in the trials file: maps show assets only")
        return None
    return found


def _register_callbacks() -> None:
    """Import the callback modules. Every page registers through `dash.hooks.callback`, which gives each
    Dash app built afterwards its own copy (tests and the bench build several apps in one process)."""
    for module in CALLBACK_MODULES:
        importlib.import_module(module)


def _page(path: str, layout):
    """The layout Dash calls to build the page at `path`, for the signed-in user only if their role
    may see it (whatever request reached Dash's page router), and from nothing in the URL.

    Dash passes the URL's query parameters to a page layout as keyword arguments: they are dropped, so
    no URL can choose server settings (`tile_url`, `tick_s`, `geojson`, bound here with `partial`) or
    whom the page is for. The session is read here, per request, on the server; layouts stay pure."""
    capability = policy.page_capability(path)

    def render(**_from_url):
        user = current_user()
        if capability is None or not roles.allows(user.role if user else None, capability):
            return guard.refusal(path)
        return layout(user=user)

    return render


def fleet_positions(snapshots: SnapshotService) -> list[tuple[float, float]]:
    """(lon, lat) of every asset in the current snapshot: the wall's map opens with all of them in view."""
    assets = snapshots.current().assets
    if assets.empty or "lat" not in assets or "lon" not in assets:
        return []
    placed = assets[assets["lat"].notna() & assets["lon"].notna()]
    return list(zip(placed["lon"].astype(float), placed["lat"].astype(float), strict=True))


def _at_request(layout, snapshots: SnapshotService | None = None):
    """`layout`, given what is known only when the page is built: this app's origin as the browser
    reached it (the map's workers fetch base-map tiles by absolute URL) and, with `snapshots`, the
    fleet's positions now."""

    def build(**kwargs):
        if snapshots is not None:
            kwargs["fleet"] = fleet_positions(snapshots)
        return layout(origin=flask.request.host_url.rstrip("/"), **kwargs)

    return build


def create_app(settings: Settings, engine: Engine | None = None) -> Dash:
    engine = engine or make_engine(settings.database_url)
    migrate(engine)
    cache = FileSnapshotCache(settings.snapshot_cache_dir) if settings.snapshot_cache_dir else None
    snapshots = SnapshotService(engine, settings, cache=cache)
    runtime.bind(runtime.Runtime(settings, engine, snapshots, KpiReports(engine, settings)))
    trials = settings.trial_model
    overlay = load_overlay(trials=trials)
    tiles = open_tiles(settings.basemap_path) if settings.basemap_path else None
    basemap = tiles.summary if tiles is not None else None
    _register_callbacks()  # before Dash(): hook callbacks are given to each app as it is built

    app = Dash(
        __name__,
        use_pages=True,
        pages_folder="",
        assets_folder=str(ASSETS),
        serve_locally=True,
        title="MK Control",
        update_title=None,  # type: ignore[arg-type]  # Dash documents None (no "Updating..." title); its stub says str
        # Callbacks name components of pages not shown yet. Without this, Dash would build every page's
        # layout into a "validation layout" sent in the app shell to anyone, signed in or not.
        suppress_callback_exceptions=True,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
        # Dash's own stdout handler would print each of its lines a second time beside the program's log.
        add_log_handler=False,
    )
    pages = {
        "home": ("/", "MK Control", home.layout),
        "control": (
            "/control",
            "Control wall",
            _at_request(
                partial(
                    control.layout,
                    geojson=overlay,
                    tile_url=settings.map_tile_url,
                    tick_s=settings.tick_s,
                    trials=trials,
                    basemap=basemap,
                ),
                snapshots,
            ),
        ),
        "kiosk": (
            "/kiosk",
            "Experience centre",
            _at_request(
                partial(
                    kiosk.layout,
                    geojson=overlay,
                    tile_url=settings.map_tile_url,
                    trials=trials,
                    basemap=basemap,
                    rotate_s=settings.kiosk_rotate_s,
                )
            ),
        ),
        "kpis": ("/kpis", "Trial KPIs", kpis.layout),
        "correlation": ("/radio", "Radio correlation", correlation.layout),
        "replay": (
            "/replay",
            "Incident replay",
            partial(replay.layout, geojson=overlay, tile_url=settings.map_tile_url, trials=trials),
        ),
        "health": ("/health", "System health", health.layout),
        "alerts": ("/alerts", "Alerts", alerts.layout),
        "admin": ("/admin", "Admin", admin.layout),
    }
    for module, (path, title, layout) in pages.items():
        dash.register_page(module, path=path, title=title, name=title, layout=_page(path, layout))
    app.layout = html.Div(dash.page_container)
    install_auth(app, settings, engine)  # sign-in, the access guard on every route and callback, headers
    app.server.register_blueprint(basemap_blueprint(tiles))  # /map/: label glyphs, the offline base map
    app.server.register_blueprint(open_api_blueprint(settings))  # /api/open/v1/: public, read-only
    push.install(app.server, settings, engine, snapshots)  # /push/: live updates to the screens
    return app
