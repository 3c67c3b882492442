"""The datasets a merchant can export: each one SELECT over its own rows, with a published schema.

A column is on the explicit allow-list below or it is not exported (SECURITY.md row 43). Users
appear only as the calling app's ``open_id``, never as internal ids. Every SELECT is narrowed to
the merchant first; filters and the date range only narrow it further.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from sqlalchemy import (
    JSON,
    Select,
    Text,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from gateway.clock import isoformat
from gateway.miniprograms.models import Mount, MountEvent
from gateway.oauth.identity import open_id_function
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
    # written by users or partners, so any character: neutralised (formula injection) and quoted in
    # CSV. A string column without it holds ids and enum values the platform wrote.
    free_text: bool = False


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
    # when a row last changed, for datasets whose rows change after they are written (an order
    # paid, then refunded): sync sends such a row again after each change. None: rows never change.
    changed_column: object | None = None

    def schema(self) -> dict:
        return {
            "name": self.name, "description": self.description, "freshness": self.freshness,
            "freshness_seconds": self.freshness_seconds, "retention_days": self.retention_days,
            "time_column": self.time_column.key, "incremental": self.id_column is not None,
            "changed_column": None if self.changed_column is None else "updated_at",
            "filters": sorted(self.filters),
            "columns": [{"name": c.name, "type": c.type, "description": c.description} for c in self.columns],
        }

    def narrowed(self, merchant_id: str, filters: dict, since: datetime | None, until: datetime | None) -> Select:
        """The merchant's rows, filtered and in the time range, with no columns yet."""
        statement = self.base(merchant_id)
        for name, value in filters.items():
            statement = self.filters[name](statement, value)
        if since is not None:
            statement = statement.where(self.time_column >= since)
        if until is not None:
            statement = statement.where(self.time_column < until)
        return statement

    def select(self, merchant_id: str, filters: dict, since: datetime | None, until: datetime | None) -> Select:
        return self.narrowed(merchant_id, filters, since, until).add_columns(
            *[c.expression.label(c.name) for c in self.columns])

    @property
    def user_column(self):
        """The internal user id the dataset publishes as an open_id, if it has one."""
        return next((c.expression for c in self.columns if c.open_id), None)

    def export_select(self, merchant_id: str, filters: dict, since, until, dialect: str, fmt: str,
                      open_id_sql) -> Select:
        """The SELECT an export file is written from: one text column, each row a whole line of the
        file (CSV quoted and formula-neutralised, or a JSON object), built by the database. Python
        then only joins lines, so the file costs about what the database takes to produce it.
        ``open_id_sql(statement, user_column) -> (statement, expression)`` gives the SQL of the
        calling app's open_id for the dataset's user column (``services.OpenIdSql.sql``)."""
        statement = self.narrowed(merchant_id, filters, since, until)
        values = []
        for column in self.columns:
            if column.open_id:
                statement, expression = open_id_sql(statement, column.expression)
            else:
                expression = _export_expression(column, dialect, fmt)
            values.append(expression)
        line = _csv_line(self.columns, values, dialect) if fmt == "csv" else _json_line(self.columns, values, dialect)
        statement = statement.add_columns(line.label("line"))
        if self.id_column is not None:
            statement = statement.order_by(self.id_column)
        return statement

    def csv_header(self) -> str:
        return ",".join(column.name for column in self.columns)

    def row_converter(self, app_id: str, shown: dict | None = None):
        """A function turning one result row into a list of JSON-ready values; the users it shows
        go into ``shown`` (user id -> open_id)."""
        kinds = [("open_id" if c.open_id else c.type) for c in self.columns]
        derive = open_id_function(app_id)
        shown = {} if shown is None else shown

        @lru_cache(maxsize=65536)
        def open_ids(user_id: str) -> str:
            shown[user_id] = value = derive(user_id)
            return value

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


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# what makes a CSV cell quoted: a quote, a comma, LF or CR (in each database's SQL)
CSV_SPECIALS = {"sqlite": ("'\"'", "','", "char(10)", "char(13)"),
                "postgresql": ("'\"'", "','", "chr(10)", "chr(13)")}


