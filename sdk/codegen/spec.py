"""Reading the contract: YAML, ``$ref`` resolution, and the ``x-sdk-*`` extensions it may carry."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# Operation-level extensions, each with a checker. Anything else named x-sdk-* is an error, so a
# typo in the contract cannot silently change the SDK.
PAGINATION_KEYS = {"style", "items", "cursor_param", "next", "has_more"}


def _bool(value: Any, where: str) -> None:
    if not isinstance(value, bool):
        raise SpecError(f"{where}: must be true or false")


def _name(value: Any, where: str) -> None:
    if not isinstance(value, str) or not value.isidentifier():
        raise SpecError(f"{where}: must be a Python identifier")


def _pagination(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise SpecError(f"{where}: must be an object")
    unknown = set(value) - PAGINATION_KEYS
    if unknown:
        raise SpecError(f"{where}: unknown keys {sorted(unknown)}")
    if value.get("style", "cursor") != "cursor":
        raise SpecError(f"{where}: only style 'cursor' is supported")
    for key in ("items", "cursor_param", "next"):
        if not isinstance(value.get(key), str):
            raise SpecError(f"{where}: '{key}' (a property or parameter name) is required")


EXTENSIONS = {
    # not a JSON API call for partners (HTML pages, metrics, static files): left out of the SDK
    "x-sdk-ignore": _bool,
    # a POST that is safe to retry: the SDK sends one Idempotency-Key for every attempt
    "x-sdk-idempotent": _bool,
    # a cursor-paginated list: {style: cursor, items, cursor_param, next, has_more?}
    "x-sdk-pagination": _pagination,
    # a download: the method returns an unread StreamedResponse (stream_to(path, progress=...))
    "x-sdk-streaming": _bool,
    # the method name, when <tag>_<name> in operationId is not what partners should type
    "x-sdk-name": _name,
}


class SpecError(ValueError):
    pass


@dataclass
class Spec:
    path: Path
    raw: bytes
    doc: dict[str, Any]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    def resolve(self, node: Any) -> Any:
        """Follow ``$ref`` until a non-reference node."""
        seen = set()
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if ref in seen:
                raise SpecError(f"circular $ref {ref}")
            seen.add(ref)
            node = self.lookup(ref)
        return node

    def lookup(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            raise SpecError(f"only local $refs are supported: {ref}")
        node: Any = self.doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[part]
        return node

    def operations(self):
        """(path, method, path_item, operation) in document order."""
        for path, item in (self.doc.get("paths") or {}).items():
            for method in item:
                if method in HTTP_METHODS:
                    yield path, method, item, item[method]


def load(path: str | Path) -> Spec:
    import yaml

    path = Path(path)
    raw = path.read_bytes()
    doc = yaml.safe_load(raw)
    spec = Spec(path, raw, doc)
    check_extensions(spec)
    return spec


def check_extensions(spec: Spec) -> None:
    operation_nodes = {id(op) for _, _, _, op in spec.operations()}

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                here = f"{where}/{key}"
                if isinstance(key, str) and key.startswith("x-sdk-"):
                    if id(node) not in operation_nodes:
                        raise SpecError(f"{here}: x-sdk-* extensions belong on operations")
                    checker = EXTENSIONS.get(key)
                    if checker is None:
                        raise SpecError(f"{here}: unknown extension (known: {', '.join(sorted(EXTENSIONS))})")
                    checker(value, here)
                else:
                    walk(value, here)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}/{index}")

    walk(spec.doc, "#")
