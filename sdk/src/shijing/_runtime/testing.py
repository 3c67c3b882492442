"""Transports for tests: the real SDK, no sockets.

- :class:`FlaskAdapter` routes a ``requests.Session`` into a Flask app's test client, so tests
  drive the real gateway end to end in-process (and the app's own ``test_client_class`` — the
  gateway's validates every response against the contract — sees every call)::

      session = requests.Session()
      session.mount("http://gateway.test", FlaskAdapter(app))
      client = Client(base_url="http://gateway.test", session=session, ...)

- :class:`MockAdapter` answers from a function of the request (canned responses, injected
  faults) and records what was sent.
"""

from __future__ import annotations

import io
import json as _json
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from urllib3 import HTTPHeaderDict
from urllib3.response import HTTPResponse

_HOP_BY_HOP = {"content-length", "host", "connection", "transfer-encoding"}


def build_response(request: requests.PreparedRequest, status: int, headers: Any, body: bytes,
                   adapter: BaseAdapter, reason: str = "") -> requests.Response:
    """A ``requests.Response`` as an HTTP adapter would build it (streamable ``raw``)."""
    header_items = list(headers.items()) if hasattr(headers, "items") else list(headers)
    raw = HTTPResponse(body=io.BytesIO(body), headers=HTTPHeaderDict(header_items), status=status, reason=reason,
                       preload_content=False, decode_content=False)
    response = requests.Response()
    response.status_code = status
    response.headers = CaseInsensitiveDict(header_items)
    response.raw = raw
    response.reason = reason
    response.url = request.url or ""
    response.request = request
    response.connection = adapter  # type: ignore[assignment]
    response.encoding = get_encoding_from_headers(response.headers)
    return response


class FlaskAdapter(BaseAdapter):
    """Send requests into ``app.test_client()`` (any Flask app; cookies are not kept)."""

    def __init__(self, app: Any) -> None:
        super().__init__()
        self.app = app
        self._local = threading.local()

    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self.app.test_client(use_cookies=False)
        return client

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        parts = urlsplit(request.url or "")
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP]
        body = request.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        if body is not None and not isinstance(body, bytes):
            body = b"".join(body)  # a generator body
        result = self._client().open(
            parts.path or "/", method=request.method, headers=headers, data=body or b"",
            query_string=parts.query, base_url=f"{parts.scheme}://{parts.netloc}",
        )
        try:
            data = result.get_data()
            status, reason = result.status_code, result.status.partition(" ")[2]
            response_headers = list(result.headers.items())
        finally:
            result.close()
        return build_response(request, status, response_headers, data, self, reason)

    def close(self) -> None:
        pass


class MockAdapter(BaseAdapter):
    """Answer each request with ``handler(request)``, which returns ``(status, headers, body)``
    (``body`` bytes, str or JSON-able) or raises (e.g. ``requests.ConnectTimeout``).
    ``calls`` keeps every ``PreparedRequest``."""

    def __init__(self, handler: Callable[[requests.PreparedRequest], tuple[int, dict[str, str], Any]]) -> None:
        super().__init__()
        self.handler = handler
        self.calls: list[requests.PreparedRequest] = []
        self._lock = threading.Lock()

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        with self._lock:
            self.calls.append(request)
        status, headers, body = self.handler(request)
        headers = dict(headers)
        if isinstance(body, str):
            payload = body.encode("utf-8")
        elif isinstance(body, (bytes, bytearray)):
            payload = bytes(body)
        elif body is None:
            payload = b""
        else:
            payload = _json.dumps(body).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        headers.setdefault("Content-Length", str(len(payload)))
        return build_response(request, status, headers, payload, self)

    def close(self) -> None:
        pass


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    """A canned JSON answer for :class:`MockAdapter` handlers."""
    return status, {"Content-Type": "application/json", **(headers or {})}, body
