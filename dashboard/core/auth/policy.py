"""Which capability each page, route and callback needs: the access table the guard enforces.

Anything not named here is refused (and logged as a missing rule), so a new page, route or callback
module is closed until someone decides who may use it. `tests/unit/test_access_table.py` walks the
app's pages, routes and callbacks and fails on any without a rule.
"""

from __future__ import annotations

from dashboard.core.auth import roles

# Dash pages, by path. The index HTML is the same empty shell for every path; these decide whether a
# browser is sent to sign in, and whether the page's layout is rendered for this user.
PAGES: dict[str, str] = {
    "/": roles.VIEW_KIOSK,  # home: the public experience centre (or a redirect to it)
    "/kiosk": roles.VIEW_KIOSK,
    "/control": roles.VIEW_CONTROL,
    "/alerts": roles.VIEW_ALERTS,
    "/replay": roles.VIEW_CONTROL,  # incident replay: whoever watches the wall reviews what happened on it
    "/kpis": roles.VIEW_KPIS,
    "/radio": roles.VIEW_KPIS,  # failure rates against the radio: a trial manager's analysis, like the KPIs
    "/health": roles.VIEW_HEALTH,
    "/admin": roles.MANAGE_USERS,
}

# Callbacks, by the module that defines them (one module per page). A callback may ask for more with
# `@guard.requires(...)` (e.g. acknowledging an alert needs ACT_ALERTS, not just VIEW_ALERTS).
CALLBACK_MODULES: dict[str, str] = {
    "callbacks.kiosk": roles.VIEW_KIOSK,
    "callbacks.control": roles.VIEW_CONTROL,
    "callbacks.alerts": roles.VIEW_ALERTS,
    "callbacks.replay": roles.VIEW_CONTROL,
    "callbacks.kpis": roles.VIEW_KPIS,
    "callbacks.correlation": roles.VIEW_KPIS,
    "callbacks.health": roles.VIEW_HEALTH,
    "callbacks.admin": roles.MANAGE_USERS,
}

# Flask routes that are not pages, by endpoint name (downloads, exports, probes).
ROUTES: dict[str, str] = {
    # What the maps draw with (label glyphs, the offline base map's tiles): the kiosk's map is public.
    "basemap.glyphs": roles.VIEW_KIOSK,
    "basemap.tiles_": roles.VIEW_KIOSK,
    # The open data API (dashboard/web/open_api): public like the kiosk, built on the same privacy path.
    **{
        f"open_api.{name}": roles.VIEW_KIOSK
        for name in (
            "index",
            "trials",
            "trial",
            "assets",
            "daily_kpis",
            "hourly_kpis",
            "alert_counts",
            "openapi",
            "page",
            "not_found",
            "stream",
        )
    },
    # Live push to the screens (dashboard/web/push): the same capability as the page it feeds.
    "push.control": roles.VIEW_CONTROL,
    "push.alerts": roles.VIEW_ALERTS,
    "push.kiosk": roles.VIEW_KIOSK,
}

# Served to anyone: static files, the sign-in pages, and Dash's framework endpoints. `_dash-layout`
# is the app shell (no page content: that comes through the pages callback, which is checked) and
# `_dash-dependencies` lists callback ids, not data.
PUBLIC_ENDPOINTS = frozenset(
    {
        "static",
        "_dash_assets.static",
        "/_favicon.ico",
        "/_dash-layout",
        "/_dash-dependencies",
        "/_reload-hash",
        "auth.login",
        "auth.logout",
    }
)
PUBLIC_PREFIXES = ("/_dash-component-suites/",)
CALLBACK_ENDPOINT = "/_dash-update-component"
INDEX_ENDPOINTS = frozenset({"/", "/<path:path>"})


# Where a role starts when it signs in without asking for a page: the page its work is on (a manager
# reports KPIs; an operator and an admin watch the wall).
LANDING: dict[str, str] = {roles.OPERATOR: "/control", roles.MANAGER: "/kpis", roles.ADMIN: "/control"}


def landing_page(role: str) -> str:
    """The page a user of `role` is sent to after signing in, when they asked for none."""
    return LANDING.get(role, "/")


def page_capability(path: str) -> str | None:
    """The capability a page path needs; None when the path is not a known page."""
    path = "/" + (path or "").strip("/")
    if path in PAGES:
        return PAGES[path]
    first = "/" + path.strip("/").split("/")[0]  # /control/streetcav is the control page for one trial
    return PAGES.get(first) if first != "/" else None
