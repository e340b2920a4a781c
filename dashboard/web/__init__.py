"""The web app: `create_app(settings)`, its runtime binding, sign-in pages and the access guard."""
