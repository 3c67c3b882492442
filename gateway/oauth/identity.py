"""App-scoped user identifiers: ``open_id`` (one app) and ``union_id`` (one developer's apps).

Apps never see internal user ids. Both identifiers are HMACs of the internal id under a key
derived from the instance secret, so they are stable, unlinkable across apps (or developers),
and need no table.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from flask import current_app


def _derive(label: str, *parts: str) -> str:
    secret = current_app.config["SECRET_KEY"].encode("utf-8")
    key = hmac.new(secret, b"shijing-identity:" + label.encode(), hashlib.sha256).digest()
    mac = hmac.new(key, "\0".join(parts).encode("utf-8"), hashlib.sha256).digest()[:20]
    return base64.b32encode(mac).decode("ascii").lower()


def open_id(app_id: str, user_id: str) -> str:
    return "ou_" + _derive("open_id", app_id, user_id)


def union_id(developer_user_id: str, user_id: str) -> str:
    return "un_" + _derive("union_id", developer_user_id, user_id)
