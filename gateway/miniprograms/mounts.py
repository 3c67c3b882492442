"""Mounting a mini-program on a creator's video or live stream (挂载), and the attribution of
what the card brings: exposures, clicks, and the source a mini-program passes into an order.

The rules, each with its own problem code: the creator owns the target (else it is not found);
the mini-program is live and holds the capability for the target (and ``poi_mount`` for a POI);
the path is one of its entry paths; the POI is one it serves and the products are sold there;
one mount at a time per target; nothing on an ended live stream; the capability's limits hold.
A card that sells (it names products) waits for an operator; a plain card is active at once.
"""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from gateway.accounts.models import Creator, User
from gateway.clock import isoformat, utcnow
from gateway.creators.models import LiveStream, Video
from gateway.errors import Conflict, NotFound, ValidationFailed
from gateway.events.services import emit
from gateway.http.filters import one_of
from gateway.ids import new_id
from gateway.miniprograms import capabilities
from gateway.miniprograms.models import MOUNT_STATUSES, MiniProgram, Mount, MountEvent
from gateway.poi.models import Poi, Product, ProductPoi

OPEN = ("pending_review", "active")


def _target(session: Session, creator: Creator, target_type: str, target_id: str):
    model = Video if target_type == "video" else LiveStream
    target = session.get(model, target_id) if len(target_id) <= 32 else None
    if target is None or target.creator_id != creator.id:
        raise NotFound("The creator has no such video or live stream.", code="TARGET_NOT_FOUND")
    if target_type == "live_stream" and target.status == "ended":
        raise Conflict("This live stream has ended; nothing can be mounted on it.", code="LIVE_STREAM_ENDED")
    return target


def _live_miniprogram(session: Session, miniprogram_id: str) -> MiniProgram:
    miniprogram = session.get(MiniProgram, miniprogram_id) if len(miniprogram_id) <= 32 else None
    if miniprogram is None or not miniprogram.live:
        raise NotFound("No such mini-program.", code="MINIPROGRAM_NOT_FOUND")
    return miniprogram


def _check_poi_and_products(session: Session, miniprogram: MiniProgram, poi_id: str | None,
                            product_ids: list[str]) -> None:
    if product_ids and poi_id is None:
        raise ValidationFailed("Products are sold at a POI: name the POI too.", code="POI_REQUIRED",
                               errors={"poi_id": ["Required with product_ids."]})
    if poi_id is None:
        return
    poi = session.get(Poi, poi_id) if len(poi_id) <= 32 else None
    if poi is None or not poi.live or poi_id not in miniprogram.poi_ids:
        raise ValidationFailed("The mini-program does not serve this POI.", code="UNKNOWN_POI",
                               errors={"poi_id": [poi_id]})
    if product_ids:
        sold_here = set(session.scalars(select(Product.id).join(ProductPoi, ProductPoi.product_id == Product.id).where(
            ProductPoi.poi_id == poi_id, Product.id.in_(product_ids), Product.live.is_(True))))
        unknown = [p for p in product_ids if p not in sold_here]
        if unknown:
            raise ValidationFailed("These products are not sold at the POI.", code="UNKNOWN_PRODUCT",
                                   errors={"product_ids": unknown})


