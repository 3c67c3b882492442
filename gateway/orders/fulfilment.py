"""Verification at the store (核销): one call, one or more codes, all or none.

Each code is checked against the rules in a fixed order, and the first rule it breaks is its
reason (the problem ``code``). When every code passes, one conditional UPDATE marks them used
(``status = 'available'`` in its WHERE): of two concurrent verifications of the same code, the
database lets exactly one change the row, and the other sees ``CERTIFICATE_ALREADY_USED``.
A retry with the same ``Idempotency-Key`` returns the first verification (gateway.http.idempotency).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.clock import isoformat, utcnow
from gateway.db import owned
from gateway.errors import Conflict, NotFound, Problem
from gateway.ids import new_id
from gateway.orders import services
from gateway.orders.models import BookingSlot, Certificate, Order, Verification
from gateway.poi.hours import is_special_day
from gateway.poi.models import Poi, Product, ProductPoi

# reason -> HTTP status when it is the verification's answer
REASONS = {
    "CERTIFICATE_NOT_FOUND": 404,
    "CERTIFICATE_ALREADY_USED": 409,
    "CERTIFICATE_REFUND_PENDING": 409,
    "CERTIFICATE_REFUNDED": 409,
    "CERTIFICATE_NOT_YET_VALID": 409,
    "CERTIFICATE_EXPIRED": 409,
    "CERTIFICATE_NOT_VALID_AT_POI": 409,
    "BOOKING_REQUIRED": 409,
    "CERTIFICATE_NOT_USABLE_TODAY": 409,
}


def _poi(session: Session, merchant_id: str, poi_id: str) -> Poi:
    return owned(session, Poi, poi_id, NotFound("No such POI.", code="POI_NOT_FOUND"), merchant_id=merchant_id,
                 live=True)


def _lookups(data: dict) -> list[tuple[str, str | None]]:
    """(what the caller sent, the code in it or None) for each code or QR payload."""
    if "codes" in data:
        return [(code, code) for code in data["codes"]]
    return [(payload, services.code_of_qr(payload)) for payload in data["qr_payloads"]]


def check(session: Session, merchant_id: str, data: dict, now: datetime) -> tuple[Poi, list[dict]]:
    """Every code's certificate and the first rule it breaks (``reason`` None: verifiable)."""
    poi = _poi(session, merchant_id, data["poi_id"])
    lookups = _lookups(data)
    hashes = {code: services.code_hash(code) for _, code in lookups if code}
    certificates = {c.code_hash: c for c in session.scalars(
        select(Certificate).where(Certificate.code_hash.in_(list(hashes.values())),
                                  Certificate.merchant_id == merchant_id))} if hashes else {}
    product_ids = {c.product_id for c in certificates.values()}
    products = {p.id: p for p in session.scalars(select(Product).where(Product.id.in_(product_ids)))}
    sold_here = set(session.scalars(select(ProductPoi.product_id).where(
        ProductPoi.poi_id == poi.id, ProductPoi.product_id.in_(product_ids))))
    slot_ids = {c.slot_id for c in certificates.values() if c.slot_id}
    slots = {s.id: s for s in session.scalars(select(BookingSlot).where(BookingSlot.id.in_(slot_ids)))} \
        if slot_ids else {}
    holiday = is_special_day(poi.opening_hours, now)
    results, seen = [], set()
    for sent, code in lookups:
        certificate = certificates.get(hashes.get(code)) if code else None
        if certificate is not None and certificate.id in seen:
            raise Problem("The same code was sent twice.", status=422, code="DUPLICATE_CODE")
        if certificate is not None:
            seen.add(certificate.id)
        reason = _reason(certificate, products.get(certificate.product_id) if certificate else None,
                         poi, sold_here, slots, holiday, now)
        results.append({"sent": sent, "certificate": certificate, "reason": reason})
    return poi, results


def _reason(certificate, product, poi, sold_here, slots, holiday, now) -> str | None:
    if certificate is None:
        return "CERTIFICATE_NOT_FOUND"
    if certificate.status == "used":
        return "CERTIFICATE_ALREADY_USED"
    if certificate.status == "refund_pending":
        return "CERTIFICATE_REFUND_PENDING"
    if certificate.status == "refunded":
        return "CERTIFICATE_REFUNDED"
    if now < certificate.valid_from:
        return "CERTIFICATE_NOT_YET_VALID"
    if now > certificate.valid_until:
        return "CERTIFICATE_EXPIRED"
    if certificate.product_id not in sold_here:
        return "CERTIFICATE_NOT_VALID_AT_POI"
    if product.booking_required:
        slot = slots.get(certificate.slot_id)
        if slot is None:
            return "BOOKING_REQUIRED"
        if slot.poi_id != poi.id:
            return "CERTIFICATE_NOT_VALID_AT_POI"
    if holiday and (product.usage_rules or {}).get("available_on_holidays") is False:
        return "CERTIFICATE_NOT_USABLE_TODAY"
    return None


