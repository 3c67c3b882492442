"""The scope registry: the one list the spec's security schemes, consent pages and checks read.

``subjects`` says who may grant a scope:
- ``user``/``merchant``/``creator``: granted by that subject on the consent page (code flow);
- ``app``: the app may take it for itself with client credentials (its own resources);
- a scope with ``first_party`` is offered only to the platform's own clients.
A service provider's client-credentials token carries merchant scopes too, but uses them only
for merchants whose active authorization grants the same scope.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    name: str
    description: str
    subjects: frozenset[str]
    first_party: bool = False


def _s(name: str, description: str, *subjects: str, first_party: bool = False) -> Scope:
    return Scope(name, description, frozenset(subjects), first_party)


SCOPES: dict[str, Scope] = {
    s.name: s
    for s in [
        _s("openid", "Sign the user in with Shijing (OpenID Connect).", "user", "merchant", "creator"),
        _s("profile", "Read the user's nickname and avatar.", "user", "merchant", "creator"),
        _s("apps.manage", "Manage the developer's own apps and their secrets.", "app"),
        _s("authorizations.read", "List who authorised this app.", "app"),
        _s("events.read", "Read this app's events (replay of webhooks).", "app"),
        _s("webhooks.manage", "Manage this app's webhook endpoints.", "app"),
        _s("merchant.read", "Read the merchant's basic profile.", "merchant", "app"),
        _s("poi.read", "Read the merchant's POIs and products.", "merchant", "app"),
        _s("poi.write", "Create and update the merchant's POIs and products.", "merchant", "app"),
        _s("miniprogram.manage", "Register and manage the developer's mini-programs.", "app"),
        _s("miniprogram.mount", "Mount mini-programs on the creator's videos and live streams.",
           "creator", "app"),
        _s("video.read", "List the creator's videos and live streams.", "creator", "app"),
        _s("service_account.read", "Read the merchant's service account and followers.",
           "merchant", "app"),
        _s("service_account.crm", "Tag and segment the merchant's followers.", "merchant", "app"),
        _s("service_account.message", "Message the merchant's followers within the rules.",
           "merchant", "app"),
        _s("order.read", "Read the merchant's orders and vouchers.", "merchant", "app"),
        _s("order.fulfil", "Verify vouchers and handle refunds for the merchant.",
           "merchant", "app"),
        _s("data.export", "Export the merchant's data and query its statistics.",
           "merchant", "app"),
        _s("public.read", "Read public POIs, POI pages and the category taxonomy.", "app", "user"),
        _s("platform.review", "Review POIs and products submitted by partners (platform operators only).",
           "user", first_party=True),
        _s("platform.client", "Act in the platform's own app for the signed-in person (mini-program "
           "login codes).", "user", first_party=True),
        _s("platform.operate", "Watch platform operations across apps, such as disabled webhook endpoints "
           "(platform operators only).", "user", first_party=True),
        _s("account.authorizations", "See and revoke the apps the user has authorised.",
           "user", "merchant", "creator", first_party=True),
    ]
}

ALL_SCOPES = tuple(SCOPES)


def parse(scope: str | None) -> list[str]:
    return [s for s in (scope or "").split() if s]


def join(scopes) -> str:
    # a stable order (the registry's) so equal grants serialise equally
    wanted = set(scopes)
    return " ".join(s for s in ALL_SCOPES if s in wanted)


def client_credentials_scopes(app_scopes) -> list[str]:
    """The scopes an app may hold in its own client-credentials token."""
    return [s for s in app_scopes if s in SCOPES and "app" in SCOPES[s].subjects]


def consent_scopes(app_scopes, *, first_party: bool) -> list[str]:
    """The scopes an app may ask a person for on the consent page."""
    return [
        s
        for s in app_scopes
        if s in SCOPES
        and SCOPES[s].subjects - {"app"}
        and (first_party or not SCOPES[s].first_party)
    ]


def subject_kinds(scopes) -> set[str]:
    """Which kinds of subject must consent: scopes a plain user can grant need none."""
    kinds: set[str] = set()
    for name in scopes:
        subjects = SCOPES[name].subjects
        if "user" not in subjects:
            kinds |= subjects & {"merchant", "creator"}
    return kinds


def subject_type_for(scopes) -> str:
    """Who consents to ``scopes``: a merchant, a creator, or the user themself."""
    kinds = subject_kinds(scopes)
    return next(iter(kinds)) if len(kinds) == 1 else "user"
