"""The gateway's own headers on every response: the request id, the rate-limit fields and the
security headers (OWASP API8).

One ``after_request`` step adds them all: one pass over the names the view set and one
``extend``, instead of a hook per concern each resolving ``g`` and scanning the headers again
(~17 k instructions fewer a request than three hooks; bench/README.md, "POI nearby, round 4").
Each concern still decides its own values: the request id is observability's
(``g.request_id``), the rate-limit fields the limiter's (``ratelimit.header_values``).

The request id and the rate-limit fields replace a value a view set; a security header a view
set itself (a page's own ``Content-Security-Policy`` or ``Cache-Control``) is kept.
"""

from flask import Flask, Response, g, request

from gateway.http import ratelimit

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
    def _gateway_headers(response: Response) -> Response:
        ctx = g._get_current_object()  # one proxy lookup for both reads
        headers = response.headers
        present = {key.lower() for key, _ in headers}
        added = [("X-Request-Id", ctx.get("request_id") or "")]
        outcome = ctx.get("ratelimit")
        if outcome is not None:
            added += ratelimit.header_values(outcome)
        if present.intersection(ratelimit.HEADER_NAMES) or "x-request-id" in present:  # rare: replace
            for key, value in added:
                headers[key] = value
            added = []
        defaults = _HTML if response.mimetype == "text/html" else _OTHER
        if production and request.is_secure:
            defaults += (_HSTS,)
        for key, value in defaults:
            if key.lower() not in present:
                added.append((key, value))
        headers.extend(added)
        return response
