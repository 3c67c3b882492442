"""The payment provider, behind one small interface.

A provider takes a payment (the user's client opens its ``checkout``), tells Shijing the outcome
by a signed callback to ``POST /payment-callbacks/{provider}``, and gives refunds back. The one
built in is ``simulated``: its cashier is an endpoint of the platform's client, and its callback
is signed per Standard Webhooks with a secret derived from ``SECRET_KEY``, so a test (or a
newcomer's script) goes through the same verification a real provider's callback would.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import time
from typing import Protocol

from flask import current_app

from gateway.errors import Problem, Unauthorized
from gateway.ids import new_id
from gateway.security import derived_key
from gateway.webhooks.signing import SECRET_PREFIX, signature

CALLBACK_TOLERANCE = 300  # seconds a callback's timestamp may be off (Standard Webhooks)


class PaymentProvider(Protocol):
    name: str

    def checkout(self, payment) -> dict:
        """What the user's client opens to pay."""

    def verify_callback(self, headers, body: bytes) -> dict:
        """The callback's JSON body, or raise ``Unauthorized`` when it is not the provider's."""

    def refund(self, payment_id: str, amount: int) -> str:
        """Give ``amount`` back to the payer; the provider's refund id."""


class SimulatedProvider:
    """A provider that always answers at once; its cashier lets the user pick the outcome."""

    name = "simulated"

    def __init__(self, secret_key: str) -> None:
        key = derived_key(secret_key, b"shijing simulated payment provider")
        self.secret = SECRET_PREFIX + base64.b64encode(key).decode("ascii")

    def checkout(self, payment) -> dict:
        return {"provider": self.name, "cashier_url": f"/v1/platform-client/payments/{payment.id}/simulate"}

    def signed_callback(self, payment, outcome: str) -> tuple[dict, bytes]:
        """The provider's side: the callback it would post for ``payment``."""
        body = json.dumps({"payment_id": payment.id, "status": outcome, "amount": payment.amount,
                           "provider_transaction_id": "sim_" + secrets.token_hex(12)}).encode()
        msg_id, timestamp = "msg_" + secrets.token_hex(12), int(time.time())
        return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
                "webhook-signature": signature(self.secret, msg_id, timestamp, body)}, body

    def verify_callback(self, headers, body: bytes) -> dict:
        msg_id = headers.get("webhook-id", "")
        raw_timestamp = headers.get("webhook-timestamp", "")
        offered = headers.get("webhook-signature", "").split()
        if not (msg_id and raw_timestamp.isascii() and raw_timestamp.isdigit() and offered):
            raise Unauthorized("A payment callback must carry webhook-id, webhook-timestamp and webhook-signature.",
                               code="INVALID_CALLBACK_SIGNATURE")
        if abs(time.time() - int(raw_timestamp)) > CALLBACK_TOLERANCE:
            raise Unauthorized("The callback's timestamp is too far from now.", code="INVALID_CALLBACK_SIGNATURE")
        expected = signature(self.secret, msg_id, int(raw_timestamp), body)
        if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
            raise Unauthorized("The callback's signature does not verify.", code="INVALID_CALLBACK_SIGNATURE")
        try:
            return json.loads(body)
        except ValueError:
            raise Problem("The callback body is not JSON.", code="INVALID_JSON") from None

    def refund(self, payment_id: str, amount: int) -> str:
        return new_id("refund").replace("rfd_", "simr_")


def provider(name: str | None = None) -> PaymentProvider:
    """The configured provider (or the one named in a callback's path)."""
    config = current_app.config["SHIJING"]
    name = name or config["PAYMENT_PROVIDER"]
    if name != "simulated" or config["PAYMENT_PROVIDER"] != "simulated":
        raise Problem("No such payment provider.", status=404, code="PAYMENT_PROVIDER_NOT_FOUND")
    cached = current_app.extensions.get("shijing.payment_provider")
    if cached is None:
        cached = current_app.extensions["shijing.payment_provider"] = SimulatedProvider(current_app.config["SECRET_KEY"])
    return cached
