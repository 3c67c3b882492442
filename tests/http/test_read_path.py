"""The request's read path (``gateway.db.reader`` and ``PrebuiltSelect``) next to its unit of work.

Hot reads skip the ORM session (bench/README.md); these tests hold them to the same answers
and keep the unit-of-work guarantee: a view that writes on GET still commits, an error still
rolls back, and a read after a write in the same request sees that write.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway.accounts.models import Merchant
from gateway.db import reader, session
from gateway.http.auth import _ACTIVE_AUTHORIZATION, _LIVE_AUTHORIZATION
from gateway.merchants.views import _BY_ID
from gateway.oauth.models import Token
from gateway.oauth.tokens import _LOOKUP
from tests.conftest import bearer
from tests.problems import raw_client


def test_prebuilt_selects_return_what_core_execution_returns(app, factory):
    partner = factory.app_client()
    merchant = factory.merchant()
    authorization_id = factory.authorize(partner, merchant, ["merchant.read"])
    factory.token(partner)
    with app.app_context():
        token_hash = session().scalars(select(Token.access_token_hash).where(Token.app_id == partner.id)).first()
        cases = [
            (_LOOKUP, {"h": token_hash}),
            (_LOOKUP, {"h": "no-such-hash"}),
            (_BY_ID, {"id": merchant.id}),
            (_BY_ID, {"id": "mer_missing"}),
            (_ACTIVE_AUTHORIZATION, {"app_id": partner.id, "merchant_id": merchant.id}),
            (_ACTIVE_AUTHORIZATION, {"app_id": partner.id, "merchant_id": "mer_missing"}),
            (_LIVE_AUTHORIZATION, {"id": authorization_id, "merchant_id": merchant.id}),
            (_LIVE_AUTHORIZATION, {"id": authorization_id, "merchant_id": "mer_missing"}),
        ]
        for prebuilt, params in cases:
            core = reader().execute(prebuilt.statement, params).first()
            fast = prebuilt.first(reader(), params)
            assert (fast is None) == (core is None), params
            if core is not None:
                assert fast._asdict() == dict(core._mapping)
                assert [type(v) for v in fast] == [type(v) for v in core]
        session().rollback()


def test_reads_skip_the_session_until_a_view_uses_it(app):
    db = app.extensions["shijing.db"]
    with app.app_context():
        first = reader()
        assert not db.session.registry.has()  # no ORM session, no transaction for a read
        assert reader() is first
        session()
        assert reader() is session().connection()  # from now on: the unit of work's connection
        session().rollback()


@pytest.fixture
def writing_app(make_app, factory):
    """A gateway with two extra GET views that write through the session, like the public POI
    page records a page view."""
    owner = factory.user()
    application = make_app()

    @application.get("/__test/rename/<merchant_id>")
    def rename(merchant_id):
        before = _BY_ID.first(reader(), {"id": merchant_id})
        session().get(Merchant, merchant_id).name = before.name + " (renamed)"
        session().flush()
        after = _BY_ID.first(reader(), {"id": merchant_id})  # sees the request's own write
        return {"before": before.name, "after": after.name}

    @application.get("/__test/rename-then-fail/<merchant_id>")
    def rename_then_fail(merchant_id):
        _BY_ID.first(reader(), {"id": merchant_id})
        session().get(Merchant, merchant_id).name = "never stored"
        session().flush()
        raise RuntimeError("fails after writing")

    application.config["PROPAGATE_EXCEPTIONS"] = False
    return application, owner


def _name(app, merchant_id):
    with app.app_context():
        name = session().scalar(select(Merchant.name).where(Merchant.id == merchant_id))
        session().rollback()
        return name


def test_a_get_view_that_writes_after_reading_still_commits(writing_app, factory):
    application, owner = writing_app
    merchant = factory.merchant(owner, name="Tea house")
    response = raw_client(application).get(f"/__test/rename/{merchant.id}")
    assert response.status_code == 200
    assert response.get_json() == {"before": "Tea house", "after": "Tea house (renamed)"}
    assert _name(application, merchant.id) == "Tea house (renamed)"


def test_an_error_after_a_write_still_rolls_it_back(writing_app, factory):
    application, owner = writing_app
    merchant = factory.merchant(owner, name="Noodle bar")
    response = raw_client(application).get(f"/__test/rename-then-fail/{merchant.id}")
    assert response.status_code == 500
    assert _name(application, merchant.id) == "Noodle bar"


def test_revoking_an_authorization_stops_the_next_request(client, factory):
    # the authorization check is read on every request, never cached (see check_merchant_access)
    partner = factory.app_client()
    merchant = factory.merchant()
    authorization_id = factory.authorize(partner, merchant, ["merchant.read"])
    token = factory.token(partner)
    assert client.get(f"/v1/merchants/{merchant.id}", headers=bearer(token)).status_code == 200
    with client.application.app_context():
        from gateway.authorizations.models import Authorization

        session().get(Authorization, authorization_id).status = "revoked"
        session().commit()
    assert client.get(f"/v1/merchants/{merchant.id}", headers=bearer(token)).status_code == 404


def _dbapi(connection):
    return connection.connection.dbapi_connection


def test_the_main_threads_reader_connection_is_kept_between_requests_and_left_clean(make_app, factory):
    # gunicorn's sync workers serve every request on the main thread: the reader's connection
    # stays checked out between requests instead of a pool round trip per request, and each
    # request still sees what others committed meanwhile, with no transaction left open
    import threading

    application = make_app()
    db = application.extensions["shijing.db"]
    owner = factory.user()
    merchant = factory.merchant(owner, name="Dim sum")
    assert threading.current_thread() is threading.main_thread()
    with application.app_context():
        first = reader()
        assert _BY_ID.first(first, {"id": merchant.id}).name == "Dim sum"
        reader().execute(select(Merchant.name).where(Merchant.id == merchant.id)).one()  # Core autobegins
    assert not first.in_transaction() and not getattr(_dbapi(first), "in_transaction", False)
    with db.engine.begin() as other:  # another connection commits a change
        other.execute(Merchant.__table__.update().where(Merchant.id == merchant.id).values(name="Dim sum 2"))
    with application.app_context():
        again = reader()
        assert again is first  # the same connection, not a pool round trip
        assert _BY_ID.first(again, {"id": merchant.id}).name == "Dim sum 2"  # and no stale snapshot
    if db.is_sqlite:
        # a write made below Core that never committed (as a failed page-view INSERT would leave
        # it) is rolled back at teardown, so it holds no lock into the next request
        with application.app_context():
            cursor = _dbapi(reader()).cursor()
            cursor.execute("UPDATE merchants SET name = 'never' WHERE id = ?", (merchant.id,))
            assert _dbapi(reader()).in_transaction
        assert not _dbapi(first).in_transaction
        assert _name(application, merchant.id) == "Dim sum 2"
    db.engine.dispose()  # disposing the engine gives the kept connection back
    assert first.closed


def test_other_threads_check_their_reader_out_per_request(make_app):
    # the dev server runs each request on a thread of its own: nothing may outlive the thread
    import threading

    application = make_app()
    seen = []

    def request():
        with application.app_context():
            seen.append(reader())

    for _ in range(2):
        worker = threading.Thread(target=request)
        worker.start()
        worker.join()
    assert all(connection.closed for connection in seen)
    assert application.extensions["shijing.db"]._pinned is None


def test_an_invalidated_reader_connection_is_replaced(make_app):
    application = make_app()
    with application.app_context():
        first = reader()
        dead = _dbapi(first)
        first.invalidate()  # what driver_execute does on a disconnect
    with application.app_context():
        second = reader()
        assert not second.invalidated and _dbapi(second) is not dead  # a new DB-API connection
        assert second.execute(select(Merchant.id).limit(1)).all() is not None
