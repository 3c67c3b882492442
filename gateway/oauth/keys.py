"""The OpenID Connect signing key (RS256), kept in the instance folder and published as JWKS."""

from __future__ import annotations

import json
import os
from pathlib import Path

from joserfc.jwk import RSAKey


def load_or_create_signing_key(instance_path: str) -> RSAKey:
    path = Path(instance_path) / "oidc-signing-key.json"
    if path.exists():
        return RSAKey.import_key(json.loads(path.read_text()))
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, auto_kid=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: two workers starting together keep the first key written, never two different keys
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return RSAKey.import_key(json.loads(path.read_text()))
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(key.as_dict(private=True)))
    return key


def public_jwks(key: RSAKey) -> dict:
    return {"keys": [key.as_dict(private=False)]}
