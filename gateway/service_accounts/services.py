"""Service accounts: the rules.

- One service account per merchant; users follow and unfollow it from the platform's app
  (``platform.client``), and developers acting for the merchant read its followers by cursor,
  each named by the user's ``open_id`` for the calling app (apps never see internal user ids).
- An app names a follower by an open_id it was shown (a list, an event); any other open_id is
  unknown to it, so another merchant's follower, or another app's open_id, is never found.
- Fan CRM: at most ``TAG_CAP`` tags per account, batches of at most ``BATCH_CAP`` followers,
  segments = followers holding every tag of a set and following within a time range.
- Messages: a free-form reply only within ``REPLY_WINDOW`` of the user's last message; outside
  it only a template message the user subscribed to (one subscribe = one send). A user who
  blocked the account gets nothing. Each refusal has its code; nothing is stored or sent then.
- Sends per merchant are rate limited and counted against a daily recipients quota (``limits``,
  Redis when configured); a tag or segment send runs as a Huey job, set-based.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from flask import current_app
from sqlalchemy import Select, and_, case, delete, func, insert, literal, select, update
from sqlalchemy.orm import Session

from gateway.authorizations.services import apps_granted
from gateway.clock import isoformat, utcnow
from gateway.db import by_id
from gateway.errors import Conflict, NotFound, Problem, ValidationFailed
from gateway.events.services import emit
from gateway.http.filters import one_of
from gateway.http.pagination import paginate
from gateway.oauth import identity
from gateway.poi.models import Poi
from gateway.service_accounts.models import (
    FOLLOWER_STATUSES,
    RECIPIENT_STATUSES,
    SOURCES,
    Follower,
    FollowerTag,
    FollowLog,
    Message,
    OpenIdMap,
    Segment,
    Send,
    SendRecipient,
    ServiceAccount,
    Subscription,
    Tag,
    Template,
)

TAG_CAP = 100  # tags per service account, as WeChat
BATCH_CAP = 1000  # followers per tag/untag call
SEGMENT_TAG_CAP = 5
REPLY_WINDOW = timedelta(hours=48)
SUBSCRIPTION_CAP = 50  # unused one-time subscriptions a user may hold per template
STATS_MAX_DAYS = 92
READ_SCOPES = ("service_account.read", "service_account.crm", "service_account.message")


# --- the account ---------------------------------------------------------------------------------


def find(session: Session, merchant_id: str) -> ServiceAccount | None:
    return session.scalar(select(ServiceAccount).where(ServiceAccount.merchant_id == merchant_id))


def get_for_merchant(session: Session, merchant_id: str) -> ServiceAccount:
    account = find(session, merchant_id)
    if account is None:
        raise NotFound("The merchant has no service account yet; create it with PUT.",
                       code="SERVICE_ACCOUNT_NOT_FOUND")
    return account


def _check_pois(session: Session, merchant_id: str, poi_ids: list[str]) -> None:
    if not poi_ids:
        return
    found = set(session.scalars(select(Poi.id).where(Poi.id.in_(poi_ids), Poi.merchant_id == merchant_id)))
    unknown = [poi_id for poi_id in poi_ids if poi_id not in found]
    if unknown:
        raise ValidationFailed("A service account links only the merchant's own POIs.", code="UNKNOWN_POI",
                               errors={"poi_ids": unknown})


def put(session: Session, merchant_id: str, data: dict) -> tuple[ServiceAccount, bool]:
    """Create the merchant's service account or replace its profile; (account, created)."""
    _check_pois(session, merchant_id, data["poi_ids"])
    account = find(session, merchant_id)
    created = account is None
    if created:
        account = ServiceAccount(merchant_id=merchant_id, status="active", **data)
        session.add(account)
    else:
        for field, value in data.items():
            setattr(account, field, value)
        account.updated_at = utcnow()
    session.flush()
    return account, created


def follower_count(session: Session, account_id: str) -> int:
    return session.scalar(select(func.count()).select_from(Follower).where(
        Follower.service_account_id == account_id, Follower.status == "following")) or 0


def account_dict(session: Session, account: ServiceAccount) -> dict:
    return {"id": account.id, "merchant_id": account.merchant_id, "name": account.name,
            "avatar_url": account.avatar_url, "description": account.description,
            "poi_ids": list(account.poi_ids), "status": account.status,
            "follower_count": follower_count(session, account.id),
            "created_at": isoformat(account.created_at), "updated_at": isoformat(account.updated_at)}


