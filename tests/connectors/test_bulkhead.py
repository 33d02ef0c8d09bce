"""Bulkheads: a stalled legacy IdP holds at most ``max_concurrent_calls`` threads of a process.

The legacy IdP is :class:`tests.peers.bad_legacy.BadLegacy` taking requests and never answering.
First sign-ins fill the connector's bulkhead; one more is refused at once ("try again later",
without reaching the IdP and without opening the breaker); and a user who already migrated,
discovery, JWKS and the token endpoint are served while the stuck calls are still pending:
asserted structurally (the stuck threads are alive and the peer never answered them), not with
clocks. The slow test does it against gunicorn, whose threads are the scarce resource.
"""

from __future__ import annotations

import html
import secrets
import threading
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

from connectors import LegacyUnavailable
from connectors.breaker import state
from connectors.bulkhead import Bulkhead, BulkheadFull
from tests.accounts import create_local_user
from tests.conftest import SignIn, deployment, form_fields, pkce_pair
from tests.connectors.conftest import UNAVAILABLE, page_text
from tests.connectors.contract import build_connector
from tests.peers.bad_legacy import Answer, BadLegacy, healthy, ropc_table

PASSWORD = "correct horse battery staple"
STUCK = {"deadline": 20, "max_concurrent_calls": 2}  # stuck calls outlive the whole test


@pytest.fixture
def stuck():
    """A legacy IdP that takes every password grant and never answers (until closed)."""
    with BadLegacy() as idp:
        healthy(idp).routes["/token"] = Answer(hang=True)
        yield idp


def test_a_full_bulkhead_refuses_at_once_and_frees_its_slots():
    bulkhead = Bulkhead("legacy", limit=2, wait=0.05)
    release, holding = threading.Event(), threading.Barrier(3)

    def hold() -> None:
        with bulkhead.slot():
            holding.wait()
            release.wait(10)

    holders = [threading.Thread(target=hold) for _ in range(2)]
    for holder in holders:
        holder.start()
    holding.wait()
    assert bulkhead.in_use == 2
    with pytest.raises(BulkheadFull, match="max_concurrent_calls"), bulkhead.slot():
        pass
    release.set()
    for holder in holders:
        holder.join(10)
    with bulkhead.slot():
        assert bulkhead.in_use == 1
    assert bulkhead.in_use == 0


def test_a_refusal_for_want_of_a_slot_never_opens_the_breaker(app, stuck):
    connector = build_connector(app, ropc_table(stuck, breaker_failures=1, **STUCK))
    threads = [threading.Thread(target=_quietly, args=(connector.check_password, f"u{n}@x.com"))
               for n in range(2)]
    for thread in threads:
        thread.start()
    stuck.wait_for(2, "/token")

    for _ in range(3):
        with pytest.raises(LegacyUnavailable, match="max_concurrent_calls") as refused:
            connector.check_password("late@example.com", PASSWORD)
        assert refused.value.outage is False

    assert state(connector) == "closed"
    assert len(stuck.seen("/token")) == 2, "a refused call reached the legacy IdP"
    stuck.close()  # the stuck calls end (unavailable), so the threads can finish
    for thread in threads:
        thread.join(10)


def _quietly(call, identifier: str) -> None:
    try:
        call(identifier, PASSWORD)
    except LegacyUnavailable:
        pass


def test_migrated_users_discovery_jwks_and_token_never_wait_for_a_stuck_idp(make_app, stuck):
    app = make_app(DEPLOYMENT=deployment({"legacy": ropc_table(stuck, **STUCK)}))
    create_local_user(app, "migrated@example.com", PASSWORD)
    answers: dict[str, object] = {}

    def first_sign_in(number: int) -> None:
        answers[number] = SignIn(app.test_client()).sign_in(f"new{number}@example.com", PASSWORD)

    stuck_threads = [threading.Thread(target=first_sign_in, args=(n,)) for n in range(2)]
    for thread in stuck_threads:
        thread.start()
    calls = stuck.wait_for(2, "/token")  # the bulkhead is full

    refused = SignIn(app.test_client()).sign_in("new2@example.com", PASSWORD)
    walker = SignIn(app.test_client())
    tokens = walker.tokens("migrated@example.com", PASSWORD)  # /authorize, /login, /token
    discovery = app.test_client().get("/.well-known/openid-configuration")
    jwks = app.test_client().get("/.well-known/jwks.json")

    assert all(thread.is_alive() for thread in stuck_threads), "a stuck sign-in ended early"
    assert not any(call.finished.is_set() for call in calls)
    assert refused.status_code == 200 and UNAVAILABLE in page_text(refused)
    assert len(stuck.seen("/token")) == 2, "the refused sign-in reached the legacy IdP"
    assert walker.id_token_claims(tokens["id_token"])["email"] == "migrated@example.com"
    assert discovery.status_code == 200 and jwks.get_json()["keys"]

    stuck.close()
    for thread in stuck_threads:
        thread.join(30)
    assert all(UNAVAILABLE in page_text(answers[n]) for n in range(2))


