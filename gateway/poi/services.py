"""Partner writes to POIs and products: create, edit, upsert by external id, batch upsert.

One engine serves every write. A batch is validated item by item in Python first (a POI batch
item by one compiled JSON Schema, marshmallow only for the wording of an invalid item's errors),
then stored set-based, with a fixed number of statements whatever the batch's size: one SELECT
for the rows the batch's external ids already name, one for their pending submissions, one
spatial query for the duplicate guard of all new POIs, then one bulk INSERT per table (COPY on
PostgreSQL) and executemany updates. If the database refuses that (a concurrent writer took an
external id), the batch is replayed item by item, each in its own savepoint, so one item's
failure never poisons the others. A single create, upsert or edit is a batch of one, so all
paths share the same rules.

Review (see ``gateway.poi.models``): reviewed fields of a live resource change only through a
pending :class:`ReviewSubmission`; the row keeps the approved values users see. A newer edit
supersedes a pending submission, carrying everything still waiting. A resource that was never
approved has no live version, so its row takes the submitted values directly.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from difflib import SequenceMatcher
from functools import lru_cache

import jsonschema_rs
from marshmallow import ValidationError
from sqlalchemy import bindparam, delete, insert, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from gateway import jsontext
from gateway.clock import isoformat, utcnow
from gateway.db import PrebuiltInsert, one_of, owned
from gateway.errors import NotFound, Problem
from gateway.ids import new_ids
from gateway.poi import categories, geo
from gateway.poi import schemas as s
from gateway.poi.models import Poi, Product, ProductPoi, ReviewSubmission

REVIEWED_POI_FIELDS = ("name", "category", "attributes", "address", "province", "city", "district",
                       "lat", "lng", "images")
IMMEDIATE_POI_FIELDS = ("phone", "opening_hours", "status")
REVIEWED_PRODUCT_FIELDS = ("title", "contents", "images", "usage_rules", "refund_policy")
IMMEDIATE_PRODUCT_FIELDS = ("price", "original_price", "stock", "sale_starts_at", "sale_ends_at",
                            "valid_from", "valid_until", "booking_required", "status")

DUPLICATE_RADIUS_M = 50
NAME_SIMILARITY = 0.6  # SequenceMatcher ratio of normalised names from which two POIs look alike
COORD_DECIMALS = 6  # ~0.1 m: stored coordinates, and what "changed" compares

POI_TABLE = Poi.__table__
PRODUCT_TABLE = Product.__table__
SUBMISSION_TABLE = ReviewSubmission.__table__
PRODUCT_POI_TABLE = ProductPoi.__table__


@dataclass(frozen=True)
class Caller:
    app_id: str
    merchant_id: str


@dataclass
class ItemError(Exception):
    code: str
    detail: str
    status: int = 422
    errors: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def body(self) -> dict:
        out = {"code": self.code, "detail": self.detail, "errors": self.errors}
        out.update(self.extra)
        return out

    def problem(self) -> Problem:
        title = {409: "Conflict", 422: "Validation failed", 404: "Not found"}.get(self.status, "Bad request")
        return Problem(self.detail, status=self.status, code=self.code, title=title, errors=self.errors,
                       extra=self.extra)


def invalid(errors: list[dict], detail: str = "The request has invalid fields; see errors.") -> ItemError:
    return ItemError("VALIDATION_ERROR", detail, 422, errors)


@dataclass
class Item:
    """One POI or product of a write, on its way through the engine."""

    index: int
    external_id: str | None
    record: dict | None = None  # validated, normalised column values
    digest: str = ""
    confirm_not_duplicate: bool = False
    poi_ids: list | None = None  # products: the resolved POI set (None = keep the current one)
    refs: tuple[list, list] = ((), ())  # products: (poi_ids, poi_external_ids) as sent
    error: ItemError | None = None
    result: str = ""
    id: str | None = None


# --- helpers ---------------------------------------------------------------------------------------


def _canonical(value) -> str:
    return jsontext.canonical(value, _json_default)


def _json_default(value):
    if isinstance(value, datetime):
        return isoformat(value)
    raise TypeError(type(value).__name__)


def digest_of(payload: dict) -> str:
    """The ``content_digest`` of what a partner sent: equal payloads, equal digests. Taken over the
    payload as sent (not as loaded), so a resent item is recognised before it is validated; the
    external id is left out, so a PUT and a batch item with the same content compare equal."""
    return _digest_of_text(_digest_text(payload))


def _digest_text(payload: dict) -> str:
    return _canonical({k: v for k, v in payload.items() if k not in ("confirm_not_duplicate", "external_id")})


def _digest_of_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _load(schema, payload) -> dict:
    if not isinstance(payload, dict):
        raise invalid([{"field": "body", "message": "Must be a JSON object."}])
    try:
        return schema.load(payload)
    except ValidationError as error:
        raise invalid(s.field_errors(error.messages)) from None


def _same(a, b) -> bool:
    return _canonical(a) == _canonical(b)


_NAME_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


def _normalise_name(name: str) -> str:
    return _NAME_NOISE.sub("", unicodedata.normalize("NFKC", name).casefold())


def similar_names(a: str, b: str) -> bool:
    x, y = _normalise_name(a), _normalise_name(b)
    if not x or not y:
        return False
    if x in y or y in x:
        return True
    return SequenceMatcher(None, x, y).ratio() >= NAME_SIMILARITY


# --- POI validation --------------------------------------------------------------------------------


def _coordinates(lat: float, lng: float, system: str) -> tuple[float, float]:
    """GCJ-02 ``(lat, lng)`` of a point sent in ``system``; points outside China are refused:
    the platform lists places in China, and such a point is nearly always swapped lat/lng or
    a wrong coordinate system, which would put the store on the wrong side of the planet."""
    if not geo.in_china(lng, lat):
        raise invalid([
            {"field": "lat", "message": "The point is outside mainland China (are lat and lng swapped?)."},
            {"field": "lng", "message": "The point is outside mainland China (are lat and lng swapped?)."},
        ])
    glng, glat = geo.to_gcj02(lng, lat, system)
    return round(glat, COORD_DECIMALS), round(glng, COORD_DECIMALS)


def _check_poi_semantics(record: dict, *, check_attributes: bool = True, check_hours: bool = True) -> None:
    errors: list[dict] = []
    if check_attributes:
        errors += categories.validate_attributes(record["category"], record["attributes"])
    if check_hours and record.get("opening_hours"):
        errors += _opening_hours_problems(record["opening_hours"])
    if errors:
        raise invalid(errors)


def _opening_hours_problems(value: dict) -> list[dict]:
    """``hours.validate_opening_hours`` of the value, remembered by its JSON text: a chain's stores
    share their hours, and a batch re-checked the same schedule for every store (~15 µs each,
    bench/README.md "POI: batch upsert"). The text (key order kept) stands for the value exactly,
    and the check depends on nothing else."""
    from gateway.poi import hours  # H3's module; imported on use

    try:
        text = jsontext.compact(value)
    except (TypeError, ValueError):
        return hours.validate_opening_hours(value, "opening_hours")
    return [dict(problem) for problem in _hours_problems_of_text(text)]


@lru_cache(maxsize=1024)
def _hours_problems_of_text(text: str) -> tuple:
    from gateway.poi import hours  # H3's module; imported on use

    return tuple(tuple(problem.items()) for problem in hours.validate_opening_hours(json.loads(text), "opening_hours"))


def prepare_poi(data: dict) -> dict:
    """Column values of a fully specified POI payload (already loaded by a schema)."""
    lat, lng = _coordinates(data["lat"], data["lng"], data["coord_system"])
    record = {name: data[name] for name in REVIEWED_POI_FIELDS + IMMEDIATE_POI_FIELDS if name in data}
    record.update(lat=lat, lng=lng)
    _check_poi_semantics(record)
    return record


# --- reading --------------------------------------------------------------------------------------


def get_poi(session: Session, merchant_id: str, poi_id: str) -> Poi:
    return owned(session, Poi, poi_id, NotFound("No such POI.", code="POI_NOT_FOUND"), merchant_id=merchant_id)


def get_product(session: Session, merchant_id: str, product_id: str) -> Product:
    return owned(session, Product, product_id, NotFound("No such product.", code="PRODUCT_NOT_FOUND"),
                 merchant_id=merchant_id)


def review_states(session: Session, subject_type: str, subject_ids: list[str]) -> dict[str, dict]:
    """``review`` of each subject: the newest submission that is not superseded."""
    if not subject_ids:
        return {}
    rows = session.execute(
        select(ReviewSubmission.id, ReviewSubmission.subject_id, ReviewSubmission.status,
               ReviewSubmission.reason, ReviewSubmission.changes)
        .where(ReviewSubmission.subject_type == subject_type, ReviewSubmission.subject_id.in_(subject_ids),
               ReviewSubmission.status != "superseded")
    ).all()
    best: dict[str, tuple] = {}
    for row in rows:
        # a pending submission is always the newest; otherwise the latest decision (ids sort by time)
        key = (row.status == "pending", row.id)
        if row.subject_id not in best or key > best[row.subject_id][0]:
            best[row.subject_id] = (key, row)
    states = {}
    for subject_id, (_, row) in best.items():
        states[subject_id] = {
            "status": row.status,
            "submission_id": row.id,
            "reason": row.reason if row.status == "rejected" else None,
            "pending_changes": row.changes if row.status == "pending" else None,
        }
    return states


def _review(state: dict | None, status: str) -> dict:
    if state is None:
        return {"status": status, "submission_id": None, "reason": None, "pending_changes": None}
    return state


def dump_poi(poi: Poi, state: dict | None) -> dict:
    return {
        "id": poi.id, "merchant_id": poi.merchant_id, "external_id": poi.external_id,
        "name": poi.name, "category": poi.category, "attributes": poi.attributes or {},
        "address": poi.address, "province": poi.province, "city": poi.city, "district": poi.district,
        "lat": poi.lat, "lng": poi.lng, "coord_system": "gcj02",
        "phone": poi.phone, "opening_hours": poi.opening_hours or {}, "images": poi.images or [],
        "status": poi.status, "rating": poi.rating, "rating_count": poi.rating_count,
        "quality_tags": poi.quality_tags or [], "live": poi.live, "review": _review(state, poi.review_status),
        "created_at": isoformat(poi.created_at), "updated_at": isoformat(poi.updated_at),
    }


def dump_product(product: Product, state: dict | None, poi_ids: list[str]) -> dict:
    return {
        "id": product.id, "merchant_id": product.merchant_id, "external_id": product.external_id,
        "type": product.type, "title": product.title, "contents": product.contents or [],
        "images": product.images or [], "price": product.price, "original_price": product.original_price,
        "stock": product.stock, "sale_starts_at": isoformat(product.sale_starts_at),
        "sale_ends_at": isoformat(product.sale_ends_at), "valid_from": isoformat(product.valid_from),
        "valid_until": isoformat(product.valid_until), "usage_rules": product.usage_rules or {},
        "refund_policy": product.refund_policy, "booking_required": product.booking_required,
        "status": product.status, "poi_ids": poi_ids, "live": product.live,
        "review": _review(state, product.review_status),
        "created_at": isoformat(product.created_at), "updated_at": isoformat(product.updated_at),
    }


def summary_of(poi: Poi, now: datetime) -> dict:
    """The public ``PoiSummary`` of a live POI."""
    from gateway.poi import hours  # H3's module; imported on use

    open_now = False if poi.status == "temporarily_closed" else hours.is_open(poi.opening_hours or {}, now)
    return {"id": poi.id, "name": poi.name, "category": poi.category, "address": poi.address, "city": poi.city,
            "district": poi.district, "lat": poi.lat, "lng": poi.lng, "rating": poi.rating,
            "rating_count": poi.rating_count, "status": poi.status, "images": (poi.images or [])[:1],
            "open_now": open_now}


def poi_views(session: Session, pois: list[Poi]) -> list[dict]:
    states = review_states(session, "poi", [p.id for p in pois])
    return [dump_poi(p, states.get(p.id)) for p in pois]


def product_poi_ids(session: Session, product_ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {pid: [] for pid in product_ids}
    if product_ids:
        for product_id, poi_id in session.execute(
            select(ProductPoi.product_id, ProductPoi.poi_id).where(ProductPoi.product_id.in_(product_ids))
            .order_by(ProductPoi.poi_id)
        ):
            out[product_id].append(poi_id)
    return out


def product_views(session: Session, products: list[Product]) -> list[dict]:
    ids = [p.id for p in products]
    states = review_states(session, "product", ids)
    where = product_poi_ids(session, ids)
    return [dump_product(p, states.get(p.id), where[p.id]) for p in products]


# --- the engine -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """What differs between POIs and products for the engine."""

    subject_type: str
    table: object
    model: type
    id_kind: str
    reviewed: tuple
    immediate: tuple
    bound_code: str
    exists_code: str
    noun: str


POI_KIND = Kind("poi", POI_TABLE, Poi, "poi", REVIEWED_POI_FIELDS, IMMEDIATE_POI_FIELDS,
                "POI_ALREADY_BOUND", "POI_EXTERNAL_ID_EXISTS", "POI")
PRODUCT_KIND = Kind("product", PRODUCT_TABLE, Product, "product", REVIEWED_PRODUCT_FIELDS, IMMEDIATE_PRODUCT_FIELDS,
                    "PRODUCT_ALREADY_BOUND", "PRODUCT_EXTERNAL_ID_EXISTS", "product")


@dataclass
class Plan:
    """What one batch writes, collected before anything is written."""

    inserts: list = field(default_factory=list)
    updates: list = field(default_factory=list)
    submissions: list = field(default_factory=list)
    superseded: list = field(default_factory=list)
    links_removed: list = field(default_factory=list)  # product ids whose POI set is replaced
    links: list = field(default_factory=list)  # (product_id, poi_id) rows to insert
    submission_ids: Iterator[str] = field(default_factory=lambda: iter(()))  # drawn for the batch at once


def _existing_rows(session: Session, kind: Kind, app_id: str, external_ids: list[str]) -> dict[str, dict]:
    if not external_ids:
        return {}
    table, connection = kind.table, session.connection()
    rows = connection.execute(
        select(table).where(table.c.source_app_id == app_id, one_of(table.c.external_id, external_ids, connection.dialect))
    ).mappings().all()
    return {row["external_id"]: dict(row) for row in rows}


def _pending(session: Session, kind: Kind, subject_ids: list[str]) -> dict[str, dict]:
    if not subject_ids:
        return {}
    connection = session.connection()
    rows = connection.execute(
        select(SUBMISSION_TABLE.c.id, SUBMISSION_TABLE.c.subject_id, SUBMISSION_TABLE.c.changes)
        .where(SUBMISSION_TABLE.c.subject_type == kind.subject_type, SUBMISSION_TABLE.c.status == "pending",
               one_of(SUBMISSION_TABLE.c.subject_id, subject_ids, connection.dialect))
    ).mappings().all()
    return {row["subject_id"]: dict(row) for row in rows}


def _submission(kind: Kind, caller: Caller, subject_id: str, changes: dict, now: datetime, plan: Plan) -> dict:
    return {"id": next(plan.submission_ids), "subject_type": kind.subject_type, "subject_id": subject_id,
            "merchant_id": caller.merchant_id, "app_id": caller.app_id, "changes": changes, "status": "pending",
            "reason": None, "reviewer_user_id": None, "created_at": now, "decided_at": None}


def _plan_update(kind: Kind, caller: Caller, item: Item, current: dict, pending: dict | None,
                 plan: Plan, now: datetime, *, digest: str) -> None:
    """Row values and review submissions of an edit of ``current`` to ``item.record``."""
    record = item.record
    values = {name: record[name] for name in kind.immediate if name in record}
    if current["live"]:
        changes = {k: record[k] for k in kind.reviewed if k in record and not _same(record[k], current[k])}
    else:
        # never approved: nothing live to protect, so the row takes the values; all wait for review
        values.update({k: record[k] for k in kind.reviewed if k in record})
        changes = {k: values.get(k, current[k]) for k in kind.reviewed}
    review_status = current["review_status"]
    if pending is not None and _same(pending["changes"], changes):
        pass  # the same proposal is already waiting: keep it (and its place in the queue)
    else:
        if pending is not None:
            plan.superseded.append(pending["id"])
        if changes:
            plan.submissions.append(_submission(kind, caller, current["id"], changes, now, plan))
            review_status = "pending"
        elif pending is not None:
            review_status = "approved" if current["live"] else "pending"
    values.update(id=current["id"], content_digest=digest, review_status=review_status, updated_at=now)
    plan.updates.append(values)
    if item.poi_ids is not None:
        plan.links_removed.append(current["id"])
        plan.links += [(current["id"], poi_id) for poi_id in item.poi_ids]


def _plan_insert(kind: Kind, caller: Caller, item: Item, plan: Plan, now: datetime) -> None:
    record, row_id = item.record, item.id
    row = {c.name: None for c in kind.table.columns}
    row.update(_column_defaults(kind))
    row.update(record)
    row.update(id=row_id, merchant_id=caller.merchant_id, source_app_id=caller.app_id, external_id=item.external_id,
               live=False, review_status="pending", content_digest=item.digest, created_at=now, updated_at=now)
    plan.inserts.append(row)
    plan.submissions.append(_submission(kind, caller, row_id, {k: record[k] for k in kind.reviewed}, now, plan))
    for poi_id in item.poi_ids or []:
        plan.links.append((row_id, poi_id))


def _column_defaults(kind: Kind) -> dict:
    if kind is POI_KIND:
        return {"attributes": {}, "district": "", "images": [], "phone": "", "opening_hours": {}, "status": "open",
                "rating": None, "rating_count": 0, "quality_tags": []}
    return {"contents": [], "images": [], "usage_rules": {}, "refund_policy": "refundable_anytime", "stock": 0,
            "booking_required": False, "status": "on_sale"}


# whole new rows (every column: _plan_insert and _submission fill them all) go to the driver's
# executemany directly: Core's per-row parameter building cost more than storing the rows
_INSERTS = {POI_TABLE: PrebuiltInsert(POI_TABLE), PRODUCT_TABLE: PrebuiltInsert(PRODUCT_TABLE)}
_INSERT_SUBMISSIONS = PrebuiltInsert(SUBMISSION_TABLE)


def _execute(session: Session, kind: Kind, plan: Plan) -> None:
    connection = session.connection()
    table = kind.table
    if plan.inserts:
        _INSERTS[table].execute(connection, plan.inserts)
    if plan.updates:
        # one statement per shape of row (which columns change), each run as executemany
        shapes: dict[tuple, list] = {}
        for values in plan.updates:
            shapes.setdefault(tuple(sorted(values)), []).append(values)
        for columns, rows in shapes.items():
            statement = (
                update(table).where(table.c.id == bindparam("_id"))
                .values({c: bindparam(c) for c in columns if c != "id"})
            )
            connection.execute(statement, [{**{k: v for k, v in r.items() if k != "id"}, "_id": r["id"]}
                                           for r in rows])
    if plan.superseded:
        connection.execute(
            update(SUBMISSION_TABLE).where(SUBMISSION_TABLE.c.id == bindparam("_id")).values(status="superseded"),
            [{"_id": sid} for sid in plan.superseded],
        )
    if plan.submissions:
        _INSERT_SUBMISSIONS.execute(connection, plan.submissions)
    if plan.links_removed:
        connection.execute(delete(PRODUCT_POI_TABLE).where(PRODUCT_POI_TABLE.c.product_id.in_(plan.links_removed)))
    if plan.links:
        connection.execute(insert(PRODUCT_POI_TABLE), [{"product_id": p, "poi_id": q} for p, q in plan.links])


def _duplicates_of(session: Session, caller: Caller, records: list[dict]) -> list[dict | None]:
    """For each new POI, one it likely duplicates: within 50 m, a similar name, and either live
    (any merchant) or the caller merchant's own; the nearest such (ties by id), or None.

    One spatial statement for the whole batch (a statement per item was a round trip each on
    PostgreSQL). It reads the table as it was before the batch: items of one batch are not
    compared with each other."""
    from gateway.poi import search  # H3's module; imported on use

    found = search.within_many(session, [(r["lat"], r["lng"]) for r in records], DUPLICATE_RADIUS_M)
    out = []
    for record, candidates in zip(records, found):
        out.append(next((c for c in candidates
                         if (c["live"] or c["merchant_id"] == caller.merchant_id)
                         and similar_names(c["name"], record["name"])), None))
    return out


def _duplicate_error(candidate: dict, caller: Caller) -> ItemError:
    extra = {"duplicate_of": None}
    # name the existing POI only if the caller may know it: live (public) or its merchant's own
    if candidate["live"] or candidate["merchant_id"] == caller.merchant_id:
        extra["duplicate_of"] = {"id": candidate["id"], "name": candidate["name"],
                                 "distance_m": int(round(candidate["distance_m"]))}
    return ItemError("POI_LIKELY_DUPLICATE",
                     f"A POI with a similar name is within {DUPLICATE_RADIUS_M} m. If this is a different place, "
                     "send it again with confirm_not_duplicate: true.", 409, [], extra)


def run(session: Session, kind: Kind, caller: Caller, items: list[Item], *, create_only: bool = False,
        updates_for: dict[str, dict] | None = None, existing_rows: dict[str, dict] | None = None) -> list[Item]:
    """Store every valid item; set ``result``/``id`` (or ``error``) on each.

    ``updates_for`` maps an item's external id (or ``#id``) to its current row when the caller
    already knows it (a PATCH); otherwise rows are found by external id.
    """
    now = utcnow()
    valid = [i for i in items if i.error is None]
    seen: set[str] = set()
    for item in valid:
        if item.external_id is None:
            continue
        if item.external_id in seen:
            item.error = ItemError("DUPLICATE_IN_BATCH", "This external_id appears earlier in the same batch.",
                                   422, [{"field": "external_id", "message": "Appears earlier in this batch."}])
        seen.add(item.external_id)
    valid = [i for i in items if i.error is None]
    if updates_for is not None:
        existing = updates_for
    elif existing_rows is not None:
        existing = existing_rows
    else:
        existing = _existing_rows(session, kind, caller.app_id,
                                  [i.external_id for i in valid if i.external_id is not None])
    to_update: list[tuple[Item, dict]] = []
    to_insert: list[Item] = []
    guarded: list[Item] = []  # new POIs for the duplicate guard
    for item in valid:
        current = existing.get(item.external_id) if item.external_id is not None else None
        if current is None and updates_for is not None:
            current = existing.get("#")
        if current is not None:
            if current["merchant_id"] != caller.merchant_id:
                item.error = ItemError(kind.bound_code, f"This external_id is bound to a {kind.noun} of another "
                                       "merchant of yours. Use another external_id, or update it under that merchant.",
                                       409, [{"field": "external_id", "message": "Bound to another merchant."}])
            elif create_only:
                item.error = ItemError(kind.exists_code, f"A {kind.noun} with this external_id exists ({current['id']}); "
                                       "update it with PATCH or PUT …/external/{external_id}.", 409,
                                       [{"field": "external_id", "message": "Already in use."}], {"existing_id": current["id"]})
            elif item.digest and item.digest == current["content_digest"]:
                item.result, item.id = "unchanged", current["id"]
            else:
                to_update.append((item, current))
        else:
            if kind is POI_KIND and not item.confirm_not_duplicate:
                guarded.append(item)
            to_insert.append(item)
    if guarded:
        for item, candidate in zip(guarded, _duplicates_of(session, caller, [i.record for i in guarded])):
            if candidate is not None:
                item.error = _duplicate_error(candidate, caller)
        to_insert = [item for item in to_insert if item.error is None]

    pending = _pending(session, kind, [current["id"] for _, current in to_update])
    writes = [(item, current) for item, current in to_update] + [(item, None) for item in to_insert]
    if not writes:
        return items

    def plan_of(batch) -> Plan:
        # at most one submission per item
        plan = Plan(submission_ids=iter(new_ids("review", len(batch))))
        row_ids = iter(new_ids(kind.id_kind, sum(current is None for _, current in batch)))
        for item, current in batch:
            if current is None:
                item.id, item.result = next(row_ids), "created"
                _plan_insert(kind, caller, item, plan, now)
            else:
                _plan_update(kind, caller, item, current, pending.get(current["id"]), plan, now, digest=item.digest)
                item.id, item.result = current["id"], "updated"
        return plan

    try:
        with session.begin_nested():
            _execute(session, kind, plan_of(writes))
    except DBAPIError:
        # Replay one by one: only the items the database refuses fail (each all-or-nothing).
        for item, current in writes:
            try:
                with session.begin_nested():
                    _execute(session, kind, plan_of([(item, current)]))
            except DBAPIError:
                item.result, item.id = "", None
                item.error = ItemError("CONFLICT", f"This {kind.noun} changed concurrently; send it again.", 409)
    return items


def result_row(item: Item) -> dict:
    if item.error is not None:
        return {"index": item.index, "external_id": item.external_id, "result": "error", "id": None,
                "error": item.error.body()}
    return {"index": item.index, "external_id": item.external_id, "result": item.result, "id": item.id,
            "error": None}


def summary(items: list[Item]) -> dict:
    counts = {"created": 0, "updated": 0, "unchanged": 0, "error": 0}
    for item in items:
        counts["error" if item.error else item.result] += 1
    return counts


# --- POIs ---------------------------------------------------------------------------------------


_POI_SCHEMAS = {"create": s.PoiCreateSchema(), "upsert": s.PoiUpsertSchema(), "batch": s.PoiCreateSchema()}
_POI_UPDATE = s.PoiUpdateSchema()


def _require_external_id(payload) -> None:
    """A batch item is upserted by its external id, so it must carry one."""
    if isinstance(payload, dict) and "external_id" not in payload:
        raise invalid([{"field": "external_id", "message": "Missing data for required field."}])


_BATCH_ITEM_CHECK = jsonschema_rs.Draft202012Validator(s.POI_BATCH_ITEM)


def _fast_batch_load(payload) -> tuple[dict, str] | None:
    """What ``PoiCreateSchema`` loads from a batch item, and the item's digest, when the compiled
    ``POI_BATCH_ITEM`` schema (exactly as strict) finds it valid; None otherwise, and marshmallow
    decides and words the errors. The defaults and the float coordinates are marshmallow's
    (``_poi_fields``)."""
    if not isinstance(payload, dict):
        return None
    try:
        if not _BATCH_ITEM_CHECK.is_valid(payload):
            return None
    except Exception:  # noqa: BLE001 - what it cannot take (a lone surrogate) goes the exact way
        return None
    # StrictSchema refuses NUL characters (the batch envelope already did; this costs nothing):
    # JSON text writes NUL as \u0000, and every string but the checked external_id is in the text
    text = _digest_text(payload)
    if "\\u0000" in text:
        return None
    data = dict(payload)
    data["lat"], data["lng"] = float(data["lat"]), float(data["lng"])
    for name, default in (("district", ""), ("coord_system", "gcj02"), ("phone", ""), ("status", "open"),
                          ("confirm_not_duplicate", False)):
        data.setdefault(name, default)
    for name, default in (("attributes", dict), ("opening_hours", dict), ("images", list)):
        if name not in data:
            data[name] = default()  # a fresh one per item, as load_default=dict gives
    return data, _digest_of_text(text)


def _poi_item(index: int, payload, schema, external_id: str | None = None, *, batch: bool = False) -> Item:
    item = Item(index, external_id)
    try:
        fast = _fast_batch_load(payload) if batch else None
        if fast is None:
            if batch:
                _require_external_id(payload)
            data, digest = _load(schema, payload), None
        else:
            data, digest = fast
        if "external_id" in data:
            item.external_id = data.pop("external_id")
        item.confirm_not_duplicate = data.get("confirm_not_duplicate", False)
        item.record = prepare_poi(data)
        item.digest = digest or digest_of(payload)
    except ItemError as error:
        item.error = error
        if isinstance(payload, dict) and isinstance(payload.get("external_id"), str) and item.external_id is None:
            item.external_id = payload["external_id"][:64]
    return item


def _single(item: Item):
    if item.error is not None:
        raise item.error.problem()
    return item


def create_poi(session: Session, caller: Caller, payload: dict) -> tuple[Poi, str]:
    item = _single(_poi_item(0, payload, _POI_SCHEMAS["create"]))
    _single(run(session, POI_KIND, caller, [item], create_only=True)[0])
    return session.get(Poi, item.id), item.result


def upsert_poi(session: Session, caller: Caller, external_id: str, payload: dict) -> tuple[Poi, str]:
    item = _single(_poi_item(0, payload, _POI_SCHEMAS["upsert"], external_id))
    _single(run(session, POI_KIND, caller, [item])[0])
    poi = session.get(Poi, item.id)
    session.refresh(poi)
    return poi, item.result


def _digests(session: Session, kind: Kind, app_id: str, external_ids: list[str]) -> dict[str, dict]:
    """``id``, ``merchant_id`` and ``content_digest`` by external id: all an unchanged item needs,
    without decoding the JSON columns of whole rows."""
    if not external_ids:
        return {}
    table, connection = kind.table, session.connection()
    rows = connection.execute(
        select(table.c.external_id, table.c.id, table.c.merchant_id, table.c.content_digest)
        .where(table.c.source_app_id == app_id, one_of(table.c.external_id, external_ids, connection.dialect))
    ).mappings().all()
    return {row["external_id"]: dict(row) for row in rows}


def batch_upsert_pois(session: Session, caller: Caller, payloads: list) -> dict:
    # The batch's stored digests first: an item identical to what this merchant's POI last
    # received is "unchanged" without being validated again, so a resent batch costs a JSON
    # parse and a hash per item; whole rows are read only for the items that may change.
    sent = [p["external_id"] for p in payloads if isinstance(p, dict) and isinstance(p.get("external_id"), str)]
    known = _digests(session, POI_KIND, caller.app_id, sent)
    items = []
    for i, payload in enumerate(payloads):
        external_id = payload.get("external_id") if isinstance(payload, dict) else None
        current = known.get(external_id) if isinstance(external_id, str) else None
        if current is not None and current["merchant_id"] == caller.merchant_id and current["content_digest"]:
            digest = digest_of(payload)
            if digest == current["content_digest"]:
                items.append(Item(i, external_id, digest=digest))  # run() finds it unchanged
                continue
        items.append(_poi_item(i, payload, _POI_SCHEMAS["batch"], batch=True))
    changing = [i.external_id for i in items if i.record is not None and i.external_id in known]
    existing = {**known, **_existing_rows(session, POI_KIND, caller.app_id, changing)}
    run(session, POI_KIND, caller, items, existing_rows=existing)
    return {"results": [result_row(i) for i in items], "summary": summary(items)}


def _current_row(session: Session, kind: Kind, row_id: str) -> dict:
    return dict(session.connection().execute(select(kind.table).where(kind.table.c.id == row_id)).mappings().one())


def update_poi(session: Session, caller: Caller, poi: Poi, payload: dict) -> Poi:
    """PATCH: the sent fields over what the partner last proposed (live values and anything still
    pending), so an edit of one field never drops another field's pending change."""
    data = _single_load(_POI_UPDATE, payload)
    if ("lat" in data) != ("lng" in data):
        raise invalid([{"field": "lat" if "lat" not in data else "lng", "message": "Send lat and lng together."}]).problem()
    current = _current_row(session, POI_KIND, poi.id)
    proposed = {k: current[k] for k in REVIEWED_POI_FIELDS + IMMEDIATE_POI_FIELDS}
    pending = _pending(session, POI_KIND, [poi.id]).get(poi.id)
    if pending is not None and current["live"]:
        proposed.update(pending["changes"])
    try:
        if "lat" in data:
            data["lat"], data["lng"] = _coordinates(data["lat"], data["lng"], data.get("coord_system", "gcj02"))
        data.pop("coord_system", None)
        proposed.update(data)
        _check_poi_semantics(proposed, check_attributes="category" in data or "attributes" in data,
                             check_hours="opening_hours" in data)
    except ItemError as error:
        raise error.problem() from None
    item = Item(0, None, record=proposed)
    # the digest of the last PUT no longer describes the POI: the next PUT is compared afresh
    _single(run(session, POI_KIND, caller, [item], updates_for={"#": current})[0])
    session.refresh(poi)
    return poi