_CARD = select(ServiceAccount.id, ServiceAccount.name, ServiceAccount.avatar_url, ServiceAccount.description,
               ServiceAccount.poi_ids).where(ServiceAccount.status == "active")


def card_for_poi(connection, merchant_id: str, poi_id: str) -> dict | None:
    """The card on a POI page: the merchant's active service account, if it links the POI."""
    row = connection.execute(_CARD.where(ServiceAccount.merchant_id == merchant_id)).first()
    if row is None or poi_id not in (row.poi_ids or []):
        return None
    count = connection.execute(select(func.count()).select_from(Follower).where(
        Follower.service_account_id == row.id, Follower.status == "following")).scalar() or 0
    return {"id": row.id, "name": row.name, "avatar_url": row.avatar_url, "description": row.description,
            "follower_count": count, "follow_hint": "关注服务号，获取优惠与到店提醒"}


def reachable(session: Session, service_account_id: str) -> ServiceAccount:
    """An active service account, as users see it (a suspended one does not exist for them)."""
    account = by_id(session, ServiceAccount, service_account_id)
    if account is None or account.status != "active":
        raise NotFound("No such service account.", code="SERVICE_ACCOUNT_NOT_FOUND")
    return account


# --- open ids ------------------------------------------------------------------------------------


def open_ids_for(session: Session, app_id: str, user_ids) -> dict[str, str]:
    """user id -> open_id for ``app_id``, remembering each so the app can name the user back."""
    open_id_of = identity.open_id_function(app_id)
    wanted = {user_id: open_id_of(user_id) for user_id in set(user_ids)}
    remember_open_ids(session, app_id, wanted)
    return wanted


def remember_open_ids(session: Session, app_id: str, open_ids: dict[str, str]) -> None:
    """Record that ``app_id`` was shown these users (user id -> open_id), wherever it saw them (an
    API response, a data export), so that it can name them back."""
    if not open_ids:
        return
    known = set(session.scalars(select(OpenIdMap.open_id).where(
        OpenIdMap.app_id == app_id, OpenIdMap.open_id.in_(list(open_ids.values())))))
    missing = [{"app_id": app_id, "open_id": open_id, "user_id": user_id}
               for user_id, open_id in open_ids.items() if open_id not in known]
    if missing:
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        session.execute(dialect_insert(OpenIdMap).on_conflict_do_nothing(), missing)


def resolve_followers(session: Session, app_id: str, account: ServiceAccount, open_ids: list[str], *,
                      field: str = "open_ids") -> dict[str, Follower]:
    """open_id -> Follower (following or not) of ``account``; any other open_id is a 422 naming them."""
    users = dict(session.execute(select(OpenIdMap.open_id, OpenIdMap.user_id).where(
        OpenIdMap.app_id == app_id, OpenIdMap.open_id.in_(open_ids))).all())
    followers = {f.user_id: f for f in session.scalars(select(Follower).where(
        Follower.service_account_id == account.id, Follower.user_id.in_(list(users.values()))))} if users else {}
    found = {open_id: followers[users[open_id]] for open_id in open_ids
             if open_id in users and users[open_id] in followers}
    unknown = [open_id for open_id in open_ids if open_id not in found]
    if unknown:
        raise ValidationFailed("These open_ids name no follower of this service account (for this app).",
                               code="UNKNOWN_FOLLOWER", errors={field: unknown})
    return found


def follower_by_open_id(session: Session, app_id: str, account: ServiceAccount, open_id: str) -> Follower:
    user_id = session.scalar(select(OpenIdMap.user_id).where(OpenIdMap.app_id == app_id,
                                                             OpenIdMap.open_id == open_id))
    follower = user_id and session.scalar(select(Follower).where(
        Follower.service_account_id == account.id, Follower.user_id == user_id))
    if not follower or follower.status != "following":
        raise NotFound("No follower of this service account has this open_id (for this app).",
                       code="FOLLOWER_NOT_FOUND")
    return follower


# --- pages of followers ---------------------------------------------------------------------------