def create(session: Session, app_id: str, creator: Creator, data: dict) -> Mount:
    target_type, target_id = data["target_type"], data["target_id"]
    _target(session, creator, target_type, target_id)
    miniprogram = _live_miniprogram(session, data["miniprogram_id"])
    needed = [capabilities.FOR_TARGET[target_type]] + (["poi_mount"] if data.get("poi_id") else [])
    missing = [c for c in needed if not capabilities.holds(session, miniprogram.id, c)]
    if missing:
        raise Conflict(f"The mini-program does not hold {', '.join(missing)}; it applies at "
                       "POST /v1/miniprograms/{id}/capabilities.", code="CAPABILITY_REQUIRED")
    if data["path"] not in miniprogram.entry_paths:
        raise ValidationFailed("The path is not one of the mini-program's entry paths.", code="UNKNOWN_ENTRY_PATH",
                               errors={"path": [data["path"]]})
    product_ids = list(dict.fromkeys(data.get("product_ids", [])))
    _check_poi_and_products(session, miniprogram, data.get("poi_id"), product_ids)
    if session.scalar(select(Mount.id).where(Mount.target_type == target_type, Mount.target_id == target_id,
                                             Mount.status.in_(OPEN)).limit(1)) is not None:
        raise Conflict("This video or live stream carries a mount already; unmount it first.",
                       code="TARGET_ALREADY_MOUNTED")
    for capability in needed:
        capabilities.check_limits(session, miniprogram.id, capability)
    now = utcnow()
    mount = Mount(id=new_id("mount"), app_id=app_id, creator_id=creator.id, miniprogram_id=miniprogram.id,
                  target_type=target_type, target_id=target_id, path=data["path"], query=data.get("query", ""),
                  title=data["title"], poi_id=data.get("poi_id"), product_ids=product_ids,
                  status="pending_review" if product_ids else "active", created_at=now,
                  activated_at=None if product_ids else now)
    session.add(mount)
    session.flush()
    _tell(session, mount, "mount.created")
    return mount


def _tell(session: Session, mount: Mount, type_: str) -> None:
    """The app that placed the mount hears of it, and so does the mini-program's own app."""
    miniprogram_app = session.scalar(select(MiniProgram.app_id).where(MiniProgram.id == mount.miniprogram_id))
    for app_id in dict.fromkeys([mount.app_id, miniprogram_app]):
        emit(session, type_, app_id=app_id, data=to_dict(mount))


def get_for_creator(session: Session, creator_id: str, mount_id: str) -> Mount:
    mount = session.get(Mount, mount_id) if len(mount_id) <= 32 else None
    if mount is None or mount.creator_id != creator_id:
        raise NotFound("No such mount.", code="MOUNT_NOT_FOUND")
    return mount


def _statement(status: str | None) -> Select:
    return one_of(select(Mount), Mount.status, "status", status, MOUNT_STATUSES)


def creator_statement(creator_id: str, status: str | None) -> Select:
    return _statement(status).where(Mount.creator_id == creator_id)


def miniprogram_statement(miniprogram_id: str, status: str | None) -> Select:
    return _statement(status).where(Mount.miniprogram_id == miniprogram_id)


def review_statement(status: str | None) -> Select:
    return _statement(status)


def _end(session: Session, mount: Mount, reason: str) -> None:
    mount.status, mount.ended_reason, mount.ended_at = "ended", reason, utcnow()
    _tell(session, mount, "mount.ended")


def unmount(session: Session, mount: Mount) -> Mount:
    if mount.status not in OPEN:
        raise Conflict(f"This mount is {mount.status}; only a pending or active one is unmounted.",
                       code="MOUNT_NOT_OPEN")
    _end(session, mount, "unmounted")
    return mount


def end_for_target(session: Session, target_type: str, target_id: str, reason: str) -> None:
    for mount in session.scalars(select(Mount).where(Mount.target_type == target_type, Mount.target_id == target_id,
                                                     Mount.status.in_(OPEN))):
        _end(session, mount, reason)


def get(session: Session, mount_id: str) -> Mount:
    mount = session.get(Mount, mount_id) if len(mount_id) <= 32 else None
    if mount is None:
        raise NotFound("No such mount.", code="MOUNT_NOT_FOUND")
    return mount


def decide(session: Session, mount: Mount, reviewer: User, *, approve: bool, reason: str | None = None) -> Mount:
    if mount.status != "pending_review":
        raise Conflict(f"This mount is {mount.status}; only one waiting for review can be decided.",
                       code="MOUNT_NOT_PENDING")
    if approve:
        mount.status, mount.activated_at = "active", utcnow()
    else:
        mount.status, mount.reason = "rejected", reason
    _tell(session, mount, f"mount.{'approved' if approve else 'rejected'}")
    return mount


