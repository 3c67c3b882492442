"""Reading request bodies: JSON objects only, with a clear error for anything else."""

from __future__ import annotations

import json
import re

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
    if _SURROGATE_ESCAPE.search(raw) and not _is_unicode_text(data):
        raise Problem("The body holds a lone UTF-16 surrogate (a \\ud800–\\udfff escape without its pair): "
                      "it is not Unicode text.", code="INVALID_JSON", title="Invalid JSON")
    return data


# JSON lets "\ud800" through, as a str no encoder can write: the database, a digest or the
# response would fail on it later (a 500). Only such an escape in the raw body can make one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


def _is_unicode_text(data) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