def _follower_dicts(session: Session, app_id: str, followers: list[Follower]) -> list[dict]:
    open_ids = open_ids_for(session, app_id, [f.user_id for f in followers])
    tags: dict[str, list[str]] = {}
    if followers:
        for follower_id, tag_id in session.execute(
                select(FollowerTag.follower_id, FollowerTag.tag_id)
                .where(FollowerTag.follower_id.in_([f.id for f in followers])).order_by(FollowerTag.tag_id)):
            tags.setdefault(follower_id, []).append(tag_id)
    return [{"open_id": open_ids[f.user_id], "status": f.status, "source": f.source, "source_id": f.source_id,
             "followed_at": isoformat(f.followed_at), "unfollowed_at": isoformat(f.unfollowed_at),
             "blocked": f.blocked_at is not None, "last_message_at": isoformat(f.last_message_at),
             "tag_ids": tags.get(f.id, [])} for f in followers]


def followers_page(session: Session, app_id: str, account: ServiceAccount, *, status: str | None,
                   source: str | None, tag_id: str | None) -> dict:
    statement = select(Follower).where(Follower.service_account_id == account.id)
    statement = one_of(statement, Follower.status, "status", status or "following", FOLLOWER_STATUSES)
    statement = one_of(statement, Follower.source, "source", source, SOURCES)
    if tag_id is not None:
        tag = by_id(session, Tag, tag_id)
        if tag is None or tag.service_account_id != account.id:
            raise Problem("tag_id names no tag of this service account.", code="INVALID_FILTER")
        statement = statement.where(Follower.id.in_(select(FollowerTag.follower_id).where(FollowerTag.tag_id == tag.id)))
    return paginate(session, statement, Follower.id, dump_page=lambda rows: _follower_dicts(session, app_id, rows))


def follower_stats(session: Session, account: ServiceAccount, start: date | None, end: date | None) -> dict:
    """Follows, unfollows, net change and the follower total at the end of each UTC day."""
    today = utcnow().date()
    end = end or today
    start = start or end - timedelta(days=29)
    if start > end or (end - start).days + 1 > STATS_MAX_DAYS:
        raise Problem(f"from must not be after to, and the range at most {STATS_MAX_DAYS} days.",
                      code="INVALID_FILTER")
    begin = datetime.combine(start, time.min, tzinfo=UTC)
    finish = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
    follows, unfollows = (func.sum(case((FollowLog.kind == kind, 1), else_=0)) for kind in ("follow", "unfollow"))
    base = session.execute(select(follows, unfollows).where(
        FollowLog.service_account_id == account.id, FollowLog.occurred_at < begin)).one()
    total = (base[0] or 0) - (base[1] or 0)
    per_day: dict[date, list[int]] = {}
    for kind, occurred_at in session.execute(select(FollowLog.kind, FollowLog.occurred_at).where(
            FollowLog.service_account_id == account.id, FollowLog.occurred_at >= begin,
            FollowLog.occurred_at < finish)):
        counts = per_day.setdefault(occurred_at.date(), [0, 0])
        counts[0 if kind == "follow" else 1] += 1
    data = []
    day = start
    while day <= end:
        gained, lost = per_day.get(day, (0, 0))
        total += gained - lost
        data.append({"date": day.isoformat(), "follows": gained, "unfollows": lost, "net": gained - lost,
                     "total": total})
        day += timedelta(days=1)
    return {"service_account_id": account.id, "from": start.isoformat(), "to": end.isoformat(), "data": data}


# --- the user's side ------------------------------------------------------------------------------


def _follow_event(session: Session, account: ServiceAccount, follower: Follower, kind: str) -> None:
    for app_id in apps_granted(session, account.merchant_id, READ_SCOPES):
        open_id = open_ids_for(session, app_id, [follower.user_id])[follower.user_id]
        emit(session, f"service_account.follower.{kind}", app_id=app_id, merchant_id=account.merchant_id, data={
            "service_account_id": account.id, "open_id": open_id, "source": follower.source,
            "source_id": follower.source_id,
            "occurred_at": isoformat(follower.followed_at if kind == "followed" else follower.unfollowed_at)})


def relation_dict(account: ServiceAccount, follower: Follower | None) -> dict:
    following = follower is not None and follower.status == "following"
    return {"service_account_id": account.id, "following": following,
            "followed_at": isoformat(follower.followed_at) if following else None,
            "blocked": follower is not None and follower.blocked_at is not None}


def _relation(session: Session, account: ServiceAccount, user_id: str) -> Follower | None:
    return session.scalar(select(Follower).where(Follower.service_account_id == account.id,
                                                 Follower.user_id == user_id))


