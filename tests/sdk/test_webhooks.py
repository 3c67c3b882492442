"""Standard Webhooks verification for partners' receivers."""

from __future__ import annotations

import ast
import base64
import inspect

import pytest
from shijing import webhooks
from shijing._runtime import signing

# the published Standard Webhooks test vector (the reference libraries all reproduce it)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def headers(signature=SIGNATURE, timestamp=TIMESTAMP, msg_id=MSG_ID):
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def test_the_reference_vector_signs_and_verifies():
    assert webhooks.sign(BODY, secret=SECRET, msg_id=MSG_ID, timestamp=TIMESTAMP) == SIGNATURE
    webhooks.verify(BODY, headers(), SECRET, now=TIMESTAMP)
    assert webhooks.Webhook(SECRET).unwrap(BODY, headers(), now=TIMESTAMP + 299) == {"test": 2432232314}


def test_header_names_are_case_insensitive():
    capitalised = {"Webhook-Id": MSG_ID, "Webhook-Timestamp": str(TIMESTAMP), "Webhook-Signature": SIGNATURE}
    webhooks.verify(BODY, capitalised, SECRET, now=TIMESTAMP)


@pytest.mark.parametrize("now", [TIMESTAMP + 301, TIMESTAMP - 301])
def test_stale_or_future_timestamps_are_refused(now):
    with pytest.raises(webhooks.SignatureVerificationError, match="too (old|new)"):
        webhooks.verify(BODY, headers(), SECRET, now=now)


def test_a_wrong_secret_a_tampered_body_or_a_missing_header_is_refused():
    other = "whsec_" + base64.b64encode(b"another secret of 24 b.").decode()
    with pytest.raises(webhooks.SignatureVerificationError):
        webhooks.verify(BODY, headers(), other, now=TIMESTAMP)
    with pytest.raises(webhooks.SignatureVerificationError):
        webhooks.verify(b'{"test": 1}', headers(), SECRET, now=TIMESTAMP)
    with pytest.raises(webhooks.SignatureVerificationError):
        webhooks.verify(BODY, headers(timestamp=TIMESTAMP + 1), SECRET, now=TIMESTAMP)
    missing = headers()
    del missing["webhook-signature"]
    with pytest.raises(webhooks.SignatureVerificationError, match="missing"):
        webhooks.verify(BODY, missing, SECRET, now=TIMESTAMP)
    with pytest.raises(webhooks.SignatureVerificationError):
        webhooks.verify(BODY, headers(signature="v2," + SIGNATURE[3:]), SECRET, now=TIMESTAMP)


def test_rotation_several_signatures_and_several_secrets():
    new_secret = "whsec_" + base64.b64encode(b"the rotated secret value").decode()
    both = f"v1,bm9wZQ== {webhooks.sign(BODY, secret=new_secret, msg_id=MSG_ID, timestamp=TIMESTAMP)} {SIGNATURE}"
    webhooks.verify(BODY, headers(signature=both), new_secret, now=TIMESTAMP)
    webhooks.verify(BODY, headers(), [new_secret, SECRET], now=TIMESTAMP)  # receiver mid-rotation


def test_signatures_are_compared_in_constant_time():
    tree = ast.parse(inspect.getsource(signing))
    calls = {node.func.attr for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute)}
    assert "compare_digest" in calls
    comparisons = [node for node in ast.walk(tree) if isinstance(node, ast.Compare)
                   and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops)]
    assert comparisons == [] or all("version" in ast.unparse(c) for c in comparisons)
