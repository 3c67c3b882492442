"""Security headers on every response (OWASP API8)."""

from flask import Flask, Response, request


_EVERY = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"))
_HTML = _EVERY + (
    ("Content-Security-Policy",
     "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    ("X-Frame-Options", "DENY"),
    ("Cache-Control", "no-store"),
)
_OTHER = _EVERY + (("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),)
_HSTS = ("Strict-Transport-Security", "max-age=63072000; includeSubDomains")


def init_app(app: Flask, production: bool) -> None:
    @app.after_request
    def _security_headers(response: Response) -> Response:
        # Each header is added only when the view did not set it (setdefault semantics), with
        # one pass over the existing names instead of two scans per header: 10 -> 3 µs a
        # response (bench/README.md).
        headers = response.headers
        present = {key.lower() for key, _ in headers}
        defaults = _HTML if response.mimetype == "text/html" else _OTHER
        if production and request.is_secure:
            defaults += (_HSTS,)
        for key, value in defaults:
            if key.lower() not in present:
                headers.add(key, value)
        return response
