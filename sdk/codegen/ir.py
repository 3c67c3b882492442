"""The IR: what the emitters need, and nothing about OpenAPI's shape.

``build(spec)`` returns an :class:`Api`: operations grouped by tag (minus ``x-sdk-ignore``),
the models and aliases they reach, each assigned to a module (its tag's, or ``shared``), and
the OAuth URLs the runtime needs.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any

from .naming import RESERVED_FIELDS, RESERVED_PARAMS, camel, identifier, singular, snake
from .spec import Spec, SpecError

SHARED = "shared"


# --- types ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PyType:
    """A Python type: ``kind`` in prim | datetime | model | alias | list | dict | any | union."""

    kind: str
    name: str = ""  # prim: str/int/float/bool/bytes; model/alias: the class or alias name
    item: PyType | None = None  # list / dict values
    literals: tuple[Any, ...] = ()  # prim with enum/const values
    nullable: bool = False
    variants: tuple[PyType, ...] = ()  # union
    ann_override: str = ""

    def with_nullable(self, nullable: bool) -> PyType:
        return PyType(self.kind, self.name, self.item, self.literals, nullable, self.variants, self.ann_override)

    def annotation(self) -> str:
        base = self._base()
        return f"{base} | None" if self.nullable else base

    def _base(self) -> str:
        if self.ann_override:
            return self.ann_override
        if self.kind == "prim":
            if self.literals:
                return "Literal[" + ", ".join(_literal(v) for v in self.literals) + "]"
            return self.name
        if self.kind == "datetime":
            return "datetime"
        if self.kind in ("model", "alias"):
            return self.name
        if self.kind == "list":
            return f"list[{self.item.annotation()}]"
        if self.kind == "dict":
            return f"dict[str, {self.item.annotation()}]"
        if self.kind == "union":
            return " | ".join(v.annotation() for v in self.variants)
        return "Any"

    def needs_decode(self) -> bool:
        if self.kind in ("datetime", "model"):
            return True
        if self.kind == "alias":
            return False
        if self.kind in ("list", "dict"):
            return self.item.needs_decode()
        return False

    def refs(self) -> set[str]:
        """Model and alias names this type mentions."""
        out: set[str] = set()
        if self.kind in ("model", "alias"):
            out.add(self.name)
        if self.item is not None:
            out |= self.item.refs()
        for v in self.variants:
            out |= v.refs()
        return out

    def uses(self) -> set[str]:
        """Typing helpers the annotation needs."""
        out: set[str] = set()
        if self.kind == "prim" and self.literals and not self.ann_override:
            out.add("Literal")
        if self.kind == "datetime":
            out.add("datetime")
        if self.kind == "any" or (self.ann_override and "Any" in self.ann_override):
            out.add("Any")
        if self.item is not None:
            out |= self.item.uses()
        for v in self.variants:
            out |= v.uses()
        return out


def _literal(value: Any) -> str:
    return repr(value) if not isinstance(value, str) else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


ANY = PyType("any")


@dataclass
class Field:
    name: str  # Python name
    json_name: str
    type: PyType
    required: bool
    description: str = ""
    read_only: bool = False
    default: Any = None


@dataclass
class Model:
    name: str
    description: str
    fields: list[Field]
    component: str | None  # the components/schemas key, None for inline objects
    tags: set[str] = field(default_factory=set)
    module: str = SHARED

    def refs(self) -> set[str]:
        out: set[str] = set()
        for f in self.fields:
            out |= f.type.refs()
        return out


@dataclass
class Alias:
    """A named non-object schema (an enum of strings, a union): ``Name: TypeAlias = ...``."""

    name: str
    description: str
    type: PyType
    discriminator: str | None = None  # unions with a discriminator: property name
    mapping: dict[str, str] = field(default_factory=dict)  # tag value -> model name
    tags: set[str] = field(default_factory=set)
    module: str = SHARED

    def refs(self) -> set[str]:
        return self.type.refs()


@dataclass
class Param:
    name: str
    wire: str
    location: str  # path | query | header
    required: bool
    type: PyType
    description: str = ""
    default: Any = None


@dataclass
class Body:
    media: str  # json | form
    required: bool
    fields: list[Field]  # flattened properties (empty when the body has none)


@dataclass
class Operation:
    id: str
    tag: str
    name: str
    method: str
    path: str
    summary: str
    description: str
    deprecated: bool
    params: list[Param]
    body: Body | None
    result: str  # json | none | text | binary
    result_type: PyType | None
    status: str
    security: tuple[str, ...]
    auth_optional: bool
    scopes: tuple[str, ...]
    idempotent: bool
    streaming: bool
    pagination: dict[str, Any] | None
    page_item: PyType | None
    errors: list[tuple[str, str]]

    def refs(self) -> set[str]:
        out: set[str] = set()
        for p in self.params:
            out |= p.type.refs()
        if self.body:
            for f in self.body.fields:
                out |= f.type.refs()
        if self.result_type:
            out |= self.result_type.refs()
        return out


@dataclass
class Tag:
    name: str
    attr: str  # Client attribute
    cls: str  # resource class name
    description: str
    operations: list[Operation]


@dataclass
class Api:
    title: str
    version: str
    description: str
    sha256: str
    default_base_url: str
    token_path: str
    authorization_path: str
    tags: list[Tag]
    models: dict[str, Model]
    aliases: dict[str, Alias]
    ignored: list[str]

    def modules(self) -> list[str]:
        names = {m.module for m in self.models.values()} | {a.module for a in self.aliases.values()}
        return sorted(names, key=lambda n: (n == SHARED, n))


# --- the builder ------------------------------------------------------------------------------


def clean(text: str | None) -> str:
    return textwrap.dedent(text or "").strip()


class Builder:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.models: dict[str, Model] = {}
        self.aliases: dict[str, Alias] = {}
        self.schemas = (spec.doc.get("components") or {}).get("schemas") or {}
        self._component_types: dict[str, PyType] = {}

    # schemas -> types
    def type_of(self, schema: Any, context: str) -> PyType:
        if schema is None or schema is True or schema == {}:
            return ANY
        if not isinstance(schema, dict):
            return ANY
        if "$ref" in schema:
            ref = schema["$ref"]
            prefix = "#/components/schemas/"
            if ref.startswith(prefix):
                return self.component(ref[len(prefix):])
            return self.type_of(self.spec.resolve(schema), context)
        nullable = bool(schema.get("nullable"))
        types = schema.get("type")
        if isinstance(types, list):
            nullable = nullable or "null" in types
            types = [t for t in types if t != "null"]
            if len(types) == 1:
                types = types[0]
            elif not types:
                return ANY.with_nullable(True)
            else:
                variants = tuple(self.type_of({**schema, "type": t}, context) for t in types)
                return PyType("union", variants=variants, nullable=nullable)
        if "allOf" in schema:
            parts = schema["allOf"]
            if len(parts) == 1 and not schema.get("properties"):
                return self.type_of(parts[0], context).with_nullable(nullable)
            return self.inline_model(schema, context).with_nullable(nullable)
        for key in ("oneOf", "anyOf"):
            if key in schema:
                # {oneOf: [X, {type: "null"}]}: the way OpenAPI 3.1 writes "X or null" for a $ref
                options = [v for v in schema[key] if v != {"type": "null"}]
                if len(options) == 1 and len(schema[key]) == 2:
                    return self.type_of(options[0], context).with_nullable(True)
                variants = tuple(self.type_of(v, f"{context}{i}") for i, v in enumerate(schema[key]))
                if any(v.kind == "any" for v in variants):
                    return ANY.with_nullable(nullable)
                # without a discriminator (component level, see component()) the variants
                # cannot be told apart reliably: keep the JSON as it came
                if any(v.needs_decode() for v in variants):
                    return ANY.with_nullable(nullable)
                return PyType("union", variants=variants, nullable=nullable)
        if "const" in schema:
            return PyType("prim", _prim(schema.get("type") or type(schema["const"]).__name__),
                          literals=(schema["const"],), nullable=nullable)
        if types == "string":
            if schema.get("format") == "date-time":
                return PyType("datetime", nullable=nullable)
            if schema.get("format") == "binary":
                return PyType("prim", "bytes", nullable=nullable)
            if "enum" in schema:
                return PyType("prim", "str", literals=tuple(v for v in schema["enum"] if v is not None),
                              nullable=nullable or None in schema["enum"])
            return PyType("prim", "str", nullable=nullable)
        if types in ("integer", "number", "boolean"):
            return PyType("prim", _prim(types), nullable=nullable)
        if types == "array":
            return PyType("list", item=self.type_of(schema.get("items"), singular(context)), nullable=nullable)
        if types == "object" or "properties" in schema:
            if schema.get("properties"):
                return self.inline_model(schema, context).with_nullable(nullable)
            extra = schema.get("additionalProperties")
            value = self.type_of(extra, context + "_value") if isinstance(extra, dict) else ANY
            return PyType("dict", item=value, nullable=nullable)
        return ANY.with_nullable(nullable)

    def component(self, name: str) -> PyType:
        if name in self._component_types:
            return self._component_types[name]
        schema = self.schemas.get(name)
        if schema is None:
            raise SpecError(f"unknown schema {name}")
        if _is_object(self.spec, schema):
            py = PyType("model", camel(name))
            self._component_types[name] = py
            self._model(py.name, schema, name)
            return py
        py = PyType("alias", camel(name))
        self._component_types[name] = py
        disc = schema.get("discriminator")
        variants_key = "oneOf" if "oneOf" in schema else "anyOf" if "anyOf" in schema else None
        if isinstance(disc, dict) and disc.get("propertyName") and variants_key:
            # a tagged union: decoded by the tag value (mapping, or the variants' names)
            variants = tuple(self.type_of(v, f"{camel(name)}{i}") for i, v in enumerate(schema[variants_key]))
            target = PyType("union", variants=variants, nullable=False)
        else:
            target = self.type_of(schema, camel(name))
        alias = Alias(py.name, clean(schema.get("description")), target)
        if isinstance(disc, dict) and disc.get("propertyName") and variants_key:
            alias.discriminator = disc["propertyName"]
            for value, ref in (disc.get("mapping") or {}).items():
                alias.mapping[str(value)] = camel(ref.rsplit("/", 1)[-1])
            if not alias.mapping:
                for variant in target.variants:
                    if variant.kind == "model":
                        alias.mapping[variant.name] = variant.name
        self.aliases[py.name] = alias
        return py

    def inline_model(self, schema: dict[str, Any], context: str) -> PyType:
        name = camel(context)
        base = name
        n = 2
        while name in self.models or name in self.aliases or name in {camel(k) for k in self.schemas}:
            name = f"{base}{n}"
            n += 1
        self._model(name, schema, None)
        return PyType("model", name)

    def _model(self, name: str, schema: dict[str, Any], component: str | None) -> None:
        model = Model(name, clean(schema.get("description")), [], component)
        self.models[name] = model
        properties, required = self._properties(schema)
        used: set[str] = set()
        for json_name, prop in properties.items():
            py_name = identifier(json_name, RESERVED_FIELDS)
            while py_name in used:
                py_name += "_"
            used.add(py_name)
            resolved = self.spec.resolve(prop) if isinstance(prop, dict) else {}
            model.fields.append(Field(
                py_name, json_name, self.type_of(prop, name + camel(json_name)), json_name in required,
                clean(prop.get("description") if isinstance(prop, dict) else None),
                read_only=bool(resolved.get("readOnly")),
                default=resolved.get("default"),
            ))

    def _properties(self, schema: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
        properties: dict[str, Any] = {}
        required: set[str] = set()
        for part in schema.get("allOf") or []:
            props, req = self._properties(self.spec.resolve(part))
            properties.update(props)
            required |= req
        properties.update(schema.get("properties") or {})
        required |= set(schema.get("required") or [])
        return properties, required

    # operations
    def operation(self, path: str, method: str, item: dict[str, Any], op: dict[str, Any]) -> Operation:
        op_id = op.get("operationId") or snake(f"{method}_{path}")
        tags = op.get("tags") or ["default"]
        tag = tags[0]
        name = op.get("x-sdk-name") or _method_name(op_id, tag)

        params: list[Param] = []
        merged: dict[tuple[str, str], Any] = {}
        for raw in (item.get("parameters") or []) + (op.get("parameters") or []):
            p = self.spec.resolve(raw)
            merged[(p["name"], p["in"])] = p
        used = set(RESERVED_PARAMS)
        for (wire, location), p in merged.items():
            if location == "cookie":
                continue
            py = identifier(wire)
            while py in used:
                py += "_"
            used.add(py)
            schema = p.get("schema") or {}
            params.append(Param(py, wire, location, bool(p.get("required")) or location == "path",
                                self.type_of(schema, camel(op_id) + camel(wire)),
                                clean(p.get("description")), self.spec.resolve(schema).get("default")))
        path_order = [segment[1:-1] for segment in _path_params(path)]
        params.sort(key=lambda p: (p.location != "path", path_order.index(p.wire) if p.location == "path" else 0))

        body = None
        request_body = self.spec.resolve(op.get("requestBody")) if op.get("requestBody") else None
        if request_body:
            content = request_body.get("content") or {}
            media, schema = None, None
            for mime, entry in content.items():
                if mime == "application/json" or mime.endswith("+json"):
                    media, schema = "json", entry.get("schema")
                    break
                if mime == "application/x-www-form-urlencoded":
                    media, schema = "form", entry.get("schema")
                    break
            if media is None:
                raise SpecError(f"{op_id}: request body media types {sorted(content)} are not supported")
            body = Body(media, bool(request_body.get("required")), [])
            resolved = self.spec.resolve(schema) if schema else {}
            if _is_object(self.spec, resolved):
                properties, required = self._properties(resolved)
                for json_name, prop in properties.items():
                    prop_resolved = self.spec.resolve(prop) if isinstance(prop, dict) else {}
                    if prop_resolved.get("readOnly"):
                        continue
                    py = identifier(json_name)
                    if py in used:
                        py = "body_" + py
                    while py in used:
                        py += "_"
                    used.add(py)
                    body.fields.append(Field(
                        py, json_name, self.type_of(prop, camel(op_id) + camel(json_name)), json_name in required,
                        clean(prop.get("description") if isinstance(prop, dict) else None),
                        default=prop_resolved.get("default"),
                    ))
            elif schema:
                raise SpecError(f"{op_id}: a request body must be an object with properties")

        result, result_type, status = "none", None, ""
        responses = op.get("responses") or {}
        success = sorted(code for code in responses if str(code).startswith("2"))
        if success:
            status = str(success[0])
            response = self.spec.resolve(responses[success[0]])
            content = response.get("content") or {}
            json_entry = next((e for m, e in content.items() if m == "application/json" or m.endswith("+json")), None)
            if json_entry is not None:
                result = "json"
                result_type = self.type_of(json_entry.get("schema"), camel(op_id) + "Response")
            elif content:
                mime = next(iter(content))
                result = "text" if mime.startswith("text/") else "binary"
        streaming = bool(op.get("x-sdk-streaming"))

        errors = []
        for code, response in responses.items():
            if not str(code).startswith("2"):
                errors.append((str(code), clean(self.spec.resolve(response).get("description"))))

        security_req = op.get("security", self.spec.doc.get("security", []))
        schemes = (self.spec.doc.get("components") or {}).get("securitySchemes") or {}
        kinds: list[str] = []
        scopes: list[str] = []
        optional = not security_req
        for requirement in security_req:
            if not requirement:
                optional = True
            for scheme_name, scheme_scopes in requirement.items():
                scheme = schemes.get(scheme_name) or {}
                kind = _scheme_kind(scheme)
                if kind and kind not in kinds:
                    kinds.append(kind)
                for s in scheme_scopes or []:
                    if s not in scopes:
                        scopes.append(s)

        pagination = op.get("x-sdk-pagination")
        page_item = None
        if pagination:
            pagination = dict(pagination)
            if result_type is None or result_type.kind != "model":
                raise SpecError(f"{op_id}: x-sdk-pagination needs a JSON object response")
            model = self.models[result_type.name]
            by_json = {f.json_name: f for f in model.fields}
            items = by_json.get(pagination["items"])
            if items is None or items.type.kind != "list":
                raise SpecError(f"{op_id}: x-sdk-pagination items '{pagination['items']}' is not an array property")
            if pagination["next"] not in by_json:
                raise SpecError(f"{op_id}: x-sdk-pagination next '{pagination['next']}' is not a property")
            if not any(p.wire == pagination["cursor_param"] and p.location == "query" for p in params):
                raise SpecError(f"{op_id}: x-sdk-pagination cursor_param '{pagination['cursor_param']}' is not a query parameter")
            if "has_more" not in pagination:
                pagination["has_more"] = "has_more" if "has_more" in by_json else None
            pagination["items"] = items.name
            pagination["next"] = by_json[pagination["next"]].name
            if pagination["has_more"]:
                pagination["has_more"] = by_json[pagination["has_more"]].name
            page_item = items.type.item

        return Operation(
            id=op_id, tag=tag, name=name, method=method.upper(), path=path, summary=clean(op.get("summary")),
            description=clean(op.get("description")), deprecated=bool(op.get("deprecated")), params=params,
            body=body, result=result, result_type=result_type, status=status, security=tuple(kinds),
            auth_optional=optional, scopes=tuple(scopes), idempotent=bool(op.get("x-sdk-idempotent")),
            streaming=streaming, pagination=pagination, page_item=page_item, errors=errors,
        )

    def closure(self, names: set[str]) -> set[str]:
        seen: set[str] = set()
        todo = list(names)
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            node = self.models.get(name) or self.aliases.get(name)
            if node is not None:
                todo.extend(node.refs())
        return seen


def _prim(type_name: str) -> str:
    return {"integer": "int", "int": "int", "number": "float", "float": "float", "boolean": "bool",
            "bool": "bool", "string": "str", "str": "str"}.get(type_name, "Any")


def _is_object(spec: Spec, schema: Any) -> bool:
    """A schema that becomes a dataclass: properties (or a closed empty object), allOf of such."""
    if not isinstance(schema, dict):
        return False
    if "allOf" in schema:
        return all(_is_object(spec, spec.resolve(p)) for p in schema["allOf"])
    if isinstance(schema.get("type"), list) or "oneOf" in schema or "anyOf" in schema:
        return False
    if schema.get("properties"):
        return True
    return schema.get("type") == "object" and schema.get("additionalProperties") is False


def _path_params(path: str) -> list[str]:
    import re

    return re.findall(r"\{[^}]+\}", path)


def _method_name(op_id: str, tag: str) -> str:
    name = snake(op_id)
    prefix = snake(tag) + "_"
    if name.startswith(prefix) and len(name) > len(prefix):
        name = name[len(prefix):]
    return identifier(name)


def _scheme_kind(scheme: dict[str, Any]) -> str | None:
    kind = scheme.get("type")
    if kind in ("oauth2", "openIdConnect"):
        return "bearer"
    if kind == "http":
        return {"bearer": "bearer", "basic": "basic"}.get(str(scheme.get("scheme", "")).lower())
    return None


def build(spec: Spec) -> Api:
    builder = Builder(spec)
    by_tag: dict[str, list[Operation]] = {}
    ignored: list[str] = []
    seen_ids: set[str] = set()
    for path, method, item, op in spec.operations():
        op_id = op.get("operationId")
        if op_id in seen_ids:
            raise SpecError(f"duplicate operationId {op_id}")
        seen_ids.add(op_id)
        if op.get("x-sdk-ignore"):
            ignored.append(op_id)
            continue
        operation = builder.operation(path, method, item, op)
        by_tag.setdefault(operation.tag, []).append(operation)

    tag_docs = {t["name"]: clean(t.get("description")) for t in spec.doc.get("tags") or []}
    tag_order = [t["name"] for t in spec.doc.get("tags") or []]
    tags: list[Tag] = []
    for name in sorted(by_tag, key=lambda n: (tag_order.index(n) if n in tag_order else len(tag_order), n)):
        methods: set[str] = set()
        for op in by_tag[name]:
            if op.name in methods:
                raise SpecError(f"{op.id}: method name {name}.{op.name} is taken; set x-sdk-name")
            methods.add(op.name)
        tags.append(Tag(name, identifier(name), camel(name) + "Resource", tag_docs.get(name, ""), by_tag[name]))

    # which tags reach each model decides its module: one tag -> that tag's module, else shared
    for tag in tags:
        for op in tag.operations:
            for ref in builder.closure(op.refs()):
                node = builder.models.get(ref) or builder.aliases.get(ref)
                node.tags.add(tag.attr)
    for node in list(builder.models.values()) + list(builder.aliases.values()):
        node.module = next(iter(node.tags)) if len(node.tags) == 1 else SHARED
    # a shared node's dependencies must be shared too (no imports from tag modules into shared)
    changed = True
    while changed:
        changed = False
        for node in list(builder.models.values()) + list(builder.aliases.values()):
            if node.module == SHARED:
                for ref in node.refs():
                    dep = builder.models.get(ref) or builder.aliases.get(ref)
                    if dep.module != SHARED:
                        dep.module = SHARED
                        changed = True

    flows = {}
    for scheme in ((spec.doc.get("components") or {}).get("securitySchemes") or {}).values():
        if scheme.get("type") == "oauth2":
            flows.update(scheme.get("flows") or {})
    code_flow = flows.get("authorizationCode") or {}
    cc_flow = flows.get("clientCredentials") or {}
    info = spec.doc.get("info") or {}
    servers = spec.doc.get("servers") or [{"url": "http://127.0.0.1:8000"}]
    return Api(
        title=info.get("title", "API"), version=str(info.get("version", "")),
        description=clean(info.get("summary") or info.get("description")), sha256=spec.sha256,
        default_base_url=servers[0]["url"].rstrip("/"),
        token_path=cc_flow.get("tokenUrl") or code_flow.get("tokenUrl") or "/oauth2/token",
        authorization_path=code_flow.get("authorizationUrl") or "/oauth2/authorize",
        tags=tags, models=dict(sorted(builder.models.items())), aliases=dict(sorted(builder.aliases.items())),
        ignored=ignored,
    )
