"""The landing page (/): where each audience goes."""

from dash import dcc, html

CARDS = (
    ("/control", "Control wall", "Live map, link-lost assets and events for the operators' video wall."),
    ("/kiosk", "Experience centre", "The public touch-screen: what is on trial in the city, in plain English."),
    ("/kpis", "Trial KPIs", "Daily and per-asset KPIs for trial managers, with CSV export."),
    ("/health", "System health", "Bridge counters, rejected payloads and store size."),
)


def layout(**_) -> html.Div:
    return html.Div(
        [
            html.H1("MK Control"),
            html.P("Milton Keynes smart-city trials: StreetCAV, Drone Port and MarK 5G.", className="muted"),
            html.Div(
                [
                    dcc.Link([html.H2(title), html.P(text)], href=href, className="home-card")
                    for href, title, text in CARDS
                ],
                className="home-cards",
            ),
        ],
        className="page-home",
    )
