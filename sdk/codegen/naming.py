"""Python names from contract names."""

from __future__ import annotations

import keyword
import re

# names a generated field or parameter must not take (module imports, model methods)
RESERVED_FIELDS = frozenset({"extra", "from_json", "to_json", "field", "dataclass", "datetime", "Any",
                             "Literal", "TypeAlias", "self", "cls"})
RESERVED_PARAMS = frozenset({"self", "options", "Any", "Literal", "OMIT", "Omit", "Page", "RequestOptions"})


def snake(name: str) -> str:
    name = re.sub(r"[^0-9A-Za-z]+", "_", name)
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    name = name.strip("_").lower() or "value"
    if name[0].isdigit():
        name = "_" + name
    return name


def camel(name: str) -> str:
    parts = re.split(r"[^0-9A-Za-z]+", name)
    out = "".join(p[:1].upper() + p[1:] for p in parts if p)
    if not out or out[0].isdigit():
        out = "M" + out
    return out


def identifier(name: str, reserved: frozenset[str] = frozenset()) -> str:
    result = snake(name)
    if keyword.iskeyword(result) or result in reserved:
        result += "_"
    return result


def singular(name: str) -> str:
    if name.endswith("ies") and len(name) > 3:
        return name[:-3] + "y"
    if name.endswith("s") and not name.endswith("ss") and len(name) > 1:
        return name[:-1]
    return name + "_item"