def follow(session: Session, account: ServiceAccount, user_id: str, source: str,
           source_id: str | None) -> Follower:
    """Follow (again); following again also lifts a block. Following twice changes nothing."""
    follower = _relation(session, account, user_id)
    now = utcnow()
    if follower is not None and follower.status == "following":
        if follower.blocked_at is not None:
            follower.blocked_at, follower.updated_at = None, now
        return follower
    if follower is None:
        follower = Follower(service_account_id=account.id, user_id=user_id)
        session.add(follower)
    follower.status, follower.source, follower.source_id = "following", source, source_id
    follower.followed_at, follower.unfollowed_at, follower.blocked_at = now, None, None
    follower.updated_at = now
    session.add(FollowLog(service_account_id=account.id, user_id=user_id, kind="follow", occurred_at=now))
    session.flush()
    _follow_event(session, account, follower, "followed")
    return follower


def _following(session: Session, account: ServiceAccount, user_id: str) -> Follower:
    follower = _relation(session, account, user_id)
    if follower is None or follower.status != "following":
        raise Conflict("You do not follow this service account.", code="NOT_FOLLOWING")
    return follower


def unfollow(session: Session, account: ServiceAccount, user_id: str) -> Follower:
    follower = _following(session, account, user_id)
    now = utcnow()
    follower.status, follower.unfollowed_at, follower.updated_at = "unfollowed", now, now
    session.add(FollowLog(service_account_id=account.id, user_id=user_id, kind="unfollow", occurred_at=now))
    session.flush()
    _follow_event(session, account, follower, "unfollowed")
    return follower


def block(session: Session, account: ServiceAccount, user_id: str) -> Follower:
    """Nothing from the account reaches the user any more (until they follow again)."""
    follower = _relation(session, account, user_id)
    if follower is None:
        raise Conflict("You do not follow this service account.", code="NOT_FOLLOWING")
    if follower.blocked_at is None:
        follower.blocked_at = follower.updated_at = utcnow()
    return follower


def message_dict(message: Message, open_id: str) -> dict:
    return {"id": message.id, "service_account_id": message.service_account_id, "open_id": open_id,
            "direction": message.direction, "type": message.type, "text": message.text,
            "template_id": message.template_id, "data": message.data, "created_at": isoformat(message.created_at)}


def receive_message(session: Session, account: ServiceAccount, user_id: str, text: str) -> Message:
    """A user writes to the account: stored, forwarded as an event, and the reply window opens."""
    follower = _following(session, account, user_id)
    now = utcnow()
    message = Message(service_account_id=account.id, user_id=user_id, direction="inbound", type="text",
                      text=text, created_at=now)
    session.add(message)
    follower.last_message_at = now
    session.flush()
    for app_id in apps_granted(session, account.merchant_id, READ_SCOPES):
        open_id = open_ids_for(session, app_id, [user_id])[user_id]
        emit(session, "service_account.message.received", app_id=app_id, merchant_id=account.merchant_id,
             data=message_dict(message, open_id))
    return message


def subscribe(session: Session, account: ServiceAccount, template_id: str, user_id: str) -> Subscription:
    """One more one-time subscription: allows one template message."""
    template = by_id(session, Template, template_id)
    if template is None or template.service_account_id != account.id:
        raise NotFound("No such template.", code="TEMPLATE_NOT_FOUND")
    _following(session, account, user_id)
    subscription = session.scalar(select(Subscription).where(Subscription.template_id == template.id,
                                                             Subscription.user_id == user_id))
    if subscription is None:
        subscription = Subscription(template_id=template.id, user_id=user_id, remaining=0)
        session.add(subscription)
    if subscription.remaining >= SUBSCRIPTION_CAP:
        raise Conflict(f"You hold {SUBSCRIPTION_CAP} unused subscriptions to this template already.",
                       code="SUBSCRIPTION_LIMIT_REACHED")
    subscription.remaining += 1
    subscription.updated_at = utcnow()
    session.flush()
    return subscription


# --- tags and segments ------------------------------------------------------------------------------


def tag_dict(session: Session, tag: Tag) -> dict:
    members = session.scalar(select(func.count()).select_from(FollowerTag).where(FollowerTag.tag_id == tag.id))
    return {"id": tag.id, "service_account_id": tag.service_account_id, "name": tag.name,
            "member_count": members or 0, "created_at": isoformat(tag.created_at)}


