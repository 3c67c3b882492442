"""Service accounts: developers acting for a merchant (``service_account.*`` scopes, path
``/v1/merchants/{merchant_id}/service-account/…``) and the platform's app acting for the
signed-in user (``platform.client``: follow, unfollow, write, subscribe, block)."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, g, request
from sqlalchemy import select

from gateway.db import session
from gateway.errors import Problem
from gateway.http.auth import require_scope
from gateway.http.filters import text_arg
from gateway.http.idempotency import idempotent
from gateway.http.pagination import paginate
from gateway.http.requests import json_body
from gateway.http.schemas import EmptySchema
from gateway.service_accounts import services
from gateway.service_accounts.models import Segment, Tag, Template
from gateway.service_accounts.schemas import (
    FollowSchema,
    InboundMessageSchema,
    MessageCreateSchema,
    SegmentCreateSchema,
    SendCreateSchema,
    ServiceAccountPutSchema,
    TagMembersBatchSchema,
    TagSchema,
    TagUpdateSchema,
    TemplateCreateSchema,
    check_message_shape,
)

bp = Blueprint("service_accounts", __name__)

BASE = "/v1/merchants/<merchant_id>/service-account"
CLIENT = "/v1/platform-client/service-accounts/<service_account_id>"

put_schema = ServiceAccountPutSchema()
follow_schema = FollowSchema()
inbound_schema = InboundMessageSchema()
tag_schema = TagSchema()
tag_update_schema = TagUpdateSchema()
batch_schema = TagMembersBatchSchema()
segment_schema = SegmentCreateSchema()
template_schema = TemplateCreateSchema()
message_schema = MessageCreateSchema()
send_schema = SendCreateSchema()
empty_schema = EmptySchema()


def _account(merchant_id: str):
    return services.get_for_merchant(session(), merchant_id)


def _date_arg(name: str) -> date | None:
    value = text_arg(name, 10, min_length=10)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Problem(f"{name} must be a date, YYYY-MM-DD.", code="INVALID_FILTER") from None


# --- the account ---------------------------------------------------------------------------------


@bp.get(BASE)
@require_scope("service_account.read", merchant_param="merchant_id")
def get_service_account(merchant_id):
    """Get the merchant's service account, with its follower count."""
    return services.account_dict(session(), _account(merchant_id))


@bp.put(BASE)
@require_scope("service_account.crm", merchant_param="merchant_id")
def put_service_account(merchant_id):
    """Create the merchant's service account or replace its profile."""
    data = put_schema.load(json_body())
    account, created = services.put(session(), merchant_id, data)
    return services.account_dict(session(), account), 201 if created else 200


@bp.get(BASE + "/followers")
@require_scope("service_account.read", merchant_param="merchant_id")
def list_followers(merchant_id):
    """List the service account's followers by open_id, oldest first."""
    account = _account(merchant_id)
    return services.followers_page(session(), g.token.app_id, account, status=request.args.get("status"),
                                   source=request.args.get("source"), tag_id=text_arg("tag_id", 64))


@bp.get(BASE + "/follower-stats")
@require_scope("service_account.read", merchant_param="merchant_id")
def follower_stats(merchant_id):
    """Follows, unfollows and the follower total per day."""
    account = _account(merchant_id)
    return services.follower_stats(session(), account, _date_arg("from"), _date_arg("to"))


# --- tags -----------------------------------------------------------------------------------------


@bp.get(BASE + "/tags")
@require_scope("service_account.read", merchant_param="merchant_id")
def list_tags(merchant_id):
    """List the service account's tags, oldest first."""
    account = _account(merchant_id)
    statement = select(Tag).where(Tag.service_account_id == account.id)
    return paginate(session(), statement, Tag.id, lambda tag: services.tag_dict(session(), tag))


@bp.post(BASE + "/tags")
@require_scope("service_account.crm", merchant_param="merchant_id")
@idempotent
def create_tag(merchant_id):
    """Create a tag (at most 100 per service account)."""
    data = tag_schema.load(json_body())
    tag = services.create_tag(session(), _account(merchant_id), data["name"])
    return services.tag_dict(session(), tag), 201


@bp.patch(BASE + "/tags/<tag_id>")
@require_scope("service_account.crm", merchant_param="merchant_id")
def rename_tag(merchant_id, tag_id):
    """Rename a tag."""
    data = tag_update_schema.load(json_body())
    account = _account(merchant_id)
    tag = services.rename_tag(session(), account, services.get_tag(session(), account, tag_id), data["name"])
    return services.tag_dict(session(), tag)


@bp.delete(BASE + "/tags/<tag_id>")
@require_scope("service_account.crm", merchant_param="merchant_id")
def delete_tag(merchant_id, tag_id):
    """Delete a tag; its followers lose it."""
    account = _account(merchant_id)
    services.delete_tag(session(), account, services.get_tag(session(), account, tag_id))
    return "", 204


@bp.post(BASE + "/tags/<tag_id>/members")
@require_scope("service_account.crm", merchant_param="merchant_id")
def batch_tag(merchant_id, tag_id):
    """Tag and untag up to 1,000 followers, all or nothing."""
    data = batch_schema.load(json_body())
    account = _account(merchant_id)
    tag = services.get_tag(session(), account, tag_id)
    return services.batch_tag(session(), g.token.app_id, account, tag, data["add"], data["remove"])


@bp.get(BASE + "/tags/<tag_id>/members")
@require_scope("service_account.read", merchant_param="merchant_id")
def list_tag_members(merchant_id, tag_id):
    """List a tag's followers, oldest first."""
    account = _account(merchant_id)
    return services.tag_members_page(session(), g.token.app_id, services.get_tag(session(), account, tag_id))


# --- segments -----------------------------------------------------------------------------------