def _single_load(schema, payload) -> dict:
    try:
        return _load(schema, payload)
    except ItemError as error:
        raise error.problem() from None


# --- products ---------------------------------------------------------------------------------


_PRODUCT_SCHEMAS = {"create": s.ProductCreateSchema(), "upsert": s.ProductUpsertSchema(),
                    "batch": s.ProductCreateSchema()}
_PRODUCT_UPDATE = s.ProductUpdateSchema()


def _check_product(record: dict) -> None:
    errors = []
    price, original = record.get("price"), record.get("original_price")
    if price is not None and original is not None and original < price:
        errors.append({"field": "original_price", "message": "Must not be lower than price."})
    starts, ends = record.get("sale_starts_at"), record.get("sale_ends_at")
    valid_from, valid_until = record.get("valid_from"), record.get("valid_until")
    if starts and ends and ends <= starts:
        errors.append({"field": "sale_ends_at", "message": "The sale must end after it starts."})
    if valid_from and valid_until and valid_until <= valid_from:
        errors.append({"field": "valid_until", "message": "Validity must end after it starts."})
    if valid_until and starts and valid_until <= starts:
        errors.append({"field": "valid_until", "message": "Validity ends before the sale starts: nobody could use it."})
    if valid_until and ends and ends > valid_until:
        errors.append({"field": "sale_ends_at", "message": "Must not be after valid_until: it would sell expired products."})
    if errors:
        raise invalid(errors)