def get_tag(session: Session, account: ServiceAccount, tag_id: str) -> Tag:
    tag = by_id(session, Tag, tag_id)
    if tag is None or tag.service_account_id != account.id:
        raise NotFound("No such tag.", code="TAG_NOT_FOUND")
    return tag


def _name_free(session: Session, account: ServiceAccount, name: str, tag_id: str | None = None) -> None:
    taken = session.scalar(select(Tag.id).where(Tag.service_account_id == account.id, Tag.name == name))
    if taken is not None and taken != tag_id:
        raise Conflict("The service account has a tag with this name.", code="TAG_NAME_TAKEN")


def create_tag(session: Session, account: ServiceAccount, name: str) -> Tag:
    count = session.scalar(select(func.count()).select_from(Tag).where(Tag.service_account_id == account.id))
    if count >= TAG_CAP:
        raise Conflict(f"A service account has at most {TAG_CAP} tags; delete one first.",
                       code="TAG_LIMIT_REACHED")
    _name_free(session, account, name)
    tag = Tag(service_account_id=account.id, name=name)
    session.add(tag)
    session.flush()
    return tag


def _touch_members(session: Session, tag: Tag, follower_ids=None) -> None:
    """The tag's members (or those of ``follower_ids``) changed as the data export sees them: their
    rows are synced again."""
    members = select(FollowerTag.follower_id).where(FollowerTag.tag_id == tag.id)
    session.execute(update(Follower).where(Follower.id.in_(members if follower_ids is None else follower_ids))
                    .values(updated_at=utcnow()).execution_options(synchronize_session=False))


def rename_tag(session: Session, account: ServiceAccount, tag: Tag, name: str) -> Tag:
    _name_free(session, account, name, tag.id)
    if name != tag.name:
        tag.name = name
        _touch_members(session, tag)
    return tag


def delete_tag(session: Session, account: ServiceAccount, tag: Tag) -> None:
    in_use = [s.id for s in session.scalars(select(Segment).where(Segment.service_account_id == account.id))
              if tag.id in (s.tag_ids or [])]
    if in_use:
        raise Conflict("Segments are defined by this tag; delete them first.", code="TAG_IN_USE",
                       errors={"segment_ids": in_use})
    _touch_members(session, tag)
    session.execute(delete(FollowerTag).where(FollowerTag.tag_id == tag.id))
    session.delete(tag)


def batch_tag(session: Session, app_id: str, account: ServiceAccount, tag: Tag, add: list[str],
              remove: list[str]) -> dict:
    """Tag ``add`` and untag ``remove`` (open_ids), all or nothing."""
    if len(add) + len(remove) > BATCH_CAP:
        raise ValidationFailed(f"At most {BATCH_CAP} followers per call.", code="BATCH_TOO_LARGE")
    both = sorted(set(add) & set(remove))
    if both:
        raise ValidationFailed("An open_id is both added and removed.", code="VALIDATION_ERROR",
                               errors={"remove": both})
    adding = resolve_followers(session, app_id, account, list(dict.fromkeys(add)), field="add")
    removing = resolve_followers(session, app_id, account, list(dict.fromkeys(remove)), field="remove")
    added = removed = 0
    changed = []
    if adding:
        ids = [f.id for f in adding.values()]
        present = set(session.scalars(select(FollowerTag.follower_id).where(
            FollowerTag.tag_id == tag.id, FollowerTag.follower_id.in_(ids))))
        rows = [{"tag_id": tag.id, "follower_id": i, "created_at": utcnow()} for i in ids if i not in present]
        if rows:
            session.execute(insert(FollowerTag), rows)
        added = len(rows)
        changed += [row["follower_id"] for row in rows]
    if removing:
        removed_ids = list(session.scalars(select(FollowerTag.follower_id).where(
            FollowerTag.tag_id == tag.id, FollowerTag.follower_id.in_([f.id for f in removing.values()]))))
        if removed_ids:
            session.execute(delete(FollowerTag).where(FollowerTag.tag_id == tag.id,
                                                      FollowerTag.follower_id.in_(removed_ids)))
        removed = len(removed_ids)
        changed += removed_ids
    if changed:
        _touch_members(session, tag, changed)
    return {"tag_id": tag.id, "added": added, "removed": removed, "member_count": tag_dict(session, tag)["member_count"]}


