"""Back-channel logout: apps of an ended session get a verifiable Logout Token, off the request path.

Every test runs Ferry with two apps that have a ``backchannel_logout_uri`` on a real loopback
receiver (``test-app`` and ``spa``) and one that has none (``plain``). Retries are driven by
calling :func:`provider.backchannel.deliver_due` with a future time, never by sleeping.
"""

from __future__ import annotations

import json
import secrets
import threading
from datetime import timedelta

import pytest
from joserfc import jws, jwt
from joserfc.jwk import KeySet

from models import AuditEvent, LogoutDelivery, User, UserSession, db, utcnow
from provider import backchannel
from tests.accounts import create_local_user, sign_in_locally
from tests.conftest import SPA_REDIRECT, SignIn, deployment, form_fields, is_sign_in_page
from tests.peers.logout_receiver import LogoutReceiver
from users import sessions

EMAIL, PASSWORD = "ada@example.com", "a long local password"
PLAIN_REDIRECT = "http://localhost:8002/cb"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def receiver():
    with LogoutReceiver() as running:
        yield running


@pytest.fixture
def app(make_app, receiver):
    tables = deployment()
    tables["apps"]["test-app"]["backchannel_logout_uri"] = receiver.url("/test-app")
    tables["apps"]["spa"]["backchannel_logout_uri"] = receiver.url("/spa")
    tables["apps"]["plain"] = {"name": "No back channel", "redirect_uris": [PLAIN_REDIRECT]}
    built = make_app(DEPLOYMENT=tables)
    yield built
    receiver.release()
    assert backchannel.wait_idle(), "the delivery thread is still busy after the test"


@pytest.fixture
def user(app) -> str:
    return create_local_user(app, EMAIL, PASSWORD)


@pytest.fixture(autouse=True)
def no_background_retries(monkeypatch):
    """The delivery thread makes first attempts; retries are the tests' own (at a future time)."""
    monkeypatch.setattr(backchannel, "POLL_SECONDS", 3600.0)


# -- helpers ----------------------------------------------------------------------------------
def sign_in_to(client, client_id: str) -> dict:
    """Sign ``client`` (a browser) in to one app; returns its token response."""
    walker = {"test-app": lambda: SignIn(client),
              "spa": lambda: SignIn(client, "spa", SPA_REDIRECT, None),
              "plain": lambda: SignIn(client, "plain", PLAIN_REDIRECT, None)}[client_id]()
    response = walker.authorize()
    if response.status_code == 200:  # the sign-in page: this browser is not signed in yet
        assert is_sign_in_page(response), response.get_data(as_text=True)[:500]
        response = walker.post(identifier=EMAIL, password=PASSWORD)
    reply = walker.exchange(walker.code_from(response))  # else single sign-on: the same session
    assert reply.status_code == 200, reply.get_data(as_text=True)
    return reply.get_json()


def sign_out(client):
    token = form_fields(client.get("/").get_data(as_text=True))["csrf_token"]
    response = client.post("/signout", data={"csrf_token": token})
    assert response.status_code == 303
    return response


def session_sids(app, user_id: str) -> list[str]:
    """The ``sid`` of each session of the user, oldest first."""
    with app.app_context(), db.connection_context():
        return [s.sid for s in UserSession.select().where(UserSession.user == user_id)
                .order_by(UserSession.created_at)]


def unverified(logout_token: str) -> dict:
    """The claims of a token, unchecked (to tell tokens apart)."""
    return json.loads(jws.extract_compact(logout_token.encode()).payload)


def id_token_sid(client, tokens: dict) -> str | None:
    keys = KeySet.import_key_set(client.get("/.well-known/jwks.json").get_json())
    return jwt.decode(tokens["id_token"], keys).claims.get("sid")


def verified(client, logout_token: str, client_id: str, user_id: str, sid: str) -> dict:
    """The claims of ``logout_token``, checked as an app must (spec section 2.6)."""
    keys = KeySet.import_key_set(client.get("/.well-known/jwks.json").get_json())
    token = jwt.decode(logout_token, keys, algorithms=["RS256"])
    assert token.header["typ"] == "logout+jwt" and token.header["alg"] == "RS256"
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": "http://localhost"},
        aud={"essential": True, "value": client_id},
        sub={"essential": True, "value": user_id},
        sid={"essential": True, "value": sid},
        iat={"essential": True}, exp={"essential": True}, jti={"essential": True},
    ).validate(token.claims)
    assert token.claims["events"] == {"http://schemas.openid.net/event/backchannel-logout": {}}
    assert "nonce" not in token.claims
    assert 0 < token.claims["exp"] - token.claims["iat"] <= 300
    return dict(token.claims)


def deliveries(app) -> list[LogoutDelivery]:
    with app.app_context(), db.connection_context():
        return list(LogoutDelivery.select().order_by(LogoutDelivery.id))


def deliver_at(app, moment) -> int:
    with app.app_context(), db.connection_context():
        return backchannel.deliver_due(now=moment)


