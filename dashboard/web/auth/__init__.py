"""Sign-in in the web app: the access guard, the sign-in pages, security headers."""