def to_dict(mount: Mount) -> dict:
    return {
        "id": mount.id, "app_id": mount.app_id, "creator_id": mount.creator_id, "miniprogram_id": mount.miniprogram_id,
        "target_type": mount.target_type, "target_id": mount.target_id, "path": mount.path, "query": mount.query,
        "title": mount.title, "poi_id": mount.poi_id, "product_ids": list(mount.product_ids), "status": mount.status,
        "reason": mount.reason, "ended_reason": mount.ended_reason, "created_at": isoformat(mount.created_at),
        "activated_at": isoformat(mount.activated_at), "ended_at": isoformat(mount.ended_at),
    }


# --- what users see, and what their taps record ------------------------------------------------------


# the card as users see it: the same columns for a video's, a live stream's and a POI page's cards
_CARDS = (
    select(Mount.id.label("mount_id"), Mount.title, Mount.target_type, Mount.target_id, Mount.creator_id,
           Mount.poi_id, Mount.product_ids, MiniProgram.id.label("miniprogram_id"),
           MiniProgram.name.label("miniprogram_name"), MiniProgram.icon_url.label("miniprogram_icon_url"))
    .join(MiniProgram, MiniProgram.id == Mount.miniprogram_id)
    .where(Mount.status == "active")
)


def _card(row) -> dict:
    return {"mount_id": row.mount_id, "title": row.title, "target_type": row.target_type,
            "target_id": row.target_id, "creator_id": row.creator_id, "poi_id": row.poi_id,
            "product_ids": list(row.product_ids),
            "miniprogram": {"id": row.miniprogram_id, "name": row.miniprogram_name,
                            "icon_url": row.miniprogram_icon_url}}


def active_card(db, target_type: str, target_id: str) -> dict | None:
    """The active mount's card on a video or live stream (``db``: a session or a connection)."""
    row = db.execute(_CARDS.where(Mount.target_type == target_type, Mount.target_id == target_id)).first()
    return None if row is None else _card(row)


def cards_for_poi(db, poi_id: str, limit: int = 20) -> list[dict]:
    """Active mounts naming the POI, newest first: the POI page's mini-programs."""
    rows = db.execute(_CARDS.where(Mount.poi_id == poi_id).order_by(Mount.id.desc()).limit(limit)).all()
    return [_card(row) for row in rows]


def _active(session: Session, mount_id: str) -> Mount:
    mount = session.get(Mount, mount_id) if len(mount_id) <= 32 else None
    if mount is None or mount.status != "active":
        raise NotFound("No such mount.", code="MOUNT_NOT_FOUND")
    return mount


def record_exposure(session: Session, mount_id: str, user_id: str | None) -> None:
    mount = _active(session, mount_id)
    session.add(_event(mount, "exposure", user_id))


def record_click(session: Session, mount_id: str, user_id: str | None) -> dict:
    """The tap on a card: recorded, and what the platform's app opens, with the source the
    mini-program keeps for the order (who sold what)."""
    mount = _active(session, mount_id)
    event = _event(mount, "click", user_id)
    session.add(event)
    source = {"type": "video" if mount.target_type == "video" else "live", "id": mount.target_id,
              "author_id": mount.creator_id, "mount_id": mount.id, "click_id": event.id}
    return {"click_id": event.id, "miniprogram_id": mount.miniprogram_id, "path": mount.path, "query": mount.query,
            "source": source}


def _event(mount: Mount, kind: str, user_id: str | None) -> MountEvent:
    return MountEvent(id=new_id("mount_event"), mount_id=mount.id, kind=kind, target_type=mount.target_type,
                      target_id=mount.target_id, miniprogram_id=mount.miniprogram_id, creator_id=mount.creator_id,
                      user_id=user_id, occurred_at=utcnow())
