"""The gateway's response class: Flask's, minus a second copy of every response's headers."""

from __future__ import annotations

from flask import Response


class GatewayResponse(Response):
    """Right before a response starts, werkzeug's ``get_wsgi_headers`` copies all its headers
    (validating every value a second time) so that it can adjust what depends on the request or
    the status: a ``Location`` or ``Content-Location`` made a URI, ``Content-Length`` dropped on
    1xx, 204 and 304 (with the entity headers on 304) or computed when unset.

    A response needing none of that (the usual JSON answer: its length set, no location, a
    status with a body) is started with its own headers as they are; the copy was ~5 % of the
    instructions of an authenticated GET (bench/README.md, "POI nearby, round 4"). Nothing after
    this method changes the headers it returns: werkzeug only lists them for the server. Any other
    response takes werkzeug's path; a test compares both on many kinds of response.
    """

    def get_wsgi_headers(self, environ):
        status = self.status_code
        if status < 200 or status == 204 or status == 304:
            return super().get_wsgi_headers(environ)
        has_length = False
        for key, _ in self.headers:
            key = key.lower()
            if key == "content-length":
                has_length = True
            elif key == "location" or key == "content-location":
                return super().get_wsgi_headers(environ)
        return self.headers if has_length else super().get_wsgi_headers(environ)