def _product_item(index: int, payload, schema, external_id: str | None = None, *, batch: bool = False) -> Item:
    item = Item(index, external_id)
    try:
        if batch:
            _require_external_id(payload)
        data = _load(schema, payload)
        if "external_id" in data:
            item.external_id = data.pop("external_id")
        item.refs = (data.pop("poi_ids", None) or [], data.pop("poi_external_ids", None) or [])
        record = {k: data[k] for k in REVIEWED_PRODUCT_FIELDS + IMMEDIATE_PRODUCT_FIELDS}
        record["type"] = data["type"]
        _check_product(record)
        item.record = record
        item.digest = digest_of({**data, "poi_ids": item.refs[0], "poi_external_ids": item.refs[1]})
    except ItemError as error:
        item.error = error
        if isinstance(payload, dict) and isinstance(payload.get("external_id"), str) and item.external_id is None:
            item.external_id = payload["external_id"][:64]
    return item


def _resolve_pois(session: Session, caller: Caller, items: list[Item], *, required: bool) -> None:
    """Turn each item's ``poi_ids``/``poi_external_ids`` into POI ids of the caller's merchant, with
    one query for the whole batch. A POI of another merchant reads as unknown (never confirmed)."""
    ids = {i for item in items if item.error is None for i in item.refs[0]}
    externals = {e for item in items if item.error is None for e in item.refs[1]}
    by_id, by_external = {}, {}
    if ids or externals:
        conditions, dialect = [], session.get_bind().dialect
        if ids:
            conditions.append(one_of(Poi.id, ids, dialect))
        if externals:
            conditions.append((Poi.source_app_id == caller.app_id) & one_of(Poi.external_id, externals, dialect))
        for row in session.execute(
            select(Poi.id, Poi.external_id, Poi.source_app_id).where(Poi.merchant_id == caller.merchant_id, or_(*conditions))
        ):
            by_id[row.id] = row.id
            if row.source_app_id == caller.app_id and row.external_id is not None:
                by_external[row.external_id] = row.id
    for item in items:
        if item.error is not None:
            continue
        poi_ids, externals_sent = item.refs
        if not poi_ids and not externals_sent:
            if required:
                item.error = invalid([{"field": "poi_ids", "message": "Name at least one POI (poi_ids or poi_external_ids)."}])
            continue
        errors = [{"field": "poi_ids", "message": f"No such POI of this merchant: {p}"} for p in poi_ids if p not in by_id]
        errors += [{"field": "poi_external_ids", "message": f"No such POI of this merchant: {e}"}
                   for e in externals_sent if e not in by_external]
        if errors:
            item.error = invalid(errors)
            continue
        item.poi_ids = sorted({*poi_ids, *(by_external[e] for e in externals_sent)})


