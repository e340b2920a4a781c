"""The page a signed-in user sees for a page their role does not allow. Pure: facts in, page out.

It says who is signed in, with which role, what the page needs and which roles have it, and offers to
sign in as another user: a refusal the person can act on, in the app's own dark theme and nav.
"""

from __future__ import annotations

from urllib.parse import quote

from dash import html

from layouts.components import page_header

HEADLINE = "Your role cannot see this page"


def sign_in_url(path: str) -> str:
    return "/login?next=" + quote(path or "/", safe="/")


def layout(username: str, role: str, path: str, page_name: str, capability: str, roles: list[str]) -> html.Div:
    allowed = " or ".join(roles) if roles else "no role"
    return html.Div(
        [
            page_header(path, "Not allowed"),
            html.Main(
                [
                    html.H2(HEADLINE + ".", id="denied-headline"),
                    html.Dl(
                        [
                            html.Dt("Signed in as"),
                            html.Dd(username, id="denied-user"),
                            html.Dt("Your role"),
                            html.Dd(role, id="denied-role"),
                            html.Dt("This page"),
                            html.Dd(f"{page_name} ({path})", id="denied-page"),
                            html.Dt("It needs"),
                            html.Dd([html.Code(capability), f": the {allowed} role"], id="denied-needs"),
                        ],
                        className="denied-facts",
                    ),
                    html.P("Ask an administrator if your work needs this page.", className="muted"),
                    html.Div(
                        [
                            html.A(
                                "Sign in as another user",
                                href=sign_in_url(path),
                                className="btn btn-primary",
                                id="denied-sign-in",
                            ),
                            html.A("Sign out", href="/logout", className="btn"),
                            html.A("Back to the control wall", href="/control", className="btn") if role else None,
                        ],
                        className="denied-actions",
                    ),
                ],
                className="denied-main",
            ),
        ],
        className="page-denied",
    )
