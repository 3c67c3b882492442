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


def _label_key(label: str) -> bytes:
    secret = current_app.config["SECRET_KEY"].encode("utf-8")
    return hmac.new(secret, b"shijing-identity:" + label.encode(), hashlib.sha256).digest()


def _derive(label: str, *parts: str) -> str:
    return _mac_text(_label_key(label), *parts)


def _mac_text(key: bytes, *parts: str) -> str:
    mac = hmac.digest(key, "\0".join(parts).encode("utf-8"), "sha256")[:20]
    return base64.b32encode(mac).decode("ascii").lower()


def open_id(app_id: str, user_id: str) -> str:
    return "ou_" + _derive("open_id", app_id, user_id)


def open_id_function(app_id: str):
    """``open_id(app_id, ·)`` for many users (an export's): the key is derived once, not per user."""
    key = _label_key("open_id")

    def open_id_of(user_id: str) -> str:
        return "ou_" + _mac_text(key, app_id, user_id)

    return open_id_of


def union_id(developer_user_id: str, user_id: str) -> str:
    return "un_" + _derive("union_id", developer_user_id, user_id)
