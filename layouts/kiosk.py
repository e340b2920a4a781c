"""The experience-centre kiosk (/kiosk): bright, big touch targets, plain English, public data only.

Everything dynamic on this page is built from `dashboard.core.privacy.public_view` output.
"""

from __future__ import annotations

from dash import dcc, html

from layouts import ids
from layouts.maps import map_figure

TRIALS = ("streetcav", "droneport", "mark")
BUTTON_LABELS = {"streetcav": "Self-driving shuttles", "droneport": "Drones", "mark": "5G network"}
INITIAL_STATE = {"mode": "attract", "trial": TRIALS[0], "since": None, "touched_at": None}


def layout(geojson: dict | None = None, tile_url: str = "", **_) -> html.Div:
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
                    html.Button(BUTTON_LABELS[t], id=ids.kiosk_trial(t), className="kiosk-button", n_clicks=0)
                    for t in TRIALS
                ]
                + [html.Button("Tour", id=ids.KIOSK_TOUR, className="kiosk-button tour", n_clicks=0)],
                className="kiosk-nav",
            ),
            html.Main(
                [
                    html.Section(
                        id=ids.KIOSK_STAGE, className="kiosk-stage", children=stage(None, TRIALS[0], "attract")
                    ),
                    html.Section(
                        dcc.Graph(
                            id=ids.KIOSK_MAP,
                            figure=map_figure(geojson, tile_url, dark=False, zoom=12.6),
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
            dcc.Store(id=ids.KIOSK_STATE, data=INITIAL_STATE),
        ],
        className="page-kiosk",
    )


def stage(view: dict | None, trial: str, mode: str) -> list:
    """The big panel for one trial: title, one big number, one sentence, what the trial is for."""
    if view is None:
        return [html.H2("Loading the city…", className="kiosk-title")]
    facts = view["trials"][trial]
    return [
        html.H2(facts["title"], className=f"kiosk-title kiosk-{trial}"),
        html.Div(
            [html.Span(facts["number"], className="kiosk-number"), html.Span(facts["unit"], className="kiosk-unit")],
            className="kiosk-figure",
        ),
        html.P(facts["sentence"], className="kiosk-sentence"),
        html.H3("What is this trial for?"),
        html.P(facts["purpose"], className="kiosk-purpose"),
        html.Div([html.Span(className="dot active" if t == trial else "dot") for t in TRIALS], className="dots")
        if mode == "attract"
        else None,
    ]


def footer_text(view: dict | None, mode: str) -> str:
    delay = view["delay_min"] if view else "a few"
    privacy = f"Map positions are {delay} minutes old and rounded, to protect privacy."
    return ("Showing each trial in turn. " if mode == "attract" else "Exploring. ") + privacy
