"""The experience-centre kiosk (/kiosk): bright, big touch targets, plain English, public data only.

Everything dynamic on this page is built from `dashboard.core.privacy.public_view` output.
"""

from __future__ import annotations

from dash import dcc, html

from dashboard.core.trials import Trial, Trials, default_trials
from layouts import ids
from layouts.components import push_badge
from layouts.map_view import KIOSK_AREA, bounds, fit
from layouts.maps import map_figure

# The kiosk map less the note over its top and the legend over its bottom (CSS px at 1920x1080): a
# trial's areas and dots are fitted between them.
FOLLOW_AREA = KIOSK_AREA


def kiosk_trials(trials: Trials | None = None) -> tuple[Trial, ...]:
    """The trials the kiosk presents (those with a `kiosk` section), in trials-file order."""
    return tuple(t for t in trials or default_trials() if t.kiosk is not None)


def initial_state(trials: Trials | None = None) -> dict:
    shown = kiosk_trials(trials)
    return {"mode": "attract", "trial": shown[0].id if shown else "", "since": None, "touched_at": None, "touch_n": 0}


def layout(
    geojson: dict | None = None,
    tile_url: str = "",
    trials: Trials | None = None,
    basemap: dict | None = None,
    origin: str = "",
    rotate_s: float = 8.0,
    **_,
) -> html.Div:
    """The kiosk; `rotate_s` is attract mode's time per trial (its callback keeps the state, so while the
    map is pushed it still runs often enough to rotate on time)."""
    shown = kiosk_trials(trials)
    first = shown[0].id if shown else ""
    return html.Div(
        [
            html.Header(
                [
                    html.H1("Milton Keynes: a city that tests tomorrow"),
                    html.P("Touch a trial to explore it", className="hint"),
                ],
                className="kiosk-header",
            ),
            html.Nav(
                [
                    html.Button(t.kiosk.button, id=ids.kiosk_trial(t.id), className="kiosk-button", n_clicks=0)
                    for t in shown
                    if t.kiosk is not None
                ]
                + [html.Button("Tour", id=ids.KIOSK_TOUR, className="kiosk-button tour", n_clicks=0)],
                className="kiosk-nav",
            ),
            html.Main(
                [
                    html.Section(id=ids.KIOSK_STAGE, className="kiosk-stage", children=stage(None, first, "attract")),
                    html.Section(
                        [
                            dcc.Graph(
                                id=ids.KIOSK_MAP,
                                figure=map_figure(
                                    geojson,
                                    tile_url,
                                    dark=False,
                                    trials=trials,
                                    area=KIOSK_AREA,
                                    basemap=basemap,
                                    origin=origin,
                                ),
                                config={"displayModeBar": False, "scrollZoom": True},
                                className="kiosk-map",
                            ),
                            html.Div(id=ids.KIOSK_MAP_NOTE, className="kiosk-map-note"),
                            legend(shown),
                        ],
                        className="kiosk-map-area",
                    ),
                ],
                className="kiosk-main",
            ),
            html.Footer(
                [html.Span(id=ids.KIOSK_MODE), push_badge("kiosk", live_state_poll_ms(rotate_s))],
                className="kiosk-footer",
            ),
            dcc.Interval(id=ids.KIOSK_INTERVAL, interval=1000),
            dcc.Store(id=ids.KIOSK_STATE, data=initial_state(trials)),
            dcc.Store(id=ids.KIOSK_TOUCH, data={"n": 0, "trial": None}),
        ],
        className="page-kiosk",
    )


def live_state_poll_ms(rotate_s: float) -> int:
    """How often the kiosk's own callback runs while its map is pushed: twice per rotation, 1-5 s."""
    return int(min(max(rotate_s * 500.0, 1000.0), 5000.0))