def tag_members_page(session: Session, app_id: str, tag: Tag) -> dict:
    statement = select(Follower).where(Follower.id.in_(select(FollowerTag.follower_id).where(
        FollowerTag.tag_id == tag.id)))
    return paginate(session, statement, Follower.id, dump_page=lambda rows: _follower_dicts(session, app_id, rows))


def segment_dict(session: Session, segment: Segment) -> dict:
    members = session.scalar(select(func.count()).select_from(_segment_statement(segment).subquery()))
    return {"id": segment.id, "service_account_id": segment.service_account_id, "name": segment.name,
            "tag_ids": list(segment.tag_ids), "followed_after": isoformat(segment.followed_after),
            "followed_before": isoformat(segment.followed_before), "member_count": members or 0,
            "created_at": isoformat(segment.created_at)}


def create_segment(session: Session, account: ServiceAccount, data: dict) -> Segment:
    tag_ids = list(dict.fromkeys(data["tag_ids"]))
    found = set(session.scalars(select(Tag.id).where(Tag.service_account_id == account.id, Tag.id.in_(tag_ids))))
    unknown = [t for t in tag_ids if t not in found]
    if unknown:
        raise ValidationFailed("A segment is defined by the service account's own tags.", code="UNKNOWN_TAG",
                               errors={"tag_ids": unknown})
    after, before = data.get("followed_after"), data.get("followed_before")
    if after and before and after >= before:
        raise ValidationFailed("followed_after must be before followed_before.", code="VALIDATION_ERROR",
                               errors={"followed_before": ["Must be after followed_after."]})
    segment = Segment(service_account_id=account.id, name=data["name"], tag_ids=tag_ids, followed_after=after,
                      followed_before=before)
    session.add(segment)
    session.flush()
    return segment


def get_segment(session: Session, account: ServiceAccount, segment_id: str) -> Segment:
    segment = by_id(session, Segment, segment_id)
    if segment is None or segment.service_account_id != account.id:
        raise NotFound("No such segment.", code="SEGMENT_NOT_FOUND")
    return segment


def _segment_statement(segment: Segment, *columns) -> Select:
    statement = select(*(columns or (Follower,))).where(Follower.service_account_id == segment.service_account_id,
                                                         Follower.status == "following")
    for tag_id in segment.tag_ids:
        statement = statement.where(Follower.id.in_(select(FollowerTag.follower_id).where(FollowerTag.tag_id == tag_id)))
    if segment.followed_after is not None:
        statement = statement.where(Follower.followed_at >= segment.followed_after)
    if segment.followed_before is not None:
        statement = statement.where(Follower.followed_at < segment.followed_before)
    return statement


def segment_members_page(session: Session, app_id: str, segment: Segment) -> dict:
    return paginate(session, _segment_statement(segment), Follower.id,
                    dump_page=lambda rows: _follower_dicts(session, app_id, rows))


# --- templates ------------------------------------------------------------------------------------


def template_dict(template: Template) -> dict:
    return {"id": template.id, "service_account_id": template.service_account_id, "title": template.title,
            "fields": [dict(f) for f in template.fields], "created_at": isoformat(template.created_at)}


def create_template(session: Session, account: ServiceAccount, title: str, fields: list[dict]) -> Template:
    keys = [f["key"] for f in fields]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ValidationFailed("Field keys must be unique.", code="VALIDATION_ERROR",
                               errors={"fields": duplicates})
    template = Template(service_account_id=account.id, title=title, fields=fields)
    session.add(template)
    session.flush()
    return template


def _template_in_body(session: Session, account: ServiceAccount, template_id: str) -> Template:
    template = by_id(session, Template, template_id)
    if template is None or template.service_account_id != account.id:
        raise ValidationFailed("template_id names no template of this service account.", code="UNKNOWN_TEMPLATE",
                               errors={"template_id": [template_id]})
    return template


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _field_error(kind: str, value) -> str | None:
    if kind in ("thing", "phrase"):
        limit = 20 if kind == "thing" else 5
        if not isinstance(value, str) or not 1 <= len(value) <= limit or "\x00" in value:
            return f"A {kind} is a string of 1 to {limit} characters."
    elif kind in ("number", "amount"):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value > 10**12:
            return f"A {kind} is a non-negative integer" + (" (fen)." if kind == "amount" else ".")
    elif kind == "date":
        if not isinstance(value, str) or not _DATE.fullmatch(value):
            return "A date is YYYY-MM-DD."
        try:
            date.fromisoformat(value)
        except ValueError:
            return "A date is YYYY-MM-DD."
    return None