def _run_products(session: Session, caller: Caller, items: list[Item], **kwargs) -> list[Item]:
    """A new product must name its POIs; an existing one keeps its POIs unless new ones are sent."""
    if kwargs.get("updates_for") is None:
        known = _existing_rows(session, PRODUCT_KIND, caller.app_id,
                               [i.external_id for i in items if i.error is None and i.external_id])
        kwargs["existing_rows"] = known
        new = [i for i in items if i.error is None and i.external_id not in known]
        old = [i for i in items if i.error is None and i.external_id in known]
        _resolve_pois(session, caller, new, required=True)
        _resolve_pois(session, caller, old, required=False)
    return run(session, PRODUCT_KIND, caller, items, **kwargs)


def create_product(session: Session, caller: Caller, payload: dict) -> tuple[Product, str]:
    item = _single(_product_item(0, payload, _PRODUCT_SCHEMAS["create"]))
    _single(_run_products(session, caller, [item], create_only=True)[0])
    return session.get(Product, item.id), item.result


def upsert_product(session: Session, caller: Caller, external_id: str, payload: dict) -> tuple[Product, str]:
    item = _single(_product_item(0, payload, _PRODUCT_SCHEMAS["upsert"], external_id))
    _single(_run_products(session, caller, [item])[0])
    product = session.get(Product, item.id)
    session.refresh(product)
    return product, item.result


