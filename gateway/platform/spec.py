"""The OpenAPI document, loaded once from ``openapi/`` (the contract is the single source)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import yaml


@lru_cache(maxsize=4)
def load_spec(path: str) -> dict:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


@lru_cache(maxsize=4)
def spec_json(path: str, issuer: str) -> bytes:
    spec = dict(load_spec(path))
    spec["servers"] = [{"url": issuer, "description": "This gateway"}] + [
        s for s in spec.get("servers", []) if s.get("url") != issuer
    ]
    return json.dumps(spec, ensure_ascii=False).encode("utf-8")
