"""A partner's webhook receiver: register it, answer the URL check, verify every delivery with the
SDK, ignore repeats by ``webhook-id``, and recover what was missed.

    SHIJING_WEBHOOK_TEST_ALLOWLIST=127.0.0.1 ./dev serve     # in one terminal
    .venv/bin/python examples/webhook_receiver.py

In production an endpoint must be https on port 443 at a public address; a local receiver is
admitted only through that allow-list, which a production gateway refuses to start with.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import shijing
from shijing.webhooks import SignatureVerificationError, Webhook

sys.path.insert(0, os.path.dirname(__file__))
from demo_credentials import demo_data  # noqa: E402


class Inbox:
    """What the partner's handler keeps: the secret, and each event once."""

    def __init__(self) -> None:
        self.verifier: Webhook | None = None
        self.events: dict[str, dict] = {}
        self.repeats = 0
        self.arrived = threading.Condition()

    def accept(self, body: bytes, headers) -> int:
        if self.verifier is None:
            return 503  # not ready: Shijing retries later
        try:
            event = self.verifier.unwrap(body, headers)
        except SignatureVerificationError:
            return 400  # forged, tampered or replayed: never processed
        with self.arrived:
            if event["id"] in self.events:
                self.repeats += 1  # at-least-once: a redelivery has the same id; process it once
            else:
                self.events[event["id"]] = event
            self.arrived.notify_all()
        return 200

    def wait_for(self, predicate, timeout: float = 30) -> None:
        with self.arrived:
            if not self.arrived.wait_for(lambda: predicate(self), timeout):
                raise SystemExit("the delivery did not arrive in time (is a worker running?)")


def serve(inbox: Inbox) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            message = json.loads(body)
            if message.get("type") == "webhook.challenge":
                # the URL check at registration: echo the challenge
                status, answer = 200, json.dumps({"challenge": message["challenge"]}).encode()
            else:
                status, answer = inbox.accept(body, self.headers), b""
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    demo = demo_data()
    partner = demo["partner_app"]
    client = shijing.Client(base_url=os.environ.get("SHIJING_BASE_URL", demo["issuer"]),
                            client_id=partner["client_id"], client_secret=partner["client_secret"])
    inbox = Inbox()
    server = serve(inbox)
    url = f"http://127.0.0.1:{server.server_address[1]}/shijing/webhooks"
    try:
        created = client.webhooks.create_endpoint(url=url, event_types=["*"], description="example receiver")
    except shijing.UnprocessableEntityError as refused:
        raise SystemExit(f"{refused.code}: {refused.detail}\n(start the gateway with "
                         "SHIJING_WEBHOOK_TEST_ALLOWLIST=127.0.0.1 for a local receiver)") from None
    endpoint = created.endpoint
    inbox.verifier = Webhook(created.secret)  # kept in a secret store, in real life
    print(f"registered {endpoint.id} at {endpoint.url} (URL check passed)")
    try:
        delivery = client.webhooks.send_test(endpoint.id)
        inbox.wait_for(lambda box: delivery.event_id in box.events)
        print(f"received {delivery.event_id} webhook.test, signature verified")

        # a redelivery carries the same webhook-id: the handler recognises it
        finished = client.webhooks.get_delivery(delivery.id)
        while finished.status == "pending":
            time.sleep(0.2)
            finished = client.webhooks.get_delivery(delivery.id)
        client.webhooks.redeliver(delivery.id)
        inbox.wait_for(lambda box: box.repeats == 1)
        print(f"redelivered {delivery.event_id}: recognised as a repeat, processed once")

        for attempt in client.webhooks.list_attempts(delivery.id):
            print(f"attempt {attempt.id}: HTTP {attempt.status} in {attempt.latency_ms} ms")
        # anything missed (receiver down, endpoint disabled) can be replayed from the events list
        missed = [e.id for e in client.events.list(type="webhook.test") if e.id not in inbox.events]
        print(f"events not yet received: {len(missed)}")
    finally:
        client.webhooks.delete_endpoint(endpoint.id)
        server.shutdown()
        print(f"deleted {endpoint.id}")


if __name__ == "__main__":
    main()
