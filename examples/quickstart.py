"""The Python SDK's quickstart: a client-credentials token, who authorised us, their profiles,
every event so far (pages fetched as needed), and what an error looks like.

    ./dev serve            # in one terminal
    .venv/bin/python examples/quickstart.py

``SHIJING_BASE_URL`` points at another gateway (default: the demo issuer).
"""

from __future__ import annotations

import os
import sys
import time

import shijing

sys.path.insert(0, os.path.dirname(__file__))
from demo_credentials import demo_data


def main() -> None:
    demo = demo_data()
    partner = demo["partner_app"]
    client = shijing.Client(
        base_url=os.environ.get("SHIJING_BASE_URL", demo["issuer"]),
        client_id=partner["client_id"],
        client_secret=partner["client_secret"],
        scope="authorizations.read merchant.read events.read",  # fetched, cached, refreshed by the SDK
    )

    with client:
        client.auth.token()  # optional: the first call would fetch it anyway
        token = client.auth.current()
        print(f"token: expires in {token.expires_at - time.time():.0f} s, scopes: {token.scope}")

        for authorization in client.authorizations.list(status="active", subject_type="merchant"):
            merchant = client.merchants.get(authorization.subject_id)
            print(f"authorised by {merchant.name} ({merchant.id}): {', '.join(authorization.scopes)}")

        for event in client.events.list(limit=50):
            print(f"event {event.id} {event.type} at {event.created_at:%Y-%m-%d %H:%M:%S}")

        try:
            client.merchants.get("mch_00000000000000000000000000")
        except shijing.NotFoundError as error:
            print(f"not found: {error.code} (quote {error.request_id} to support)")


if __name__ == "__main__":
    main()
