"""Reading request bodies: JSON objects only, with a clear error for anything else."""

from __future__ import annotations

from flask import request

from gateway.errors import Problem


def json_body(allow_empty: bool = False) -> dict:
    raw = request.get_data(cache=True)
    if allow_empty and not raw.strip():
        return {}
    if not request.is_json:
        raise Problem("Send a JSON object with Content-Type: application/json.", status=415,
                      code="UNSUPPORTED_MEDIA_TYPE", title="Unsupported media type")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise Problem("The body must be a JSON object.", code="INVALID_JSON", title="Invalid JSON")
    return data