def batch_upsert_products(session: Session, caller: Caller, payloads: list) -> dict:
    items = [_product_item(i, payload, _PRODUCT_SCHEMAS["batch"], batch=True) for i, payload in enumerate(payloads)]
    _run_products(session, caller, items)
    return {"results": [result_row(i) for i in items], "summary": summary(items)}


def update_product(session: Session, caller: Caller, product: Product, payload: dict) -> Product:
    data = _single_load(_PRODUCT_UPDATE, payload)
    current = _current_row(session, PRODUCT_KIND, product.id)
    proposed = {k: current[k] for k in REVIEWED_PRODUCT_FIELDS + IMMEDIATE_PRODUCT_FIELDS}
    pending = _pending(session, PRODUCT_KIND, [product.id]).get(product.id)
    if pending is not None and current["live"]:
        proposed.update(pending["changes"])
    refs = (data.pop("poi_ids", None), data.pop("poi_external_ids", None))
    proposed.update(data)
    item = Item(0, None, record=proposed)
    try:
        _check_product(proposed)
    except ItemError as error:
        raise error.problem() from None
    if refs[0] is not None or refs[1] is not None:
        item.refs = (refs[0] or [], refs[1] or [])
        _resolve_pois(session, caller, [item], required=True)
        _single(item)
    _single(run(session, PRODUCT_KIND, caller, [item], updates_for={"#": current})[0])
    session.refresh(product)
    return product
