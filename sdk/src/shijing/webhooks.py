"""Standard Webhooks signature verification for partners' receivers (see ``Webhook``)."""

from ._runtime.errors import SignatureVerificationError
from ._runtime.signing import DEFAULT_TOLERANCE, Webhook, sign, unwrap, verify

__all__ = ["DEFAULT_TOLERANCE", "SignatureVerificationError", "Webhook", "sign", "unwrap", "verify"]
