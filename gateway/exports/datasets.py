"""The datasets a merchant can export: each one SELECT over its own rows, with a published schema.

A column is on the explicit allow-list below or it is not exported (SECURITY.md row 43). Users
appear only as the calling app's ``open_id``, never as internal ids. Every SELECT is narrowed to
the merchant first; filters and the date range only narrow it further.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from sqlalchemy import Select, Text, case, cast, exists, func, literal, select

from gateway.clock import isoformat
from gateway.miniprograms.models import Mount, MountEvent
from gateway.oauth.identity import open_id
from gateway.orders.models import Order, OrderItem, Verification
from gateway.poi.models import Poi, PoiPageView
from gateway.service_accounts.models import Follower, Message, ServiceAccount

COLUMN_TYPES = ("string", "integer", "timestamp", "json")
FILTERS = ("poi_id", "mount_id", "product_id", "source", "status")


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # string | integer | timestamp | json
    description: str
    expression: object
    open_id: bool = False  # an internal user id, published as the calling app's open_id
    free_text: bool = False  # written by users or partners: neutralised in CSV (formula injection)


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    freshness: str
    freshness_seconds: int
    retention_days: int
    time_column: object
    id_column: object | None  # time-sortable id: the incremental-sync cursor (None: no sync)
    columns: tuple[Column, ...]
    base: object  # (merchant_id) -> Select narrowed to the merchant
    filters: dict = field(default_factory=dict)  # name -> (statement, value) -> statement
    id_prefix: str = ""  # the type prefix of its ids (gateway.ids)

    def schema(self) -> dict:
        return {
            "name": self.name, "description": self.description, "freshness": self.freshness,
            "freshness_seconds": self.freshness_seconds, "retention_days": self.retention_days,
            "time_column": self.time_column.key, "incremental": self.id_column is not None,
            "filters": sorted(self.filters),
            "columns": [{"name": c.name, "type": c.type, "description": c.description} for c in self.columns],
        }

    def select(self, merchant_id: str, filters: dict, since: datetime | None, until: datetime | None) -> Select:
        statement = self.base(merchant_id).add_columns(*[c.expression.label(c.name) for c in self.columns])
        for name, value in filters.items():
            statement = self.filters[name](statement, value)
        if since is not None:
            statement = statement.where(self.time_column >= since)
        if until is not None:
            statement = statement.where(self.time_column < until)
        return statement

    def export_select(self, merchant_id: str, filters: dict, since, until, dialect: str, fmt: str) -> Select:
        """The SELECT an export file is written from: what can be done in SQL is (timestamps as
        ISO-8601 text, CSV formula neutralisation of free text, JSON as text for CSV), so that
        the driver's values are mostly the file's."""
        statement = self.base(merchant_id).add_columns(
            *[_export_expression(c, dialect, fmt).label(c.name) for c in self.columns])
        for name, value in filters.items():
            statement = self.filters[name](statement, value)
        if since is not None:
            statement = statement.where(self.time_column >= since)
        if until is not None:
            statement = statement.where(self.time_column < until)
        if self.id_column is not None:
            statement = statement.order_by(self.id_column)
        return statement

    def chunk_converter(self, app_id: str, dialect: str, fmt: str):
        """A function turning a chunk of driver rows of ``export_select`` into the file's rows:
        only what SQL cannot do is left (the app's open_id, an HMAC; JSON decoding for JSON Lines
        on SQLite), done column by column with ``map``."""
        open_ids = lru_cache(maxsize=65536)(lambda user_id: None if user_id is None else open_id(app_id, user_id))
        plan = []
        for index, column in enumerate(self.columns):
            if column.open_id:
                plan.append((index, open_ids))
            elif column.type == "json" and dialect == "sqlite" and fmt == "jsonl":
                plan.append((index, _json_or_none))

        if not plan:
            return lambda chunk: chunk
        # one comprehension unpacking each row: cheaper than per-cell calls or a transpose; the
        # code is built from column positions only (nothing from a request)
        names = [f"c{index}" for index in range(len(self.columns))]
        converters = dict(plan)
        values = ", ".join(f"f{i}({name})" if i in converters else name for i, name in enumerate(names))
        source = f"lambda chunk: [({values},) for {', '.join(names)} in chunk]"
        return eval(source, {f"f{i}": conv for i, conv in converters.items()})

    def row_converter(self, app_id: str):
        """A function turning one result row into a list of JSON-ready values."""
        kinds = [("open_id" if c.open_id else c.type) for c in self.columns]
        open_ids = lru_cache(maxsize=65536)(lambda user_id: open_id(app_id, user_id))

        def convert(row) -> list:
            out = []
            for kind, value in zip(kinds, row):
                if value is None:
                    out.append(None)
                elif kind == "timestamp":
                    out.append(isoformat(value))
                elif kind == "open_id":
                    out.append(open_ids(value))
                else:
                    out.append(value)
            return out

        return convert


def _json_or_none(value):
    return None if value is None else json.loads(value)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _export_expression(column: Column, dialect: str, fmt: str):
    """The column as the file holds it, computed by the database."""
    expression = column.expression
    if column.type == "timestamp":  # ISO-8601 UTC with milliseconds, as the API writes times
        if dialect == "postgresql":
            return func.to_char(expression, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
        # SQLAlchemy stores "YYYY-MM-DD HH:MM:SS.ffffff" on SQLite: cut and paste, no date parsing
        return func.substr(expression, 1, 10) + "T" + func.substr(expression, 12, 12) + "Z"
    if column.type == "json" and fmt == "csv":
        return cast(expression, Text)
    if column.free_text and fmt == "csv":  # a cell a spreadsheet would run gets a leading quote
        return case((func.substr(expression, 1, 1).in_(FORMULA_STARTS), literal("'") + expression),
                    else_=expression)
    return expression


def _eq(column):
    return lambda statement, value: statement.where(column == value)


def _orders_with_product(statement, value):
    return statement.where(exists().where(OrderItem.order_id == Order.id, OrderItem.product_id == value))


DATASETS: dict[str, Dataset] = {}


def _add(dataset: Dataset) -> None:
    DATASETS[dataset.name] = dataset


_add(Dataset(
    name="poi_page_views", id_prefix="pgv", description="Each view of one of the merchant's POI pages.",
    freshness="real time: a view is in the dataset as soon as it is recorded", freshness_seconds=0,
    retention_days=730, time_column=PoiPageView.viewed_at, id_column=PoiPageView.id,
    columns=(
        Column("id", "string", "The view's id (time-sortable).", PoiPageView.id),
        Column("poi_id", "string", "The POI whose page was viewed.", PoiPageView.poi_id),
        Column("source", "string", "Where the user came from: direct, search, nearby, video, live, "
               "service_account.", PoiPageView.source),
        Column("source_id", "string", "The video, live stream or account the user came from, if any.",
               PoiPageView.source_id, free_text=True),
        Column("viewer_open_id", "string", "The viewer's open_id for the calling app; empty when anonymous.",
               PoiPageView.user_id, open_id=True),
        Column("viewed_at", "timestamp", "When the page was viewed (UTC).", PoiPageView.viewed_at),
    ),
    base=lambda merchant_id: select().select_from(PoiPageView).where(PoiPageView.merchant_id == merchant_id),
    filters={"poi_id": _eq(PoiPageView.poi_id), "source": _eq(PoiPageView.source)},
))

_add(Dataset(
    name="mount_events", id_prefix="mev", description="Exposures and clicks of mounted cards that lead to the merchant's POIs.",
    freshness="real time", freshness_seconds=0, retention_days=730,
    time_column=MountEvent.occurred_at, id_column=MountEvent.id,
    columns=(
        Column("id", "string", "The event's id (time-sortable).", MountEvent.id),
        Column("mount_id", "string", "The mounted card.", MountEvent.mount_id),
        Column("poi_id", "string", "The merchant's POI the card is for.", Mount.poi_id),
        Column("kind", "string", "exposure or click.", MountEvent.kind),
        Column("target_type", "string", "video or live_stream.", MountEvent.target_type),
        Column("target_id", "string", "The video or live stream the card is on.", MountEvent.target_id),
        Column("miniprogram_id", "string", "The mini-program the card opens.", MountEvent.miniprogram_id),
        Column("creator_id", "string", "The creator whose content carries the card.", MountEvent.creator_id),
        Column("user_open_id", "string", "The user's open_id for the calling app; empty when anonymous.",
               MountEvent.user_id, open_id=True),
        Column("occurred_at", "timestamp", "When it happened (UTC).", MountEvent.occurred_at),
    ),
    base=lambda merchant_id: select().select_from(MountEvent).join(Mount, Mount.id == MountEvent.mount_id)
    .join(Poi, Poi.id == Mount.poi_id).where(Poi.merchant_id == merchant_id),
    filters={"poi_id": _eq(Mount.poi_id), "mount_id": _eq(MountEvent.mount_id), "source": _eq(MountEvent.kind)},
))

_add(Dataset(
    name="orders", id_prefix="ord", description="The merchant's orders, one row per order.",
    freshness="real time", freshness_seconds=0, retention_days=1825,
    time_column=Order.created_at, id_column=Order.id,
    columns=(
        Column("id", "string", "The order's id (time-sortable).", Order.id),
        Column("poi_id", "string", "The POI it was bought at.", Order.poi_id),
        Column("status", "string", "The order's status at export time.", Order.status),
        Column("channel", "string", "poi_page or mini_program.", Order.channel),
        Column("source_type", "string", "direct, poi_page, service_account, search, mount…", Order.source_type),
        Column("source_id", "string", "The source's id, if any.", Order.source_id, free_text=True),
        Column("mount_id", "string", "The mounted card the order came from, if any.", Order.mount_id),
        Column("buyer_open_id", "string", "The buyer's open_id for the calling app.", Order.user_id, open_id=True),
        Column("total_amount", "integer", "Amount paid, in fen.", Order.total_amount),
        Column("refunded_amount", "integer", "Amount refunded, in fen.", Order.refunded_amount),
        Column("platform_commission", "integer", "Platform commission, in fen.", Order.platform_commission),
        Column("creator_commission", "integer", "Creator commission, in fen.", Order.creator_commission),
        Column("created_at", "timestamp", "When the order was placed (UTC).", Order.created_at),
        Column("paid_at", "timestamp", "When it was paid (UTC), if it was.", Order.paid_at),
    ),
    base=lambda merchant_id: select().select_from(Order).where(Order.merchant_id == merchant_id),
    filters={"poi_id": _eq(Order.poi_id), "mount_id": _eq(Order.mount_id), "product_id": _orders_with_product,
             "source": _eq(Order.source_type), "status": _eq(Order.status)},
))

_add(Dataset(
    name="verifications", id_prefix="vrf", description="Voucher verifications at the merchant's POIs.",
    freshness="real time", freshness_seconds=0, retention_days=1825,
    time_column=Verification.verified_at, id_column=Verification.id,
    columns=(
        Column("id", "string", "The verification's id (time-sortable).", Verification.id),
        Column("poi_id", "string", "Where the vouchers were verified.", Verification.poi_id),
        Column("app_id", "string", "The app that verified.", Verification.app_id),
        Column("certificate_ids", "json", "The certificates verified together.", Verification.certificate_ids),
        Column("amount", "integer", "Their value, in fen.", Verification.amount),
        Column("status", "string", "verified or revoked.", Verification.status),
        Column("verified_at", "timestamp", "When (UTC).", Verification.verified_at),
        Column("revoked_at", "timestamp", "When it was revoked (UTC), if it was.", Verification.revoked_at),
    ),
    base=lambda merchant_id: select().select_from(Verification).where(Verification.merchant_id == merchant_id),
    filters={"poi_id": _eq(Verification.poi_id), "status": _eq(Verification.status)},
))

_add(Dataset(
    name="followers", id_prefix="flw", description="Followers of the merchant's service account, one row per follower.",
    freshness="real time", freshness_seconds=0, retention_days=730,
    time_column=Follower.followed_at, id_column=Follower.id,
    columns=(
        Column("id", "string", "The follower's id (time-sortable).", Follower.id),
        Column("open_id", "string", "The follower's open_id for the calling app.", Follower.user_id, open_id=True),
        Column("status", "string", "following, unfollowed or blocked.", Follower.status),
        Column("source", "string", "How they came to follow.", Follower.source),
        Column("source_id", "string", "The source's id, if any.", Follower.source_id, free_text=True),
        Column("followed_at", "timestamp", "When they (last) followed (UTC).", Follower.followed_at),
        Column("unfollowed_at", "timestamp", "When they unfollowed (UTC), if they did.", Follower.unfollowed_at),
    ),
    base=lambda merchant_id: select().select_from(Follower)
    .join(ServiceAccount, ServiceAccount.id == Follower.service_account_id)
    .where(ServiceAccount.merchant_id == merchant_id),
    filters={"source": _eq(Follower.source), "status": _eq(Follower.status)},
))

_add(Dataset(
    name="service_account_messages", id_prefix="msg", description="Messages between the service account and its followers.",
    freshness="real time", freshness_seconds=0, retention_days=180,
    time_column=Message.created_at, id_column=Message.id,
    columns=(
        Column("id", "string", "The message's id (time-sortable).", Message.id),
        Column("user_open_id", "string", "The follower's open_id for the calling app.", Message.user_id,
               open_id=True),
        Column("direction", "string", "inbound or outbound.", Message.direction),
        Column("type", "string", "text or template.", Message.type),
        Column("text", "string", "The text, for a text message.", Message.text, free_text=True),
        Column("template_id", "string", "The template, for a template message.", Message.template_id),
        Column("created_at", "timestamp", "When it was sent (UTC).", Message.created_at),
    ),
    base=lambda merchant_id: select().select_from(Message)
    .join(ServiceAccount, ServiceAccount.id == Message.service_account_id)
    .where(ServiceAccount.merchant_id == merchant_id),
    filters={"source": _eq(Message.direction)},
))

_add(Dataset(
    name="poi_quality_tags", description="The quality tags of each of the merchant's POIs, one row per POI.",
    freshness="recomputed nightly", freshness_seconds=86400, retention_days=0,
    time_column=Poi.updated_at, id_column=None,
    columns=(
        Column("poi_id", "string", "The POI.", Poi.id),
        Column("name", "string", "Its name.", Poi.name, free_text=True),
        Column("quality_tags", "json", "Its quality tags.", Poi.quality_tags),
        Column("updated_at", "timestamp", "When the POI last changed (UTC).", Poi.updated_at),
    ),
    base=lambda merchant_id: select().select_from(Poi).where(Poi.merchant_id == merchant_id),
    filters={"poi_id": _eq(Poi.id)},
))
