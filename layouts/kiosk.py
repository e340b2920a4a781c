"""The experience-centre kiosk (/kiosk): bright, big touch targets, plain English, public data only.

Everything dynamic on this page is built from `dashboard.core.privacy.public_view` output.
"""

from __future__ import annotations

from dash import dcc, html

from dashboard.core.trials import Trial, Trials, default_trials
from layouts import ids
from layouts.map_view import KIOSK_AREA
from layouts.maps import map_figure


def kiosk_trials(trials: Trials | None = None) -> tuple[Trial, ...]:
    """The trials the kiosk presents (those with a `kiosk` section), in trials-file order."""
    return tuple(t for t in trials or default_trials() if t.kiosk is not None)


def initial_state(trials: Trials | None = None) -> dict:
    shown = kiosk_trials(trials)
    return {"mode": "attract", "trial": shown[0].id if shown else "", "since": None, "touched_at": None}


def layout(
    geojson: dict | None = None,
    tile_url: str = "",
    trials: Trials | None = None,
    basemap: dict | None = None,
    origin: str = "",
    **_,
) -> html.Div:
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
                        className="kiosk-map-area",
                    ),
                ],
                className="kiosk-main",
            ),
            html.Footer(html.Span(id=ids.KIOSK_MODE), className="kiosk-footer"),
            dcc.Interval(id=ids.KIOSK_INTERVAL, interval=1000),
            dcc.Store(id=ids.KIOSK_STATE, data=initial_state(trials)),
        ],
        className="page-kiosk",
    )


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
            [html.Span(facts["number"], className="kiosk-number"), html.Span(facts["unit"], className="kiosk-unit")],
            className="kiosk-figure",
        ),
        html.P(facts["sentence"], className="kiosk-sentence"),
        html.H3("What is this trial for?"),
        html.P(facts["purpose"], className="kiosk-purpose"),
        html.Div([html.Span(className="dot active" if t == trial else "dot") for t in view["trials"]], className="dots")
        if mode == "attract"
        else None,
    ]


def footer_text(view: dict | None, mode: str) -> str:
    delay = view["delay_min"] if view else "a few"
    privacy = f"Map positions are {delay} minutes old and rounded, to protect privacy."
    return ("Showing each trial in turn. " if mode == "attract" else "Exploring. ") + privacy