def check_data(template: Template, data: dict) -> None:
    """Every field of the template, of its type, and nothing else (TEMPLATE_DATA_INVALID)."""
    errors: dict[str, list[str]] = {}
    declared = {f["key"]: f["type"] for f in template.fields}
    for key in data:
        if key not in declared:
            errors[key] = ["The template has no such field."]
    for key, kind in declared.items():
        if key not in data:
            errors[key] = ["Missing field."]
        elif (error := _field_error(kind, data[key])) is not None:
            errors[key] = [error]
    if errors:
        raise ValidationFailed("The data does not match the template's fields.", code="TEMPLATE_DATA_INVALID",
                               errors=errors)


# --- sending --------------------------------------------------------------------------------------


def _limits(merchant_id: str, recipients: int) -> None:
    limiter = current_app.extensions["shijing.ratelimiter"]
    limiter.check("service_account_send", merchant_id)
    limiter.reserve_quota("service_account_recipients", merchant_id, recipients)


def send_message(session: Session, app_id: str, account: ServiceAccount, data: dict) -> Message:
    """One message to one follower, within the rules; refused with its code, nothing stored."""
    follower = follower_by_open_id(session, app_id, account, data["open_id"])
    if follower.blocked_at is not None:
        raise Conflict("The user blocked this service account: nothing reaches them.", code="USER_BLOCKED")
    now = utcnow()
    template = None
    if data["type"] == "text":
        if follower.last_message_at is None or now - follower.last_message_at > REPLY_WINDOW:
            raise Conflict("A free-form message only replies within 48 hours of the user's last message; "
                           "send a template message the user subscribed to.", code="OUTSIDE_REPLY_WINDOW")
    else:
        template = _template_in_body(session, account, data["template_id"])
        check_data(template, data["data"])
        remaining = session.scalar(select(Subscription.remaining).where(
            Subscription.template_id == template.id, Subscription.user_id == follower.user_id))
        if not remaining:
            raise Conflict("The user holds no subscription to this template.", code="USER_NOT_SUBSCRIBED")
    _limits(account.merchant_id, 1)
    if template is not None:
        used = session.execute(update(Subscription).where(
            Subscription.template_id == template.id, Subscription.user_id == follower.user_id,
            Subscription.remaining > 0).values(remaining=Subscription.remaining - 1)
            .execution_options(synchronize_session=False)).rowcount
        if used != 1:  # a concurrent send took the last one
            raise Conflict("The user holds no subscription to this template.", code="USER_NOT_SUBSCRIBED")
    message = Message(service_account_id=account.id, user_id=follower.user_id, direction="outbound",
                      type=data["type"], text=data.get("text"), template_id=template.id if template else None,
                      data=data.get("data") if template else None, created_at=now)
    session.add(message)
    session.flush()
    return message


def messages_page(session: Session, app_id: str, account: ServiceAccount, direction: str | None) -> dict:
    statement = one_of(select(Message).where(Message.service_account_id == account.id), Message.direction,
                       "direction", direction, ("inbound", "outbound"))

    def dump(rows):
        open_ids = open_ids_for(session, app_id, [m.user_id for m in rows])
        return [message_dict(m, open_ids[m.user_id]) for m in rows]

    return paginate(session, statement, Message.id, dump_page=dump)


def _audience(account: ServiceAccount, tag: Tag | None, segment: Segment | None, *columns) -> Select:
    if segment is not None:
        return _segment_statement(segment, *columns)
    return select(*columns).where(
        Follower.service_account_id == account.id, Follower.status == "following",
        Follower.id.in_(select(FollowerTag.follower_id).where(FollowerTag.tag_id == tag.id)))