def queue(app, user_id: str, count: int, client_id: str = "test-app", **fields) -> list[str]:
    """Notices written straight to the table (as a server that died would leave them)."""
    sids = [secrets.token_urlsafe(24) for _ in range(count)]
    with app.app_context(), db.connection_context():
        for sid in sids:
            LogoutDelivery.create(client=client_id, subject=user_id, sid=sid, **fields)
    return sids


# -- who is told, and what ---------------------------------------------------------------------
def test_sign_out_tells_the_apps_of_the_session_with_a_verifiable_token(app, user, receiver):
    browser = app.test_client()
    tokens = sign_in_to(browser, "test-app")
    sign_in_to(browser, "plain")  # took part, but has no back-channel URI
    elsewhere = app.test_client()
    sign_in_to(elsewhere, "spa")  # the same user, another session: not ended
    sid, other_sid = session_sids(app, user)
    assert id_token_sid(browser, tokens) == sid

    sign_out(browser)

    assert backchannel.wait_idle()
    assert [(r.path, r.content_type, r.status) for r in receiver.requests] == [("/test-app", FORM, 200)]
    claims = verified(browser, receiver.tokens()[0], "test-app", user, sid)
    assert claims["sid"] != other_sid
    [row] = deliveries(app)
    assert (row.client_id, row.attempts, row.last_error) == ("test-app", 1, None)
    assert row.delivered_at is not None and row.claimed_until is None
    assert sign_in_to(elsewhere, "spa")["id_token"], "the other session lives on"


def test_rp_initiated_logout_tells_only_that_sessions_apps(app, user, receiver):
    first, second = app.test_client(), app.test_client()
    sign_in_to(first, "test-app")
    spa_tokens = sign_in_to(second, "spa")
    first_sid, second_sid = session_sids(app, user)
    assert id_token_sid(second, spa_tokens) == second_sid

    response = second.get("/logout", query_string={"id_token_hint": spa_tokens["id_token"]})
    assert response.status_code in (200, 302)
    assert backchannel.wait_idle()
    assert [r.path for r in receiver.requests] == ["/spa"]
    verified(second, receiver.tokens("/spa")[0], "spa", user, second_sid)

    sign_out(first)
    assert backchannel.wait_idle()
    assert [r.path for r in receiver.requests] == ["/spa", "/test-app"]
    verified(first, receiver.tokens("/test-app")[0], "test-app", user, first_sid)
    jtis = {unverified(t)["jti"] for t in receiver.tokens()}
    assert len(jtis) == 2


def test_sessions_ended_by_the_server_are_told_too(app, user, receiver):
    first, second = app.test_client(), app.test_client()
    sign_in_to(first, "test-app")
    sign_in_to(second, "spa")
    first_sid, second_sid = session_sids(app, user)
    with app.app_context(), db.connection_context():
        assert sessions.end_all(User.get_by_id(user)) == 2
    assert backchannel.wait_idle()
    assert sorted(r.path for r in receiver.requests) == ["/spa", "/test-app"]
    verified(first, receiver.tokens("/test-app")[0], "test-app", user, first_sid)
    verified(first, receiver.tokens("/spa")[0], "spa", user, second_sid)


def test_a_session_without_apps_that_listen_tells_nobody(app, receiver):
    browser = app.test_client()
    user_id = sign_in_locally(app, browser, EMAIL, PASSWORD)  # Ferry's own account page only
    sign_in_to(browser, "plain")
    sign_out(browser)
    assert backchannel.wait_idle()
    assert receiver.requests == [] and deliveries(app) == []
    assert session_sids(app, user_id)[0], "the session existed and had a sid"


# -- retries, giving up, not blocking ----------------------------------------------------------
def test_a_receiver_that_fails_twice_gets_the_token_on_the_third_attempt(app, user, receiver):
    browser = app.test_client()
    sign_in_to(browser, "test-app")
    [sid] = session_sids(app, user)
    receiver.fail_next(2)
    signed_out_at = utcnow()
    sign_out(browser)
    assert backchannel.wait_idle()
    [row] = deliveries(app)
    assert (row.attempts, row.last_error, row.delivered_at) == (1, "HTTP 500", None)
    first = row.next_attempt_at - timedelta(seconds=5)  # when the first attempt was made
    assert first >= signed_out_at

    assert deliver_at(app, first + timedelta(seconds=4)) == 0, "not due yet"
    assert len(receiver.requests) == 1
    assert deliver_at(app, first + timedelta(seconds=6)) == 0
    [row] = deliveries(app)
    assert row.attempts == 2 and row.next_attempt_at == first + timedelta(seconds=36)
    assert deliver_at(app, first + timedelta(seconds=30)) == 0, "the wait grew to 30 s"
    assert deliver_at(app, first + timedelta(seconds=36)) == 1

    assert [r.status for r in receiver.requests] == [500, 500, 200]
    verified(browser, receiver.tokens()[0], "test-app", user, sid)
    [row] = deliveries(app)
    assert row.attempts == 3 and row.delivered_at is not None and row.last_error is None
    assert deliver_at(app, first + timedelta(days=1)) == 0 and len(receiver.requests) == 3