def stage(view: dict | None, trial: str, mode: str) -> list:
    """The big panel for one trial: title, one big number, one sentence, what the trial is for."""
    if view is None:
        return [html.H2("Loading the city…", className="kiosk-title")]
    facts = view["trials"].get(trial)
    if facts is None:
        return [html.H2("Loading the city…", className="kiosk-title")]
    return [
        html.H2(facts["title"], className=f"kiosk-title kiosk-{trial}", style={"color": facts["colour"]}),
        html.Div(
            [
                html.Span(facts["number"], id=ids.KIOSK_NUMBER, className="kiosk-number"),
                html.Span(facts["unit"], id=ids.KIOSK_UNIT, className="kiosk-unit"),
            ],
            className="kiosk-figure",
        ),
        html.P(facts["sentence"], id=ids.KIOSK_SENTENCE, className="kiosk-sentence"),
        html.H3("What is this trial for?"),
        html.P(facts["purpose"], className="kiosk-purpose"),
        html.Div([html.Span(className="dot active" if t == trial else "dot") for t in view["trials"]], className="dots")
        if mode == "attract"
        else None,
    ]


def legend(shown: tuple[Trial, ...]) -> html.Div:
    """What the map's dots and lines are: each trial's dot and area colour, named as on its button."""
    items = [
        html.Li(
            [
                html.I(className="dot", style={"background": t.kiosk_colour}),
                html.I(className="line", style={"background": t.area_colour}),
                t.kiosk.button,
            ],
            className=f"legend-{t.id}",
        )
        for t in shown
        if t.kiosk is not None
    ]
    items.append(html.Li("Dots: where they were. Lines: where each trial runs.", className="legend-key"))
    return html.Div(
        [html.H3("On the map"), html.Ul(items)],
        id=ids.KIOSK_LEGEND,
        className="kiosk-legend",
    )


def _amount(value: float, one: str, many: str) -> str:
    """ "1 minute", "2 minutes", "1.5 minutes": whole numbers without a decimal point."""
    shown = f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"
    return f"{shown} {one if shown == '1' else many}"


def delay_words(seconds: float) -> str:
    """How old the kiosk's map positions are, as people say it: "45 seconds", "2 minutes", "1 hour"."""
    seconds = max(float(seconds), 0.0)
    if seconds < 60:
        return _amount(seconds, "second", "seconds")
    if seconds < 90 * 60:
        return _amount(seconds / 60, "minute", "minutes")
    return _amount(seconds / 3600, "hour", "hours")


def distance_words(metres: float) -> str:
    return f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:.0f} m"


def map_note(view: dict | None, trial: str) -> list:
    """Over the map: it is not live, unlike the big number beside it, and why."""
    facts = (view or {}).get("trials", {}).get(trial)
    if facts is None:
        return []
    delay = delay_words(facts["delay_s"])
    rounded = f", to within {distance_words(facts['snap_m'])}" if facts["snap_m"] > 0 else ""
    return [
        html.Strong(f"Map: {delay} ago"),
        html.Span(f"The number is live; the map shows where they were {delay} ago{rounded}, to protect privacy."),
    ]


def trial_view(trial: str, geojson: dict | None, positions: list[dict]) -> tuple[dict, float] | None:
    """The map's centre and zoom that show one trial whole: its areas and its (public) positions."""
    areas = {
        "features": [
            f for f in (geojson or {}).get("features", []) if (f.get("properties") or {}).get("trial") == trial
        ]
    }
    fleet = [(p["lon"], p["lat"]) for p in positions if p["trial"] == trial]
    box = bounds(areas, fleet)
    return fit(box, FOLLOW_AREA) if box is not None else None


def footer_text(view: dict | None, mode: str, trial: str = "") -> str:
    facts = (view or {}).get("trials", {}).get(trial)
    delay = delay_words(facts["delay_s"]) if facts else "a few minutes"
    privacy = f"Map positions are {delay} old and rounded, to protect privacy."
    return ("Showing each trial in turn. " if mode == "attract" else "Exploring. ") + privacy