def _export_expression(column: Column, dialect: str, fmt: str):
    """The column's value as the file holds it, computed by the database."""
    expression = column.expression
    if column.type == "timestamp":  # ISO-8601 UTC with milliseconds, as the API writes times
        if dialect == "postgresql":
            return func.to_char(expression, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
        # SQLAlchemy stores "YYYY-MM-DD HH:MM:SS.ffffff" on SQLite: cut and paste, no date parsing
        return func.substr(expression, 1, 10) + "T" + func.substr(expression, 12, 12) + "Z"
    if column.free_text and fmt == "csv":  # a cell a spreadsheet would run gets a leading quote
        return case((func.substr(expression, 1, 1).in_(FORMULA_STARTS), literal("'") + expression),
                    else_=expression)
    return expression


def _constant(sql: str):
    """A constant of the line's SQL, inlined (they are the code's own, never a request's)."""
    return literal_column(sql, Text)


def _csv_line(columns, values, dialect: str):
    """RFC 4180 in SQL, as Python's csv.writer writes it: NULL is an empty cell, and a cell with a
    quote, comma or line break is quoted with its quotes doubled. Only free text and JSON can hold
    those; the other columns are ids, enum values, numbers and times the platform wrote, whose
    cells are never quoted (checking them would cost a fifth of the export)."""
    position = func.instr if dialect == "sqlite" else func.strpos
    empty, quote = _constant("''"), _constant("'\"'")
    cells = []
    for column, value in zip(columns, values):
        if column.free_text or column.type == "json":
            text = cast(value, Text) if column.type == "json" else value
            special = or_(*[position(text, _constant(char)) > 0 for char in CSV_SPECIALS[dialect]])
            value = case((special, quote + func.replace(text, quote, _constant("'\"\"'")) + quote), else_=text)
        elif column.type == "integer":
            value = cast(value, Text)
        cells.append(func.coalesce(value, empty))
    line = cells[0]
    for cell in cells[1:]:
        line = line.op("||")(_constant("','")).op("||")(cell)
    return line


def _json_line(columns, values, dialect: str):
    """One JSON object per row, with the dataset's names; JSON columns embedded as JSON."""
    pairs = []
    for column, value in zip(columns, values):
        if column.type == "json" and dialect == "sqlite":
            value = func.json(value)  # stored as text: embedded as JSON, not as a string
        pairs += [_constant(f"'{column.name}'"), value]
    if dialect == "sqlite":
        return func.json_object(*pairs)
    return cast(func.json_build_object(*pairs), Text)


class follower_tags(FunctionElement):
    """The follower's tags as a JSON array of {id, name}, oldest tag first: one correlated aggregate,
    written in each database's JSON functions."""

    type = JSON()
    name = "follower_tags"
    inherit_cache = True


_TAGS_OF = ("FROM service_account_follower_tags AS ft JOIN service_account_tags AS t ON t.id = ft.tag_id "
            "WHERE ft.follower_id = {follower}")


@compiles(follower_tags, "sqlite")
def _follower_tags_sqlite(element, compiler, **kw):
    follower = compiler.process(element.clauses, **kw)
    return ("(SELECT json_group_array(json_object('id', t.id, 'name', t.name)) FROM "
            f"(SELECT t.id, t.name {_TAGS_OF.format(follower=follower)} ORDER BY t.created_at, t.id) AS t)")


@compiles(follower_tags, "postgresql")
def _follower_tags_postgresql(element, compiler, **kw):
    follower = compiler.process(element.clauses, **kw)
    return ("(SELECT coalesce(json_agg(json_build_object('id', t.id, 'name', t.name) ORDER BY t.created_at, t.id), "
            f"'[]'::json) {_TAGS_OF.format(follower=follower)})")


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
        Column("updated_at", "timestamp", "When its status or refunded amount last changed (UTC).", Order.updated_at),
    ),
    changed_column=Order.updated_at,
    base=lambda merchant_id: select().select_from(Order).where(Order.merchant_id == merchant_id),
    filters={"poi_id": _eq(Order.poi_id), "mount_id": _eq(Order.mount_id), "product_id": _orders_with_product,
             "source": _eq(Order.source_type), "status": _eq(Order.status)},
))

_VERIFICATION_CHANGED = func.coalesce(Verification.revoked_at, Verification.verified_at)

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
        Column("updated_at", "timestamp", "When it last changed (UTC): its revocation, or else its verification.",
               _VERIFICATION_CHANGED),
    ),
    changed_column=_VERIFICATION_CHANGED,
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
        Column("tags", "json", "Their tags on the service account, oldest first: [{id, name}].",
               follower_tags(Follower.id)),
        Column("updated_at", "timestamp", "When their status or tags last changed (UTC).", Follower.updated_at),
    ),
    changed_column=Follower.updated_at,
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
    name="poi_quality_tags", id_prefix="poi",
    description="The quality tags of each of the merchant's POIs, one row per POI.",
    freshness="recomputed nightly", freshness_seconds=86400, retention_days=0,
    time_column=Poi.updated_at, id_column=Poi.id, changed_column=Poi.updated_at,
    columns=(
        Column("id", "string", "The POI's id.", Poi.id),
        Column("name", "string", "Its name.", Poi.name, free_text=True),
        Column("quality_tags", "json", "Its quality tags.", Poi.quality_tags),
        Column("updated_at", "timestamp", "When the POI last changed (UTC).", Poi.updated_at),
    ),
    base=lambda merchant_id: select().select_from(Poi).where(Poi.merchant_id == merchant_id),
    filters={"poi_id": _eq(Poi.id)},
))
