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
    mac = hmac.digest(_label_key(label), "\0".join(parts).encode("utf-8"), "sha256")[:20]
    return base64.b32encode(mac).decode("ascii").lower()


def open_id(app_id: str, user_id: str) -> str:
    return "ou_" + _derive("open_id", app_id, user_id)


def open_id_function(app_id: str):
    """``open_id(app_id, ·)`` for many users (an export's): the key is derived once, not per user."""
    key, prefix = _label_key("open_id"), (app_id + "\0").encode("utf-8")
    digest, b32encode = hmac.digest, base64.b32encode

    def open_id_of(user_id: str) -> str:
        return "ou_" + b32encode(digest(key, prefix + user_id.encode("utf-8"), "sha256")[:20]).decode("ascii").lower()

    return open_id_of


def union_id(developer_user_id: str, user_id: str) -> str:
    return "un_" + _derive("union_id", developer_user_id, user_id)