def create_send(session: Session, app_id: str, account: ServiceAccount, data: dict) -> Send:
    if ("tag_id" in data) == ("segment_id" in data):
        raise ValidationFailed("Send to a tag or to a segment: give exactly one of tag_id and segment_id.",
                               code="VALIDATION_ERROR", errors={"tag_id": ["Exactly one of tag_id, segment_id."]})
    template = _template_in_body(session, account, data["template_id"])
    check_data(template, data["data"])
    tag = segment = None
    if "tag_id" in data:
        tag = by_id(session, Tag, data["tag_id"])
        if tag is None or tag.service_account_id != account.id:
            raise ValidationFailed("tag_id names no tag of this service account.", code="UNKNOWN_TAG",
                                   errors={"tag_id": [data["tag_id"]]})
    else:
        segment = by_id(session, Segment, data["segment_id"])
        if segment is None or segment.service_account_id != account.id:
            raise ValidationFailed("segment_id names no segment of this service account.", code="UNKNOWN_SEGMENT",
                                   errors={"segment_id": [data["segment_id"]]})
    audience = session.scalar(select(func.count()).select_from(
        _audience(account, tag, segment, Follower.id).subquery())) or 0
    _limits(account.merchant_id, max(audience, 1))
    send = Send(service_account_id=account.id, app_id=app_id, template_id=template.id, data=data["data"],
                tag_id=tag.id if tag else None, segment_id=segment.id if segment else None, status="queued",
                audience=audience, sent=0, refused=0, created_at=utcnow())
    session.add(send)
    session.flush()
    session.info.setdefault("service_account_sends", []).append(send.id)
    return send


def send_dict(send: Send) -> dict:
    return {"id": send.id, "service_account_id": send.service_account_id, "template_id": send.template_id,
            "data": send.data, "tag_id": send.tag_id, "segment_id": send.segment_id, "status": send.status,
            "audience": send.audience, "sent": send.sent, "refused": send.refused,
            "created_at": isoformat(send.created_at), "finished_at": isoformat(send.finished_at)}


def get_send(session: Session, account: ServiceAccount, send_id: str) -> Send:
    send = by_id(session, Send, send_id)
    if send is None or send.service_account_id != account.id:
        raise NotFound("No such send.", code="SEND_NOT_FOUND")
    return send


def run_send(session: Session, send_id: str) -> Send | None:
    """Deliver a queued send, set-based: one INSERT … SELECT writes every recipient's result
    (sent, or refused as USER_BLOCKED / USER_NOT_SUBSCRIBED), one UPDATE uses the subscriptions
    of those sent. All in one transaction: a retried job starts over, never half done."""
    send = session.get(Send, send_id)
    if send is None or send.status == "completed":
        return send
    account = session.get(ServiceAccount, send.service_account_id)
    tag = session.get(Tag, send.tag_id) if send.tag_id else None
    segment = session.get(Segment, send.segment_id) if send.segment_id else None
    send.status = "running"
    if tag is not None or segment is not None:
        remaining = func.coalesce(Subscription.remaining, 0)
        status = case((Follower.blocked_at.is_not(None), "refused"), (remaining > 0, "sent"), else_="refused")
        code = case((Follower.blocked_at.is_not(None), "USER_BLOCKED"), (remaining > 0, None),
                    else_="USER_NOT_SUBSCRIBED")
        audience = _audience(account, tag, segment, literal(send.id), Follower.id, Follower.user_id, status, code)
        audience = audience.outerjoin(Subscription, and_(Subscription.template_id == send.template_id,
                                                         Subscription.user_id == Follower.user_id))
        session.execute(insert(SendRecipient).from_select(
            ["send_id", "follower_id", "user_id", "status", "code"], audience))
        session.execute(update(Subscription).where(
            Subscription.template_id == send.template_id,
            Subscription.user_id.in_(select(SendRecipient.user_id).where(SendRecipient.send_id == send.id,
                                                                         SendRecipient.status == "sent")))
            .values(remaining=Subscription.remaining - 1).execution_options(synchronize_session=False))
    counts = dict(session.execute(select(SendRecipient.status, func.count()).where(
        SendRecipient.send_id == send.id).group_by(SendRecipient.status)).all())
    send.sent, send.refused = counts.get("sent", 0), counts.get("refused", 0)
    send.status, send.finished_at = "completed", utcnow()
    emit(session, "service_account.send.completed", app_id=send.app_id, merchant_id=account.merchant_id,
         data=send_dict(send))
    return send


def recipients_page(session: Session, app_id: str, send: Send, status: str | None) -> dict:
    statement = one_of(select(SendRecipient).where(SendRecipient.send_id == send.id), SendRecipient.status,
                       "status", status, RECIPIENT_STATUSES)

    def dump(rows):
        open_ids = open_ids_for(session, app_id, [r.user_id for r in rows])
        return [{"open_id": open_ids[r.user_id], "status": r.status, "code": r.code} for r in rows]

    return paginate(session, statement, SendRecipient.follower_id, dump_page=dump)
