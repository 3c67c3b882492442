from __future__ import annotations

from flask import Blueprint, g
from marshmallow import fields
from sqlalchemy import bindparam, select

from gateway.accounts.models import Merchant
from gateway.db import PrebuiltSelect, reader
from gateway.errors import NotFound
from gateway.http.auth import require_scope
from gateway.http.schemas import StrictSchema, UTCDateTimeField

bp = Blueprint("merchants", __name__, url_prefix="/v1/merchants")


class MerchantSchema(StrictSchema):
    spec_component = "Merchant"

    id = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    created_at = UTCDateTimeField(dump_only=True)


schema = MerchantSchema()

# built once: composing a select() per request costs a third of the throughput (PERFORMANCE.md)
_BY_ID = PrebuiltSelect(
    select(Merchant.id, Merchant.name, Merchant.created_at).where(Merchant.id == bindparam("id"))
)


@bp.get("/<merchant_id>")
@require_scope("merchant.read", merchant_param="merchant_id")
def get_merchant(merchant_id):
    """Get a merchant's profile."""
    # The authorization check already read the merchant in its own statement (http.auth);
    # without it (the benchmark's auth-off twin) one prebuilt SELECT through reader(): no ORM
    # session, no transaction, no Core execution machinery (bench/README.md).
    merchant = g.get("merchant")
    if merchant is None:
        row = _BY_ID.first(reader(), {"id": merchant_id})
        if row is None:
            raise NotFound("No such merchant.", code="MERCHANT_NOT_FOUND")
        merchant = row._asdict()
    return schema.dump(merchant)
