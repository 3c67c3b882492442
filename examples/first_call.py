"""A service provider's first calls: a client-credentials token, who authorised us, a merchant's profile,
and the events so far.

    ./dev serve            # in one terminal
    .venv/bin/python examples/first_call.py

``SHIJING_BASE_URL`` points at another gateway (default: the demo issuer).
"""

from __future__ import annotations

import os
import sys

import requests

sys.path.insert(0, os.path.dirname(__file__))
from demo_credentials import demo_data  # noqa: E402


def main() -> None:
    demo = demo_data()
    base = os.environ.get("SHIJING_BASE_URL", demo["issuer"]).rstrip("/")
    partner = demo["partner_app"]
    http = requests.Session()

    token = http.post(
        f"{base}/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "authorizations.read merchant.read events.read"},
        auth=(partner["client_id"], partner["client_secret"]),
        timeout=10,
    )
    token.raise_for_status()
    http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    print(f"token: expires in {token.json()['expires_in']} s, scopes: {token.json()['scope']}")

    authorizations = http.get(f"{base}/v1/authorizations", params={"status": "active"}, timeout=10).json()
    for authorization in authorizations["data"]:
        if authorization["subject_type"] != "merchant":
            continue
        merchant = http.get(f"{base}/v1/merchants/{authorization['subject_id']}", timeout=10)
        merchant.raise_for_status()
        print(f"authorised by {merchant.json()['name']} ({merchant.json()['id']}): {', '.join(authorization['scopes'])}")

    cursor = None
    while True:
        page = http.get(f"{base}/v1/events", params={"limit": 50, **({"cursor": cursor} if cursor else {})},
                        timeout=10).json()
        for event in page["data"]:
            print(f"event {event['id']} {event['type']} at {event['created_at']}")
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]


if __name__ == "__main__":
    main()
