"""The ``shijing.sdk`` logger: one line per attempt, never a secret.

``SHIJING_LOG=info`` (or ``debug``) turns it on without code; otherwise configure the
``shijing.sdk`` logger like any other. Lines name the route template (``/v1/apps/{app_id}``), not
the concrete path, and headers, query strings and bodies pass through :func:`redact` first:
tokens, secrets, codes, verifiers, ``Authorization`` and cookies never reach a log.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger("shijing.sdk")

SENSITIVE_NAMES = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key",
    "access_token", "refresh_token", "id_token", "token", "client_secret", "code", "code_verifier",
    "password", "secret", "api_key", "assertion", "subject_token",
})
_TOKENISH = r"\b(sj(?:at|rt|cs)_|whsec_)[A-Za-z0-9_\-+/=]+"  # compiled on first use (import cost)
REDACTED = "[redacted]"


def setup_from_env() -> None:
    level = os.environ.get("SHIJING_LOG", "").strip().upper()
    if level in ("DEBUG", "INFO") and not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(level)


def redact(value: Any) -> Any:
    """A copy of headers / form fields / JSON with every sensitive value replaced."""
    if isinstance(value, Mapping):
        return {k: (REDACTED if str(k).lower() in SENSITIVE_NAMES else redact(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return re.sub(_TOKENISH, lambda m: m.group(1) + "…", value)
    return value