def test_it_gives_up_after_the_last_attempt(app, user, receiver):
    browser = app.test_client()
    sign_in_to(browser, "test-app")
    receiver.fail_next(100, status=503)
    sign_out(browser)
    assert backchannel.wait_idle()
    moment = utcnow()  # after the first attempt
    for wait in backchannel.BACKOFF:
        moment += wait + timedelta(seconds=1)
        assert deliver_at(app, moment) == 0
    [row] = deliveries(app)
    assert row.attempts == backchannel.MAX_ATTEMPTS == len(receiver.requests) == 6
    assert row.abandoned_at is not None and row.delivered_at is None and row.last_error == "HTTP 503"
    assert deliver_at(app, moment + timedelta(days=2)) == 0 and len(receiver.requests) == 6
    with app.app_context(), db.connection_context():
        [event] = AuditEvent.select().where(AuditEvent.event == "backchannel_logout.abandoned")
    assert (event.user_id, event.client_id, event.details["attempts"]) == (user, "test-app", 6)
    assert set(event.details) == {"attempts", "error"}, "never a token in the audit log"


def test_a_hanging_receiver_does_not_hold_up_sign_out(app, user, receiver):
    browser = app.test_client()
    sign_in_to(browser, "test-app")
    receiver.hang_next(1)

    response = sign_out(browser)

    # The sign-out page is back; the POST to the app is still in flight, not timed out.
    assert response.headers["Location"] == "/"
    assert receiver.wait_holding(1)
    [row] = deliveries(app)
    assert (row.attempts, row.last_error, row.delivered_at) == (1, None, None)
    assert row.claimed_until is not None
    assert receiver.holding == 1 and receiver.tokens() == []
    receiver.release()
    assert backchannel.wait_idle()
    [row] = deliveries(app)
    assert row.delivered_at is not None and len(receiver.tokens()) == 1


@pytest.mark.parametrize(("status", "delivered"), [(204, True), (302, False), (400, False)])
def test_only_200_and_204_count_and_redirects_are_not_followed(app, user, receiver, status, delivered):
    browser = app.test_client()
    sign_in_to(browser, "test-app")
    receiver.fail_next(1, status=status)
    sign_out(browser)
    assert backchannel.wait_idle()
    [row] = deliveries(app)
    assert (row.delivered_at is not None) is delivered
    assert row.last_error == (None if delivered else f"HTTP {status}")
    assert len(receiver.requests) == 1


def test_two_workers_at_once_deliver_each_notice_once(app, user, receiver):
    sids = queue(app, user, 30)
    start = threading.Barrier(2)
    counts: list[int] = []

    def worker() -> None:
        with app.app_context(), db.connection_context():
            start.wait()
            counts.append(backchannel.deliver_due())

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(counts) == 30 and len(counts) == 2
    assert len(receiver.requests) == 30
    told = sorted(unverified(t)["sid"] for t in receiver.tokens())
    assert told == sorted(sids)
    assert {(row.attempts, row.delivered_at is not None) for row in deliveries(app)} == {(1, True)}


def test_the_delivery_thread_outlives_a_failed_pass(app, user, receiver, monkeypatch, caplog):
    real = backchannel.deliver_due
    calls = []

    def broken_once(now=None):
        calls.append(now)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return real(now)

    monkeypatch.setattr(backchannel, "deliver_due", broken_once)
    first, second = app.test_client(), app.test_client()
    sign_in_to(first, "test-app")
    sign_in_to(second, "spa")
    sign_out(first)
    assert backchannel.wait_idle()
    assert receiver.requests == [] and "a delivery pass failed" in caplog.text
    sign_out(second)  # the same thread wakes again and delivers both
    assert backchannel.wait_idle()
    assert len(calls) >= 2 and sorted(r.path for r in receiver.requests) == ["/spa", "/test-app"]


# -- notices left behind, and the operator's commands --------------------------------------------
def test_notices_left_by_a_dead_server_are_delivered_by_the_next_one(app, user, receiver):
    now = utcnow()
    [orphan] = queue(app, user, 1, claimed_until=now - timedelta(seconds=1), attempts=1)
    [leased] = queue(app, user, 1, claimed_until=now + timedelta(minutes=5), attempts=1)
    app.test_client().get("/.well-known/openid-configuration")  # this server's first request
    assert receiver.wait_for(1)
    assert backchannel.wait_idle()
    assert [unverified(t)["sid"] for t in receiver.tokens()] == [orphan]
    rows = {row.sid: row for row in deliveries(app)}
    assert rows[orphan].attempts == 2 and rows[orphan].delivered_at is not None
    assert rows[leased].delivered_at is None, "a live lease is another server's to finish"


def test_the_cli_delivers_what_is_due_and_reports(app, user, receiver):
    queue(app, user, 2)
    queue(app, user, 1, next_attempt_at=utcnow() + timedelta(hours=1))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["backchannel", "deliver"])
    assert result.exit_code == 0 and result.output.strip() == "delivered 2"
    assert len(receiver.tokens()) == 2
    status = runner.invoke(args=["backchannel", "status"])
    assert status.output.splitlines()[0] == "pending: 1, delivered: 2, abandoned: 0"