def _hint(sent: str) -> str:
    code = sent if sent.isdigit() else (services.code_of_qr(sent) or "")
    return code[-4:]


def preview(session: Session, merchant_id: str, data: dict) -> dict:
    now = utcnow()
    poi, results = check(session, merchant_id, data, now)
    return {"poi_id": poi.id, "verifiable": all(r["reason"] is None for r in results), "results": [
        {"code_hint": _hint(r["sent"]), "reason": r["reason"],
         "certificate": services.dump_certificate(r["certificate"], now) if r["certificate"] else None}
        for r in results]}


def verify(session: Session, merchant_id: str, app_id: str, data: dict) -> dict:
    """Verify the codes; the verification as the API shows it (dumped once, for the event too)."""
    now = utcnow()
    poi, results = check(session, merchant_id, data, now)
    failures = [r for r in results if r["reason"]]
    if failures:
        _refuse(failures)
    certificates = [r["certificate"] for r in results]
    verification = Verification(
        id=new_id("verification"), merchant_id=merchant_id, poi_id=poi.id, app_id=app_id,
        certificate_ids=[c.id for c in certificates], amount=sum(c.amount for c in certificates),
        verified_at=now, revocable_until=now + timedelta(seconds=current_app.config["SHIJING"]["VERIFICATION_REVOKE_WINDOW"]))
    session.add(verification)
    used = session.execute(
        update(Certificate).where(Certificate.id.in_(verification.certificate_ids), Certificate.status == "available")
        .values(status="used", used_at=now, used_poi_id=poi.id, verification_id=verification.id)
        .execution_options(synchronize_session=False)).rowcount
    if used != len(certificates):
        # another verification took one of them between our check and our update (the request
        # rolls back: nothing of this one is kept)
        raise Conflict("A code was verified by another request a moment ago.", code="CERTIFICATE_ALREADY_USED")
    return _after_change(session, verification, "voucher.verified")


def _refuse(failures: list[dict]) -> None:
    first = failures[0]["reason"]
    errors = [{"code_hint": _hint(f["sent"]), "reason": f["reason"],
               "certificate_id": f["certificate"].id if f["certificate"] else None} for f in failures]
    detail = ("No code was verified: " + ", ".join(f"…{e['code_hint']} {e['reason']}" for e in errors) + ".")
    raise Problem(detail, status=REASONS[first], code=first, title="Verification refused", errors=errors)


def _after_change(session: Session, verification: Verification, type_: str) -> dict:
    session.flush()
    orders = session.scalars(select(Order).where(Order.id.in_(
        select(Certificate.order_id).where(Certificate.id.in_(verification.certificate_ids))))).all()
    for order in orders:
        services.settle_status(session, order)
    data = dump(session, verification)
    services.tell(session, list(orders), type_, lambda app_id: data)
    return data


def get(session: Session, merchant_id: str, verification_id: str) -> Verification:
    return owned(session, Verification, verification_id,
                 NotFound("No such verification.", code="VERIFICATION_NOT_FOUND"), merchant_id=merchant_id)


def revoke(session: Session, verification: Verification) -> dict:
    now = utcnow()
    if verification.status == "revoked":
        raise Conflict("This verification was already revoked.", code="VERIFICATION_ALREADY_REVOKED")
    if now > verification.revocable_until:
        raise Conflict(f"A verification can be revoked until {isoformat(verification.revocable_until)}; that has "
                       "passed.", code="VERIFICATION_NOT_REVOCABLE")
    verification.status, verification.revoked_at = "revoked", now
    session.execute(update(Certificate).where(Certificate.verification_id == verification.id,
                                              Certificate.status == "used")
                    .values(status="available", used_at=None, used_poi_id=None, verification_id=None)
                    .execution_options(synchronize_session=False))
    return _after_change(session, verification, "voucher.revoked")


def dump(session: Session, verification: Verification) -> dict:
    certificates = session.scalars(select(Certificate).where(Certificate.id.in_(verification.certificate_ids))
                                   .order_by(Certificate.id)).all()
    return {
        "id": verification.id, "merchant_id": verification.merchant_id, "poi_id": verification.poi_id,
        "app_id": verification.app_id, "status": verification.status, "amount": verification.amount,
        "certificates": [{"id": c.id, "order_id": c.order_id, "product_id": c.product_id, "amount": c.amount,
                          "code_hint": c.code_hint} for c in certificates],
        "verified_at": isoformat(verification.verified_at), "revocable_until": isoformat(verification.revocable_until),
        "revoked_at": isoformat(verification.revoked_at),
    }