# -- against gunicorn: its threads are what a stuck IdP would take -----------------------------
APP_ID, APP_SECRET, REDIRECT = "bulkhead-app", "bulkhead-app-secret-0123456789", "http://127.0.0.1:9/cb"


class Browser:
    """A fresh browser walking Ferry's code flow over HTTP."""

    def __init__(self, base: str) -> None:
        self.base, self.http = base, requests.Session()

    def sign_in(self, identifier: str) -> requests.Response:
        self.verifier, challenge = pkce_pair()
        started = self.http.get(self.base + "/authorize", params={
            "response_type": "code", "client_id": APP_ID, "redirect_uri": REDIRECT,
            "scope": "openid email", "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_urlsafe(8), "code_challenge": challenge,
            "code_challenge_method": "S256"}, allow_redirects=False, timeout=60)
        # The sign-in page is /authorize's own answer; its form posts to /login.
        assert started.status_code == 200 and 'action="/login"' in started.text, started.text[:300]
        login = urljoin(self.base, "/login")
        answer = self.http.post(login, data={**form_fields(started.text), "identifier": identifier,
                                             "password": PASSWORD}, allow_redirects=False,
                                timeout=60)
        if answer.status_code == 200 and 'name="skip"' in answer.text:  # "Not now" to the offer
            answer = self.http.post(login, data={**form_fields(answer.text), "skip": "1"},
                                    allow_redirects=False, timeout=60)
        return answer

    def token(self, answer: requests.Response) -> requests.Response:
        code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
        return self.http.post(self.base + "/token", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "code_verifier": self.verifier}, auth=(APP_ID, APP_SECRET), timeout=60)


@pytest.mark.slow
def test_a_gunicorn_worker_keeps_threads_for_everyone_while_the_idp_is_stuck(stuck, tmp_path):
    """One gthread worker with 4 threads; the bulkhead lets the stuck IdP take 2 of them."""
    from bench.ferry_server import Gunicorn, free_port

    port = free_port()
    (tmp_path / "ferry.toml").write_text(f"""\
[ferry]
issuer = "http://127.0.0.1:{port}"
secret_key = "bulkhead-test-secret-key-0123456789"
log_level = "WARNING"
signin_rate_limit = "1000 per minute"
password_time_cost = 1
password_memory_cost = 8192

[connectors.legacy]
type = "ropc"
token_url = "{stuck.url('/token')}"
userinfo_url = "{stuck.url('/userinfo')}"
client_id = "ferry"
client_secret = "bad-legacy-client-secret"
deadline = 20
max_concurrent_calls = 2

[apps.{APP_ID}]
name = "Bulkhead test"
client_secret = "{APP_SECRET}"
redirect_uris = ["{REDIRECT}"]
""", encoding="utf-8")
    server = Gunicorn({"FERRY_CONFIG": str(tmp_path / "ferry.toml"),
                       "FERRY_INSTANCE_PATH": str(tmp_path)}, port, 1, tmp_path / "gunicorn.log",
                      options=["-k", "gthread", "--threads", "4", "--timeout", "60"])
    stuck_threads: list[threading.Thread] = []
    try:
        with requests.Session() as probe:
            server.wait_ready(probe)
        healthy(stuck)  # Ada migrates while the legacy IdP is healthy
        assert Browser(server.base).sign_in("ada@example.com").status_code == 303
        stuck.routes["/token"] = Answer(hang=True)
        before = len(stuck.seen("/token"))

        stuck_threads = [threading.Thread(target=Browser(server.base).sign_in,
                                          args=(f"new{n}@example.com",)) for n in range(2)]
        for thread in stuck_threads:
            thread.start()
        calls = stuck.wait_for(before + 2, "/token")[before:]

        refused = Browser(server.base).sign_in("new2@example.com")
        ada = Browser(server.base)
        token = ada.token(ada.sign_in("ada@example.com"))  # a local password now
        discovery = requests.get(server.base + "/.well-known/openid-configuration", timeout=60)
        jwks = requests.get(server.base + "/.well-known/jwks.json", timeout=60)

        assert all(thread.is_alive() for thread in stuck_threads)
        assert not any(call.finished.is_set() for call in calls)
        assert refused.status_code == 200 and UNAVAILABLE in html.unescape(refused.text)
        assert token.status_code == 200 and token.json()["id_token"]
        assert discovery.status_code == 200 and jwks.json()["keys"]
        assert len(stuck.seen("/token")) == before + 2
    finally:
        stuck.close()
        for thread in stuck_threads:
            thread.join(30)
        server.stop()
