"""``GatewayResponse`` starts a response with the same headers werkzeug's own response would.

It skips werkzeug's copy of the headers when nothing in them needs adjusting for the request or
the status (bench/README.md); these tests hold it to werkzeug's answer on every kind of
response where werkzeug does adjust something, and on the usual ones where it does not.
"""

from __future__ import annotations

import json

import pytest
from flask import Response
from werkzeug.test import EnvironBuilder

from gateway.http.responses import GatewayResponse

ENVIRON = EnvironBuilder(path="/v1/pois/nearby", base_url="http://127.0.0.1:8000/").get_environ()
BODY = json.dumps({"data": []})


def _stream():
    yield b"a,b\n"
    yield b"1,2\n"


def _without_length(response):
    del response.headers["Content-Length"]
    return response


CASES = {
    "json": lambda cls: cls(BODY, mimetype="application/json"),
    "json with the gateway's headers": lambda cls: cls(BODY, mimetype="application/json", headers=[
        ("X-Request-Id", "req_1"), ("RateLimit-Policy", '"app";q=600;w=60'), ("RateLimit", '"app";r=599;t=60'),
        ("X-Content-Type-Options", "nosniff")]),
    "error": lambda cls: cls(BODY, status=404, mimetype="application/problem+json"),
    "lower-case content-length": lambda cls: cls(BODY, headers=[("content-length", str(len(BODY)))]),
    "created with a relative location": lambda cls: cls(BODY, status=201, headers={"Location": "/v1/pois/poi_1"}),
    "location not in ASCII": lambda cls: cls("", status=302, headers={"location": "/p/店铺?q=火锅"}),
    "content-location not in ASCII": lambda cls: cls(BODY, headers={"Content-Location": "/导出/1"}),
    "no content": lambda cls: cls("", status=204, headers={"Content-Length": "0"}),
    "not modified": lambda cls: cls("", status=304, headers={"ETag": '"v1"', "Content-Type": "text/html",
                                                             "Content-Length": "0", "Last-Modified": "x"}),
    "informational": lambda cls: cls("", status=103, headers={"Link": "</a.css>; rel=preload"}),
    "length left out": lambda cls: _without_length(cls(BODY, mimetype="application/json")),
    "streamed": lambda cls: cls(_stream(), mimetype="text/csv"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_headers_sent_are_the_ones_werkzeug_would_send(case):
    ours = CASES[case](GatewayResponse).get_wsgi_headers(ENVIRON).to_wsgi_list()
    werkzeugs = CASES[case](Response).get_wsgi_headers(ENVIRON).to_wsgi_list()
    assert ours == werkzeugs


def test_the_gateway_answers_with_it_and_a_client_sees_every_header_once(client):
    response = client.get("/healthz")
    assert client.application.response_class is GatewayResponse
    names = [key.lower() for key, _ in response.headers]
    assert len(names) == len(set(names))
    assert {"content-type", "content-length", "x-request-id", "x-content-type-options",
            "content-security-policy"} <= set(names)
    assert int(response.headers["Content-Length"]) == len(response.data)