@bp.get(BASE + "/segments")
@require_scope("service_account.read", merchant_param="merchant_id")
def list_segments(merchant_id):
    """List the service account's segments, oldest first."""
    account = _account(merchant_id)
    statement = select(Segment).where(Segment.service_account_id == account.id)
    return paginate(session(), statement, Segment.id, lambda segment: services.segment_dict(session(), segment))


@bp.post(BASE + "/segments")
@require_scope("service_account.crm", merchant_param="merchant_id")
@idempotent
def create_segment(merchant_id):
    """Create a segment: followers with every tag given, followed within the dates given."""
    data = segment_schema.load(json_body())
    segment = services.create_segment(session(), _account(merchant_id), data)
    return services.segment_dict(session(), segment), 201


@bp.get(BASE + "/segments/<segment_id>/members")
@require_scope("service_account.read", merchant_param="merchant_id")
def list_segment_members(merchant_id, segment_id):
    """List a segment's followers, oldest first."""
    account = _account(merchant_id)
    return services.segment_members_page(session(), g.token.app_id,
                                         services.get_segment(session(), account, segment_id))


# --- templates and messages -------------------------------------------------------------------------


@bp.get(BASE + "/templates")
@require_scope("service_account.read", merchant_param="merchant_id")
def list_templates(merchant_id):
    """List the service account's message templates, oldest first."""
    account = _account(merchant_id)
    statement = select(Template).where(Template.service_account_id == account.id)
    return paginate(session(), statement, Template.id, services.template_dict)


@bp.post(BASE + "/templates")
@require_scope("service_account.message", merchant_param="merchant_id")
@idempotent
def create_template(merchant_id):
    """Create a message template with typed fields."""
    data = template_schema.load(json_body())
    template = services.create_template(session(), _account(merchant_id), data["title"], data["fields"])
    return services.template_dict(template), 201


@bp.get(BASE + "/messages")
@require_scope("service_account.read", merchant_param="merchant_id")
def list_messages(merchant_id):
    """List messages from and to followers, oldest first."""
    account = _account(merchant_id)
    return services.messages_page(session(), g.token.app_id, account, request.args.get("direction"))


@bp.post(BASE + "/messages")
@require_scope("service_account.message", merchant_param="merchant_id")
@idempotent
def send_message(merchant_id):
    """Send a follower a message: a reply within 48 hours, or a subscribed template message."""
    data = check_message_shape(message_schema.load(json_body()))
    account = _account(merchant_id)
    message = services.send_message(session(), g.token.app_id, account, data)
    return services.message_dict(message, data["open_id"]), 201


@bp.post(BASE + "/sends")
@require_scope("service_account.message", merchant_param="merchant_id")
@idempotent
def create_send(merchant_id):
    """Send a template message to a tag or segment, as a background job."""
    data = send_schema.load(json_body())
    send = services.create_send(session(), g.token.app_id, _account(merchant_id), data)
    location = f"/v1/merchants/{merchant_id}/service-account/sends/{send.id}"
    return services.send_dict(send), 202, {"Location": location}


@bp.get(BASE + "/sends/<send_id>")
@require_scope("service_account.message", merchant_param="merchant_id")
def get_send(merchant_id, send_id):
    """Get a send's progress and counts."""
    return services.send_dict(services.get_send(session(), _account(merchant_id), send_id))


@bp.get(BASE + "/sends/<send_id>/recipients")
@require_scope("service_account.message", merchant_param="merchant_id")
def list_send_recipients(merchant_id, send_id):
    """List a send's per-recipient results."""
    send = services.get_send(session(), _account(merchant_id), send_id)
    return services.recipients_page(session(), g.token.app_id, send, request.args.get("status"))


# --- the platform's app, for the signed-in user --------------------------------------------------


@bp.post(CLIENT + "/follow")
@require_scope("platform.client")
def follow(service_account_id):
    """Follow a service account as the signed-in user."""
    data = follow_schema.load(json_body(allow_empty=True))
    account = services.reachable(session(), service_account_id)
    follower = services.follow(session(), account, g.token.user_id, data["source"], data.get("source_id"))
    return services.relation_dict(account, follower)


@bp.post(CLIENT + "/unfollow")
@require_scope("platform.client")
def unfollow(service_account_id):
    """Unfollow a service account."""
    empty_schema.load(json_body(allow_empty=True))
    account = services.reachable(session(), service_account_id)
    return services.relation_dict(account, services.unfollow(session(), account, g.token.user_id))


@bp.post(CLIENT + "/block")
@require_scope("platform.client")
def block(service_account_id):
    """Block a service account: nothing from it reaches the user until they follow again."""
    empty_schema.load(json_body(allow_empty=True))
    account = services.reachable(session(), service_account_id)
    return services.relation_dict(account, services.block(session(), account, g.token.user_id))


@bp.post(CLIENT + "/messages")
@require_scope("platform.client")
@idempotent
def write(service_account_id):
    """Send the service account a message as the signed-in user."""
    data = inbound_schema.load(json_body())
    account = services.reachable(session(), service_account_id)
    message = services.receive_message(session(), account, g.token.user_id, data["text"])
    return {"id": message.id, "service_account_id": account.id, "text": message.text,
            "created_at": services.isoformat(message.created_at)}, 201


@bp.post(CLIENT + "/templates/<template_id>/subscribe")
@require_scope("platform.client")
def subscribe(service_account_id, template_id):
    """Allow the service account one template message (a one-time subscription)."""
    empty_schema.load(json_body(allow_empty=True))
    account = services.reachable(session(), service_account_id)
    subscription = services.subscribe(session(), account, template_id, g.token.user_id)
    return {"service_account_id": account.id, "template_id": subscription.template_id,
            "remaining": subscription.remaining}
