"""Every mapped model, imported once so the metadata (and Alembic) sees all tables."""

from gateway.accounts.models import Creator, Merchant, User  # noqa: F401
from gateway.apps.models import App, AppSecret  # noqa: F401
from gateway.authorizations.models import Authorization  # noqa: F401
from gateway.events.models import Event  # noqa: F401
from gateway.exports.models import ExportJob  # noqa: F401
from gateway.http.models import IdempotencyRecord  # noqa: F401
from gateway.creators.models import LiveStream, Video  # noqa: F401
from gateway.miniprograms.models import (  # noqa: F401
    CapabilityApplication,
    LoginCode,
    MiniProgram,
    Mount,
    MountEvent,
)
from gateway.orders.models import (  # noqa: F401
    BookingSlot,
    Certificate,
    Order,
    OrderItem,
    Payment,
    Refund,
    SettlementStatement,
    Verification,
)
from gateway.oauth.models import AuthorizationCode, Token  # noqa: F401
from gateway.service_accounts.models import (  # noqa: F401
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
from gateway.poi.models import Poi, PoiPageView, Product, ProductPoi, ReviewSubmission  # noqa: F401
from gateway.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint  # noqa: F401
from gateway.db import Base

metadata = Base.metadata
